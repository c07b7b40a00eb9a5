/** SQLite store: Drizzle over bun:sqlite, WAL mode, migrations embedded at build time. */
import { Database } from 'bun:sqlite'
import { and, desc, eq, gt, inArray, lt, ne, notExists, sql } from 'drizzle-orm'
import { drizzle, type BunSQLiteDatabase } from 'drizzle-orm/bun-sqlite'
import * as schema from '../../db/schema.ts'
import { readMigrations } from '../../db/migrations.ts' with { type: 'macro' }
import {
  toMessage,
  toMessageRow,
  type Committed,
  type Message,
  type MessageQuery,
  type NewMessage,
  type RoomActivity,
  type RoomActivityQuery,
  type Store,
  type User,
  type UserRecord,
} from './store.ts'
import type { Role } from '../protocol.ts'
import { BUSY_TIMEOUT_MS, BUSY_WAIT_MS, createPrivately, isBusy, whenFree } from './sqlite-file.ts'

const MIGRATIONS = readMigrations('sqlite')

/**
 * The room list's queries: a walk down the rooms index from a cursor, and a primary-key lookup of a
 * page of names. Neither reads `messages` (spec §2: the cost grows with the page); exported so a test
 * can check their query plans.
 */
export function roomActivityQueries(db: BunSQLiteDatabase<typeof schema>) {
  const { rooms } = schema
  const activity = { room: rooms.name, lastMessageId: rooms.lastMessageId, lastActiveAt: rooms.lastActiveAt }
  return {
    page: db
      .select(activity)
      .from(rooms)
      .where(lt(rooms.lastMessageId, sql.placeholder('before')))
      .orderBy(desc(rooms.lastMessageId))
      .limit(sql.placeholder('limit')),
    named: (names: string[]) => db.select(activity).from(rooms).where(inArray(rooms.name, names)),
  }
}

