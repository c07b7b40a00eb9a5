DROP INDEX `rooms_visibility_last_message_id`;--> statement-breakpoint
CREATE INDEX `rooms_visibility_last_message_id` ON `rooms` (`visibility`,`last_message_id`,`name`);