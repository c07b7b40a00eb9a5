/** Tables of the SQLite store. Change this file, then `bun run db:generate`; never edit a generated migration. */
import { index, integer, sqliteTable, text } from 'drizzle-orm/sqlite-core'

export const users = sqliteTable('users', {
  // AUTOINCREMENT: an id is never reused, so a token of a deleted user can't pass as someone else.
  id: integer('id').primaryKey({ autoIncrement: true }),
  username: text('username').notNull(),
  // NFC + case fold of the username; the unique index makes "Alice" block "alice" (spec §2).
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

/** Server-wide key/value settings, e.g. the generated JWT signing secret. */
export const settings = sqliteTable('settings', {
  key: text('key').primaryKey(),
  value: text('value').notNull(),
})