/** Opens (creating file and folder if needed) and migrates the SQLite database at `path`. */
export function openSqliteStore(path: string): Store {
  if (path !== ':memory:') createPrivately(path)
  const client = new Database(path, { create: true, strict: true })
  // Nothing is served while opening, so the set-up and migrations may wait for a lock in SQLite.
  client.exec(`PRAGMA busy_timeout = ${BUSY_WAIT_MS}`)
  client.exec('PRAGMA journal_mode = WAL')

  // In WAL mode NORMAL keeps every commit across a process crash; only an OS crash can lose the last ones.
  client.exec('PRAGMA synchronous = NORMAL')
  const db = drizzle({ client, schema })
  // Drizzle's own migrate() reads a folder from disk; the compiled binary has none, so feed it the embedded list.
  const internals = db as unknown as { dialect: { migrate(m: typeof MIGRATIONS, s: unknown, c: object): void }; session: unknown }
  internals.dialect.migrate(MIGRATIONS, internals.session, {})
  // Another process (a backup tool, the sqlite3 shell) may hold the write lock. bun:sqlite is
  // synchronous, so from now on SQLite's own busy wait would freeze every socket: wait only
  // briefly there and retry off the event loop (whenFree).
  client.exec(`PRAGMA busy_timeout = ${BUSY_TIMEOUT_MS}`)

  const { users, messages, rooms, settings } = schema
  const insertUser = db
    .insert(users)
    .values({
      username: sql.placeholder('username'),
      usernameKey: sql.placeholder('usernameKey'),
      passwordHash: sql.placeholder('passwordHash'),
      createdAt: sql.placeholder('createdAt'),
    })
    .onConflictDoNothing()
    .returning({ id: users.id, username: users.username })
    .prepare()
  const userByKey = db
    .select({ id: users.id, username: users.username, passwordHash: users.passwordHash })
    .from(users)
    .where(eq(users.usernameKey, sql.placeholder('key')))
    .prepare()
  const userById = db
    .select({ id: users.id, username: users.username, role: users.role })
    .from(users)
    .where(eq(users.id, sql.placeholder('id')))
    .prepare()
  const insertMessage = db
    .insert(messages)
    .values({
      room: sql.placeholder('room'),
      userId: sql.placeholder('userId'),
      username: sql.placeholder('username'),
      text: sql.placeholder('text'),
      nonce: sql.placeholder('nonce'),
      createdAt: sql.placeholder('createdAt'),
    })
    .returning({ id: messages.id })
    .prepare()
  // One statement for every page: an absent bound is one no id can cross (ids are ≥ 1 and safe integers).
  const messagePage = db
    .select()
    .from(messages)
    .where(and(eq(messages.room, sql.placeholder('room')), lt(messages.id, sql.placeholder('before')), gt(messages.id, sql.placeholder('after'))))
    .orderBy(desc(messages.id))
    .limit(sql.placeholder('limit'))
    .prepare()
  // Inside the write transaction ids only grow, so the batch's newest message is the room's newest.
  const touchRoom = db
    .insert(rooms)
    .values({
      name: sql.placeholder('name'),
      lastMessageId: sql.placeholder('lastMessageId'),
      lastActiveAt: sql.placeholder('lastActiveAt'),
      lastEventId: sql.placeholder('lastMessageId'),
    })
    .onConflictDoUpdate({
      target: rooms.name,
      set: { lastMessageId: sql`excluded.last_message_id`, lastActiveAt: sql`excluded.last_active_at`, lastEventId: sql`excluded.last_event_id` },
    })
    .prepare()
  const activityQueries = roomActivityQueries(db)
  const activityPage = activityQueries.page.prepare()

  // The head of the room's stream before a batch: the first `after` of the batch's messages in that room.
  const roomHead = db
    .select({ id: rooms.lastEventId })
    .from(rooms)
    .where(eq(rooms.name, sql.placeholder('name')))
    .prepare()

  /**
   * Group commit: messages posted in the same event-loop turn are inserted in one transaction, and
   * every caller learns its id only after that transaction committed (the spec's "stored, then broadcast").
   */
  let batch: { message: NewMessage; resolve: (c: Committed) => void; reject: (err: unknown) => void }[] = []
  const insertAll = client.transaction((items: typeof batch): Committed[] => {
    // Per room in this batch: its newest message so far. A busy room is touched once per batch.
    const newest = new Map<string, { id: number; at: number }>()
    const committed = items.map(({ message: m }) => {
      const after = newest.get(m.room)?.id ?? roomHead.get({ name: m.room })?.id ?? 0
      const row = insertMessage.get(toMessageRow(m))
      if (!row) throw new Error('message insert returned no row')
      newest.set(m.room, { id: row.id, at: m.createdAt })
      return { message: toMessage({ ...toMessageRow(m), id: row.id }), after }
    })
    for (const [name, { id, at }] of newest) touchRoom.run({ name, lastMessageId: id, lastActiveAt: at })
    return committed
  })
  // A batch waiting for another process's write lock; later batches queue behind it to keep id order.
  let waiting: Promise<void> | undefined
  function flush(): void {
    const items = batch
    batch = []
    try {
      settle(items, insertAll.immediate(items))
    } catch (err) {
      if (isBusy(err)) waiting = retry(items)
      else for (const item of items) item.reject(err)
    }
  }
  async function retry(items: typeof batch): Promise<void> {
    try {
      settle(items, await whenFree(() => insertAll.immediate(items)))
    } catch (err) {
      for (const item of items) item.reject(err)
    }
    waiting = undefined
    if (batch.length > 0) flush()
  }
  /** Resolved in id order, so callers continue in id order too. */
  function settle(items: typeof batch, committed: Committed[]): void {
    items.forEach((item, i) => item.resolve(committed[i]!))
  }

  return {
    async createUser(user): Promise<User | undefined> {
      return whenFree(() => insertUser.get({ ...user, createdAt: Date.now() }))
    },
    async findUserByKey(key): Promise<UserRecord | undefined> {
      return userByKey.get({ key })
    },
    async findUserById(id) {
      const row = userById.get({ id })
      return row && { ...row, role: row.role as Role }
    },
    async listUserKeys(afterId, limit) {
      return db
        .select({ id: users.id, username: users.username, usernameKey: users.usernameKey })
        .from(users)
        .where(gt(users.id, afterId))
        .orderBy(users.id)
        .limit(limit)
        .all()
    },
    async setUsernameKey(id, key) {
      // One statement, so no other writer can take the key between the check and the update.
      const taken = db
        .select({ id: users.id })
        .from(users)
        .where(and(eq(users.usernameKey, key), ne(users.id, id)))
      const rows = await whenFree(() =>
        db
          .update(users)
          .set({ usernameKey: key })
          .where(and(eq(users.id, id), notExists(taken)))
          .returning({ id: users.id })
          .all(),
      )
      return rows.length > 0
    },
    async updatePasswordHash(id, previous, next) {
      const rows = await whenFree(() =>
        db
          .update(users)
          .set({ passwordHash: next })
          .where(and(eq(users.id, id), eq(users.passwordHash, previous)))
          .returning({ id: users.id })
          .all(),
      )
      return rows.length > 0
    },
    async getOrCreateSetting(key, create) {
      await whenFree(() => db.insert(settings).values({ key, value: create() }).onConflictDoNothing().run())
      const row = db.select({ value: settings.value }).from(settings).where(eq(settings.key, key)).get()
      if (!row) throw new Error(`setting ${key} vanished after insert`)
      return row.value
    },
    insertMessage(m: NewMessage): Promise<Committed> {
      const pending = Promise.withResolvers<Committed>()
      batch.push({ message: m, resolve: pending.resolve, reject: pending.reject })
      if (batch.length === 1 && !waiting) setImmediate(flush)
      return pending.promise
    },
    async listMessages(room: string, q: MessageQuery): Promise<Message[]> {
      const rows = messagePage.all({ room, before: q.before ?? Number.MAX_SAFE_INTEGER, after: q.after ?? 0, limit: q.limit })
      return rows.reverse().map(toMessage)
    },
    async listRoomActivity(q: RoomActivityQuery): Promise<RoomActivity[]> {
      return activityPage.all({ before: q.before ?? Number.MAX_SAFE_INTEGER, limit: q.limit })
    },
    async findRoomActivity(names: string[]): Promise<RoomActivity[]> {
      return names.length === 0 ? [] : activityQueries.named(names).all()
    },
    async ping() {
      client.query('SELECT 1').get()
    },
    async close() {
      await waiting
      if (batch.length > 0) flush()
      await waiting
      // Folds the WAL back into the main file so a copied database is complete on its own.
      client.exec('PRAGMA wal_checkpoint(TRUNCATE)')
      client.close()
    },
  }
}
