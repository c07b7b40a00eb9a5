CREATE TABLE `mentions` (
	`message_id` integer NOT NULL,
	`user_id` integer NOT NULL,
	`room` text NOT NULL,
	PRIMARY KEY(`message_id`, `user_id`)
);
--> statement-breakpoint
CREATE INDEX `mentions_user_room_message` ON `mentions` (`user_id`,`room`,`message_id`);--> statement-breakpoint
CREATE INDEX `mentions_user_message` ON `mentions` (`user_id`,`message_id`);--> statement-breakpoint
CREATE TABLE `room_members` (
	`room` text NOT NULL,
	`user_id` integer NOT NULL,
	`joined_at` integer NOT NULL,
	`last_read_id` integer DEFAULT 0 NOT NULL,
	`read_count` integer DEFAULT 0 NOT NULL,
	`mentions` integer DEFAULT 0 NOT NULL,
	PRIMARY KEY(`room`, `user_id`)
);
--> statement-breakpoint
CREATE INDEX `room_members_user_id` ON `room_members` (`user_id`);--> statement-breakpoint
DROP INDEX `rooms_last_message_id`;--> statement-breakpoint
ALTER TABLE `rooms` ADD `visibility` text DEFAULT 'public' NOT NULL;--> statement-breakpoint
ALTER TABLE `rooms` ADD `topic` text;--> statement-breakpoint
ALTER TABLE `rooms` ADD `owner_id` integer;--> statement-breakpoint
ALTER TABLE `rooms` ADD `registered_at` integer;--> statement-breakpoint
ALTER TABLE `rooms` ADD `message_count` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
CREATE INDEX `rooms_visibility_last_message_id` ON `rooms` (`visibility`,`last_message_id`);--> statement-breakpoint
ALTER TABLE `messages` ADD `mentions` text;