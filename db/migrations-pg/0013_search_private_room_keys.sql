-- Custom SQL migration file, put your code below! --
-- Search (spec §7) in private rooms, one room at a time (src/store/postgres-search.ts). The index of 0010,
-- `(room, text)` (btree_gin), held one posting list per trigram over every private message on the server:
-- a search in one room intersected the room's list with the text's trigram lists, and for a common word GIN
-- decoded the long lists' pages around each of the room's messages (~6 ms a room on 10 M messages, against a
-- fraction of one on 100 k: the cost grew with everyone's private messages, not with the room's).
--
-- Here each key is one room's trigram: a hash of the room's name, a blank (which neither holds) and the
-- trigram, so a key's posting list holds that room's messages with that trigram only, and a search in a room
-- reads a few short lists whatever the server holds (~0.1 ms a room on 10 M messages). A hash may collide:
-- the search still checks the room and the text (ILIKE), so a collision costs a candidate read, never a
-- wrong answer. Only trigrams without a blank are keys: those pg_trgm pads at a word's edges are never asked
-- for (a substring's edge may lie inside a word of the text), and leaving them out halves the keys. The
-- body's names are bound when it is created (a SQL-standard body), so the index means the same whatever the
-- search_path of whoever writes or analyses the table.
CREATE FUNCTION "messages_search_keys"("room" text, "trigrams" text[]) RETURNS integer[]
  LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
  RETURN ARRAY(SELECT hashtext("room" || ' ' || t) FROM unnest("trigrams") t WHERE strpos(t, ' ') = 0);
--> statement-breakpoint
-- The keys of each private message that a search can find (as 0010's index: not deleted, not an event). It
-- costs more than 0010's: ~330 bytes a private message against ~95 (a key per room and trigram, each with a
-- short list of messages spread over the table), ~3 times the time to index a private message as it is
-- written (~115 µs against ~35, in bulk), and ~7.5 min to build for the 2.8 M private messages of the bench's
-- 10 M (docs/PERFORMANCE.md, "Cost as data grows"), during which messages wait.
CREATE INDEX IF NOT EXISTS "messages_private_room_trgm" ON "messages" USING gin ("messages_search_keys"("room", show_trgm("text"))) WHERE "kind" = 'message' AND NOT "deleted" AND "private";
--> statement-breakpoint
DROP INDEX IF EXISTS "messages_private_text_trgm";
