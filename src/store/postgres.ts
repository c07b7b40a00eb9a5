/**
 * PostgreSQL store for several instances sharing one database: Drizzle over Bun's built-in SQL,
 * migrations embedded at build time and applied under an advisory lock.
 */
import { SQL } from 'bun'
import { and, desc, eq, gt, inArray, lt, ne, notExists, sql as dsql, type SQL as Condition } from 'drizzle-orm'
import { drizzle } from 'drizzle-orm/bun-sql'
import * as schema from '../../db/schema.pg.ts'
import { waitForService } from '../startup.ts'
import {
  toMessage,
  toMessageRow,
  type Committed,
  type MessageQuery,
  type NewMessage,
  type RoomActivity,
  type RoomActivityQuery,
  type Store,
  type User,
  type UserRecord,
} from './store.ts'
import type { Role } from '../protocol.ts'
import { guard, isUnavailable, isUniqueViolation, LOCK_CLASS, migrate } from './postgres-connection.ts'

/**
 * Connects and migrates. Given `startupTimeoutMs` (STARTUP_TIMEOUT), a database that is not up yet is
 * retried until then, so instances may start alongside PostgreSQL, and one that never answers ends it.
 */
export async function openPostgresStore(url: string, startupTimeoutMs?: number): Promise<Store> {
  const client = new SQL(url, { max: 20, idleTimeout: 30, connectionTimeout: 5 })
  try {
    await waitForService(startupTimeoutMs, () => migrate(client), isUnavailable)
  } catch (err) {
    // An open client would keep the process alive and keep trying in the background.
    void client.close({ timeout: 0 }).catch(() => {})
    throw err
  }
  const db = drizzle({ client, schema })
  const { users, messages, rooms, settings } = schema
  const activity = { room: rooms.name, lastMessageId: rooms.lastMessageId, lastActiveAt: rooms.lastActiveAt }

  /**
   * Group commit per room, serialised across instances: an advisory lock on the room is held while
   * the batch is inserted, so a room's ids grow in commit order and each message learns the one
   * committed before it (`after`) from the rooms row, updated in the same transaction. The lock is
   * not held while anyone delivers: the sequencer orders deliveries by `after` (ws/sequencer.ts).
   */
  const queues = new Map<string, { message: NewMessage; resolve: (c: Committed) => void; reject: (err: unknown) => void }[]>()
  /** Rooms with a flush scheduled or running; the running flush picks up whatever queues meanwhile. */
  const active = new Set<string>()
  /** Resolves when no flush is running (for close). */
  let idle = Promise.withResolvers<void>()
  idle.resolve()

  async function flushRoom(room: string): Promise<void> {
    try {
      for (let items = queues.get(room); items && items.length > 0; items = queues.get(room)) {
        queues.delete(room)
        try {
          const committed = await guard(() =>
            insertLocked(
              room,
              items!.map((item) => item.message),
            ),
          )
          items.forEach((item, i) => item.resolve(committed[i]!))
        } catch (err) {
          for (const item of items) item.reject(err)
        }
      }
    } finally {
      active.delete(room)
      if (active.size === 0) idle.resolve()
    }
  }

  async function insertLocked(room: string, batch: NewMessage[]): Promise<Committed[]> {
    const conn = await client.reserve()
    try {
      await conn`SELECT pg_advisory_lock(${LOCK_CLASS}, hashtext(${room}))`
      try {
        return await drizzle({ client: conn, schema }).transaction(async (tx) => {
          const [head] = await tx.select({ id: rooms.lastEventId }).from(rooms).where(eq(rooms.name, room))
          const rows = await tx.insert(messages).values(batch.map(toMessageRow)).returning()
          // RETURNING gives one row per VALUES row; identity values were drawn in that order.
          rows.sort((a, b) => a.id - b.id)
          const newest = rows.at(-1)!
          // The guard keeps the row monotonic whatever the interleaving: only a newer message moves it.
          await tx
            .insert(rooms)
            .values({ name: room, lastMessageId: newest.id, lastActiveAt: newest.createdAt, lastEventId: newest.id })
            .onConflictDoUpdate({
              target: rooms.name,
              set: { lastMessageId: dsql`excluded.last_message_id`, lastActiveAt: dsql`excluded.last_active_at`, lastEventId: dsql`excluded.last_event_id` },
              setWhere: lt(rooms.lastMessageId, dsql`excluded.last_message_id`),
            })
          return rows.map((row, i) => ({ message: toMessage(row), after: i === 0 ? Number(head?.id ?? 0) : rows[i - 1]!.id }))
        })
      } finally {
        await conn`SELECT pg_advisory_unlock(${LOCK_CLASS}, hashtext(${room}))`
      }
    } finally {
      conn.release()
    }
  }

  return {
    createUser: (user) =>
      guard(async (): Promise<User | undefined> => {
        const [row] = await db
          .insert(users)
          .values({ ...user, createdAt: Date.now() })
          .onConflictDoNothing()
          .returning({ id: users.id, username: users.username })
        return row && { id: Number(row.id), username: row.username }
      }),
    findUserByKey: (key) =>
      guard(async (): Promise<UserRecord | undefined> => {
        const [row] = await db
          .select({ id: users.id, username: users.username, passwordHash: users.passwordHash })
          .from(users)
          .where(eq(users.usernameKey, key))
        return row && { ...row, id: Number(row.id) }
      }),
    findUserById: (id) =>
      guard(async () => {
        const [row] = await db.select({ id: users.id, username: users.username, role: users.role }).from(users).where(eq(users.id, id))
        return row && { id: Number(row.id), username: row.username, role: row.role as Role }
      }),
    listUserKeys: (afterId, limit) =>
      guard(async () => {
        const rows = await db
          .select({ id: users.id, username: users.username, usernameKey: users.usernameKey })
          .from(users)
          .where(gt(users.id, afterId))
          .orderBy(users.id)
          .limit(limit)
        return rows.map((row) => ({ ...row, id: Number(row.id) }))
      }),
    setUsernameKey: (id, key) =>
      guard(async () => {
        const taken = db
          .select({ id: users.id })
          .from(users)
          .where(and(eq(users.usernameKey, key), ne(users.id, id)))
        try {
          const rows = await db
            .update(users)
            .set({ usernameKey: key })
            .where(and(eq(users.id, id), notExists(taken)))
            .returning({ id: users.id })
          return rows.length > 0
        } catch (err) {
          // A sign-up on another instance took the key after this statement's snapshot.
          if (isUniqueViolation(err)) return false
          throw err
        }
      }),
    updatePasswordHash: (id, previous, next) =>
      guard(async () => {
        const rows = await db
          .update(users)
          .set({ passwordHash: next })
          .where(and(eq(users.id, id), eq(users.passwordHash, previous)))
          .returning({ id: users.id })
        return rows.length > 0
      }),
    getOrCreateSetting: (key, create) =>
      guard(async () => {
        await db.insert(settings).values({ key, value: create() }).onConflictDoNothing()
        const [row] = await db.select({ value: settings.value }).from(settings).where(eq(settings.key, key))
        if (!row) throw new Error(`setting ${key} vanished after insert`)
        return row.value
      }),
    insertMessage(m) {
      const pending = Promise.withResolvers<Committed>()
      const queue = queues.get(m.room)
      const item = { message: m, resolve: pending.resolve, reject: pending.reject }
      if (queue) queue.push(item)
      else queues.set(m.room, [item])
      if (!active.has(m.room)) {
        if (active.size === 0) idle = Promise.withResolvers<void>()
        active.add(m.room)
        setImmediate(() => void flushRoom(m.room))
      }
      return pending.promise
    },
    listMessages: (room, q: MessageQuery) =>
      guard(async () => {
        const where: Condition[] = [eq(messages.room, room)]
        if (q.before !== undefined) where.push(lt(messages.id, q.before))
        if (q.after !== undefined) where.push(gt(messages.id, q.after))
        const rows = await db
          .select()
          .from(messages)
          .where(and(...where))
          .orderBy(desc(messages.id))
          .limit(q.limit)
        return rows.reverse().map(toMessage)
      }),
    listRoomActivity: (q: RoomActivityQuery) =>
      guard(async (): Promise<RoomActivity[]> => {
        return db
          .select(activity)
          .from(rooms)
          .where(q.before === undefined ? undefined : lt(rooms.lastMessageId, q.before))
          .orderBy(desc(rooms.lastMessageId))
          .limit(q.limit)
      }),
    findRoomActivity: (names: string[]) =>
      guard(async (): Promise<RoomActivity[]> => (names.length === 0 ? [] : db.select(activity).from(rooms).where(inArray(rooms.name, names)))),
    ping: () =>
      guard(async () => {
        await db.execute(dsql`SELECT 1`)
      }),
    async close() {
      await idle.promise
      await client.close({ timeout: 5 })
    },
  }
}
