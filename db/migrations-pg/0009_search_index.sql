-- Custom SQL migration file, put your code below! --
-- Search (spec §7): a trigram index over the current text of messages that are not deleted, so a
-- substring search (ILIKE) in any script is answered from the index; it follows edits and deletions
-- with the row itself.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
--> statement-breakpoint
CREATE INDEX IF NOT EXISTS "messages_text_trgm" ON "messages" USING gin ("text" gin_trgm_ops) WHERE "kind" = 'message' AND NOT "deleted";
