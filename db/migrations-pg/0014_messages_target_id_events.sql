DROP INDEX "messages_target_id";--> statement-breakpoint
CREATE INDEX "messages_target_id" ON "messages" USING btree ("target_id") WHERE "messages"."target_id" IS NOT NULL;