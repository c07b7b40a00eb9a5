/**
 * What spec §7 adds to the PostgreSQL message stream, called inside the room's advisory-locked
 * transaction (postgres-stream.ts): a reply's original and its quote, attachments claimed by a
 * message, reactions toggled, and what a deletion takes with it (its reactions, its attachments'
 * rows and their bytes in `attachment_blobs`). The search index (trigram, migration 0009) follows
 * the row, so there is nothing to maintain here. Reads for history pages (quotes, reactions) too.
 */
import { and, asc, eq, inArray, isNull, sql } from 'drizzle-orm'
import type { BunSQLDatabase } from 'drizzle-orm/bun-sql'
import * as schema from '../../db/schema.pg.ts'
import { CONVERSATION_LIMITS } from '../protocol-conversation.ts'
import type { Attachment, Quote } from '../protocol.ts'
import { quoteOf, type ReactionRow } from './rows.ts'
import { MessageRefused, type MessageChange, type NewMessage } from './entries.ts'

const { messages, reactions, attachments, attachmentBlobs } = schema

type Db = BunSQLDatabase<typeof schema>
/** The room's write transaction (or, for reads, the database). */
export type Tx = Parameters<Parameters<Db['transaction']>[0]>[0]
type Reader = Pick<Db, 'select'>
type Metadata = Omit<Attachment, 'url'>
type ReactionChange = Extract<MessageChange, { type: 'reaction' }>
/** What a new message needs for its insert: its reply's quote and its attachments' metadata. */
export type Prepared = { quote?: Quote; attachments: Metadata[] }

const quoteColumns = { id: messages.id, userId: messages.userId, username: messages.username, text: messages.text, deleted: messages.deleted }

/** The quotes of these messages (any room: the caller chose the ids), by id, as they are now. */
async function readQuotes(run: Reader, ids: number[], room?: string): Promise<Map<number, Quote>> {
  const wanted = [...new Set(ids)]
  if (wanted.length === 0) return new Map()
  const where = room === undefined ? inArray(messages.id, wanted) : and(inArray(messages.id, wanted), eq(messages.room, room), eq(messages.kind, 'message'))
  const rows = await run.select(quoteColumns).from(messages).where(where)
  return new Map(rows.map((r) => [r.id, quoteOf(r)]))
}

/**
 * For a run of new messages of `room` (in the order asked): each one's quote and attachments, or
 * MessageRefused when its `replyTo` is no message of the room or its attachments are not the
 * sender's unused uploads to it. The uploads are locked (FOR UPDATE) until commit, so the cleanup
 * of unused uploads cannot remove one this transaction claims; two messages of one run cannot
 * claim the same upload (the first takes it).
 */
export async function prepareMessages(tx: Tx, room: string, run: NewMessage[]): Promise<(Prepared | MessageRefused)[]> {
  const quotes = await readQuotes(
    tx,
    run.flatMap((m) => (m.replyTo === undefined ? [] : [m.replyTo])),
    room,
  )
  const wanted = [...new Set(run.flatMap((m) => m.attachments ?? []))]
  const unused =
    wanted.length === 0
      ? []
      : await tx
          .select()
          .from(attachments)
          .where(and(inArray(attachments.id, wanted), isNull(attachments.messageId)))
          .orderBy(asc(attachments.id))
          .for('update')
  const free = new Map(unused.map((a) => [a.id, a]))
  return run.map((m) => {
    let quote: Quote | undefined
    if (m.replyTo !== undefined) {
      quote = quotes.get(m.replyTo)
      if (!quote) return new MessageRefused('replyTo must be the id of a message in this room')
    }
    const ids = [...new Set(m.attachments ?? [])]
    const found = ids.flatMap((id) => {
      const a = free.get(id)
      return a && a.userId === m.user.id && a.room === m.room ? [a] : []
    })
    if (found.length !== ids.length) return new MessageRefused('attachments must be your own uploads to this room that no message uses yet')
    for (const id of ids) free.delete(id)
    const list = found.map(({ id, name, type, size, width, height }) =>
      width === null || height === null ? { id, name, type, size } : { id, name, type, size, width, height },
    )
    return { quote, attachments: list }
  })
}

/** After the insert: each message's attachments are its own. */
export async function claimAttachments(tx: Tx, stored: { message: NewMessage; id: number }[]): Promise<void> {
  for (const { message, id } of stored) {
    if (!message.attachments?.length) continue
    await tx
      .update(attachments)
      .set({ messageId: id })
      .where(inArray(attachments.id, [...new Set(message.attachments)]))
  }
}

/** A deletion takes the message's reactions and attachments (rows and bytes); returns the attachments dropped. */
export async function dropWithMessage(tx: Tx, messageId: number): Promise<string[]> {
  await tx.delete(reactions).where(eq(reactions.messageId, messageId))
  const dropped = (await tx.delete(attachments).where(eq(attachments.messageId, messageId)).returning({ id: attachments.id })).map((r) => r.id)
  if (dropped.length > 0) await tx.delete(attachmentBlobs).where(inArray(attachmentBlobs.attachmentId, dropped))
  return dropped
}

/** Applies a toggle: UNCHANGED when it changes nothing, MESSAGE_INVALID for a 21st emoji; undefined when applied. */
export async function react(tx: Tx, c: ReactionChange): Promise<'UNCHANGED' | 'MESSAGE_INVALID' | undefined> {
  const key = and(eq(reactions.messageId, c.messageId), eq(reactions.emoji, c.emoji), eq(reactions.userId, c.user.id))
  if (!c.on) return (await tx.delete(reactions).where(key).returning({ emoji: reactions.emoji })).length > 0 ? undefined : 'UNCHANGED'
  const [standing] = await tx
    .select({
      n: sql<number>`count(DISTINCT ${reactions.emoji})::int`,
      present: sql<boolean>`coalesce(bool_or(${reactions.emoji} = ${c.emoji}), false)`,
      mine: sql<boolean>`coalesce(bool_or(${reactions.emoji} = ${c.emoji} AND ${reactions.userId} = ${c.user.id}), false)`,
    })
    .from(reactions)
    .where(eq(reactions.messageId, c.messageId))
  if (standing?.mine) return 'UNCHANGED'
  if (!standing?.present && Number(standing?.n ?? 0) >= CONVERSATION_LIMITS.REACTIONS_MAX) return 'MESSAGE_INVALID'
  await tx.insert(reactions).values({ messageId: c.messageId, emoji: c.emoji, userId: c.user.id, createdAt: c.at })
  return undefined
}

/** Reads outside the write path: the quotes of a page's replies (one query) and the reactions on messages. */
export function postgresConversationReads(db: Db) {
  return {
    quotes: (ids: number[]) => readQuotes(db, ids),
    async listReactions(ids: number[]): Promise<ReactionRow[]> {
      if (ids.length === 0) return []
      // ctid breaks ties of created_at in the order the rows were written (as SQLite's rowid does).
      return db
        .select({ messageId: reactions.messageId, emoji: reactions.emoji, userId: reactions.userId })
        .from(reactions)
        .where(inArray(reactions.messageId, [...new Set(ids)]))
        .orderBy(asc(reactions.createdAt), sql`ctid`)
    },
  }
}
