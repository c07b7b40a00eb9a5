CREATE TABLE `attachment_blobs` (
	`attachment_id` text NOT NULL,
	`seq` integer NOT NULL,
	`data` blob NOT NULL,
	PRIMARY KEY(`attachment_id`, `seq`)
);
--> statement-breakpoint
CREATE TABLE `attachments` (
	`id` text PRIMARY KEY NOT NULL,
	`room` text NOT NULL,
	`user_id` integer NOT NULL,
	`name` text NOT NULL,
	`type` text NOT NULL,
	`size` integer NOT NULL,
	`width` integer,
	`height` integer,
	`created_at` integer NOT NULL,
	`message_id` integer
);
--> statement-breakpoint
CREATE INDEX `attachments_message_id` ON `attachments` (`message_id`);--> statement-breakpoint
CREATE INDEX `attachments_user_id` ON `attachments` (`user_id`);--> statement-breakpoint
CREATE INDEX `attachments_created_at` ON `attachments` (`created_at`);--> statement-breakpoint
CREATE TABLE `reactions` (
	`message_id` integer NOT NULL,
	`emoji` text NOT NULL,
	`user_id` integer NOT NULL,
	`created_at` integer NOT NULL,
	PRIMARY KEY(`message_id`, `emoji`, `user_id`)
);
--> statement-breakpoint
ALTER TABLE `messages` ADD `reply_to` integer;--> statement-breakpoint
ALTER TABLE `messages` ADD `attachments` text;