/** Tables of the PostgreSQL store (multi-instance). Mirrors db/schema.ts; change both, then `bun run db:generate`. */
import { bigint, index, pgTable, text } from 'drizzle-orm/pg-core'

export const users = pgTable('users', {
  id: bigint('id', { mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
  username: text('username').notNull(),
  // usernameKey() of the username (full case fold + NFKC, src/chat/usernames.ts; rewritten at start-up
  // when that rule changes); the unique index makes "Alice" block "alice" (spec §2).
  usernameKey: text('username_key').notNull().unique(),
  passwordHash: text('password_hash').notNull(),
  createdAt: bigint('created_at', { mode: 'number' }).notNull(),
})

export const messages = pgTable(
  'messages',
  {
    // An identity never reuses or reorders values: ids increase across the cluster (spec §3).
    id: bigint('id', { mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
    room: text('room').notNull(),
    userId: bigint('user_id', { mode: 'number' }).notNull(),
    username: text('username').notNull(),
    text: text('text').notNull(),
    nonce: text('nonce'),
    createdAt: bigint('created_at', { mode: 'number' }).notNull(),
  },
  (t) => [index('messages_room_id').on(t.room, t.id)],
)

/** One row per room that has messages, kept by the message insert (see db/schema.ts). */
export const rooms = pgTable(
  'rooms',
  {
    name: text('name').primaryKey(),
    lastMessageId: bigint('last_message_id', { mode: 'number' }).notNull(),
    lastActiveAt: bigint('last_active_at', { mode: 'number' }).notNull(),
  },
  (t) => [index('rooms_last_message_id').on(t.lastMessageId)],
)

export const settings = pgTable('settings', {
  key: text('key').primaryKey(),
  value: text('value').notNull(),
})
