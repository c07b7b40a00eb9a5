/** Tables of the SQLite store. Change this file, then `bun run db:generate`; never edit a generated migration. */
import { customType, index, integer, primaryKey, sqliteTable, text } from 'drizzle-orm/sqlite-core'
import { sql } from 'drizzle-orm'

/** Raw bytes; a custom type as in db/schema.pg.ts (bytea), so the two schemas compare equal. */
const bytes = customType<{ data: Uint8Array; driverData: Uint8Array }>({ dataType: () => 'blob' })

export const users = sqliteTable(
  'users',
  {
    // AUTOINCREMENT: an id is never reused, so a token of a deleted user can't pass as someone else.
    id: integer('id').primaryKey({ autoIncrement: true }),
    username: text('username').notNull(),
    // usernameKey() of the username (full case fold + NFKC, src/chat/usernames.ts; rewritten at start-up
    // when that rule changes); the unique index makes "Alice" block "alice" (spec §2).
    usernameKey: text('username_key').notNull().unique(),
    passwordHash: text('password_hash').notNull(),
    createdAt: integer('created_at').notNull(),
    /** 'admin' or 'member' (spec §5). */
    role: text('role').notNull().default('member'),
    /** Carried in every token as `ver`; raising it revokes every token issued before (spec §5). */
    tokenVersion: integer('token_version').notNull().default(0),
    /** Epoch ms of the ban; null while not banned. */
    bannedAt: integer('banned_at'),
    banReason: text('ban_reason'),
    /** A bot account (made by an admin, src/chat/bots.ts): it has no usable password and signs in with its API token. */
    bot: integer('bot', { mode: 'boolean' }).notNull().default(false),
    /** SHA-256 (hex) of the bot's current API token; null when it has none. The token itself is never stored. */
    apiTokenHash: text('api_token_hash'),
  },
  // Found by index, not by reading every account (issue 16): the admins (whether one is left, the first
  // sign-up's role) and the bots (the admin's list).
  (t) => [index('users_role').on(t.role), index('users_bot').on(t.bot)],
)

/**
 * Every change to a user's standing (token version, role, ban, deletion), in order: each instance
 * reads what is new every second and closes or refreshes what it holds, whether the change came from
 * this instance, another one, or the CLI writing to the database directly.
 */
export const userChanges = sqliteTable('user_changes', {
  id: integer('id').primaryKey({ autoIncrement: true }),
  userId: integer('user_id').notNull(),
  at: integer('at').notNull(),
})

/** Invitation codes for REGISTRATION=invite (spec §5). */
export const invites = sqliteTable('invites', {
  code: text('code').primaryKey(),
  uses: integer('uses').notNull(),
  used: integer('used').notNull().default(0),
  /** Epoch ms; null: never expires. */
  expiresAt: integer('expires_at'),
  revokedAt: integer('revoked_at'),
  /** Null when made with the CLI. */
  createdBy: integer('created_by'),
  createdAt: integer('created_at').notNull(),
})

/** Every admin and CLI action (spec §5): who, what, whom, when. */
export const audit = sqliteTable('audit', {
  id: integer('id').primaryKey({ autoIncrement: true }),
  at: integer('at').notNull(),
  /** Null for the CLI. */
  actorId: integer('actor_id'),
  actorName: text('actor_name'),
  action: text('action').notNull(),
  /** JSON: the spec's `target` object. */
  target: text('target').notNull(),
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
    /**
     * 'message', or an event in the room's stream that shares the id sequence (spec §5): 'edited'
     * (text: the new text) or 'deleted', concerning the message `target_id`.
     */
    kind: text('kind').notNull().default('message'),
    targetId: integer('target_id'),
    /** On a message: epoch ms of its last edit. */
    editedAt: integer('edited_at'),
    /** On a message: deleted (its text, and that of its edits, is erased). */
    deleted: integer('deleted', { mode: 'boolean' }).notNull().default(false),
    /** On a message or an edit: JSON `[{"id","username"}]` of who the text mentions (spec §6); null for no one. */
    mentions: text('mentions'),
    /** On a message: the id of the message of the same room it replies to (spec §7). */
    replyTo: integer('reply_to'),
    /** On a message: JSON of the attachments it carries (spec §7: id, name, type, size, width, height), fixed when posted; null for none. */
    attachments: text('attachments'),
    /** On a message: its room is private (a room's visibility never changes once it has messages), so search indexes it apart (spec §7). */
    private: integer('private', { mode: 'boolean' }).notNull().default(false),
    /**
     * On a message: copied into `messages_room_filed`, the room-ordered copy history pages read from
     * (src/store/sqlite-history-filing.ts). A message is posted unfiled and filed after a quiet spell.
     */
    filed: integer('filed', { mode: 'boolean' }).notNull().default(false),
  },
  // A room's rows are in exactly one of two partial indexes by (room, id): its messages (history pages,
  // unread counts), so events never slow a history read down, and its events (edits, deletions,
  // reactions). A message's commit writes one of them, not two (migration 0019); the whole stream
  // (resume, gap repair) is the two merged by id.
  // messages_user_id: a deleted account's name is replaced on its messages without reading every message.
  // messages_target_id holds the events (edits, deletions, reactions) only: a message has no target, and
  // leaving it out spares every message's commit a page of this index (migration 0015).
  // messages_room_filed: filed messages whole, by (room, id), so that a page of a room's history is a few
  // neighbouring index pages rather than a page of the table per message (migration 0020). Only filed
  // messages: a new message's commit never writes it.
  (t) => [
    index('messages_room_message_id')
      .on(t.room, t.id)
      .where(sql`${t.kind} = 'message'`),
    index('messages_room_event_id')
      .on(t.room, t.id)
      .where(sql`${t.kind} <> 'message'`),
    index('messages_target_id')
      .on(t.targetId)
      .where(sql`${t.targetId} IS NOT NULL`),
    index('messages_user_id').on(t.userId),
    index('messages_room_filed')
      .on(t.room, t.id, t.userId, t.username, t.text, t.nonce, t.createdAt, t.editedAt, t.deleted, t.mentions, t.replyTo, t.attachments, t.kind, t.filed)
      .where(sql`${t.kind} = 'message' AND ${t.filed}`),
  ],
)

