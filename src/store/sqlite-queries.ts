/**
 * The SQLite stream's read queries whose plans matter (a test checks them): they must walk an index
 * of one room, never the table.
 */
import { and, desc, eq, gt, lt, lte, or, sql } from 'drizzle-orm'
import type { BunSQLiteDatabase } from 'drizzle-orm/bun-sqlite'
import * as schema from '../../db/schema.ts'

const { messages } = schema
const placeholder = sql.placeholder

/**
 * A page of a room's messages. Without statistics SQLite's planner takes (room, id) for this, and
 * would then step over every event of the room; (room, kind, id) reads the page's own rows and
 * nothing else, so it is named. An absent bound is one no id can cross (ids are ≥ 1 and safe integers).
 */
export const MESSAGE_PAGE_SQL = `SELECT id, room, user_id AS userId, username, text, nonce, created_at AS createdAt, edited_at AS editedAt, deleted, mentions, reply_to AS replyTo, attachments
  FROM messages INDEXED BY messages_room_kind_id
  WHERE room = $room AND kind = 'message' AND id < $before AND id > $after
  ORDER BY id DESC LIMIT $limit`

/** The id of the message just before a room's newest `$n` (none when it has no more than `$n`), from the index: no row is read. */
export const BEFORE_NEWEST_SQL = `SELECT id FROM messages INDEXED BY messages_room_kind_id
  WHERE room = $room AND kind = 'message' ORDER BY id DESC LIMIT 1 OFFSET $n`

/**
 * A stretch of a room's whole stream, by the (room, id) index. An edit erased by a later deletion
 * (`deleted` set on the event row) is no longer in the stream. Exported, as MESSAGE_PAGE_SQL, so a
 * test can check the query plans.
 */
export function streamQuery(db: BunSQLiteDatabase<typeof schema>) {
  const range = and(eq(messages.room, placeholder('room')), lt(messages.id, placeholder('before')), gt(messages.id, placeholder('after')))
  const changes = and(eq(messages.deleted, false), lte(messages.targetId, placeholder('upTo')))
  return db
    .select()
    .from(messages)
    .where(and(range, or(eq(messages.kind, 'message'), changes)))
    .orderBy(desc(messages.id))
    .limit(placeholder('limit'))
}
