DROP INDEX "room_members_user_id";--> statement-breakpoint
ALTER TABLE "room_members" DROP CONSTRAINT "room_members_room_user_id_pk";--> statement-breakpoint
ALTER TABLE "room_members" ADD CONSTRAINT "room_members_user_id_room_pk" PRIMARY KEY("user_id","room");--> statement-breakpoint
CREATE INDEX "room_members_room" ON "room_members" USING btree ("room","user_id");