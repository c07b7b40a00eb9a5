CREATE INDEX `messages_user_id` ON `messages` (`user_id`);--> statement-breakpoint
CREATE INDEX `users_role` ON `users` (`role`);--> statement-breakpoint
CREATE INDEX `users_bot` ON `users` (`bot`);