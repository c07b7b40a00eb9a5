/** The store contract: every database access the server makes goes through this interface. */
import type { Message, Role, User } from '../protocol.ts'

export type { Message, User }

export interface UserRecord extends User {
  passwordHash: string
}

export interface NewMessage {
  room: string
  user: User
  text: string
  nonce: string | undefined
  /** Epoch milliseconds. */
  createdAt: number
}

/**
 * A message as committed, with `after`: the room's newest message id committed before it (0 for
 * the room's first). Ids order a room's messages (spec §3), and `after` chains them, so whoever
 * delivers can tell a message that overtook its predecessor (ws/sequencer.ts).
 */
export interface Committed {
  message: Message
  after: number
}

export interface MessageQuery {
  /** Only messages with a smaller id. */
  before?: number
  /** Only messages with a larger id. */
  after?: number
  /** The newest `limit` matches are returned, oldest first. */
  limit: number
}

/** A room with messages, as the rooms table keeps it (updated with every insert). */
export interface RoomActivity {
  room: string
  lastMessageId: number
  /** Epoch milliseconds of that message. */
  lastActiveAt: number
}

export interface RoomActivityQuery {
  /** Only rooms whose newest message id is smaller: the previous page's last one. */
  before?: number
  limit: number
}

/**
 * Async throughout so that a networked store (PostgreSQL) fits the same shape.
 * Absence is a value (`undefined`); only real failures throw.
 */
export interface Store {
  /** Inserts the user, or returns undefined when the username key is taken. */
  createUser(user: { username: string; usernameKey: string; passwordHash: string }): Promise<User | undefined>
  findUserByKey(usernameKey: string): Promise<UserRecord | undefined>
  findUserById(id: number): Promise<(User & { role: Role }) | undefined>
  /** Up to `limit` users with an id above `afterId`, in id order, with their stored username keys (start-up re-keying). */
  listUserKeys(afterId: number, limit: number): Promise<(User & { usernameKey: string })[]>
  /** Gives the user `usernameKey` unless another user holds it; true when the user has it afterwards. */
  setUsernameKey(id: number, usernameKey: string): Promise<boolean>
  /**
   * Sets the user's password hash to `next` if it is still `previous`, so a rehash can't undo a
   * password change made meanwhile; false when it was not (changed, or no such user).
   */
  updatePasswordHash(id: number, previous: string, next: string): Promise<boolean>
  /** Returns the stored value of `key`, storing `create()` first if there is none (first writer wins). */
  getOrCreateSetting(key: string, create: () => string): Promise<string>
  /**
   * Stores a message and resolves once it is committed (spec §3: stored, then broadcast). Within a
   * room, ids grow in commit order across every instance sharing the database, and each message
   * knows its predecessor (`after`). The room's activity (see listRoomActivity) is updated in the
   * same transaction as the message.
   */
  insertMessage(message: NewMessage): Promise<Committed>
  listMessages(room: string, query: MessageQuery): Promise<Message[]>
  /**
   * Rooms with messages, most recently active (highest newest message id) first. Reads an index of
   * rooms, never the messages, so its cost grows with `limit` only (spec §2 GET /api/v1/rooms).
   */
  listRoomActivity(query: RoomActivityQuery): Promise<RoomActivity[]>
  /** The activity of those of `rooms` that have messages, in no particular order. */
  findRoomActivity(rooms: string[]): Promise<RoomActivity[]>
  /** Throws when the database does not answer. */
  ping(): Promise<void>
  close(): Promise<void>
}

/** A messages row as both schemas (SQLite and PostgreSQL) store it. */
export interface MessageRow {
  id: number
  room: string
  userId: number
  username: string
  text: string
  nonce: string | null
  createdAt: number
}

/** The row to insert for a new message (the database assigns the id). */
export function toMessageRow(m: NewMessage): Omit<MessageRow, 'id'> {
  return { room: m.room, userId: m.user.id, username: m.user.username, text: m.text, nonce: m.nonce ?? null, createdAt: m.createdAt }
}

/** A stored row as it goes on the wire; `nonce` is absent when the sender gave none. */
export function toMessage(row: MessageRow): Message {
  const message: Message = {
    id: row.id,
    room: row.room,
    user: { id: row.userId, username: row.username },
    text: row.text,
    ts: new Date(row.createdAt).toISOString(),
  }
  if (row.nonce !== null) message.nonce = row.nonce
  return message
}
