/**
 * The SQLite store's room streams: messages and changes (spec §5) written by group commit, one
 * transaction per event-loop turn (under load at most one a millisecond) in the order they were
 * asked for, and read back by index.
 */
import type { Database } from 'bun:sqlite'
import type { User } from '../protocol.ts'
import { and, eq, inArray, sql } from 'drizzle-orm'
import type { BunSQLiteDatabase } from 'drizzle-orm/bun-sqlite'
import * as schema from '../../db/schema.ts'
import { isBusy, whenFree } from './sqlite-file.ts'
import { BEFORE_NEWEST_SQL } from './sqlite-queries.ts'
import { sqliteHistoryPages, sqliteStreamPages } from './sqlite-history.ts'
import { sqliteConversation } from './sqlite-conversation.ts'
import type { SqliteSearchIndexer } from './sqlite-search-indexer.ts'
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

const { messages, audit } = schema
const placeholder = sql.placeholder
/** The least time between two group commits under load (docs/PERFORMANCE.md, "Batched delivery"). */
const COMMIT_SPACING_MS = 1

/** The columns the insert names (toMessageRow and toEventRow give each of them, null when empty). */
type InsertParams = Omit<MessageRow, 'id' | 'editedAt' | 'deleted'> & { kind: string; targetId: number | null; private: 0 | 1 }

type Work = { message: NewMessage } | { change: MessageChange }

interface Job {
  work: Work
  resolve(value: unknown): void
  reject(err: unknown): void
}

