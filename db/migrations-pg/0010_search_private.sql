ALTER TABLE "messages" ADD COLUMN "private" boolean DEFAULT false NOT NULL;
--> statement-breakpoint
-- Search (spec §7) reads only what the caller may read. A room's visibility never changes once it has
-- messages, so each message says whether its room is private, and the trigram index of 0009 becomes two
-- (src/store/postgres-search.ts): public rooms' messages, and private rooms' and DMs', searched only
-- in the caller's own rooms.
UPDATE "messages" SET "private" = true WHERE "room" IN (SELECT "name" FROM "rooms" WHERE "visibility" = 'private');
--> statement-breakpoint
-- No statistics of it: a search asks for it beside a room, whose messages are all private or none, and
-- the share of private messages in the whole table would count against every room (a private room's
-- matches looked six times fewer than they are, and were read whole from the index rather than the
-- newest few walked down the room). Without statistics the planner takes one row in two.
ALTER TABLE "messages" ALTER COLUMN "private" SET STATISTICS 0;
--> statement-breakpoint
DROP INDEX IF EXISTS "messages_text_trgm";
--> statement-breakpoint
-- Indexed and searched as an expression that is the text for public messages only, so that the planner
-- estimates how often a string occurs in public rooms (from the statistics below), not in all messages: a
-- string frequent only in private rooms would otherwise look common and send the search down the primary
-- key through every message.
CREATE INDEX IF NOT EXISTS "messages_public_text_trgm" ON "messages" USING gin ((CASE WHEN "private" THEN NULL ELSE "text" END) gin_trgm_ops) WHERE "kind" = 'message' AND NOT "deleted" AND NOT "private";
--> statement-breakpoint
CREATE STATISTICS IF NOT EXISTS "messages_public_text" ON (CASE WHEN "private" THEN NULL ELSE "text" END) FROM "messages";
--> statement-breakpoint
-- Room and trigrams in one index (btree_gin: a GIN index of a plain value), so a search in one private room
-- reads that room's matches only.
CREATE EXTENSION IF NOT EXISTS btree_gin;
--> statement-breakpoint
CREATE INDEX IF NOT EXISTS "messages_private_text_trgm" ON "messages" USING gin ("room", "text" gin_trgm_ops) WHERE "kind" = 'message' AND NOT "deleted" AND "private";
--> statement-breakpoint
ANALYZE "messages";