/**
 * One row per room that has messages or was registered (spec §6). The message insert keeps the
 * activity columns in the same transaction: the room list (spec §2) pages through them by last message
 * id and never reads `messages`. An unregistered room is public, with no topic, owner or registration time.
 */
export const rooms = sqliteTable(
  'rooms',
  {
    name: text('name').primaryKey(),
    /** 0 while a registered room has no message. */
    lastMessageId: integer('last_message_id').notNull(),
    /** Epoch ms of that message (0 without one). */
    lastActiveAt: integer('last_active_at').notNull(),
    /** The newest id of the room's stream, messages and events alike: the next one's `after`. */
    lastEventId: integer('last_event_id').notNull().default(0),
    /** 'public' or 'private' (spec §6); a name becomes private only when registered so, before any message. */
    visibility: text('visibility').notNull().default('public'),
    topic: text('topic'),
    ownerId: integer('owner_id'),
    /** Epoch ms of the registration; null for a room that came into being when used. */
    registeredAt: integer('registered_at'),
    /** Messages ever posted (deleted ones included): a member's unread count is this minus their read_count. */
    messageCount: integer('message_count').notNull().default(0),
  },
  // The room list's page comes from this index alone (name included): its entry moves with every
  // message anyway, and the page reads one stretch of it instead of a row page per room.
  (t) => [index('rooms_visibility_last_message_id').on(t.visibility, t.lastMessageId, t.name)],
)

/**
 * Who is in a room (spec §6): the members of a private room or DM, and the users who joined a public
 * one. Unread state is kept as counters, so reading it never scans a room's messages: `unread` is the
 * room's message_count minus read_count (a message by the member, or deleted after the marker, raises
 * read_count at once); `mentions` counts unread messages that mention the member. The table is
 * `WITHOUT ROWID` (migration 0016; drizzle cannot declare it), stored in key order: a user's
 * memberships are one stretch of it.
 */
export const roomMembers = sqliteTable(
  'room_members',
  {
    room: text('room').notNull(),
    userId: integer('user_id').notNull(),
    joinedAt: integer('joined_at').notNull(),
    lastReadId: integer('last_read_id').notNull().default(0),
    readCount: integer('read_count').notNull().default(0),
    mentions: integer('mentions').notNull().default(0),
  },
  (t) => [primaryKey({ columns: [t.userId, t.room] }), index('room_members_room').on(t.room, t.userId)],
)

/** Who each message mentions (spec §6): mention counts after a read marker, and the user stream's resume. */
export const mentions = sqliteTable(
  'mentions',
  {
    messageId: integer('message_id').notNull(),
    userId: integer('user_id').notNull(),
    room: text('room').notNull(),
  },
  (t) => [
    primaryKey({ columns: [t.messageId, t.userId] }),
    index('mentions_user_room_message').on(t.userId, t.room, t.messageId),
    index('mentions_user_message').on(t.userId, t.messageId),
  ],
)

/**
 * Reactions as they stand (spec §7): one row per message, emoji and user. Each toggle is also an event
 * of the room's stream (messages row of kind 'reacted' or 'unreacted', text the emoji).
 */
