-- Search (spec §7) shows the newest matches first. The public index held each message under its id,
-- so a page was read with descending rowids, and FTS5 seeks to a rowid only walking up: going down,
-- a common word's page stepped back through its lists entry by entry (0.77 against 0.26 ms on 10 M
-- messages). The index is rebuilt with each message under 2^53 - 1 minus its id (src/store/sqlite-search.ts,
-- publicRowid), newest first in ascending rowids, as the private index's stretches already count down
-- (0013). What the indexer had not reached yet (after search_indexed_through) it indexes as before.
DROP TABLE `messages_public_fts`;
--> statement-breakpoint
CREATE VIRTUAL TABLE `messages_public_fts` USING fts5(`text`, `scope`, content='', contentless_delete=1, tokenize='trigram');
--> statement-breakpoint
-- Each public room's token, one character of its name at a time, as in 0010 (room names are ASCII; XOR is (a | b) - (a & b)).
CREATE TEMP TABLE `search_scopes` AS
WITH RECURSIVE `names` (`room`) AS (SELECT DISTINCT `room` FROM `messages` WHERE `kind` = 'message' AND `private` = 0),
  `fnv` (`room`, `i`, `h`) AS (
    SELECT `room`, 1, 2166136261 FROM `names`
    UNION ALL
    SELECT `room`, `i` + 1, (((`h` | unicode(substr(`room`, `i`, 1))) - (`h` & unicode(substr(`room`, `i`, 1)))) * 16777619) % 4294967296
    FROM `fnv` WHERE `i` <= length(`room`)
  )
SELECT `room`, char(57344 + (`h` >> 21), 57344 + ((`h` >> 10) & 2047), 57344 + (`h` & 1023)) AS `scope` FROM `fnv` WHERE `i` = length(`room`) + 1;
--> statement-breakpoint
-- In ascending rowids: FTS5 writes out a segment whenever a rowid is not above the one before.
INSERT INTO `messages_public_fts` (rowid, `text`, `scope`)
SELECT 9007199254740991 - `m`.`id`, `m`.`text`, `s`.`scope` FROM `messages` `m` JOIN `search_scopes` `s` ON `s`.`room` = `m`.`room`
WHERE `m`.`kind` = 'message' AND `m`.`deleted` = 0 AND `m`.`private` = 0
  AND `m`.`id` <= (SELECT CAST(`value` AS INTEGER) FROM `settings` WHERE `key` = 'search_indexed_through')
ORDER BY `m`.`id` DESC;
--> statement-breakpoint
DROP TABLE `search_scopes`;
