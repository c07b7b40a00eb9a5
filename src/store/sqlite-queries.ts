/**
 * The SQLite stream's read queries whose plans matter (a test checks them): they must walk an index
 * of one room, never the table.
 */

/** The columns of a message (MessageRow, `deleted` as 0 or 1). */
const MESSAGE = `id, room, user_id AS userId, username, text, nonce, created_at AS createdAt, edited_at AS editedAt, deleted, mentions, reply_to AS replyTo, attachments`
/** And of a stream entry, which may be an event (StreamRow). */
const ENTRY = `${MESSAGE}, kind, target_id AS targetId`

/**
 * A page of a room's history, in up to three steps (sqlite-history.ts). First its ids, newest first,
 * from the index of the room's messages alone (`messages_room_message_id`: no row is read, however many
 * events the room has). Named, so that no planner guess can swap it. An absent bound is one no id can
 * cross (ids are ≥ 1 and safe integers).
 */
export const PAGE_IDS_SQL = `SELECT id FROM messages INDEXED BY messages_room_message_id
  WHERE room = $room AND kind = 'message' AND id < $before AND id > $after
  ORDER BY id DESC LIMIT $limit`

/**
 * Then the filed ones among them, whole, from the room-ordered copy (`messages_room_filed`): the page's
 * ids are every message of the room between its first and its last, so this range holds exactly the
 * page's filed messages, on a few neighbouring index pages.
 */
export const FILED_PAGE_SQL = `SELECT ${MESSAGE} FROM messages INDEXED BY messages_room_filed
  WHERE room = $room AND kind = 'message' AND filed AND id >= $first AND id <= $last
  ORDER BY id DESC`

/** And the rest (not filed yet: posted since the last quiet spell), row by row from the table. */
export const PAGE_ROWS_SQL = `SELECT ${MESSAGE} FROM messages WHERE id IN (SELECT value FROM json_each($ids)) ORDER BY id DESC`

/** The id of the message just before a room's newest `$n` (none when it has no more than `$n`), from the index: no row is read. */
export const BEFORE_NEWEST_SQL = `SELECT id FROM messages INDEXED BY messages_room_message_id
  WHERE room = $room AND kind = 'message' ORDER BY id DESC LIMIT 1 OFFSET $n`

/**
 * A stretch of a room's events (edits, deletions, reactions), newest first, from their own index: a
 * stretch of its stream is its messages' page merged with these by id (sqlite-history.ts). An edit
 * erased by a later deletion (`deleted` set on the event row) is no longer in the stream; a change to a
 * message above `$upTo` is left out (the caller's cursor has not reached that message).
 */
export const EVENT_PAGE_SQL = `SELECT ${ENTRY} FROM messages INDEXED BY messages_room_event_id
  WHERE room = $room AND kind <> 'message' AND id < $before AND id > $after AND deleted = 0 AND target_id <= $upTo
  ORDER BY id DESC LIMIT $limit`
