/**
 * The room-stream half of the store contract, implemented by every store: a room's messages and the
 * changes to them (spec §5: edits and deletions are events that share the message id sequence), in
 * one ordered stream per room, and the rows they are stored as.
 */
import type { DeletedEvent, EditedEvent, Message, TextMessage, User } from '../protocol.ts'

export interface NewMessage {
  room: string
  user: User
  text: string
  nonce: string | undefined
  /**
   * Who the text mentions, as the domain resolved it (chat/mentions.ts). The store keeps those who
   * can read the room when it commits (in a private room, its members), and counts them (spec §6).
   */
  mentions: User[]
  /** Epoch milliseconds. */
  createdAt: number
}

/**
 * A message as committed, with `after`: the id of the room's stream entry (message or change)
 * committed before it (0 for the room's first). Ids order a room's stream (spec §3, §5), and `after`
 * chains it, so whoever delivers can tell an entry that overtook its predecessor (ws/sequencer.ts).
 */
export interface Committed {
  message: Message
  after: number
}

/** An entry of a room's stream: a message (as it is now, when read back), or a change to one. */
export type StreamEvent =
  { type: 'message'; room: string; data: Message } | { type: 'edited'; room: string; data: EditedEvent } | { type: 'deleted'; room: string; data: DeletedEvent }

/** Any stream entry as committed, with `after` as in Committed: what the sequencer orders. */
export interface CommittedEvent {
  event: StreamEvent
  after: number
}

/**
 * A change asked for (spec §5) by `user`: an edit (the author only) or a deletion (the author, or
 * anyone when `byAdmin`). `at` is epoch ms.
 */
export type MessageChange =
  | { type: 'edited'; room: string; messageId: number; user: User; text: string; mentions: User[]; at: number }
  | { type: 'deleted'; room: string; messageId: number; user: User; byAdmin: boolean; at: number }

/**
 * What came of a change: committed (with the message's author), or refused with the spec's error
 * type, nothing written: MESSAGE_NOT_FOUND when the room has no such message or it is deleted,
 * FORBIDDEN when the user may not make that change.
 */
export type ChangeOutcome =
  /** `mentioned`: who an edit mentions that the message did not before (they get a `mention` event). */
  { ok: true; committed: CommittedEvent; author: User; mentioned: User[] } | { ok: false; refusal: 'MESSAGE_NOT_FOUND' | 'FORBIDDEN' }

export interface MessageQuery {
  /** Only messages with a smaller id. */
  before?: number
  /** Only messages with a larger id. */
  after?: number
  /** The newest `limit` matches are returned, oldest first. */
  limit: number
}

export interface StreamQuery extends MessageQuery {
  /** Only changes to messages with an id up to this one (a resume: those the client has). */
  changesUpTo?: number
}

export interface StreamStore {
  /**
   * Stores a message and resolves once it is committed (spec §3: stored, then broadcast). Within a
   * room, ids grow in commit order across every instance sharing the database, and each entry
   * knows its predecessor (`after`). The room's activity (see listRoomActivity) is updated in the
   * same transaction as the message.
   */
  insertMessage(message: NewMessage): Promise<Committed>
  /**
   * Checks and applies a change in one transaction, in the room's stream order like a message: the
   * event row is stored (an edit with its text), the message updated (a deletion erases its text
   * and that of its earlier edits: spec §5 "gone, not hidden"), the room's stream head moved (not
   * its activity: an event is not a message). A deletion by anyone but the author is audited
   * (`message.delete`, spec §5) in the same transaction.
   */
  changeMessage(change: MessageChange): Promise<ChangeOutcome>
  /** Messages only, as they are now (edited text, deleted ones as tombstones). Index-bound per page. */
  listMessages(room: string, query: MessageQuery): Promise<Message[]>
  /**
   * The room's stream: messages as they are now and the changes that still stand (an edit whose
   * message was deleted since is gone with its text), oldest first, the newest `limit` matches.
   */
  listStream(room: string, query: StreamQuery): Promise<StreamEvent[]>
}

/** What a messages row holds for a message; events add their kind and target (StreamRow). */
export interface MessageRow {
  id: number
  room: string
  userId: number
  username: string
  text: string
  nonce: string | null
  createdAt: number
  /** Epoch ms of the last edit. */
  editedAt?: number | null
  deleted?: boolean
  /** JSON `[{"id","username"}]`, or null when the text mentions no one. */
  mentions?: string | null
}

/** A messages row as both schemas (SQLite and PostgreSQL) store it, events included. */
export interface StreamRow extends MessageRow {
  /** 'message', 'edited' or 'deleted'. */
  kind: string
  targetId: number | null
  editedAt: number | null
  deleted: boolean
}

/** The row to insert for a new message (the database assigns the id). */
export function toMessageRow(m: NewMessage): Omit<MessageRow, 'id'> {
  return {
    room: m.room,
    userId: m.user.id,
    username: m.user.username,
    text: m.text,
    nonce: m.nonce ?? null,
    createdAt: m.createdAt,
    mentions: encodeMentions(m.mentions),
  }
}

/** The mentions column: null for no one, so a message without mentions costs nothing. */
export function encodeMentions(users: User[]): string | null {
  return users.length === 0 ? null : JSON.stringify(users.map(({ id, username }) => ({ id, username })))
}

function decodeMentions(column: string | null | undefined): User[] | undefined {
  return column ? (JSON.parse(column) as User[]) : undefined
}

/** The row to insert for a change's event: by the user who made it, at `at`; a deletion keeps no text. */
export function toEventRow(c: MessageChange): Omit<StreamRow, 'id' | 'editedAt' | 'deleted'> {
  const text = c.type === 'edited' ? c.text : ''
  const mentions = c.type === 'edited' ? encodeMentions(c.mentions) : null
  return { room: c.room, userId: c.user.id, username: c.user.username, text, nonce: null, createdAt: c.at, kind: c.type, targetId: c.messageId, mentions }
}

/** A stored message as it goes on the wire: `nonce` absent when the sender gave none, a deleted one a tombstone. */
export function toMessage(row: MessageRow): Message {
  const base = { id: row.id, room: row.room, user: { id: row.userId, username: row.username }, ts: new Date(row.createdAt).toISOString() }
  if (row.deleted) return { ...base, deleted: true }
  const message: TextMessage = { ...base, text: row.text }
  if (row.nonce !== null) message.nonce = row.nonce
  if (row.editedAt !== undefined && row.editedAt !== null) message.editedAt = new Date(row.editedAt).toISOString()
  const mentions = decodeMentions(row.mentions)
  if (mentions) message.mentions = mentions
  return message
}

/** A stored row as a stream entry. */
export function toStreamEvent(row: StreamRow): StreamEvent {
  const { room } = row
  if (row.kind === 'edited') {
    const data: EditedEvent = { id: row.id, messageId: row.targetId!, text: row.text, editedAt: new Date(row.createdAt).toISOString() }
    const mentions = decodeMentions(row.mentions)
    if (mentions) data.mentions = mentions
    return { type: 'edited', room, data }
  }
  if (row.kind === 'deleted') return { type: 'deleted', room, data: { id: row.id, messageId: row.targetId! } }
  return { type: 'message', room, data: toMessage(row) }
}

/** The id of a stream entry (a message's, or the event's own). */
export function eventId(event: StreamEvent): number {
  return event.data.id
}

/** The audit target of a message (spec §5). */
export function messageTarget(room: string, messageId: number): Record<string, unknown> {
  return { room, messageId }
}
