CREATE TABLE "mentions" (
	"message_id" bigint NOT NULL,
	"user_id" bigint NOT NULL,
	"room" text NOT NULL,
	CONSTRAINT "mentions_message_id_user_id_pk" PRIMARY KEY("message_id","user_id")
);
--> statement-breakpoint
CREATE TABLE "room_members" (
	"room" text NOT NULL,
	"user_id" bigint NOT NULL,
	"joined_at" bigint NOT NULL,
	"last_read_id" bigint DEFAULT 0 NOT NULL,
	"read_count" bigint DEFAULT 0 NOT NULL,
	"mentions" bigint DEFAULT 0 NOT NULL,
	CONSTRAINT "room_members_room_user_id_pk" PRIMARY KEY("room","user_id")
);
--> statement-breakpoint
DROP INDEX "rooms_last_message_id";--> statement-breakpoint
ALTER TABLE "messages" ADD COLUMN "mentions" text;--> statement-breakpoint
ALTER TABLE "rooms" ADD COLUMN "visibility" text DEFAULT 'public' NOT NULL;--> statement-breakpoint
ALTER TABLE "rooms" ADD COLUMN "topic" text;--> statement-breakpoint
ALTER TABLE "rooms" ADD COLUMN "owner_id" bigint;--> statement-breakpoint
ALTER TABLE "rooms" ADD COLUMN "registered_at" bigint;--> statement-breakpoint
ALTER TABLE "rooms" ADD COLUMN "message_count" bigint DEFAULT 0 NOT NULL;--> statement-breakpoint
CREATE INDEX "mentions_user_room_message" ON "mentions" USING btree ("user_id","room","message_id");--> statement-breakpoint
CREATE INDEX "mentions_user_message" ON "mentions" USING btree ("user_id","message_id");--> statement-breakpoint
CREATE INDEX "room_members_user_id" ON "room_members" USING btree ("user_id");--> statement-breakpoint
CREATE INDEX "rooms_visibility_last_message_id" ON "rooms" USING btree ("visibility","last_message_id");