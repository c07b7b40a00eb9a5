/**
 * The PostgreSQL store's room streams: messages and changes (spec §5) written by group commit per
 * room, serialised across instances by an advisory lock on the room, and read back by index.
 */
import { and, eq, inArray, lt, sql as dsql } from 'drizzle-orm'
import type { SQL } from 'bun'
import type { BunSQLDatabase } from 'drizzle-orm/bun-sql'
import * as schema from '../../db/schema.pg.ts'
import type { User } from '../protocol.ts'
import { guard, LOCK_CLASS } from './postgres-connection.ts'
import { claimAttachments, dropWithMessage, prepareMessages, react, type Prepared, type Tx } from './postgres-conversation.ts'
import { postgresHistory } from './postgres-history.ts'
import { countDeletion, countMessages, keepReaders, membersIn, recountEdit } from './postgres-rooms.ts'
import { insertMessages, isPlain, writePlain } from './postgres-writes.ts'
import type { Visibility } from './rooms.ts'
import type { MessageRow } from './rows.ts'
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
  type NewMessage,
  type StreamStore,
} from './stream.ts'

const { messages, rooms, audit } = schema

type Work = { message: NewMessage } | { change: MessageChange }

interface Job {
  work: Work
  resolve(value: unknown): void
  reject(err: unknown): void
}

const mentionsOf = ({ m }: { m: NewMessage }) => m.mentions

/**
 * Of `users`, those who may not write to the room as it is now: nobody in a public room, everyone but
 * its members in a private one (spec §6: registered private, or a member removed, after the frame was
 * accepted and before its batch took the room's lock, which the membership writers take too).
 */
async function outsiders(tx: Tx, room: string, visibility: Visibility, users: number[]): Promise<Set<number>> {
  if (visibility === 'public' || users.length === 0) return new Set()
  const members = await membersIn(tx, room, users)
  return new Set(users.filter((id) => !members.has(id)))
}

/** Checks and applies one change inside the room's locked transaction; `after` is the room's head before it. */
async function applyChange(tx: Tx, c: MessageChange, after: number, visibility: Visibility): Promise<ChangeOutcome> {
  if ((await outsiders(tx, c.room, visibility, [c.user.id])).size > 0) return { ok: false, refusal: 'ROOM_NOT_FOUND' }
  const [found] = await tx
    .select({ userId: messages.userId, username: messages.username, deleted: messages.deleted })
    .from(messages)
    .where(and(eq(messages.id, c.messageId), eq(messages.room, c.room), eq(messages.kind, 'message')))
  if (!found || found.deleted) return { ok: false, refusal: 'MESSAGE_NOT_FOUND' }
  const author = { id: Number(found.userId), username: found.username }
  // Anyone who may post reacts (spec §7); only the author edits, the author or an admin deletes (spec §5).
  if (c.type !== 'reaction' && author.id !== c.user.id && !(c.type === 'deleted' && c.byAdmin)) return { ok: false, refusal: 'FORBIDDEN' }
  if (c.type === 'reaction') {
    const refusal = await react(tx, c)
    if (refusal) return { ok: false, refusal }
  }
  // spec §6: an edit mentions whoever its new text names (of those who can read the room).
  const change = c.type === 'edited' ? { ...c, mentions: (await keepReaders(tx, c.room, visibility, [c.mentions]))[0]! } : c
  const [row] = await tx.insert(messages).values(toEventRow(change)).returning()
  let mentioned: User[] = []
  let dropped: string[] = []
  if (change.type === 'edited') {
    mentioned = await recountEdit(tx, c.room, c.messageId, author.id, change.mentions)
    await tx
      .update(messages)
      .set({ text: change.text, editedAt: c.at, mentions: encodeMentions(change.mentions) })
      .where(eq(messages.id, c.messageId))
  } else if (change.type === 'deleted') {
    await countDeletion(tx, c.room, c.messageId, author.id)
    dropped = await dropWithMessage(tx, c.messageId)
    // The old row versions keep the text until (auto)vacuum reclaims them; no query reads them.
    await tx
      .update(messages)
      .set({ text: '', nonce: null, editedAt: null, deleted: true, mentions: null, attachments: null })
      .where(eq(messages.id, c.messageId))
    await tx
      .update(messages)
      .set({ text: '', deleted: true })
      .where(and(eq(messages.targetId, c.messageId), inArray(messages.kind, ['edited', 'reacted', 'unreacted'])))
    if (author.id !== c.user.id) {
      const target = JSON.stringify(messageTarget(c.room, c.messageId))
      await tx.insert(audit).values({ at: c.at, actorId: c.user.id, actorName: c.user.username, action: 'message.delete', target })
    }
  }
  return { ok: true, committed: { event: toStreamEvent(row!), after }, author, mentioned, dropped }
}

