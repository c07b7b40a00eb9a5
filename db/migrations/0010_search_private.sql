ALTER TABLE `messages` ADD `private` integer DEFAULT false NOT NULL;
--> statement-breakpoint
-- Search (spec §7) reads only what the caller may read. A room's visibility never changes once it has
-- messages, so each message says whether its room is private, and the one index of 0009 becomes two:
-- public rooms' messages and private rooms' and DMs', each message with its room's scope token beside its
-- text (src/store/sqlite-search.ts, searchScope: the 32-bit FNV-1a of the room name as three characters
-- from U+E000), so a search asks the private index for the caller's rooms only.
UPDATE `messages` SET `private` = true WHERE `room` IN (SELECT `name` FROM `rooms` WHERE `visibility` = 'private');
--> statement-breakpoint
DROP TABLE `messages_fts`;
--> statement-breakpoint
CREATE VIRTUAL TABLE `messages_public_fts` USING fts5(`text`, `scope`, content='', contentless_delete=1, tokenize='trigram');
--> statement-breakpoint
CREATE VIRTUAL TABLE `messages_private_fts` USING fts5(`text`, `scope`, content='', contentless_delete=1, tokenize='trigram');
--> statement-breakpoint
-- Each room's token, one character of its name at a time (room names are ASCII; XOR is (a | b) - (a & b)).
CREATE TEMP TABLE `search_scopes` AS
WITH RECURSIVE `names` (`room`) AS (SELECT DISTINCT `room` FROM `messages` WHERE `kind` = 'message'),
  `fnv` (`room`, `i`, `h`) AS (
    SELECT `room`, 1, 2166136261 FROM `names`
    UNION ALL
    SELECT `room`, `i` + 1, (((`h` | unicode(substr(`room`, `i`, 1))) - (`h` & unicode(substr(`room`, `i`, 1)))) * 16777619) % 4294967296
    FROM `fnv` WHERE `i` <= length(`room`)
  )
SELECT `room`, char(57344 + (`h` >> 21), 57344 + ((`h` >> 10) & 2047), 57344 + (`h` & 1023)) AS `scope` FROM `fnv` WHERE `i` = length(`room`) + 1;
--> statement-breakpoint
INSERT INTO `messages_public_fts` (rowid, `text`, `scope`)
SELECT `m`.`id`, `m`.`text`, `s`.`scope` FROM `messages` `m` JOIN `search_scopes` `s` ON `s`.`room` = `m`.`room`
WHERE `m`.`kind` = 'message' AND `m`.`deleted` = 0 AND `m`.`private` = 0 ORDER BY `m`.`id`;
--> statement-breakpoint
INSERT INTO `messages_private_fts` (rowid, `text`, `scope`)
SELECT `m`.`id`, `m`.`text`, `s`.`scope` FROM `messages` `m` JOIN `search_scopes` `s` ON `s`.`room` = `m`.`room`
WHERE `m`.`kind` = 'message' AND `m`.`deleted` = 0 AND `m`.`private` = 1 ORDER BY `m`.`id`;
--> statement-breakpoint
DROP TABLE `search_scopes`;
