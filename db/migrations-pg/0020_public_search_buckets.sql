-- Custom SQL migration file, put your code below! --
-- Search (spec §7) in public rooms, newest first (src/store/postgres-search.ts). The trigram index of 0010
-- answered a string with every public message holding it, unordered: a page of a rare string read and
-- rechecked all of them to keep the newest (~350 on 10 M messages for a string in 1 of 20 000, ~4 on 100 k),
-- so its cost grew with the server's history.
--
-- Here each key is one bucket's trigram: a hash of the bucket (the id's 2^20 block, ~1 M messages), a blank
-- and the trigram (0013's keys, with the bucket where a private room has its name), so a key's posting list
-- holds one bucket's messages, and a search reads the newest bucket's lists, then the one before, until it
-- has a page: it reads and rechecks at most a bucket's matches more than it keeps, whatever the server holds.
-- A hash may collide: the search checks the bucket and the text of each candidate. A common string is still
-- walked down the primary key; it never needed an index.
CREATE INDEX IF NOT EXISTS "messages_public_bucket_trgm" ON "messages" USING gin ("messages_search_keys"(("id" >> 20)::text, show_trgm("text"))) WHERE "kind" = 'message' AND NOT "deleted" AND NOT "private";
--> statement-breakpoint
DROP INDEX IF EXISTS "messages_public_text_trgm";
