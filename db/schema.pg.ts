/** Tables of the PostgreSQL store (multi-instance). Mirrors db/schema.ts; change both, then `bun run db:generate`. */
import { bigint, boolean, customType, index, pgTable, primaryKey, text } from 'drizzle-orm/pg-core'
import { sql } from 'drizzle-orm'

/** Raw bytes (bytea); drizzle has no built-in column for it. */
const bytes = customType<{ data: Uint8Array; driverData: Uint8Array }>({ dataType: () => 'bytea' })

export const users = pgTable(
  'users',
  {
    id: bigint('id', { mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
    username: text('username').notNull(),
    // usernameKey() of the username (full case fold + NFKC, src/chat/usernames.ts; rewritten at start-up
    // when that rule changes); the unique index makes "Alice" block "alice" (spec §2).
    usernameKey: text('username_key').notNull().unique(),
    passwordHash: text('password_hash').notNull(),
    createdAt: bigint('created_at', { mode: 'number' }).notNull(),
    role: text('role').notNull().default('member'),
    tokenVersion: bigint('token_version', { mode: 'number' }).notNull().default(0),
    bannedAt: bigint('banned_at', { mode: 'number' }),
    banReason: text('ban_reason'),
    bot: boolean('bot').notNull().default(false),
    apiTokenHash: text('api_token_hash'),
  },
  // Found by index, not by reading every account (issue 16): the admins (whether one is left, the first
  // sign-up's role) and the bots (the admin's list).
  (t) => [index('users_role').on(t.role), index('users_bot').on(t.bot)],
)

/** Every change to a user's standing, in order (see db/schema.ts). */
export const userChanges = pgTable('user_changes', {
  id: bigint('id', { mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
  userId: bigint('user_id', { mode: 'number' }).notNull(),
  at: bigint('at', { mode: 'number' }).notNull(),
})

export const invites = pgTable('invites', {
  code: text('code').primaryKey(),
  uses: bigint('uses', { mode: 'number' }).notNull(),
  used: bigint('used', { mode: 'number' }).notNull().default(0),
  expiresAt: bigint('expires_at', { mode: 'number' }),
  revokedAt: bigint('revoked_at', { mode: 'number' }),
  createdBy: bigint('created_by', { mode: 'number' }),
  createdAt: bigint('created_at', { mode: 'number' }).notNull(),
})

export const audit = pgTable('audit', {
  id: bigint('id', { mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
  at: bigint('at', { mode: 'number' }).notNull(),
  actorId: bigint('actor_id', { mode: 'number' }),
  actorName: text('actor_name'),
  action: text('action').notNull(),
  target: text('target').notNull(),
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
    kind: text('kind').notNull().default('message'),
    targetId: bigint('target_id', { mode: 'number' }),
    editedAt: bigint('edited_at', { mode: 'number' }),
    deleted: boolean('deleted').notNull().default(false),
    mentions: text('mentions'),
    replyTo: bigint('reply_to', { mode: 'number' }),
    attachments: text('attachments'),
    /** On a message: its room is private (see db/schema.ts), set at its insert. */
    private: boolean('private').notNull().default(false),
  },
  // A room's messages and its events in two partial indexes by (room, id), as in db/schema.ts (migration
  // 0017). Queries name `kind = 'message'` in their text, never as a bound parameter: a generic plan
  // cannot prove a parameter's value implies an index's predicate.
  // messages_user_id: a deleted account's name is replaced on its messages without reading every message.
  (t) => [
    index('messages_room_message_id')
      .on(t.room, t.id)
      .where(sql`${t.kind} = 'message'`),
    index('messages_room_event_id')
      .on(t.room, t.id)
      .where(sql`${t.kind} <> 'message'`),
    // Events only (edits, deletions, reactions): a message has no target (migration 0014, as SQLite's 0015).
    index('messages_target_id')
      .on(t.targetId)
      .where(sql`${t.targetId} IS NOT NULL`),
    index('messages_user_id').on(t.userId),
  ],
)

/** One row per room that has messages or was registered (see db/schema.ts). */
export const rooms = pgTable(
  'rooms',
  {
    name: text('name').primaryKey(),
    lastMessageId: bigint('last_message_id', { mode: 'number' }).notNull(),
    lastActiveAt: bigint('last_active_at', { mode: 'number' }).notNull(),
    lastEventId: bigint('last_event_id', { mode: 'number' }).notNull().default(0),
    visibility: text('visibility').notNull().default('public'),
    topic: text('topic'),
    ownerId: bigint('owner_id', { mode: 'number' }),
    registeredAt: bigint('registered_at', { mode: 'number' }),
    messageCount: bigint('message_count', { mode: 'number' }).notNull().default(0),
  },
  (t) => [index('rooms_visibility_last_message_id').on(t.visibility, t.lastMessageId, t.name)],
)

/** Who is in a room, with their unread counters (see db/schema.ts). */
export const roomMembers = pgTable(
  'room_members',
  {
    room: text('room').notNull(),
    userId: bigint('user_id', { mode: 'number' }).notNull(),
    joinedAt: bigint('joined_at', { mode: 'number' }).notNull(),
    lastReadId: bigint('last_read_id', { mode: 'number' }).notNull().default(0),
    readCount: bigint('read_count', { mode: 'number' }).notNull().default(0),
    mentions: bigint('mentions', { mode: 'number' }).notNull().default(0),
  },
  (t) => [primaryKey({ columns: [t.userId, t.room] }), index('room_members_room').on(t.room, t.userId)],
)

/** Who each message mentions (see db/schema.ts). */
export const mentions = pgTable(
  'mentions',
  {
    messageId: bigint('message_id', { mode: 'number' }).notNull(),
    userId: bigint('user_id', { mode: 'number' }).notNull(),
    room: text('room').notNull(),
  },
  (t) => [
    primaryKey({ columns: [t.messageId, t.userId] }),
    index('mentions_user_room_message').on(t.userId, t.room, t.messageId),
    index('mentions_user_message').on(t.userId, t.messageId),
  ],
)

/** Reactions as they stand (see db/schema.ts). */
export const reactions = pgTable(
  'reactions',
  {
    messageId: bigint('message_id', { mode: 'number' }).notNull(),
    emoji: text('emoji').notNull(),
    userId: bigint('user_id', { mode: 'number' }).notNull(),
    createdAt: bigint('created_at', { mode: 'number' }).notNull(),
  },
  (t) => [primaryKey({ columns: [t.messageId, t.emoji, t.userId] })],
)

/** Uploaded files (see db/schema.ts). */
export const attachments = pgTable(
  'attachments',
  {
    id: text('id').primaryKey(),
    room: text('room').notNull(),
    userId: bigint('user_id', { mode: 'number' }).notNull(),
    name: text('name').notNull(),
    type: text('type').notNull(),
    size: bigint('size', { mode: 'number' }).notNull(),
    width: bigint('width', { mode: 'number' }),
    height: bigint('height', { mode: 'number' }),
    createdAt: bigint('created_at', { mode: 'number' }).notNull(),
    messageId: bigint('message_id', { mode: 'number' }),
  },
  (t) => [index('attachments_message_id').on(t.messageId), index('attachments_user_id').on(t.userId), index('attachments_created_at').on(t.createdAt)],
)

/** The bytes of each attachment, in chunks (cluster mode stores files in PostgreSQL so every instance serves them). */
export const attachmentBlobs = pgTable(
  'attachment_blobs',
  {
    attachmentId: text('attachment_id').notNull(),
    seq: bigint('seq', { mode: 'number' }).notNull(),
    data: bytes('data').notNull(),
  },
  (t) => [primaryKey({ columns: [t.attachmentId, t.seq] })],
)

export const settings = pgTable('settings', {
  key: text('key').primaryKey(),
  value: text('value').notNull(),
})

/** Bots and webhooks (see db/schema.ts). */
export const incomingWebhooks = pgTable('incoming_webhooks', {
  id: bigint('id', { mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
  name: text('name').notNull(),
  room: text('room').notNull(),
  botId: bigint('bot_id', { mode: 'number' }).notNull(),
  tokenHash: text('token_hash').notNull().unique(),
  createdBy: bigint('created_by', { mode: 'number' }),
  createdAt: bigint('created_at', { mode: 'number' }).notNull(),
})

export const outgoingWebhooks = pgTable('outgoing_webhooks', {
  id: bigint('id', { mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
  name: text('name').notNull(),
  url: text('url').notNull(),
  secret: text('secret').notNull(),
  botId: bigint('bot_id', { mode: 'number' }),
  createdBy: bigint('created_by', { mode: 'number' }),
  createdAt: bigint('created_at', { mode: 'number' }).notNull(),
})

export const outgoingWebhookRooms = pgTable(
  'outgoing_webhook_rooms',
  {
    webhookId: bigint('webhook_id', { mode: 'number' }).notNull(),
    room: text('room').notNull(),
  },
  (t) => [primaryKey({ columns: [t.webhookId, t.room] })],
)

export const webhookDeliveries = pgTable(
  'webhook_deliveries',
  {
    id: bigint('id', { mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
    webhookId: bigint('webhook_id', { mode: 'number' }).notNull(),
    event: text('event').notNull(),
    room: text('room').notNull(),
    messageId: bigint('message_id', { mode: 'number' }).notNull(),
    payload: text('payload').notNull(),
    status: text('status').notNull(),
    attempts: bigint('attempts', { mode: 'number' }).notNull().default(0),
    nextAttemptAt: bigint('next_attempt_at', { mode: 'number' }),
    responseStatus: bigint('response_status', { mode: 'number' }),
    error: text('error'),
    createdAt: bigint('created_at', { mode: 'number' }).notNull(),
    updatedAt: bigint('updated_at', { mode: 'number' }).notNull(),
  },
  (t) => [
    index('webhook_deliveries_status_next').on(t.status, t.nextAttemptAt),
    index('webhook_deliveries_webhook_id').on(t.webhookId, t.id),
    index('webhook_deliveries_created_at').on(t.createdAt),
  ],
)
