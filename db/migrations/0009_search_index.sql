-- Custom SQL migration file, put your code below! --
-- Search (spec §7): an FTS5 index of every message's current text with the trigram tokenizer, so any
-- script (CJK included) and any substring of 3 or more characters match. Contentless: the text lives in
-- `messages`; rows are added, replaced on edit and removed on deletion in the message's own transaction.
CREATE VIRTUAL TABLE `messages_fts` USING fts5(`text`, content='', contentless_delete=1, tokenize='trigram');
--> statement-breakpoint
INSERT INTO `messages_fts` (rowid, `text`) SELECT `id`, `text` FROM `messages` WHERE `kind` = 'message' AND `deleted` = 0;
