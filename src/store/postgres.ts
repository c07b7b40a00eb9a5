/**
 * PostgreSQL store for several instances sharing one database: Drizzle over Bun's built-in SQL,
 * migrations embedded at build time and applied under an advisory lock.
 */
import { SQL } from 'bun'
import { and, desc, eq, gt, inArray, lt, ne, notExists, sql as dsql, type SQL as Condition } from 'drizzle-orm'
import { drizzle } from 'drizzle-orm/bun-sql'
import * as schema from '../../db/schema.pg.ts'
import { readMigrations } from '../../db/migrations.ts' with { type: 'macro' }
import { AppError } from '../errors.ts'
import { waitForService } from '../startup.ts'
import {
  toMessage,
  toMessageRow,
  type Deliver,
  type Message,
  type MessageQuery,
  type NewMessage,
  type RoomActivity,
  type RoomActivityQuery,
  type Store,
  type User,
  type UserRecord,
} from './store.ts'

const MIGRATIONS = readMigrations('postgres')

/** Advisory lock keys: (class, id) pairs, so they can't collide with another application's single-key locks. */
const LOCK_CLASS = 0x63686174 // "chat"
const MIGRATION_LOCK = 1

/** True for failures of the database connection rather than of the query: those become 503 UNAVAILABLE. */
function isUnavailable(err: unknown): boolean {
  for (let e: unknown = err; e instanceof Error; e = e.cause) {
    if (e instanceof SQL.PostgresError) {
      if (e.code !== 'ERR_POSTGRES_SERVER_ERROR') return true
      // 08: connection exception; 57P0x: server shutting down / starting; 53300: too many connections.
      return e.errno !== undefined && (e.errno.startsWith('08') || e.errno.startsWith('57P0') || e.errno === '53300')
    }
    if ('code' in e && typeof e.code === 'string' && /^(ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE|ERR_POSTGRES_)/.test(e.code)) return true
  }
  return false
}

/** True when the database refused a write for a duplicate in a unique index (Drizzle wraps the error). */
function isUniqueViolation(err: unknown): boolean {
  for (let e: unknown = err; e instanceof Error; e = e.cause) {
    if (e instanceof SQL.PostgresError) return e.errno === '23505'
  }
  return false
}

/** Runs a store call, turning a lost database into AppError UNAVAILABLE so clients get 503 and retry. */
async function guard<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work()
  } catch (err) {
    if (isUnavailable(err)) throw new AppError('UNAVAILABLE', 'the database is not answering; try again shortly')
    throw err
  }
}

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
   * the batch is inserted (one statement, committed) and delivered, so every instance publishes a
   * room's messages in id order and subscribers never see them out of order.
   */
  const queues = new Map<string, { message: NewMessage; deliver: Deliver; resolve: (m: Message) => void; reject: (err: unknown) => void }[]>()
  /** Rooms with a flush scheduled or running; the running flush picks up whatever queues meanwhile. */
  const active = new Set<string>()

  async function flushRoom(room: string): Promise<void> {
    try {
      for (let items = queues.get(room); items && items.length > 0; items = queues.get(room)) {
        queues.delete(room)
        try {
          const inserted = await guard(() => insertLocked(room, items!))
          items.forEach((item, i) => item.resolve(inserted[i]!))
        } catch (err) {
          for (const item of items) item.reject(err)
        }
      }
    } finally {
      active.delete(room)
    }
  }

  async function insertLocked(room: string, items: { message: NewMessage; deliver: Deliver }[]): Promise<Message[]> {
    const conn = await client.reserve()
    try {
      await conn`SELECT pg_advisory_lock(${LOCK_CLASS}, hashtext(${room}))`
      try {
        // What other instances committed before this batch: it must reach our sockets first.
        const [head] = await conn`SELECT coalesce(max(id), 0) AS id FROM messages WHERE room = ${room}`
        const before = Number(head.id)
        const inserted = await drizzle({ client: conn, schema }).transaction(async (tx) => {
          const rows = await tx
            .insert(messages)
            .values(items.map(({ message }) => toMessageRow(message)))
            .returning()
          // RETURNING gives one row per VALUES row; identity values were drawn in that order.
          rows.sort((a, b) => a.id - b.id)
          const newest = rows.at(-1)!
          // Same transaction as the messages; the guard keeps the row monotonic whatever the
          // interleaving of instances: only a newer message moves it.
          await tx
            .insert(rooms)
            .values({ name: room, lastMessageId: newest.id, lastActiveAt: newest.createdAt })
            .onConflictDoUpdate({
              target: rooms.name,
              set: { lastMessageId: dsql`excluded.last_message_id`, lastActiveAt: dsql`excluded.last_active_at` },
              setWhere: lt(rooms.lastMessageId, dsql`excluded.last_message_id`),
            })
          return rows.map(toMessage)
        })
        // Delivered together: each delivery's local part runs now, in id order, and the Redis publishes
        // pipeline in that order on one connection; the lock is held until all of them are through.
        await Promise.all(items.map((item, i) => item.deliver(inserted[i]!, i === 0 ? before : inserted[i - 1]!.id)))
        return inserted
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
      guard(async (): Promise<User | undefined> => {
        const [row] = await db.select({ id: users.id, username: users.username }).from(users).where(eq(users.id, id))
        return row && { id: Number(row.id), username: row.username }
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
    insertMessage(m, deliver) {
      const pending = Promise.withResolvers<Message>()
      const queue = queues.get(m.room)
      const item = { message: m, deliver, resolve: pending.resolve, reject: pending.reject }
      if (queue) queue.push(item)
      else queues.set(m.room, [item])
      if (!active.has(m.room)) {
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
      while (active.size > 0) await Bun.sleep(5)
      await client.close({ timeout: 5 })
    },
  }
}

/** Applies the embedded migrations once, even when several instances start together. */
async function migrate(client: SQL): Promise<void> {
  const conn = await client.reserve()
  try {
    await conn`SELECT pg_advisory_lock(${LOCK_CLASS}, ${MIGRATION_LOCK})`
    try {
      const db = drizzle({ client: conn })
      const internals = db as unknown as { dialect: { migrate(m: typeof MIGRATIONS, s: unknown, c: object): Promise<void> }; session: unknown }
      await internals.dialect.migrate(MIGRATIONS, internals.session, {})
    } finally {
      await conn`SELECT pg_advisory_unlock(${LOCK_CLASS}, ${MIGRATION_LOCK})`
    }
  } finally {
    conn.release()
  }
}
