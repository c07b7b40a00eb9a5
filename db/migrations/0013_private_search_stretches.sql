-- Search in private rooms and DMs (spec §7) reads the caller's rooms only. 0010 gave each private
-- message its room's scope token beside its text, and a search asked for the text AND one of the
-- caller's tokens; FTS5 answers that by walking the text's lists through every private message on the
-- server, so its cost grew with everyone's private messages. Now the private index's rowid puts each
-- room's messages in a stretch of their own, the 2^33 rowids above the room's base (the top 20 bits of
-- the same 32-bit FNV-1a of its name, times 2^33), counting down from the stretch's end by the
-- message's id (src/store/sqlite-search.ts, privateRowid); a search reads the stretch of each of the
-- caller's rooms by rowid range. The scope column goes.
DROP TABLE `messages_private_fts`;
--> statement-breakpoint
CREATE VIRTUAL TABLE `messages_private_fts` USING fts5(`text`, content='', contentless_delete=1, tokenize='trigram');
--> statement-breakpoint
-- Each private room's bucket, one character of its name at a time (room names are ASCII; XOR is (a | b) - (a & b)).
CREATE TEMP TABLE `search_buckets` AS
WITH RECURSIVE `names` (`room`) AS (SELECT DISTINCT `room` FROM `messages` WHERE `kind` = 'message' AND `private` = 1),
  `fnv` (`room`, `i`, `h`) AS (
    SELECT `room`, 1, 2166136261 FROM `names`
    UNION ALL
    SELECT `room`, `i` + 1, (((`h` | unicode(substr(`room`, `i`, 1))) - (`h` & unicode(substr(`room`, `i`, 1)))) * 16777619) % 4294967296
    FROM `fnv` WHERE `i` <= length(`room`)
  )
SELECT `room`, (`h` >> 12) * 8589934592 + 8589934592 AS `end` FROM `fnv` WHERE `i` = length(`room`) + 1;
--> statement-breakpoint
INSERT INTO `messages_private_fts` (rowid, `text`)
SELECT `b`.`end` - `m`.`id`, `m`.`text` FROM `messages` `m` JOIN `search_buckets` `b` ON `b`.`room` = `m`.`room`
WHERE `m`.`kind` = 'message' AND `m`.`deleted` = 0 AND `m`.`private` = 1 ORDER BY `b`.`end` - `m`.`id`;
--> statement-breakpoint
DROP TABLE `search_buckets`;