/** The stream half of the SQLite store, and `drain` for close: resolves once nothing is waiting to be written. */
export function sqliteStream(
  db: BunSQLiteDatabase<typeof schema>,
  client: Database,
  counters: SqliteCounters,
  indexer: SqliteSearchIndexer,
): StreamStore & { drain(): Promise<void> } {
  const conversation = sqliteConversation(client, indexer)
  // A deleted message's text must be gone from the file, not left in a freed cell (spec §5).
  client.exec('PRAGMA secure_delete = ON')

  // Every message runs these four: plain prepared SQL (what Drizzle generated for them), without
  // Drizzle's placeholder filling and row mapping on each call.
  const insertRow = client.query<{ id: number }, InsertParams>(
    `INSERT INTO messages (id, room, user_id, username, text, nonce, created_at, kind, target_id, edited_at, deleted, mentions, reply_to, attachments, private)
      VALUES (null, $room, $userId, $username, $text, $nonce, $createdAt, $kind, $targetId, null, 0, $mentions, $replyTo, $attachments, $private) RETURNING id`,
  )
  const messagePage = sqliteHistoryPages(client)
  const streamPage = sqliteStreamPages(client)
  const beforeNewest = client.query<{ id: number }, { room: string; n: number }>(BEFORE_NEWEST_SQL)
  // Inside the write transaction ids only grow, so the batch's newest message is the room's newest.
  const touchRoom = client.query<unknown, { name: string; lastMessageId: number; lastActiveAt: number; lastEventId: number; posted: number }>(
    `INSERT INTO rooms (name, last_message_id, last_active_at, last_event_id, visibility, topic, owner_id, registered_at, message_count)
      VALUES ($name, $lastMessageId, $lastActiveAt, $lastEventId, 'public', null, null, null, $posted)
      ON CONFLICT (name) DO UPDATE SET last_message_id = excluded.last_message_id, last_active_at = excluded.last_active_at,
        last_event_id = excluded.last_event_id, message_count = rooms.message_count + excluded.message_count`,
  )
  // A batch with only changes in a room moves its stream head, not its activity.
  const setHead = client.query<unknown, { id: number; name: string }>(`UPDATE rooms SET last_event_id = $id WHERE name = $name`)
  // The head of the room's stream before a batch: the first `after` of the batch's entries in that room.
  const roomHead = client.query<{ id: number; visibility: string }, { name: string }>(`SELECT last_event_id AS id, visibility FROM rooms WHERE name = $name`)
  const target = db
    .select({ userId: messages.userId, username: messages.username, deleted: messages.deleted })
    .from(messages)
    .where(and(eq(messages.id, placeholder('id')), eq(messages.room, placeholder('room')), eq(messages.kind, 'message')))
    .prepare()

  /** Checks and applies one change (inside the batch's transaction); `after` is the room's head before it. */
  function applyChange(c: MessageChange, after: number, visibility: Visibility): ChangeOutcome & { id?: number } {
    // Access was checked as the frame was accepted; the room may have turned private (registered) or
    // dropped the member since: a private room takes only its members' changes and messages (spec §6).
    if (!counters.mayWrite(c.room, visibility, c.user)) return { ok: false, refusal: 'ROOM_NOT_FOUND' }
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
    const event = toEventRow(change)
    const { id } = insertRow.get({ ...event, private: 0 })!
    const row = { ...event, editedAt: null, deleted: false }
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
   * Group commit: what is asked in the same event-loop turn (under load, the same millisecond) is
   * written in one transaction, in order, and every caller learns its outcome only after that
   * transaction committed (spec §3: stored, then broadcast).
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
      const room = roomOf(work.message.room)
      if (!counters.mayWrite(work.message.room, room.visibility, work.message.user))
        return new MessageRefused('the sender is not a member of this private room', 'ROOM_NOT_FOUND')
      const prepared = conversation.prepare(work.message)
      if (prepared instanceof MessageRefused) return prepared
      const after = room.head
      const m = { ...work.message, mentions: counters.keepReaders(work.message.room, room.visibility, work.message.mentions) }
      const stored = toMessageRow(m, prepared.attachments)
      // Marked private from its room's row, read above in this transaction: search indexes it by that (sqlite-search.ts).
      const { id } = insertRow.get({ ...stored, kind: 'message', targetId: null, private: room.visibility === 'private' ? 1 : 0 })!
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
  // A commit costs its ~8 WAL pages however many messages it holds, so under load one waits until
  // COMMIT_SPACING_MS after the last to carry what came meanwhile; after a quiet spell, the next turn.
  let committedAt = Number.NEGATIVE_INFINITY
  function flush(): void {
    if (batch.length === 0) return
    committedAt = performance.now()
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
  /** Resolved in id order, so callers continue in id order too; the search index follows in a batch of its own. */
  function settle(jobs: Job[], results: unknown[]): void {
    jobs.forEach((job, i) => job.resolve(results[i]))
    indexer.committed(jobs.length)
  }
  function enqueue<T>(work: Work): Promise<T> {
    const pending = Promise.withResolvers<T>()
    batch.push({ work, resolve: pending.resolve as (value: unknown) => void, reject: pending.reject })
    if (batch.length === 1 && !waiting) {
      const wait = committedAt + COMMIT_SPACING_MS - performance.now()
      if (wait > 0) setTimeout(flush, wait)
      else setImmediate(flush)
    }
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
      const rows = messagePage({ room, before: q.before ?? Number.MAX_SAFE_INTEGER, after: q.after ?? 0, limit: q.limit }).reverse()
      const quotes = conversation.quotes(rows.flatMap((r) => (r.replyTo ? [r.replyTo] : [])))
      return rows.map((row) => toMessage({ ...row, deleted: row.deleted === 1 }, row.replyTo ? quotes.get(row.replyTo) : undefined))
    },
    async listStream(room, q) {
      const upTo = q.changesUpTo ?? Number.MAX_SAFE_INTEGER
      const start = q.fromNewest === undefined ? 0 : (beforeNewest.get({ room, n: q.fromNewest })?.id ?? 0)
      const after = Math.max(q.after ?? 0, start)
      const rows = streamPage({ room, before: q.before ?? Number.MAX_SAFE_INTEGER, after, upTo, limit: q.limit }).reverse()
      const quotes = conversation.quotes(rows.flatMap((r) => (r.replyTo ? [r.replyTo] : [])))
      return rows.map((row) => toStreamEvent({ ...row, deleted: row.deleted === 1 }, row.replyTo ? quotes.get(row.replyTo) : undefined))
    },
    listReactions: async (ids) => conversation.listReactions(ids),
    async drain() {
      await waiting
      if (batch.length > 0) flush()
      await waiting
    },
  }
}
