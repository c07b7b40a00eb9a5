-- The search index is written in batches after the messages' commits (src/store/sqlite-search-indexer.ts),
-- up to the stream id this setting names. Everything stored before this migration was indexed in its
-- message's own transaction: the setting starts at the newest id.
INSERT OR IGNORE INTO `settings` (`key`, `value`) SELECT 'search_indexed_through', CAST(coalesce(max(`id`), 0) AS TEXT) FROM `messages`;
