-- Memberships stored in order of (user, room), WITHOUT ROWID: a user's rooms (my rooms, the user
-- stream's welcome) are one stretch of one leaf page instead of an index entry and a row page
-- each, and a (room, user) look-up is one B-tree instead of an index and the table. The index on
-- (room, user_id) serves a room's member list. drizzle-kit cannot declare WITHOUT ROWID, so this
-- is written here; db/schema.ts declares the same key and index.
PRAGMA foreign_keys=OFF;--> statement-breakpoint
CREATE TABLE `__new_room_members` (
	`room` text NOT NULL,
	`user_id` integer NOT NULL,
	`joined_at` integer NOT NULL,
	`last_read_id` integer DEFAULT 0 NOT NULL,
	`read_count` integer DEFAULT 0 NOT NULL,
	`mentions` integer DEFAULT 0 NOT NULL,
	PRIMARY KEY(`user_id`, `room`)
) WITHOUT ROWID;
--> statement-breakpoint
INSERT INTO `__new_room_members`("room", "user_id", "joined_at", "last_read_id", "read_count", "mentions") SELECT "room", "user_id", "joined_at", "last_read_id", "read_count", "mentions" FROM `room_members` ORDER BY `user_id`, `room`;--> statement-breakpoint
DROP TABLE `room_members`;--> statement-breakpoint
ALTER TABLE `__new_room_members` RENAME TO `room_members`;--> statement-breakpoint
PRAGMA foreign_keys=ON;--> statement-breakpoint
CREATE INDEX `room_members_room` ON `room_members` (`room`,`user_id`);