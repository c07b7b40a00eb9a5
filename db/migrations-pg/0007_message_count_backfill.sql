-- Custom SQL migration file, put your code below! --
-- Every message posted so far counts in its room's message_count (unread = message_count - read_count).
UPDATE "rooms" SET "message_count" = (SELECT count(*) FROM "messages" WHERE "messages"."room" = "rooms"."name" AND "messages"."kind" = 'message');
--> statement-breakpoint
-- Names in the direct-message namespace (spec §6) used as public rooms before it existed are no public room any more.
UPDATE "rooms" SET "visibility" = 'private' WHERE substr("name", 1, 3) = 'dm.';