/** The stream half of the PostgreSQL store, and `drain` for close: resolves when no flush is running. */
export function postgresStream(client: SQL, db: BunSQLDatabase<typeof schema>): StreamStore & { drain(): Promise<void> } {
  /**
   * Group commit per room, serialised across instances: an advisory lock on the room is held while
   * the batch is written, so a room's ids grow in commit order and each entry learns the one
   * committed before it (`after`) from the rooms row, updated in the same transaction. The lock is
   * not held while anyone delivers: the sequencer orders deliveries by `after` (ws/sequencer.ts).
   */
  const queues = new Map<string, Job[]>()
  /** Rooms with a flush scheduled or running; the running flush picks up whatever queues meanwhile. */
  const active = new Set<string>()
  /** Resolves when no flush is running (for close). */
  let idle = Promise.withResolvers<void>()
  idle.resolve()

  async function flushRoom(room: string): Promise<void> {
    try {
      for (let jobs = queues.get(room); jobs && jobs.length > 0; jobs = queues.get(room)) {
        queues.delete(room)
        try {
          const results = await guard(() => writeLocked(room, jobs!))
          jobs.forEach((job, i) => job.resolve(results[i]))
        } catch (err) {
          for (const job of jobs) job.reject(err)
        }
      }
    } finally {
      active.delete(room)
      if (active.size === 0) idle.resolve()
    }
  }

  async function writeLocked(room: string, jobs: Job[]): Promise<unknown[]> {
    // The lock is the transaction's: taken first, released by COMMIT (or ROLLBACK) once the batch is
    // visible, so the next holder's read of the rooms row sees it; the membership writers of
    // postgres-rooms.ts take the same key. No session lock, no reserved connection, no unlock. A batch
    // of plain messages is one call, which takes it in the call's own transaction (writePlain).
    const plain = jobs.map((job) => ('message' in job.work && isPlain(job.work.message) ? job.work.message : undefined))
    if (plain.every((m) => m !== undefined)) {
      // Undefined when the room is private and a sender not its member: written below, refused alone.
      const written = await writePlain(client, LOCK_CLASS, room, plain)
      if (written) return written
    }
    return db.transaction(async (tx) => {
      await tx.execute(dsql`SELECT pg_advisory_xact_lock(${LOCK_CLASS}, hashtext(${room}))`)
      const [row] = (await tx.execute(dsql`SELECT last_event_id AS id, visibility FROM rooms WHERE name = ${room}`)) as unknown as {
        id: string
        visibility: string
      }[]
      const before = Number(row?.id ?? 0)
      const visibility = (row?.visibility ?? 'public') as Visibility
      let head = before
      let newest: { id: number; createdAt: number } | undefined
      let posted = 0
      const results: unknown[] = []
      for (let i = 0; i < jobs.length;) {
        const work = jobs[i]!.work
        if ('change' in work) {
          const outcome = await applyChange(tx, work.change, head, visibility)
          if (outcome.ok) head = outcome.committed.event.data.id
          results.push(outcome)
          i++
          continue
        }
        // A run of messages is one INSERT, its ids drawn in the run's order (insertMessages).
        let end = i
        while (end < jobs.length && 'message' in jobs[end]!.work) end++
        const run = jobs.slice(i, end).map((job) => (job.work as { message: NewMessage }).message)
        i = end
        // spec §7: a reply to no message of the room, or attachments not the sender's to use, is refused
        // alone; so is a private room's non-member's (spec §6).
        const barred = await outsiders(
          tx,
          room,
          visibility,
          run.map((m) => m.user.id),
        )
        const prepared = (await prepareMessages(tx, room, run)).map((p, k) =>
          barred.has(run[k]!.user.id) ? new MessageRefused('the sender is not a member of this private room', 'ROOM_NOT_FOUND') : p,
        )
        const taken = run.flatMap((m, k) => (prepared[k] instanceof MessageRefused ? [] : [{ m, p: prepared[k] as Prepared }]))
        let rows: MessageRow[] = []
        if (taken.length > 0) {
          // In a private room only members are mentioned; the lock keeps the members as they are until commit.
          const kept = await keepReaders(tx, room, visibility, taken.map(mentionsOf))
          const values = taken.map(({ m, p }, k) => ({ ...toMessageRow({ ...m, mentions: kept[k]! }, p.attachments), private: visibility === 'private' }))
          const ids = await insertMessages(tx, values)
          rows = values.map((v, k) => ({ ...v, id: ids[k]!, editedAt: null, deleted: false }))
          const stored = rows.map((r, k) => ({ message: taken[k]!.m, id: r.id, sender: r.userId, mentions: kept[k]! }))
          await claimAttachments(tx, stored)
          await countMessages(tx, room, stored)
          posted += rows.length
          newest = rows.at(-1)
        }
        let k = 0
        for (const p of prepared) {
          if (p instanceof MessageRefused) {
            results.push(p)
            continue
          }
          const r = rows[k++]!
          results.push({ message: toMessage(r, p.quote), after: head } satisfies Committed)
          head = r.id
        }
      }
      // The guards keep the row monotonic whatever the interleaving: only a newer entry moves it.
      if (newest) {
        await tx.execute(dsql`INSERT INTO rooms (name, last_message_id, last_active_at, last_event_id, message_count)
          VALUES (${room}, ${newest.id}, ${newest.createdAt}, ${head}, ${posted})
          ON CONFLICT (name) DO UPDATE SET last_message_id = excluded.last_message_id, last_active_at = excluded.last_active_at,
            last_event_id = excluded.last_event_id, message_count = rooms.message_count + excluded.message_count
          WHERE rooms.last_message_id < excluded.last_message_id`)
      } else if (head > before) {
        await tx
          .update(rooms)
          .set({ lastEventId: head })
          .where(and(eq(rooms.name, room), lt(rooms.lastEventId, head)))
      }
      return results
    })
  }

  function enqueue<T>(room: string, work: Work): Promise<T> {
    const pending = Promise.withResolvers<T>()
    const job = { work, resolve: pending.resolve as (value: unknown) => void, reject: pending.reject }
    const queue = queues.get(room)
    if (queue) queue.push(job)
    else queues.set(room, [job])
    if (!active.has(room)) {
      if (active.size === 0) idle = Promise.withResolvers<void>()
      active.add(room)
      setImmediate(() => void flushRoom(room))
    }
    return pending.promise
  }

  return {
    async insertMessage(message) {
      const outcome = await enqueue<Committed | MessageRefused>(message.room, { message })
      if (outcome instanceof MessageRefused) throw outcome
      return outcome
    },
    changeMessage: (change) => enqueue<ChangeOutcome>(change.room, { change }),
    ...postgresHistory(db),
    drain: () => idle.promise,
  }
}
