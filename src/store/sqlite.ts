/** SQLite store: Drizzle over bun:sqlite, WAL mode, migrations embedded at build time. */
import { Database } from 'bun:sqlite'
import { mkdirSync } from 'node:fs'
import { dirname } from 'node:path'
import { and, desc, eq, gt, lt, max, sql } from 'drizzle-orm'
import { drizzle } from 'drizzle-orm/bun-sqlite'
import * as schema from '../../db/schema.ts'
import { readMigrations } from '../../db/migrations.ts' with { type: 'macro' }
import {
  toMessage,
  toMessageRow,
  type Deliver,
  type Message,
  type MessageQuery,
  type NewMessage,
  type RoomActivity,
  type Store,
  type User,
  type UserRecord,
} from './store.ts'

const MIGRATIONS = readMigrations('sqlite')

/** Opens (creating file and folder if needed) and migrates the SQLite database at `path`. */
export function openSqliteStore(path: string): Store {
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true })
  const client = new Database(path, { create: true, strict: true })
  client.exec('PRAGMA journal_mode = WAL')
  // Another process (a second instance, a backup tool) may hold the write lock briefly.
  client.exec('PRAGMA busy_timeout = 5000')
  // In WAL mode NORMAL keeps every commit across a process crash; only an OS crash can lose the last ones.
  client.exec('PRAGMA synchronous = NORMAL')
  const db = drizzle({ client, schema })
  // Drizzle's own migrate() reads a folder from disk; the compiled binary has none, so feed it the embedded list.
  const internals = db as unknown as { dialect: { migrate(m: typeof MIGRATIONS, s: unknown, c: object): void }; session: unknown }
  internals.dialect.migrate(MIGRATIONS, internals.session, {})

  const { users, messages, settings } = schema
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
    .select({ id: users.id, username: users.username })
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
  const roomActivity = db
    .select({ room: messages.room, lastMessageId: max(messages.id) })
    .from(messages)
    .groupBy(messages.room)
    .prepare()

  /**
   * Group commit: messages posted in the same event-loop turn are inserted in one transaction, and
   * every caller learns its id only after that transaction committed (the spec's "stored, then broadcast").
   */
  let batch: { message: NewMessage; deliver: Deliver; resolve: (m: Message) => void; reject: (err: unknown) => void }[] = []
  const insertAll = client.transaction((items: typeof batch) =>
    items.map(({ message: m }) => {
      const row = insertMessage.get(toMessageRow(m))
      if (!row) throw new Error('message insert returned no row')
      return row.id
    }),
  )
  function flush(): void {
    const items = batch
    batch = []
    let ids: number[]
    try {
      ids = insertAll(items)
    } catch (err) {
      for (const item of items) item.reject(err)
      return
    }
    // One process owns the file, so delivering in this loop is delivering in id order.
    items.forEach(({ message: m, deliver, resolve, reject }, i) => {
      const message = toMessage({ ...toMessageRow(m), id: ids[i]! })
      try {
        void deliver(message, 0)
        resolve(message)
      } catch (err) {
        reject(err)
      }
    })
  }

  return {
    async createUser(user): Promise<User | undefined> {
      return insertUser.get({ ...user, createdAt: Date.now() })
    },
    async findUserByKey(key): Promise<UserRecord | undefined> {
      return userByKey.get({ key })
    },
    async findUserById(id): Promise<User | undefined> {
      return userById.get({ id })
    },
    async getOrCreateSetting(key, create) {
      db.insert(settings).values({ key, value: create() }).onConflictDoNothing().run()
      const row = db.select({ value: settings.value }).from(settings).where(eq(settings.key, key)).get()
      if (!row) throw new Error(`setting ${key} vanished after insert`)
      return row.value
    },
    insertMessage(m: NewMessage, deliver: Deliver): Promise<Message> {
      const pending = Promise.withResolvers<Message>()
      batch.push({ message: m, deliver, resolve: pending.resolve, reject: pending.reject })
      if (batch.length === 1) setImmediate(flush)
      return pending.promise
    },
    async listMessages(room: string, q: MessageQuery): Promise<Message[]> {
      const rows = messagePage.all({ room, before: q.before ?? Number.MAX_SAFE_INTEGER, after: q.after ?? 0, limit: q.limit })
      return rows.reverse().map(toMessage)
    },
    async listRoomActivity(): Promise<RoomActivity[]> {
      return roomActivity.all().map((r) => ({ room: r.room, lastMessageId: r.lastMessageId ?? 0 }))
    },
    async ping() {
      client.query('SELECT 1').get()
    },
    async close() {
      if (batch.length > 0) flush()
      // Folds the WAL back into the main file so a copied database is complete on its own.
      client.exec('PRAGMA wal_checkpoint(TRUNCATE)')
      client.close()
    },
  }
}
