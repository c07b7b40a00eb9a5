/**
 * Rows of the messages table as both stores hold them, and how they become the wire's shapes:
 * messages (with their mentions, reply quote and attachments), and the events of a room's stream.
 */
import { CONVERSATION_LIMITS, CONVERSATION_PATHS } from '../protocol-conversation.ts'
import type { Attachment, EditedEvent, Message, Quote, TextMessage, User } from '../protocol.ts'
import type { MessageChange, NewMessage, StreamEvent } from './entries.ts'

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
  /** The id of the message this one answers (spec §7). */
  replyTo?: number | null
  /** JSON of the attachments' metadata (Attachment without `url`), or null for none. */
  attachments?: string | null
}

/** A messages row as both schemas (SQLite and PostgreSQL) store it, events included. */
export interface StreamRow extends MessageRow {
  /** 'message', 'edited', 'deleted', 'reacted' or 'unreacted'. */
  kind: string
  targetId: number | null
  editedAt: number | null
  deleted: boolean
}

/** One standing reaction (spec §7). */
export interface ReactionRow {
  messageId: number
  emoji: string
  userId: number
}

/** The original of a reply as it is now (spec §7): text cut to QUOTE_MAX_LENGTH code points with a final `…`, null once deleted. */
export function quoteOf(row: Pick<MessageRow, 'id' | 'userId' | 'username' | 'text' | 'deleted'>): Quote {
  return { id: row.id, user: { id: row.userId, username: row.username }, text: row.deleted ? null : cutQuote(row.text) }
}

export function cutQuote(text: string): string {
  const max = CONVERSATION_LIMITS.QUOTE_MAX_LENGTH
  if (text.length <= max) return text
  const points = [...text]
  return points.length <= max ? text : `${points.slice(0, max - 1).join('')}…`
}

/** The row to insert for a new message (the database assigns the id); `attachments` as claimed. */
export function toMessageRow(m: NewMessage, attachments: Omit<Attachment, 'url'>[] = []): Omit<MessageRow, 'id'> {
  return {
    room: m.room,
    userId: m.user.id,
    username: m.user.username,
    text: m.text,
    nonce: m.nonce ?? null,
    createdAt: m.createdAt,
    mentions: encodeMentions(m.mentions),
    replyTo: m.replyTo ?? null,
    attachments: attachments.length === 0 ? null : JSON.stringify(attachments),
  }
}

/** The mentions column: null for no one, so a message without mentions costs nothing. */
export function encodeMentions(users: User[]): string | null {
  return users.length === 0 ? null : JSON.stringify(users.map(({ id, username }) => ({ id, username })))
}

function decodeMentions(column: string | null | undefined): User[] | undefined {
  return column ? (JSON.parse(column) as User[]) : undefined
}

/** The row to insert for a change's event: by the user who made it, at `at`; a deletion keeps no text, a reaction its emoji. */
export function toEventRow(c: MessageChange): Omit<StreamRow, 'id' | 'editedAt' | 'deleted'> {
  const text = c.type === 'edited' ? c.text : c.type === 'reaction' ? c.emoji : ''
  const mentions = c.type === 'edited' ? encodeMentions(c.mentions) : null
  const kind = c.type === 'reaction' ? (c.on ? 'reacted' : 'unreacted') : c.type
  const { room, user, at, messageId } = c
  return {
    room,
    userId: user.id,
    username: user.username,
    text,
    nonce: null,
    createdAt: at,
    kind,
    targetId: messageId,
    mentions,
    replyTo: null,
    attachments: null,
  }
}

/**
 * A stored message as it goes on the wire: `nonce` absent when the sender gave none, a deleted one a
 * tombstone; `quote` the original of a reply, as it is now (read by the caller with the row).
 */
export function toMessage(row: MessageRow, quote?: Quote): Message {
  const base = { id: row.id, room: row.room, user: { id: row.userId, username: row.username }, ts: new Date(row.createdAt).toISOString() }
  if (row.deleted) return { ...base, deleted: true }
  const message: TextMessage = { ...base, text: row.text }
  if (row.nonce !== null) message.nonce = row.nonce
  if (row.editedAt !== undefined && row.editedAt !== null) message.editedAt = new Date(row.editedAt).toISOString()
  const mentions = decodeMentions(row.mentions)
  if (mentions) message.mentions = mentions
  if (quote) message.replyTo = quote
  if (row.attachments) {
    const list = JSON.parse(row.attachments) as Omit<Attachment, 'url'>[]
    message.attachments = list.map((a) => ({ ...a, url: CONVERSATION_PATHS.attachment(a.id) }))
  }
  return message
}

/** A stored row as a stream entry (a message's quote as for toMessage). */
export function toStreamEvent(row: StreamRow, quote?: Quote): StreamEvent {
  const { room } = row
  if (row.kind === 'edited') {
    const data: EditedEvent = { id: row.id, messageId: row.targetId!, text: row.text, editedAt: new Date(row.createdAt).toISOString() }
    const mentions = decodeMentions(row.mentions)
    if (mentions) data.mentions = mentions
    return { type: 'edited', room, data }
  }
  if (row.kind === 'deleted') return { type: 'deleted', room, data: { id: row.id, messageId: row.targetId! } }
  if (row.kind === 'reacted' || row.kind === 'unreacted') {
    const user = { id: row.userId, username: row.username }
    return { type: 'reaction', room, data: { id: row.id, messageId: row.targetId!, emoji: row.text, user, on: row.kind === 'reacted' } }
  }
  return { type: 'message', room, data: toMessage(row, quote) }
}

/** The audit target of a message (spec §5). */
export function messageTarget(room: string, messageId: number): Record<string, unknown> {
  return { room, messageId }
}
