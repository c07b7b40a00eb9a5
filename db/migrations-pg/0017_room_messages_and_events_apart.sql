DROP INDEX "messages_room_id";--> statement-breakpoint
DROP INDEX "messages_room_kind_id";--> statement-breakpoint
CREATE INDEX "messages_room_message_id" ON "messages" USING btree ("room","id") WHERE "messages"."kind" = 'message';--> statement-breakpoint
CREATE INDEX "messages_room_event_id" ON "messages" USING btree ("room","id") WHERE "messages"."kind" <> 'message';