CREATE TABLE `incoming_webhooks` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`name` text NOT NULL,
	`room` text NOT NULL,
	`bot_id` integer NOT NULL,
	`token_hash` text NOT NULL,
	`created_by` integer,
	`created_at` integer NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `incoming_webhooks_token_hash_unique` ON `incoming_webhooks` (`token_hash`);--> statement-breakpoint
CREATE TABLE `outgoing_webhook_rooms` (
	`webhook_id` integer NOT NULL,
	`room` text NOT NULL,
	PRIMARY KEY(`webhook_id`, `room`)
);
--> statement-breakpoint
CREATE TABLE `outgoing_webhooks` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`name` text NOT NULL,
	`url` text NOT NULL,
	`secret` text NOT NULL,
	`bot_id` integer,
	`created_by` integer,
	`created_at` integer NOT NULL
);
--> statement-breakpoint
CREATE TABLE `webhook_deliveries` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`webhook_id` integer NOT NULL,
	`event` text NOT NULL,
	`room` text NOT NULL,
	`message_id` integer NOT NULL,
	`payload` text NOT NULL,
	`status` text NOT NULL,
	`attempts` integer DEFAULT 0 NOT NULL,
	`next_attempt_at` integer,
	`response_status` integer,
	`error` text,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `webhook_deliveries_status_next` ON `webhook_deliveries` (`status`,`next_attempt_at`);--> statement-breakpoint
CREATE INDEX `webhook_deliveries_webhook_id` ON `webhook_deliveries` (`webhook_id`,`id`);--> statement-breakpoint
CREATE INDEX `webhook_deliveries_created_at` ON `webhook_deliveries` (`created_at`);--> statement-breakpoint
ALTER TABLE `users` ADD `bot` integer DEFAULT false NOT NULL;--> statement-breakpoint
ALTER TABLE `users` ADD `api_token_hash` text;