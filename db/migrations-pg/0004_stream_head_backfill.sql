-- Custom SQL migration file, put your code below! --
-- Until now every row of a room's stream was a message, so its head is its newest message.
UPDATE "rooms" SET "last_event_id" = "last_message_id";
