CREATE INDEX "messages_user_id" ON "messages" USING btree ("user_id");--> statement-breakpoint
CREATE INDEX "users_role" ON "users" USING btree ("role");--> statement-breakpoint
CREATE INDEX "users_bot" ON "users" USING btree ("bot");