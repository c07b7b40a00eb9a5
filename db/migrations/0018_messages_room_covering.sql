-- A room's welcome and history pages read its newest messages. Rows are stored in id order, that is
-- by time, so on a big database each of them sat on a table page of its own (a page of 50 read 50
-- pages). (room, id) now carries every column of the row, so those pages are read from neighbouring
-- index pages alone (docs/PERFORMANCE.md, "Cost as data grows"). It costs a second copy of each row
-- (~170 bytes a message); building it took 45 s for 10 M messages on a 2-core VM.
DROP INDEX `messages_room_id`;--> statement-breakpoint
CREATE INDEX `messages_room_id` ON `messages` (`room`,`id`,`user_id`,`username`,`text`,`nonce`,`created_at`,`kind`,`target_id`,`edited_at`,`deleted`,`mentions`,`reply_to`,`attachments`,`private`);