/**
 * The SQLite store's room streams: messages and changes (spec §5) written by group commit, one
 * transaction per event-loop turn in the order they were asked for, and read back by index.
 */
import type { Database } from 'bun:sqlite'
import type { User } from '../protocol.ts'
import { and, eq, inArray, sql } from 'drizzle-orm'
import type { BunSQLiteDatabase } from 'drizzle-orm/bun-sqlite'
import * as schema from '../../db/schema.ts'
import { isBusy, whenFree } from './sqlite-file.ts'
import { MESSAGE_PAGE_SQL, streamQuery } from './sqlite-queries.ts'
import { sqliteConversation } from './sqlite-conversation.ts'
import type { SqliteCounters } from './sqlite-rooms.ts'
import type { Visibility } from './rooms.ts'
import {
  MessageRefused,
  encodeMentions,
  messageTarget,
  toEventRow,
  toMessage,
  toMessageRow,
  toStreamEvent,
  type ChangeOutcome,
  type Committed,
  type MessageChange,
  type MessageRow,
  type NewMessage,
  type StreamStore,
} from './stream.ts'

const { messages, rooms, audit } = schema
const placeholder = sql.placeholder

type PageRow = Omit<MessageRow, 'deleted'> & { deleted: number }
type PageParams = { room: string; before: number; after: number; limit: number }

type Work = { message: NewMessage } | { change: MessageChange }

interface Job {
  work: Work
  resolve(value: unknown): void
  reject(err: unknown): void
}

