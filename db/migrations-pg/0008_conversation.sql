CREATE TABLE "attachment_blobs" (
	"attachment_id" text NOT NULL,
	"seq" bigint NOT NULL,
	"data" "bytea" NOT NULL,
	CONSTRAINT "attachment_blobs_attachment_id_seq_pk" PRIMARY KEY("attachment_id","seq")
);
--> statement-breakpoint
CREATE TABLE "attachments" (
	"id" text PRIMARY KEY NOT NULL,
	"room" text NOT NULL,
	"user_id" bigint NOT NULL,
	"name" text NOT NULL,
	"type" text NOT NULL,
	"size" bigint NOT NULL,
	"width" bigint,
	"height" bigint,
	"created_at" bigint NOT NULL,
	"message_id" bigint
);
--> statement-breakpoint
CREATE TABLE "reactions" (
	"message_id" bigint NOT NULL,
	"emoji" text NOT NULL,
	"user_id" bigint NOT NULL,
	"created_at" bigint NOT NULL,
	CONSTRAINT "reactions_message_id_emoji_user_id_pk" PRIMARY KEY("message_id","emoji","user_id")
);
--> statement-breakpoint
ALTER TABLE "messages" ADD COLUMN "reply_to" bigint;--> statement-breakpoint
ALTER TABLE "messages" ADD COLUMN "attachments" text;--> statement-breakpoint
CREATE INDEX "attachments_message_id" ON "attachments" USING btree ("message_id");--> statement-breakpoint
CREATE INDEX "attachments_user_id" ON "attachments" USING btree ("user_id");--> statement-breakpoint
CREATE INDEX "attachments_created_at" ON "attachments" USING btree ("created_at");