export const reactions = sqliteTable(
  'reactions',
  {
    messageId: integer('message_id').notNull(),
    emoji: text('emoji').notNull(),
    userId: integer('user_id').notNull(),
    createdAt: integer('created_at').notNull(),
  },
  (t) => [primaryKey({ columns: [t.messageId, t.emoji, t.userId] })],
)

/**
 * Uploaded files (spec §7): the bytes are in the data folder with SQLite (named by id) and in
 * attachment_blobs with PostgreSQL. `message_id` is set when a message uses it; an upload no message
 * uses within 24 h is removed.
 */
export const attachments = sqliteTable(
  'attachments',
  {
    id: text('id').primaryKey(),
    room: text('room').notNull(),
    userId: integer('user_id').notNull(),
    name: text('name').notNull(),
    /** Judged from the bytes: image/png, image/jpeg, image/gif, image/webp, else application/octet-stream. */
    type: text('type').notNull(),
    size: integer('size').notNull(),
    width: integer('width'),
    height: integer('height'),
    createdAt: integer('created_at').notNull(),
    messageId: integer('message_id'),
  },
  (t) => [index('attachments_message_id').on(t.messageId), index('attachments_user_id').on(t.userId), index('attachments_created_at').on(t.createdAt)],
)

/** The bytes of each attachment in PostgreSQL (cluster mode), in chunks; unused with SQLite. */
export const attachmentBlobs = sqliteTable(
  'attachment_blobs',
  {
    attachmentId: text('attachment_id').notNull(),
    seq: integer('seq').notNull(),
    data: bytes('data').notNull(),
  },
  (t) => [primaryKey({ columns: [t.attachmentId, t.seq] })],
)

/** Server-wide key/value settings, e.g. the generated JWT signing secret. */
export const settings = sqliteTable('settings', {
  key: text('key').primaryKey(),
  value: text('value').notNull(),
})

/** Incoming webhooks: a secret URL that posts into one room as a bot (src/chat/webhooks.ts). */
export const incomingWebhooks = sqliteTable('incoming_webhooks', {
  id: integer('id').primaryKey({ autoIncrement: true }),
  name: text('name').notNull(),
  room: text('room').notNull(),
  botId: integer('bot_id').notNull(),
  /** SHA-256 (hex) of the URL's secret: a lookup by it is how a post finds its webhook. */
  tokenHash: text('token_hash').notNull().unique(),
  createdBy: integer('created_by'),
  createdAt: integer('created_at').notNull(),
})

/** Outgoing webhooks: signed POSTs of new messages in chosen rooms, or mentioning a bot. */
export const outgoingWebhooks = sqliteTable('outgoing_webhooks', {
  id: integer('id').primaryKey({ autoIncrement: true }),
  name: text('name').notNull(),
  url: text('url').notNull(),
  /** The signing key (`whsec_…`): kept as is, since signing needs it (shown to the admin once). */
  secret: text('secret').notNull(),
  /** Messages mentioning this bot are sent too; its own messages never are. */
  botId: integer('bot_id'),
  createdBy: integer('created_by'),
  createdAt: integer('created_at').notNull(),
})

export const outgoingWebhookRooms = sqliteTable(
  'outgoing_webhook_rooms',
  {
    webhookId: integer('webhook_id').notNull(),
    room: text('room').notNull(),
  },
  (t) => [primaryKey({ columns: [t.webhookId, t.room] })],
)

/**
 * Each outgoing delivery and its fate: the queue (pending rows due at next_attempt_at; a claim moves
 * that forward by a lease, so a crashed instance's claims come due again) and the admin's log.
 */
export const webhookDeliveries = sqliteTable(
  'webhook_deliveries',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    webhookId: integer('webhook_id').notNull(),
    /** 'message' or 'mention'. */
    event: text('event').notNull(),
    room: text('room').notNull(),
    messageId: integer('message_id').notNull(),
    /** The JSON body, fixed when queued so every attempt sends (and signs) the same bytes. */
    payload: text('payload').notNull(),
    /** 'pending', 'delivered' or 'failed'. */
    status: text('status').notNull(),
    attempts: integer('attempts').notNull().default(0),
    nextAttemptAt: integer('next_attempt_at'),
    responseStatus: integer('response_status'),
    error: text('error'),
    createdAt: integer('created_at').notNull(),
    updatedAt: integer('updated_at').notNull(),
  },
  (t) => [
    index('webhook_deliveries_status_next').on(t.status, t.nextAttemptAt),
    index('webhook_deliveries_webhook_id').on(t.webhookId, t.id),
    index('webhook_deliveries_created_at').on(t.createdAt),
  ],
)
