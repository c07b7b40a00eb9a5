/** Tables of the SQLite store. Change this file, then `bun run db:generate`; never edit a generated migration. */
import { index, integer, sqliteTable, text } from 'drizzle-orm/sqlite-core'

export const users = sqliteTable('users', {
  // AUTOINCREMENT: an id is never reused, so a token of a deleted user can't pass as someone else.
  id: integer('id').primaryKey({ autoIncrement: true }),
  username: text('username').notNull(),
  // usernameKey() of the username (full case fold + NFKC, src/chat/usernames.ts; rewritten at start-up
  // when that rule changes); the unique index makes "Alice" block "alice" (spec §2).
  usernameKey: text('username_key').notNull().unique(),
  passwordHash: text('password_hash').notNull(),
  createdAt: integer('created_at').notNull(),
})

export const messages = sqliteTable(
  'messages',
  {
    // AUTOINCREMENT: ids only ever increase across the server; they are the history/resume cursor.
    id: integer('id').primaryKey({ autoIncrement: true }),
    room: text('room').notNull(),
    userId: integer('user_id').notNull(),
    // Kept beside the id so history renders without a join and survives the user's deletion.
    username: text('username').notNull(),
    text: text('text').notNull(),
    nonce: text('nonce'),
    createdAt: integer('created_at').notNull(),
  },
  (t) => [index('messages_room_id').on(t.room, t.id)],
)

/**
 * One row per room that has messages, written by the message insert in the same transaction: the room
 * list (spec §2) pages through it by last message id and never reads `messages`. Registered rooms
 * (spec §6: visibility, topic, owner) are meant to extend this row.
 */
export const rooms = sqliteTable(
  'rooms',
  {
    name: text('name').primaryKey(),
    lastMessageId: integer('last_message_id').notNull(),
    /** Epoch ms of that message. */
    lastActiveAt: integer('last_active_at').notNull(),
  },
  (t) => [index('rooms_last_message_id').on(t.lastMessageId)],
)

/** Server-wide key/value settings, e.g. the generated JWT signing secret. */
export const settings = sqliteTable('settings', {
  key: text('key').primaryKey(),
  value: text('value').notNull(),
})
