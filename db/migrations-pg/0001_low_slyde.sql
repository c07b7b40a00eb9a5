CREATE TABLE "rooms" (
	"name" text PRIMARY KEY NOT NULL,
	"last_message_id" bigint NOT NULL,
	"last_active_at" bigint NOT NULL
);
--> statement-breakpoint
CREATE INDEX "rooms_last_message_id" ON "rooms" USING btree ("last_message_id");