/** The stream half of the SQLite store, and `drain` for close: resolves once nothing is waiting to be written. */
export function sqliteStream(db: BunSQLiteDatabase<typeof schema>, client: Database, counters: SqliteCounters): StreamStore & { drain(): Promise<void> } {
  const conversation = sqliteConversation(client)
  // A deleted message's text must be gone from the file, not left in a freed cell (spec §5).
  client.exec('PRAGMA secure_delete = ON')

  const insertRow = db
    .insert(messages)
    .values({
      room: placeholder('room'),
      userId: placeholder('userId'),
      username: placeholder('username'),
      text: placeholder('text'),
      nonce: placeholder('nonce'),
      createdAt: placeholder('createdAt'),
      kind: placeholder('kind'),
      targetId: placeholder('targetId'),
      mentions: placeholder('mentions'),
      replyTo: placeholder('replyTo'),
      attachments: placeholder('attachments'),
    })
    .returning({ id: messages.id })
    .prepare()
  const messagePage = client.query<PageRow, PageParams>(MESSAGE_PAGE_SQL)
  const streamPage = streamQuery(db).prepare()
  // Inside the write transaction ids only grow, so the batch's newest message is the room's newest.
  const touchRoom = db
    .insert(rooms)
    .values({
      name: placeholder('name'),
      lastMessageId: placeholder('lastMessageId'),
      lastActiveAt: placeholder('lastActiveAt'),
      lastEventId: placeholder('lastEventId'),
      messageCount: placeholder('posted'),
    })
    .onConflictDoUpdate({
      target: rooms.name,
      set: {
        lastMessageId: sql`excluded.last_message_id`,
        lastActiveAt: sql`excluded.last_active_at`,
        lastEventId: sql`excluded.last_event_id`,
        messageCount: sql`${rooms.messageCount} + excluded.message_count`,
      },
    })
    .prepare()
  // A batch with only changes in a room moves its stream head, not its activity.
  const setHead = db
    .update(rooms)
    .set({ lastEventId: sql`${placeholder('id')}` })
    .where(eq(rooms.name, placeholder('name')))
    .prepare()
  // The head of the room's stream before a batch: the first `after` of the batch's entries in that room.
  const roomHead = db
    .select({ id: rooms.lastEventId, visibility: rooms.visibility })
    .from(rooms)
    .where(eq(rooms.name, placeholder('name')))
    .prepare()
  const target = db
    .select({ userId: messages.userId, username: messages.username, deleted: messages.deleted })
    .from(messages)
    .where(and(eq(messages.id, placeholder('id')), eq(messages.room, placeholder('room')), eq(messages.kind, 'message')))
    .prepare()

  /** Checks and applies one change (inside the batch's transaction); `after` is the room's head before it. */
  function applyChange(c: MessageChange, after: number, visibility: Visibility): ChangeOutcome & { id?: number } {
    const found = target.get({ id: c.messageId, room: c.room })
    if (!found || found.deleted) return { ok: false, refusal: 'MESSAGE_NOT_FOUND' }
    const author = { id: found.userId, username: found.username }
    // Anyone who may post reacts (spec §7); only the author edits, the author or an admin deletes (spec §5).
    if (c.type !== 'reaction' && author.id !== c.user.id && !(c.type === 'deleted' && c.byAdmin)) return { ok: false, refusal: 'FORBIDDEN' }
    if (c.type === 'reaction') {
      const refusal = conversation.react(c)
      if (refusal) return { ok: false, refusal }
    }
    // spec §6: an edit mentions whoever its new text names (of those who can read the room).
    const change = c.type === 'edited' ? { ...c, mentions: counters.keepReaders(c.room, visibility, c.mentions) } : c
    const row = { ...toEventRow(change), editedAt: null, deleted: false }
    const { id } = insertRow.get(row)!
    let mentioned: User[] = []
    let dropped: string[] = []
    if (change.type === 'edited') {
      mentioned = counters.recountEdit(c.room, c.messageId, author.id, change.mentions)
      conversation.edited(c.messageId, change.text)
      db.update(messages)
        .set({ text: change.text, editedAt: c.at, mentions: encodeMentions(change.mentions) })
        .where(eq(messages.id, c.messageId))
        .run()
    } else if (change.type === 'deleted') {
      counters.countDeletion(c.room, c.messageId, author.id)
      dropped = conversation.deleted(c.messageId)
      db.update(messages)
        .set({ text: '', nonce: null, editedAt: null, deleted: true, mentions: null, attachments: null })
        .where(eq(messages.id, c.messageId))
        .run()
      db.update(messages)
        .set({ text: '', deleted: true })
        .where(and(eq(messages.targetId, c.messageId), inArray(messages.kind, ['edited', 'reacted', 'unreacted'])))
        .run()
      if (author.id !== c.user.id) {
        const { user } = c
        const target = JSON.stringify(messageTarget(c.room, c.messageId))
        db.insert(audit).values({ at: c.at, actorId: user.id, actorName: user.username, action: 'message.delete', target }).run()
      }
    }
    return { ok: true, committed: { event: toStreamEvent({ ...row, id }), after }, author, mentioned, dropped, id }
  }

  /**
   * Group commit: what is asked in the same event-loop turn is written in one transaction, in order,
   * and every caller learns its outcome only after that transaction committed (spec §3: stored, then broadcast).
   */
  let batch: Job[] = []
  const writeAll = client.transaction((jobs: Job[]): unknown[] => {
    /**
     * Per room in this batch: the head of its stream and its visibility, and its newest message and
     * how many were posted. A busy room is read and touched once per batch.
     */
    const heads = new Map<string, { head: number; visibility: Visibility }>()
    const newest = new Map<string, { id: number; at: number; posted: number }>()
    const roomOf = (room: string) => {
      let found = heads.get(room)
      if (!found) {
        const row = roomHead.get({ name: room })
        heads.set(room, (found = { head: row?.id ?? 0, visibility: (row?.visibility ?? 'public') as Visibility }))
      }
      return found
    }
    const results = jobs.map(({ work }) => {
      if ('change' in work) {
        const room = roomOf(work.change.room)
        const { id, ...outcome } = applyChange(work.change, room.head, room.visibility)
        if (id !== undefined) room.head = id
        return outcome
      }
      const prepared = conversation.prepare(work.message)
      if (prepared instanceof MessageRefused) return prepared
      const room = roomOf(work.message.room)
      const after = room.head
      const m = { ...work.message, mentions: counters.keepReaders(work.message.room, room.visibility, work.message.mentions) }
      const stored = toMessageRow(m, prepared.attachments)
      const { id } = insertRow.get({ ...stored, kind: 'message', targetId: null })!
      conversation.stored(m, id)
      counters.countMessage(m.room, id, m.user.id, m.mentions)
      room.head = id
      newest.set(m.room, { id, at: m.createdAt, posted: (newest.get(m.room)?.posted ?? 0) + 1 })
      return { message: toMessage({ ...stored, id }, prepared.quote), after } satisfies Committed
    })
    for (const [name, { head }] of heads) {
      const message = newest.get(name)
      if (message) touchRoom.run({ name, lastMessageId: message.id, lastActiveAt: message.at, lastEventId: head, posted: message.posted })
      else setHead.run({ name, id: head })
    }
    return results
  })
  // A batch waiting for another process's write lock; later batches queue behind it to keep id order.
  let waiting: Promise<void> | undefined
  function flush(): void {
    const jobs = batch
    batch = []
    try {
      settle(jobs, writeAll.immediate(jobs))
    } catch (err) {
      if (isBusy(err)) waiting = retry(jobs)
      else for (const job of jobs) job.reject(err)
    }
  }
  async function retry(jobs: Job[]): Promise<void> {
    try {
      settle(jobs, await whenFree(() => writeAll.immediate(jobs)))
    } catch (err) {
      for (const job of jobs) job.reject(err)
    }
    waiting = undefined
    if (batch.length > 0) flush()
  }
  /** Resolved in id order, so callers continue in id order too. */
  function settle(jobs: Job[], results: unknown[]): void {
    jobs.forEach((job, i) => job.resolve(results[i]))
  }
  function enqueue<T>(work: Work): Promise<T> {
    const pending = Promise.withResolvers<T>()
    batch.push({ work, resolve: pending.resolve as (value: unknown) => void, reject: pending.reject })
    if (batch.length === 1 && !waiting) setImmediate(flush)
    return pending.promise
  }

  return {
    async insertMessage(message) {
      const outcome = await enqueue<Committed | MessageRefused>({ message })
      if (outcome instanceof MessageRefused) throw outcome
      return outcome
    },
    changeMessage: (change) => enqueue<ChangeOutcome>({ change }),
    async listMessages(room, q) {
      const rows = messagePage.all({ room, before: q.before ?? Number.MAX_SAFE_INTEGER, after: q.after ?? 0, limit: q.limit }).reverse()
      const quotes = conversation.quotes(rows.flatMap((r) => (r.replyTo ? [r.replyTo] : [])))
      return rows.map((row) => toMessage({ ...row, deleted: row.deleted === 1 }, row.replyTo ? quotes.get(row.replyTo) : undefined))
    },
    async listStream(room, q) {
      const upTo = q.changesUpTo ?? Number.MAX_SAFE_INTEGER
      const rows = streamPage.all({ room, before: q.before ?? Number.MAX_SAFE_INTEGER, after: q.after ?? 0, upTo, limit: q.limit }).reverse()
      const quotes = conversation.quotes(rows.flatMap((r) => (r.replyTo ? [r.replyTo] : [])))
      return rows.map((row) => toStreamEvent(row, row.replyTo ? quotes.get(row.replyTo) : undefined))
    },
    listReactions: async (ids) => conversation.listReactions(ids),
    async drain() {
      await waiting
      if (batch.length > 0) flush()
      await waiting
    },
  }
}
