CREATE TABLE `rooms` (
	`name` text PRIMARY KEY NOT NULL,
	`last_message_id` integer NOT NULL,
	`last_active_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `rooms_last_message_id` ON `rooms` (`last_message_id`);