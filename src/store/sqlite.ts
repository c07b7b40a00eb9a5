/** SQLite store: Drizzle over bun:sqlite, WAL mode, migrations embedded at build time. */
import { Database } from 'bun:sqlite'
import { and, desc, eq, gt, inArray, lt, ne, notExists, sql } from 'drizzle-orm'
import { drizzle, type BunSQLiteDatabase } from 'drizzle-orm/bun-sqlite'
import * as schema from '../../db/schema.ts'
import { readMigrations } from '../../db/migrations.ts' with { type: 'macro' }
import { type RoomActivity, type RoomActivityQuery, type Store } from './store.ts'
import type { Role } from '../protocol.ts'
import { sqliteAccounts } from './sqlite-accounts.ts'
import { sqliteAttachments } from './sqlite-attachments.ts'
import { sqliteWebhooks } from './sqlite-webhooks.ts'
import { sqliteRooms } from './sqlite-rooms.ts'
import { sqliteSearch } from './sqlite-search.ts'
import { sqliteSearchIndexer } from './sqlite-search-indexer.ts'
import { MERGE_WORKER_FROM_SOURCE, sqliteSearchMerger, type MergeOutcome } from './sqlite-search-merge.ts'
import { sqliteStream } from './sqlite-stream.ts'
import { BUSY_TIMEOUT_MS, BUSY_WAIT_MS, createPrivately, holdServerLock, whenFree } from './sqlite-file.ts'

/** Embedded in the binary; also what a restore checks a backup's schema against. */
export const MIGRATIONS = readMigrations('sqlite')

/**
 * The room list's queries: a walk down the rooms index from a cursor, and a primary-key lookup of a
 * page of names. Neither reads `messages` (spec §2: the cost grows with the page); exported so a test
 * can check their query plans.
 */
export function roomActivityQueries(db: BunSQLiteDatabase<typeof schema>) {
  const { rooms } = schema
  const activity = { room: rooms.name, lastMessageId: rooms.lastMessageId, visibility: rooms.visibility }
  return {
    // Public rooms with messages only (spec §6: a private room is in no list), by (visibility, last_message_id).
    page: db
      .select(activity)
      .from(rooms)
      .where(and(eq(rooms.visibility, 'public'), lt(rooms.lastMessageId, sql.placeholder('before')), gt(rooms.lastMessageId, 0)))
      .orderBy(desc(rooms.lastMessageId))
      .limit(sql.placeholder('limit')),
    named: (names: string[]) => db.select(activity).from(rooms).where(inArray(rooms.name, names)),
  }
}

export interface SqliteOptions {
  /** Quiet time before the search index is merged (SEARCH_MERGE_QUIET, sqlite-search-merge.ts); 0 never merges. Default 30 s. */
  searchMergeQuietMs?: number
  /** The merge worker's module, when not the one in this folder (the server's entry module, which is inside any binary). */
  searchMergeWorker?: URL
  /** Told how each merge ended. */
  onSearchMerge?: (outcome: MergeOutcome, ms: number) => void
  /** The store of a server, which holds the file's server lock until it closes (sqlite-file.ts holdServerLock); commands don't. */
  serving?: boolean
}

/** Opens (creating file and folder if needed) and migrates the SQLite database at `path`; a server's holds the file's server lock first. */
export function openSqliteStore(path: string, options: SqliteOptions = {}): Store {
  if (path !== ':memory:') createPrivately(path)
  const serverLock = options.serving && path !== ':memory:' ? holdServerLock(path) : undefined
  try {
    return openLocked(path, options, serverLock)
  } catch (err) {
    serverLock?.close()
    throw err
  }
}

function openLocked(path: string, options: SqliteOptions, serverLock: Database | undefined): Store {
  const client = new Database(path, { create: true, strict: true })
  // Nothing is served while opening, so the set-up and migrations may wait for a lock in SQLite.
  client.exec(`PRAGMA busy_timeout = ${BUSY_WAIT_MS}`)
  client.exec('PRAGMA journal_mode = WAL')

  // In WAL mode NORMAL keeps every commit across a process crash; only an OS crash can lose the last ones.
  client.exec('PRAGMA synchronous = NORMAL')
  // SQLite's default page cache is 2 MiB: on a database of gigabytes, the index pages a request walks
  // would be read again from the OS by nearly every request. 64 MiB keeps every index's upper levels and
  // the recently read rows here (bench/growth.ts); it is filled only as pages are read.
  client.exec('PRAGMA cache_size = -65536')
  const db = drizzle({ client, schema })
  // Drizzle's own migrate() reads a folder from disk; the compiled binary has none, so feed it the embedded list.
  const internals = db as unknown as { dialect: { migrate(m: typeof MIGRATIONS, s: unknown, c: object): void }; session: unknown }
  internals.dialect.migrate(MIGRATIONS, internals.session, {})
  // Another process (a backup tool, the sqlite3 shell) may hold the write lock. bun:sqlite is
  // synchronous, so from now on SQLite's own busy wait would freeze every socket: wait only
  // briefly there and retry off the event loop (whenFree).
  client.exec(`PRAGMA busy_timeout = ${BUSY_TIMEOUT_MS}`)

  const { users, settings } = schema
  const userById = db
    .select({ id: users.id, username: users.username, role: users.role })
    .from(users)
    .where(eq(users.id, sql.placeholder('id')))
    .prepare()
  // Every account at each start (chat/usernames.ts rekeyUsernames): prepared once, not built per page.
  const userKeys = client.query<{ id: number; username: string; usernameKey: string }, { after: number; limit: number }>(
    'SELECT id, username, username_key AS usernameKey FROM users WHERE id > $after ORDER BY id LIMIT $limit',
  )
  const activityQueries = roomActivityQueries(db)
  const { counters, ...roomStore } = sqliteRooms(client)
  const merger = sqliteSearchMerger(client, path, {
    quietMs: options.searchMergeQuietMs ?? 30_000,
    worker: options.searchMergeWorker ?? MERGE_WORKER_FROM_SOURCE,
    onOutcome: options.onSearchMerge ?? (() => {}),
  })
  // Entries a crash left unindexed are indexed before anything is served (at most a few steps' worth).
  const indexer = sqliteSearchIndexer(client, merger.wrote)
  indexer.catchUpNow()
  const { drain, ...stream } = sqliteStream(db, client, counters, indexer)
  const activityPage = activityQueries.page.prepare()

  return {
    ...sqliteAccounts(db, client),
    ...sqliteWebhooks(db, client),
    ...stream,
    ...roomStore,
    ...sqliteAttachments(client, path),
    ...sqliteSearch(client, indexer),
    async findUserById(id) {
      const row = userById.get({ id })
      return row && { ...row, role: row.role as Role }
    },
    async listUserKeys(afterId, limit) {
      return userKeys.all({ after: afterId, limit })
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
      await drain()
      // The worker first (it stops after its step): the indexer's last catch-up then has the write lock to itself.
      await merger.close()
      indexer.close()
      // Folds the WAL back into the main file so a copied database is complete on its own.
      client.exec('PRAGMA wal_checkpoint(TRUNCATE)')
      client.close()
      serverLock?.close()
    },
  }
}
