/**
 * Cost as data grows (issue 16, item 4): the requests people make all day, on a database of 10 M
 * messages in 50 000 rooms by 100 000 users beside the same requests on a nearly empty one, per store.
 *
 * Both databases are made by bench/generate-data.ts with the same shape (rooms per user, members and
 * messages per room, read markers, mentions, reactions, edits, deletions): the small one holds 1 % of
 * the big one's rooms, users and messages, so each request answers with as much in both (a page is a
 * page) and only what is stored around it differs. The big database is kept between runs (a SQLite file,
 * a PostgreSQL cluster's data folder) under BENCH_DATA_CACHE (default: the temp dir), keyed by its sizes
 * and the generator's text, migrated on use, and used in place: nothing else here writes to it. SQLite's
 * search index is merged on use as a server merges it after a quiet spell (src/store/sqlite-search-merge.ts:
 * by the store's worker, 35–90 s the first time on 10 M messages, then not again). Generating it takes ~10
 * minutes per store on this 2-core machine; a later run starts in seconds.
 * BENCH_GROWTH_SIZE=messages,rooms,users measures another size, BENCH_GROWTH_STORES=sqlite|postgres one store.
 *
 * Per store, a server (src/main.ts, the bench's settings) runs on each database at once, and the samples
 * are taken from both in turn, one request at a time, in blocks of BLOCK per server, alternating which
 * goes first. This is done in rounds (`--rounds`, at least 5 in a full run), each on newly started servers
 * (their caches empty, the OS's page cache kept), and a request's ratio is the median of its rounds'
 * ratios, as the other scenarios report theirs (issue 16: "medians of the rounds"). In each round each
 * request is first sent untimed (`warmup`, 1 500 times, for the JIT) for the first few users only, then
 * sampled for the others (`samples`, 800 a round; as many logins and welcomes as the small database has
 * users and rooms not used before):
 *
 * - `login`: POST /api/v1/login of a user not logged in before on that server (argon2id at the bench's
 *   cheap cost, so the look-up shows);
 * - `welcome`: an authenticated room socket of one of the user's rooms, from `new WebSocket` to its
 *   `welcome` frame, each in a room no socket opened before (the server reads its history from the store;
 *   as many samples as the small database has rooms for);
 * - `history`: GET …/messages?limit=50 of one of the user's rooms, the newest page or one further back;
 * - `rooms`: GET /api/v1/rooms?limit=50, the first page and the ones after it by cursor;
 * - `my rooms`: GET /api/v1/users/me/rooms, the user's rooms with unread and mention counts;
 * - `search`: GET /api/v1/search as the user, of a word in 5 % of the messages (a page of 20) and of one
 *   in 1 of 20 000 (as many as the small database holds: 5, so both answers are the same size).
 *
 * Also: start-up on each database (process start to /healthz answering: migrations checked, usernames'
 * keys checked, caches filled, listening; several starts), bytes per stored message (SQLite: the file and
 * its WAL; PostgreSQL: pg_total_relation_size of every table), and the answers checked against the
 * database itself (a login's user, a welcome's newest message, unread counts recounted, the rooms list's
 * first page, the rare word's matches). Last, the query plans of every read-only request on the big
 * database as its planner makes them (test/support/query-plans.ts): nothing may read a growing table whole.
 */
import type { Subprocess } from 'bun'
import { Database } from 'bun:sqlite'
import { createHash } from 'node:crypto'
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir, totalmem } from 'node:os'
import { join } from 'node:path'
import { openPostgresStore } from '../src/store/postgres.ts'
import { openSqliteStore } from '../src/store/sqlite.ts'
import { filingDue } from '../src/store/sqlite-history.ts'
import { mergeDue, type MergeOutcome } from '../src/store/sqlite-search-merge.ts'
import { pickTargets, postgresPlans, sqlitePlans, steps, violations, type Planned, type Step } from '../test/support/query-plans.ts'
import type { Service } from '../test/support/services.ts'
import { startPostgres } from '../test/support/services.ts'
import {
  BOTS,
  DATA_FULL,
  GENERATOR_VERSION,
  GROWTH_COMMON_WORD,
  GROWTH_RARE_WORD,
  RARE_EVERY,
  GROWTH_SECRET,
  generatePostgres,
  generateSqlite,
  postgresReader,
  RoomPlan,
  sqliteReader,
  type DataSizes,
  type RawReader,
} from './generate-data.ts'
import { DOC_TEMPLATE, loadNow, runLine, updatePerformanceDoc, writePerformanceSvg } from './report.ts'
import { CHEAP_ARGON2_ENV, PRODUCT_BENCH_ENV, readRssBytes } from './servers.ts'

export interface GrowthSizes {
  big: DataSizes
  /** The nearly empty database the big one is compared with. */
  empty: DataSizes
  /**
   * Samples of each request on each database in each round; a login and a welcome take as many as the
   * small database has users and rooms never used before on that server (~970 and ~490), if fewer.
   */
  samples: number
  /**
   * Untimed requests of each kind before its samples, on each server, of the first few users and their
   * rooms again and again: the JIT's steady state without the caches filled with what the samples read.
   * A server's first thousands of requests run while the JIT compiles beside them, and on a 2-core
   * machine a compiler thread takes a core for 1–5 ms now and then.
   */
  warmup: number
  /** Rounds at least, whatever `--rounds` says: a round's p99 ratio of a sub-millisecond request spreads ±30 % and more. */
  rounds: number
  /** Starts of the server on each database. */
  starts: number
  /** The most seconds each request's samples may take, per store, however many were taken. */
  budgetSeconds: number
}

export const GROWTH_FULL: GrowthSizes = {
  big: DATA_FULL,
  empty: { messages: 100_000, rooms: 500, users: 1_000 },
  samples: 800,
  warmup: 1500,
  rounds: 5,
  starts: 5,
  budgetSeconds: 180,
}
export const GROWTH_SMOKE: GrowthSizes = {
  big: { messages: 60_000, rooms: 300, users: 600 },
  empty: { messages: 6_000, rooms: 30, users: 60 },
  samples: 20,
  warmup: 2,
  rounds: 1,
  starts: 2,
  budgetSeconds: 20,
}

/** Each request's p99 on the big database at most this times its p99 on the empty one (issue 16). */
export const GROWTH_RATIO_TARGET = 1.2
/** Start-up on the big database under this (issue 16). */
export const STARTUP_TARGET_MS = 1000
/** Requests a server takes in a row before the other takes as many (see measureStore). */
const BLOCK = 50
/** Databases of at least this many messages are kept between runs. */
const CACHE_FROM = 1_000_000

const ROOT = join(import.meta.dir, '..')
const HOST = '127.0.0.1'
const JWT_SECRET = 'growth-bench-secret-0123456789abcdef-0123456789'

type StoreName = 'SQLite' | 'PostgreSQL'
type Op = 'login' | 'welcome' | 'history' | 'rooms' | 'my rooms' | 'search (common word)' | 'search (rare word)'
const OPS: Op[] = ['login', 'welcome', 'history', 'rooms', 'my rooms', 'search (common word)', 'search (rare word)']

/** Sizes given as `BENCH_GROWTH_SIZE=messages,rooms,users` replace the full run's big database (a run at a stated size). */
function growthSizes(smoke: boolean): GrowthSizes {
  const base = smoke ? GROWTH_SMOKE : GROWTH_FULL
  const given = process.env.BENCH_GROWTH_SIZE?.split(',').map(Number)
  if (!given) return base
  if (given.length !== 3 || given.some((n) => !Number.isSafeInteger(n) || n <= 0)) throw new Error('BENCH_GROWTH_SIZE must be messages,rooms,users')
  return { ...base, big: { messages: given[0]!, rooms: given[1]!, users: given[2]! } }
}

// ---------------------------------------------------------------------------------------------
// Databases: generated, or taken from the cache.

interface Prepared {
  /** The DATABASE setting. */
  database: string
  raw: RawReader
  /** Seconds spent generating it now; undefined when it came from the cache. */
  generatedSeconds: number | undefined
  /** The files it is stored in. */
  files(): string[]
  /** Its size on disk, with what makes it up. */
  bytes(): Promise<{ total: number; parts: Record<string, number> }>
  /** The plans of what the store runs for each request that reads (test/support/query-plans.ts), on this database. */
  plans(): Promise<Planned[]>
  /** Loads the database into its server's own cache, where it has one apart from the OS's (PostgreSQL's shared buffers). */
  warm?(): Promise<void>
  release(): Promise<void>
}

/**
 * Reads a database's files once, so that the OS page cache holds them, as it does on a server that has
 * been up a while on a machine with memory for its data (this VM has 24 GiB for ~4.5 GB a store).
 * Without it the big database's first touch of each page is a disk read (~75 µs here, a page per
 * message of a room not read before) while the small one, just written, is all in memory: that
 * measured the disk, not what the data structures cost as they grow.
 */
function warmPageCache(files: string[]): void {
  for (let i = 0; i < files.length; i += 256) {
    const { exitCode } = Bun.spawnSync(['cat', ...files.slice(i, i + 256)], { stdout: 'ignore', stderr: 'ignore' })
    if (exitCode !== 0) throw new Error(`could not read ${files.slice(i, i + 256).join(', ')} (cat exited with ${exitCode})`)
  }
}

/** Tables that grow with use: no request may read one whole (the others are an admin's handful of rows). */
const GROWING = new Set(['messages', 'users', 'rooms', 'room_members', 'mentions', 'reactions', 'attachments', 'webhook_deliveries', 'audit', 'user_changes'])

/** The read-only steps' plans (nothing is written to a database kept for the next run). */
async function readPlans(raw: RawReader, explain: (list: Step[]) => Promise<Planned[]>): Promise<Planned[]> {
  const targets = await pickTargets((q) => raw.all<Record<string, unknown>>(q))
  return explain(steps(targets).filter((s) => !s.writes))
}

const cacheRoot = () => process.env.BENCH_DATA_CACHE ?? join(tmpdir(), 'chat-bench-data')

/**
 * The cache entry's name: the store, the sizes, and the generator's text. Migrations are not in it: a
 * cached database is migrated by the store (as a server upgrade would) before it is measured.
 */
function cacheName(store: 'sqlite' | 'postgres', sizes: DataSizes): string {
  const hash = createHash('sha256').update(JSON.stringify({ store, sizes, GENERATOR_VERSION }))
  hash.update(readFileSync(join(import.meta.dir, 'generate-data.ts')))
  return `${store}-${sizes.messages}-${hash.digest('hex').slice(0, 16)}`
}

/** Removes the store's other cache entries (a 10 M database takes gigabytes). */
function evictOthers(store: 'sqlite' | 'postgres', keep: string): void {
  const root = cacheRoot()
  if (!existsSync(root)) return
  for (const entry of readdirSync(root)) if (entry.startsWith(`${store}-`) && entry !== keep) rmSync(join(root, entry), { recursive: true, force: true })
}

async function prepareSqlite(sizes: DataSizes, log: (line: string) => void): Promise<Prepared> {
  const cached = sizes.messages >= CACHE_FROM
  const name = cacheName('sqlite', sizes)
  const dir = cached ? join(cacheRoot(), name) : mkdtempSync(join(tmpdir(), 'chat-growth-sqlite-'))
  const file = join(dir, 'chat.db')
  let generatedSeconds: number | undefined
  if (!cached || !existsSync(join(dir, 'complete'))) {
    const building = cached ? `${dir}.partial` : dir
    if (cached) {
      evictOthers('sqlite', name)
      rmSync(building, { recursive: true, force: true })
      mkdirSync(building, { recursive: true })
    }
    log(`growth: generating ${describeSizes(sizes)} into SQLite`)
    try {
      generatedSeconds = (await generateSqlite(join(building, 'chat.db'), sizes, log)).seconds
    } catch (err) {
      rmSync(building, { recursive: true, force: true })
      throw err
    }
    log(`growth: SQLite database generated in ${generatedSeconds} s`)
    if (cached) {
      writeFileSync(join(building, 'complete'), `${generatedSeconds}\n`)
      renameSync(building, dir)
    }
  } else {
    log(`growth: SQLite database of ${describeSizes(sizes)} from the cache (${dir})`)
    // Migrations added since it was made are applied now, not during the measured starts.
    await openSqliteStore(file, { searchMergeQuietMs: 0 }).close()
  }
  await mergeAfterQuiet(file, log)
  const raw = sqliteReader(file)
  return {
    database: file,
    raw,
    generatedSeconds,
    plans: () => readPlans(raw, (list) => sqlitePlans(file, openSqliteStore, list)),
    files: () => [file, `${file}-wal`].filter((path) => existsSync(path)),
    async bytes() {
      const size = (path: string) => (existsSync(path) ? statSync(path).size : 0)
      const total = size(file) + size(`${file}-wal`)
      // Pages per table and index (the dbstat virtual table), shadow tables of the search indexes together.
      const parts: Record<string, number> = {}
      try {
        const rows = await raw.all<{ name: string; bytes: number }>(`SELECT name, sum(pgsize) AS bytes FROM dbstat GROUP BY name`)
        for (const { name, bytes } of rows) {
          const part = name.startsWith('messages_public_fts') || name.startsWith('messages_private_fts') ? 'search index (FTS5)' : sqlitePart(name)
          parts[part] = (parts[part] ?? 0) + bytes
        }
      } catch {
        // dbstat is not compiled in: the total alone.
      }
      return { total, parts }
    },
    async release() {
      await raw.close()
      if (!cached) rmSync(dir, { recursive: true, force: true })
    },
  }
}

/**
 * The database as a server leaves it after a quiet spell: its history filed and its search index merged
 * by the store's own worker when they are due (src/store/sqlite-search-merge.ts), here with no wait for
 * the quiet. Both databases are measured so; a server that is never quiet searches the index as written
 * (bench/search.ts measures that) and reads the history posted since its last quiet spell row by row.
 */
async function mergeAfterQuiet(file: string, log: (line: string) => void): Promise<void> {
  const db = new Database(file, { readonly: true })
  // A database made before filing existed is migrated (and so becomes due) when the store opens it.
  const due = mergeDue(db) || !db.query(`SELECT 1 FROM pragma_table_info('messages') WHERE name = 'filed'`).get() || filingDue(db)
  db.close()
  if (!due) return
  const ended = Promise.withResolvers<{ outcome: MergeOutcome; ms: number }>()
  const store = openSqliteStore(file, { searchMergeQuietMs: 1, onSearchMerge: (outcome, ms) => ended.resolve({ outcome, ms }) })
  const { outcome, ms } = await ended.promise
  await store.close()
  if (outcome.outcome !== 'done') throw new Error(`growth: the quiet spell's work ended ${JSON.stringify(outcome)}`)
  log(
    `growth: SQLite history filed (${outcome.filed} messages) and search index merged (${outcome.merged}) by the store's worker in ${(ms / 1000).toFixed(1)} s (${file})`,
  )
}

/** Which part of the database a SQLite table or index belongs to. */
function sqlitePart(name: string): string {
  if (name === 'messages' || name === 'sqlite_autoindex_messages_1') return 'messages (rows)'
  if (name === 'messages_room_filed') return 'messages (room-ordered copy)'
  if (name.startsWith('messages_')) return 'messages (indexes)'
  if (name.startsWith('room_members') || name.startsWith('sqlite_autoindex_room_members')) return 'room_members'
  if (name.startsWith('mentions') || name.startsWith('sqlite_autoindex_mentions')) return 'mentions'
  if (name.startsWith('reactions') || name.startsWith('sqlite_autoindex_reactions')) return 'reactions'
  if (name.startsWith('users')) return 'users'
  if (name.startsWith('rooms') || name.startsWith('sqlite_autoindex_rooms')) return 'rooms'
  return 'other'
}

/**
 * The big database's PostgreSQL is set up as a server with memory for its data would be: shared
 * buffers of a quarter of the machine's memory, the starting point PostgreSQL's manual gives for a
 * dedicated server (its default of 128 MB, which the nearly empty database fits in, is sized to start
 * anywhere, not to serve a 4.5 GB database), in huge pages where the machine has them reserved
 * (`vm.nr_hugepages`), as the manual advises for large shared buffers: in 4 KiB pages each connection
 * takes a page fault at its first touch of each buffer's page, which on this VM cost more than reading
 * the page in from the OS. So the big database, like the small one, is read from PostgreSQL's own cache.
 */
const POSTGRES_SETTINGS = { shared_buffers: `${Math.floor(totalmem() / 4 / 2 ** 20)}MB`, huge_pages: 'try' }

/**
 * Reads every relation of the database (tables, their TOAST, indexes) into the shared buffers with
 * pg_prewarm (PostgreSQL's contrib), as a server that has been up a while holds them; its autoprewarm
 * worker does the same after a restart (docs/DEPLOY.md). Where the buffers hold less than the database
 * the last relations read push out the first, as they would on such a server.
 */
async function prewarmPostgres(raw: RawReader): Promise<void> {
  await raw.all(`CREATE EXTENSION IF NOT EXISTS pg_prewarm`)
  await raw.all(
    `SELECT pg_prewarm(c.oid) FROM pg_class c
     WHERE c.relkind IN ('r', 't', 'i') AND c.relnamespace IN ('public'::regnamespace, 'pg_toast'::regnamespace)`,
  )
}

async function preparePostgres(sizes: DataSizes, log: (line: string) => void): Promise<Prepared> {
  const cached = sizes.messages >= CACHE_FROM
  const name = cacheName('postgres', sizes)
  const dir = join(cacheRoot(), name)
  let generatedSeconds: number | undefined
  let pg: Service
  if (!cached) {
    pg = await startPostgres()
    log(`growth: generating ${describeSizes(sizes)} into PostgreSQL`)
    try {
      generatedSeconds = (await generatePostgres(pg.url, sizes, log)).seconds
    } catch (err) {
      await pg[Symbol.asyncDispose]()
      throw err
    }
  } else if (existsSync(join(dir, 'complete'))) {
    log(`growth: PostgreSQL database of ${describeSizes(sizes)} from the cache (${dir})`)
    pg = await startPostgres({ dir, settings: POSTGRES_SETTINGS })
    // Migrations added since it was made are applied now, not during the measured starts.
    await (await openPostgresStore(pg.url)).close()
  } else {
    evictOthers('postgres', name)
    const building = `${dir}.partial`
    rmSync(building, { recursive: true, force: true })
    const fresh = await startPostgres({ dir: building })
    try {
      log(`growth: generating ${describeSizes(sizes)} into PostgreSQL`)
      generatedSeconds = (await generatePostgres(fresh.url, sizes, log)).seconds
      log(`growth: PostgreSQL database generated in ${generatedSeconds} s`)
    } finally {
      await fresh.stop()
    }
    writeFileSync(join(building, 'complete'), `${generatedSeconds}\n`)
    renameSync(building, dir)
    pg = await startPostgres({ dir, settings: POSTGRES_SETTINGS })
  }
  const raw = postgresReader(pg.url)
  return {
    database: pg.url,
    raw,
    generatedSeconds,
    warm: () => prewarmPostgres(raw),
    plans: () => readPlans(raw, (list) => postgresPlans(pg.url, pg.logFile!, (url) => openPostgresStore(url), list, false)),
    files: () =>
      // The relations' files (base/); not the WAL, the statistics' or the queries' temporary files
      // (pgsql_tmp: one may be gone by the time it would be read).
      readdirSync(join(pg.dataDir!, 'base'), { recursive: true, withFileTypes: true })
        .filter((entry) => entry.isFile() && !entry.parentPath.includes('pgsql_tmp'))
        .map((entry) => join(entry.parentPath, entry.name)),
    async bytes() {
      const rows = await raw.all<{ name: string; bytes: number }>(
        `SELECT c.relname AS name, pg_total_relation_size(c.oid) AS bytes FROM pg_class c
         WHERE c.relkind = 'r' AND c.relnamespace = 'public'::regnamespace`,
      )
      const parts: Record<string, number> = {}
      for (const { name, bytes } of rows) {
        const part = ['messages', 'room_members', 'mentions', 'reactions', 'users', 'rooms'].includes(name) ? name : 'other'
        parts[part] = (parts[part] ?? 0) + Number(bytes)
      }
      // The messages table apart from its indexes, and the trigram indexes apart from the others.
      const [split] = await raw.all<{ heap: number; trigram: number; indexes: number }>(
        `SELECT pg_table_size('messages') AS heap,
           coalesce((SELECT sum(pg_relation_size(indexrelid)) FROM pg_index i JOIN pg_class x ON x.oid = i.indexrelid
             WHERE i.indrelid = 'messages'::regclass AND x.relname LIKE '%trgm%'), 0) AS trigram,
           pg_indexes_size('messages') AS indexes`,
      )
      if (split && parts.messages !== undefined) {
        delete parts.messages
        parts['messages (rows)'] = Number(split.heap)
        parts['messages (indexes)'] = Number(split.indexes) - Number(split.trigram)
        parts['search index (trigram GIN)'] = Number(split.trigram)
      }
      return { total: Object.values(parts).reduce((a, b) => a + b, 0), parts }
    },
    async release() {
      await raw.close()
      await pg[Symbol.asyncDispose]()
    },
  }
}

const describeSizes = (s: DataSizes) =>
  `${s.messages.toLocaleString('en-US')} messages in ${s.rooms.toLocaleString('en-US')} rooms by ${s.users.toLocaleString('en-US')} users`

// ---------------------------------------------------------------------------------------------
// The server under test.

interface Server {
  url: string
  proc: Subprocess
  stop(): Promise<void>
}

async function freePort(): Promise<number> {
  const listener = Bun.listen({ hostname: HOST, port: 0, socket: { data() {} } })
  const port = listener.port
  listener.stop(true)
  return port
}

/** Starts src/main.ts on `database`; resolves with how long until /healthz answered 200. */
async function startProduct(database: string): Promise<{ server: Server; startMs: number }> {
  const port = await freePort()
  const dir = mkdtempSync(join(tmpdir(), 'chat-growth-home-'))
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '',
    HOME: dir,
    HOST,
    PORT: String(port),
    DATABASE: database,
    JWT_SECRET,
    ...PRODUCT_BENCH_ENV,
    ...CHEAP_ARGON2_ENV,
    SEARCH_LIMIT_PER_MINUTE: '1000000',
  }
  const url = `http://${HOST}:${port}`
  const started = performance.now()
  const proc = Bun.spawn({ cmd: [process.execPath, join(ROOT, 'src/main.ts')], cwd: ROOT, env, stdin: 'ignore', stdout: 'ignore', stderr: 'inherit' })
  const stop = async () => {
    proc.kill('SIGTERM')
    if (!(await Promise.race([proc.exited.then(() => true), Bun.sleep(15_000).then(() => false)]))) {
      proc.kill('SIGKILL')
      await proc.exited
    }
    rmSync(dir, { recursive: true, force: true })
  }
  // Polled every 2 ms, for 30 s at most.
  for (const until = started + 30_000; ;) {
    if (proc.exitCode !== null) {
      rmSync(dir, { recursive: true, force: true })
      throw new Error(`server on ${database} exited with ${proc.exitCode} before answering /healthz`)
    }
    try {
      const res = await fetch(`${url}/healthz`)
      if (res.ok) {
        await res.arrayBuffer()
        return { server: { url, proc, stop }, startMs: performance.now() - started }
      }
    } catch {
      // not listening yet
    }
    if (performance.now() > until) {
      await stop()
      throw new Error(`server on ${database} did not answer /healthz within 30 s`)
    }
    await Bun.sleep(2)
  }
}

// ---------------------------------------------------------------------------------------------
// Requests, each timed on its own.

class Failed extends Error {}

async function call<T>(url: string, init: RequestInit & { expect?: number } = {}): Promise<T> {
  const res = await fetch(url, { ...init, signal: AbortSignal.timeout(10_000) })
  const body = (await res.json()) as { data: T; error: { type: string; message: string } | null }
  if (res.status !== (init.expect ?? 200)) throw new Failed(`${init.method ?? 'GET'} ${url}: ${res.status} ${body.error?.type} ${body.error?.message}`)
  return body.data
}

const bearer = (token: string) => ({ Authorization: `Bearer ${token}` })

interface WelcomeData {
  room: string
  history: { id: number }[]
}

/** Opens an authenticated room socket, resolves with its `welcome` once it came, and closes it (waiting for the close). */
async function welcome(base: string, room: string, token: string): Promise<{ ms: number; data: WelcomeData }> {
  const started = performance.now()
  const ws = new WebSocket(`${base.replace('http', 'ws')}/api/v1/rooms/${encodeURIComponent(room)}/messages/ws`, [token])
  const closed = new Promise<void>((resolve) => ws.addEventListener('close', () => resolve()))
  try {
    const frame = await new Promise<{ type: string; data: WelcomeData; error: unknown }>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Failed(`no welcome from ${room} within 10 s`)), 10_000)
      ws.addEventListener('message', (ev) => (clearTimeout(timer), resolve(JSON.parse(String(ev.data)))), { once: true })
      ws.addEventListener('close', (ev) => (clearTimeout(timer), reject(new Failed(`socket of ${room} closed before its welcome (${ev.code})`))), {
        once: true,
      })
    })
    const ms = performance.now() - started
    if (frame.type !== 'welcome') throw new Failed(`first frame of ${room} was ${frame.type}: ${JSON.stringify(frame.error)}`)
    return { ms, data: frame.data }
  } finally {
    ws.close()
    await Promise.race([closed, Bun.sleep(5_000)])
  }
}

/** What one database's samples use: users (each with rooms), logged in as the login samples go. */
class Population {
  readonly plan: RoomPlan
  readonly users: number[]
  readonly tokens = new Map<number, string>()
  readonly welcomeRooms: { user: number; room: string }[] = []
  private readonly roomsOf: { offsets: Int32Array; rooms: Int32Array }

  constructor(
    readonly sizes: DataSizes,
    count: number,
  ) {
    this.plan = new RoomPlan(sizes)
    this.roomsOf = this.plan.roomsOfUsers()
    let seed = 4242
    const random = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0), seed / 4294967296)
    // Users with at least one room, drawn without repeats.
    const people = sizes.users - BOTS
    const picked = new Set<number>()
    for (let tries = 0; picked.size < Math.min(count, people) && tries < 100 * count; tries++) {
      const u = 1 + Math.floor(random() * people)
      if (this.roomsOfUser(u).length > 0) picked.add(u)
    }
    this.users = [...picked]
    // A room never opened before for each welcome sample: one of the user's rooms, else one of another user's.
    const used = new Set<number>()
    for (let k = 0; k < this.users.length * 4 && this.welcomeRooms.length < count; k++) {
      const user = this.users[k % this.users.length]!
      const room = [...this.roomsOfUser(user)].find((r) => !used.has(r))
      if (room === undefined) continue
      used.add(room)
      this.welcomeRooms.push({ user, room: this.plan.names[room]! })
    }
  }

  roomsOfUser(u: number): Int32Array {
    return this.roomsOf.rooms.subarray(this.roomsOf.offsets[u]!, this.roomsOf.offsets[u + 1]!)
  }

  /** The i-th sample's user, and one of their rooms. */
  userRoom(i: number): { user: number; room: string } {
    const user = this.users[i % this.users.length]!
    const rooms = this.roomsOfUser(user)
    return { user, room: this.plan.names[rooms[(i * 7) % rooms.length]!]! }
  }
}

interface Side {
  label: 'empty' | 'big'
  sizes: DataSizes
  prepared: Prepared
  server: Server
  startMs: number[]
  population: Population
  /** The rooms list: the next page's cursor, and how many pages were walked. */
  cursor: string | null
  pages: number
  /** The newest message of each room sampled for history (read once, untimed). */
  newest: Map<string, number>
  /** Each round's samples of each request, in ms. */
  times: Map<Op, number[]>[]
  checks: number
  /**
   * How many the rare word's search asks for on both sides: as many as the small database holds
   * (5), so that both answers are the same size and only what the index must pass over differs (at
   * the default page of 20, the big database would answer 20 messages, each a page read, to the small
   * one's 5).
   */
  rareLimit: number
  /** The messages holding the rare word (read once, untimed, for the checks). */
  rare?: { id: number; room: string; private: number | boolean }[]
}

/** Times one sample of `op` on `side`; with `check`, checks its answer against the database itself. */
async function sample(side: Side, op: Op, i: number, check: boolean): Promise<number> {
  const { server, population: pop } = side
  const base = server.url
  const timed = async <T>(work: () => Promise<T>): Promise<[number, T]> => {
    const t = performance.now()
    const value = await work()
    return [performance.now() - t, value]
  }
  const tokenOf = async (user: number) => {
    let token = pop.tokens.get(user)
    if (token === undefined) {
      const session = await call<{ token: string }>(`${base}/api/v1/login`, {
        method: 'POST',
        body: JSON.stringify({ username: `user${user}`, secret: GROWTH_SECRET }),
      })
      pop.tokens.set(user, (token = session.token))
    }
    return token
  }
  switch (op) {
    case 'login': {
      const user = pop.users[i % pop.users.length]!
      const [ms, session] = await timed(() =>
        call<{ token: string; user: { id: number } }>(`${base}/api/v1/login`, {
          method: 'POST',
          body: JSON.stringify({ username: `user${user}`, secret: GROWTH_SECRET }),
        }),
      )
      if (session.user.id !== user) throw new Failed(`login of user${user} answered user ${session.user.id}`)
      pop.tokens.set(user, session.token)
      return ms
    }
    case 'welcome': {
      const target = pop.welcomeRooms[i % pop.welcomeRooms.length]!
      const { ms, data } = await welcome(base, target.room, await tokenOf(target.user))
      if (check) {
        const [row] = await side.prepared.raw.all<{ last: number }>(`SELECT last_message_id AS last FROM rooms WHERE name = $1`, target.room)
        if ((data.history.at(-1)?.id ?? 0) !== Number(row?.last ?? 0))
          throw new Failed(`welcome of ${target.room}: newest ${data.history.at(-1)?.id}, rooms says ${row?.last}`)
        side.checks++
      }
      return ms
    }
    case 'history': {
      const { user, room } = pop.userRoom(i)
      const token = await tokenOf(user)
      let newest = side.newest.get(room)
      if (newest === undefined) {
        const [row] = await side.prepared.raw.all<{ last: number }>(`SELECT last_message_id AS last FROM rooms WHERE name = $1`, room)
        side.newest.set(room, (newest = Number(row?.last ?? 0)))
      }
      // Every other sample a page further back: below an id somewhere in the room's history.
      const before = i % 2 === 1 && newest > 1 ? 1 + Math.floor((((i * 7919) % 1000) / 1000) * newest) : undefined
      const query = before === undefined ? 'limit=50' : `limit=50&before=${before}`
      const [ms, page] = await timed(() =>
        call<{ messages: { id: number }[] }>(`${base}/api/v1/rooms/${encodeURIComponent(room)}/messages?${query}`, { headers: bearer(token) }),
      )
      if (check && before === undefined && (page.messages.at(-1)?.id ?? 0) !== newest)
        throw new Failed(`history of ${room}: newest ${page.messages.at(-1)?.id}, rooms says ${newest}`)
      return ms
    }
    case 'rooms': {
      if (side.pages >= 20) side.cursor = null
      const cursor = side.cursor
      const [ms, page] = await timed(() =>
        call<{ rooms: { name: string }[]; next: string | null }>(`${base}/api/v1/rooms?limit=50${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`),
      )
      side.pages = cursor === null ? 1 : side.pages + 1
      side.cursor = page.next
      if (check && cursor === null) {
        const expected = await side.prepared.raw.all<{ name: string }>(
          `SELECT name FROM rooms WHERE visibility = 'public' AND last_message_id > 0 ORDER BY last_message_id DESC LIMIT 50`,
        )
        if (JSON.stringify(page.rooms.map((r) => r.name)) !== JSON.stringify(expected.map((r) => r.name)))
          throw new Failed('rooms list: first page differs from the rooms table')
        side.checks++
      }
      return ms
    }
    case 'my rooms': {
      const user = pop.users[i % pop.users.length]!
      const token = await tokenOf(user)
      const [ms, mine] = await timed(() =>
        call<{ rooms: { name: string; lastReadId: number; unread: number; mentions: number }[] }>(`${base}/api/v1/users/me/rooms`, { headers: bearer(token) }),
      )
      if (mine.rooms.length !== pop.roomsOfUser(user).length)
        throw new Failed(`my rooms of user${user}: ${mine.rooms.length}, expected ${pop.roomsOfUser(user).length}`)
      if (check) {
        for (const r of mine.rooms) {
          const [recount] = await side.prepared.raw.all<{ unread: number }>(
            `SELECT count(*) AS unread FROM messages WHERE room = $1 AND kind = 'message' AND id > $2 AND user_id <> $3 AND NOT deleted`,
            r.name,
            r.lastReadId,
            user,
          )
          const [mentions] = await side.prepared.raw.all<{ n: number }>(
            `SELECT count(*) AS n FROM mentions WHERE user_id = $1 AND room = $2 AND message_id > $3`,
            user,
            r.name,
            r.lastReadId,
          )
          if (r.unread !== Number(recount?.unread) || r.mentions !== Number(mentions?.n))
            throw new Failed(
              `my rooms of user${user}, ${r.name}: unread ${r.unread} / mentions ${r.mentions}, a recount says ${recount?.unread} / ${mentions?.n}`,
            )
        }
        side.checks++
      }
      return ms
    }
    case 'search (common word)':
    case 'search (rare word)': {
      const user = pop.users[i % pop.users.length]!
      const token = await tokenOf(user)
      const [q, limit] = op === 'search (rare word)' ? [GROWTH_RARE_WORD, side.rareLimit] : [GROWTH_COMMON_WORD, 20]
      const [ms, page] = await timed(() => call<{ messages: { id: number }[] }>(`${base}/api/v1/search?q=${q}&limit=${limit}`, { headers: bearer(token) }))
      if (op === 'search (common word)' && page.messages.length === 0) throw new Failed(`search of ${q} found nothing`)
      if (check && op === 'search (rare word)') {
        const mine = new Set([...pop.roomsOfUser(user)].map((r) => pop.plan.names[r]!))
        // Read once per database: a scan of every message's text.
        side.rare ??= await side.prepared.raw.all<{ id: number; room: string; private: number | boolean }>(
          `SELECT id, room, private FROM messages WHERE kind = 'message' AND NOT deleted AND text LIKE '%${GROWTH_RARE_WORD}%' ORDER BY id DESC`,
        )
        const expected = side.rare.filter((w) => !w.private || mine.has(w.room)).map((w) => Number(w.id))
        if (JSON.stringify(page.messages.map((m) => m.id)) !== JSON.stringify(expected.slice(0, limit)))
          throw new Failed(`search of ${q} by user${user}: ${page.messages.length} found, not the ${Math.min(limit, expected.length)} the table holds`)
        side.checks++
      }
      return ms
    }
  }
}

// ---------------------------------------------------------------------------------------------
// The scenario.

const quantile = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.floor(p * s.length))] ?? NaN
}
const median = (xs: number[]) => quantile(xs, 0.5)

/** A request on one store: each figure the median of the rounds'. */
export interface GrowthRow {
  store: StoreName
  op: Op
  /** Samples on each database in each round. */
  samples: number
  emptyP50: number
  emptyP99: number
  bigP50: number
  bigP99: number
  /** Each round's p50 on the big database over its p50 on the empty one. */
  p50Ratios: number[]
  /** Each round's p99 on the big database over its p99 on the empty one. */
  ratios: number[]
  /** The median of `ratios`: what the target is held to. */
  ratio: number
  met: boolean
}

export interface GrowthStore {
  store: StoreName
  generatedSeconds: { empty: number | undefined; big: number | undefined }
  startMs: { empty: number[]; big: number[] }
  bytes: { empty: number; big: number; perMessage: { empty: number; big: number }; parts: Record<string, number> }
  rssMiB: { empty: number; big: number }
  checks: number
  /** Statements planned on the big database for the read-only request steps, and what in them reads a table whole. */
  plans: { steps: number; statements: number; scans: string[]; smallTables: string[] }
  rows: GrowthRow[]
}

export interface GrowthRecord {
  sizes: GrowthSizes
  rounds: number
  stores: GrowthStore[]
  ok: boolean
}

async function measureStore(
  store: StoreName,
  sizes: GrowthSizes,
  rounds: number,
  prepare: (s: DataSizes, log: (line: string) => void) => Promise<Prepared>,
  log: (line: string) => void,
): Promise<GrowthStore> {
  const sides: Side[] = []
  // The warm-up goes over the first few users (and their rooms) again and again: it settles the JIT
  // without filling the servers' caches with what the samples read.
  const warmItems = Math.min(10, sizes.warmup)
  try {
    for (const label of ['empty', 'big'] as const) {
      const s = sizes[label]
      const prepared = await prepare(s, log)
      const side: Partial<Side> = { label, sizes: s, prepared, startMs: [] }
      // Kept before anything else can fail, so that `finally` releases it (stops a PostgreSQL server).
      sides.push(side as Side)
      warmPageCache(prepared.files())
      await prepared.warm?.()
      // Starts measured one after another; the last server stays up for the requests.
      for (let k = 0; k < sizes.starts; k++) {
        const { server, startMs } = await startProduct(prepared.database)
        side.startMs!.push(Math.round(startMs * 10) / 10)
        if (k < sizes.starts - 1) await server.stop()
        else side.server = server
      }
      log(`growth ${store} ${label}: start-up ${side.startMs!.map((ms) => `${ms.toFixed(0)} ms`).join(', ')}`)
      Object.assign(side, {
        population: new Population(s, warmItems + sizes.samples),
        cursor: null,
        pages: 0,
        newest: new Map(),
        times: [],
        checks: 0,
        rareLimit: Math.max(1, Math.floor(sizes.empty.messages / RARE_EVERY)),
      })
    }
    // The samples take the users after the warm-up's; a login and a welcome, timed on users and rooms not
    // used before on that server (their rows not in its page cache, the room not in its memory), as many
    // as the small database has.
    const pool = (op: Op) =>
      op === 'login'
        ? Math.min(...sides.map((s) => s.population.users.length))
        : op === 'welcome'
          ? Math.min(...sides.map((s) => s.population.welcomeRooms.length))
          : Infinity
    for (let round = 0; round < rounds; round++) {
      // Each round on servers started for it: every room is cold again for the welcome, SQLite's page cache empty.
      if (round > 0)
        for (const side of sides) {
          await side.server.stop()
          side.server = (await startProduct(side.prepared.database)).server
        }
      for (const side of sides) side.times.push(new Map())
      for (const op of OPS) {
        const until = performance.now() + sizes.budgetSeconds * 1000
        // Each server takes a block of requests in turn, the first of each pair of blocks alternating: a server
        // woken for one request at a time answers in ~2× the time (its core idle in between, on a VM) and
        // with a p99 ~2× as far out, on both databases alike, which buries what the database adds.
        const inBlocks = async (from: number, to: number, each: (side: Side, i: number) => Promise<void>) => {
          for (let start = from, n = 0; start < to && performance.now() < until; start += BLOCK, n++)
            for (const side of n % 2 === 0 ? sides : [...sides].reverse()) for (let i = start; i < Math.min(start + BLOCK, to); i++) await each(side, i)
        }
        await inBlocks(0, sizes.warmup, async (side, k) => void (await sample(side, op, k % warmItems, round === 0 && k < 5)))
        await inBlocks(warmItems, Math.min(warmItems + sizes.samples, pool(op)), async (side, i) => {
          const ms = await sample(side, op, i, false)
          const times = side.times[round]!
          if (!times.has(op)) times.set(op, [])
          times.get(op)!.push(ms)
        })
        const [empty, big] = sides.map((s) => s.times[round]!.get(op) ?? []) as [number[], number[]]
        log(
          `growth ${store} ${op}, round ${round + 1} of ${rounds}: p99 ${quantile(big, 0.99).toFixed(2)} ms on the big database against ${quantile(empty, 0.99).toFixed(2)} ms (p50 ${median(big).toFixed(2)} / ${median(empty).toFixed(2)}), ${big.length} samples`,
        )
      }
    }
    const rss = sides.map((s) => Math.round((readRssBytes(s.server.proc.pid) / 1048576) * 10) / 10)
    for (const side of sides) await side.server.stop()
    const [emptyBytes, bigBytes] = await Promise.all(sides.map((s) => s.prepared.bytes()))
    // Nothing on a request path may scan a table: the plans on the big database, as its planner makes them.
    const planned = await sides[1]!.prepared.plans()
    // Of the tables that grow, those big enough here for a planner to prefer an index (a few pages are read whole, rightly).
    const big = new Set<string>()
    for (const table of GROWING)
      if (Number((await sides[1]!.prepared.raw.all<{ n: number }>(`SELECT count(*) AS n FROM ${table}`))[0]?.n) >= 10_000) big.add(table)
    const found = violations(planned, big).map(({ step, scan }) => `${step}: ${scan}`)
    const plans = {
      steps: new Set(planned.map((p) => p.step)).size,
      statements: planned.length,
      scans: [...new Set(found)],
      // Read whole where the planner judges it cheapest: a few rows (settings, webhooks, invites), or a bounded walk.
      smallTables: [...new Set(planned.flatMap((p) => p.scans.map((scan) => `${p.step}: ${scan}`)))].filter((x) => !found.includes(x)),
    }
    log(
      `growth ${store}: plans of ${plans.statements} statements (${plans.steps} read-only steps) on the big database; scans of growing tables: ${plans.scans.join('; ') || 'none'}`,
    )
    const rows = OPS.map((op): GrowthRow => {
      const per = sides[0]!.times.map((_, round) => {
        const [empty, big] = sides.map((s) => s.times[round]!.get(op) ?? []) as [number[], number[]]
        return { n: big.length, emptyP50: median(empty), emptyP99: quantile(empty, 0.99), bigP50: median(big), bigP99: quantile(big, 0.99) }
      })
      const ratios = per.map((r) => r.bigP99 / r.emptyP99)
      const ratio = median(ratios)
      return {
        store,
        op,
        samples: Math.min(...per.map((r) => r.n)),
        emptyP50: median(per.map((r) => r.emptyP50)),
        emptyP99: median(per.map((r) => r.emptyP99)),
        bigP50: median(per.map((r) => r.bigP50)),
        bigP99: median(per.map((r) => r.bigP99)),
        p50Ratios: per.map((r) => r.bigP50 / r.emptyP50),
        ratios,
        ratio,
        met: ratio <= GROWTH_RATIO_TARGET,
      }
    })
    return {
      store,
      generatedSeconds: { empty: sides[0]!.prepared.generatedSeconds, big: sides[1]!.prepared.generatedSeconds },
      startMs: { empty: sides[0]!.startMs, big: sides[1]!.startMs },
      bytes: {
        empty: emptyBytes!.total,
        big: bigBytes!.total,
        perMessage: { empty: emptyBytes!.total / sizes.empty.messages, big: bigBytes!.total / sizes.big.messages },
        parts: bigBytes!.parts,
      },
      rssMiB: { empty: rss[0]!, big: rss[1]! },
      checks: sides.reduce((n, s) => n + s.checks, 0),
      plans,
      rows,
    }
  } finally {
    for (const side of sides) {
      if (side.server && side.server.proc.exitCode === null) await side.server.stop().catch(() => {})
      await side.prepared.release().catch(() => {})
    }
  }
}

async function runGrowth(sizes: GrowthSizes, rounds: number, log: (line: string) => void): Promise<GrowthRecord> {
  const record: GrowthRecord = { sizes, rounds, stores: [], ok: true }
  // BENCH_GROWTH_STORES=sqlite (or postgres) measures one store alone.
  const only = process.env.BENCH_GROWTH_STORES?.toLowerCase()
  if (only !== 'postgres') record.stores.push(await measureStore('SQLite', sizes, rounds, prepareSqlite, log))
  if (only === 'sqlite') return record
  let postgres = true
  try {
    await (await startPostgres())[Symbol.asyncDispose]()
  } catch (err) {
    postgres = false
    log(`growth: PostgreSQL skipped: ${err instanceof Error ? err.message : String(err)}`)
  }
  if (postgres) record.stores.push(await measureStore('PostgreSQL', sizes, rounds, preparePostgres, log))
  return record
}

const fmt = (n: number) => (!Number.isFinite(n) ? '–' : n >= 100 ? n.toFixed(0) : n >= 10 ? n.toFixed(1) : n.toFixed(2))
/** The rounds' range after their median, when there were several. */
const spread = (xs: number[]) => (xs.length < 2 ? '' : ` (${fmt(Math.min(...xs))}–${fmt(Math.max(...xs))})`)
const mib = (bytes: number) => `${(bytes / 1048576).toLocaleString('en-US', { maximumFractionDigits: 0 })} MiB`

/** The scenario's tables: p50/p99 per request and store with the ratio, then start-up and size. */
export function growthTable(record: GrowthRecord): string {
  const { big, empty } = record.sizes
  const lines = [
    `| store | request | samples a round | nearly empty: p50 ms | p99 ms | ${big.messages.toLocaleString('en-US')} messages: p50 ms | p99 ms | p50 ratio | p99 ratio (target ≤ ${GROWTH_RATIO_TARGET}) |`,
    '|---|---|---:|---:|---:|---:|---:|---:|---|',
  ]
  for (const s of record.stores)
    for (const r of s.rows)
      lines.push(
        `| ${r.store} | ${r.op} | ${r.samples} | ${fmt(r.emptyP50)} | ${fmt(r.emptyP99)} | ${fmt(r.bigP50)} | ${fmt(r.bigP99)} | ${fmt(median(r.p50Ratios))}${spread(r.p50Ratios)} | ${fmt(r.ratio)}${spread(r.ratios)} ${r.met ? 'met' : '**missed**'} |`,
      )
  lines.push(
    '',
    `| store | start-up ms, empty (each start) | start-up ms, ${big.messages.toLocaleString('en-US')} messages (each start) | target < ${STARTUP_TARGET_MS} ms | database size | bytes per message | what it is made of |`,
    '|---|---|---|---|---:|---:|---|',
  )
  for (const s of record.stores) {
    const worst = Math.max(...s.startMs.big)
    const parts = Object.entries(s.bytes.parts)
      .sort((a, b) => b[1] - a[1])
      .map(([name, bytes]) => `${name} ${Math.round(bytes / big.messages)}`)
      .join(', ')
    lines.push(
      `| ${s.store} | ${s.startMs.empty.map((ms) => ms.toFixed(0)).join(', ')} | ${s.startMs.big.map((ms) => ms.toFixed(0)).join(', ')} | ${worst < STARTUP_TARGET_MS ? 'met' : '**missed**'} | ${mib(s.bytes.big)} (empty: ${mib(s.bytes.empty)}) | ${Math.round(s.bytes.perMessage.big)} (empty: ${Math.round(s.bytes.perMessage.empty)}) | ${parts || '–'} |`,
    )
  }
  void empty
  return lines.join('\n')
}

/**
 * `bun run bench --scenario growth`: runs the scenario, prints its record and tables, and with `write`
 * appends the record to bench/results.jsonl and rewrites its block of docs/PERFORMANCE.md. False when
 * an answer was wrong (a check failed) or a request failed.
 */
export async function growthScenario(
  smoke: boolean,
  rounds: number,
  write: boolean,
  meta: Record<string, unknown>,
  log: (line: string) => void,
): Promise<boolean> {
  const started = performance.now()
  const loadBefore = loadNow()
  let record: GrowthRecord
  try {
    const sizes = growthSizes(smoke)
    record = await runGrowth(sizes, Math.max(rounds, sizes.rounds), log)
  } catch (err) {
    log(`growth FAILED: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`)
    return false
  }
  const seconds = Math.round((performance.now() - started) / 100) / 10
  // The chart's rows (bench/report.ts draws those with a target): each request's worse store.
  const rows = OPS.map((op) => {
    const worst = record.stores
      .map((s) => s.rows.find((r) => r.op === op)!)
      .filter((r) => Number.isFinite(r.ratio))
      .sort((a, b) => b.ratio - a.ratio)[0]
    return {
      scenario: 'growth',
      label: `${op} p99 ms, ${record.sizes.big.messages.toLocaleString('en-US')} messages ÷ nearly empty (the worse store: ${worst?.store ?? '–'})`,
      short: `${op} p99, ${record.sizes.big.messages >= 1e6 ? `${record.sizes.big.messages / 1e6} M` : record.sizes.big.messages.toLocaleString('en-US')} msgs`,
      product: worst?.bigP99 ?? NaN,
      baseline: worst?.emptyP99 ?? NaN,
      ratio: worst?.ratio ?? NaN,
      better: 'lower',
      target: GROWTH_RATIO_TARGET,
      met: worst?.met,
    }
  })
  const full = { ...meta, scenario: 'growth', seconds, loadavgBefore: loadBefore, loadavgAfter: loadNow(), ...record, rows }
  const table = growthTable(record)
  console.log(JSON.stringify(full))
  console.log(`\n${table}\n`)
  if (write) {
    appendFileSync(join(import.meta.dir, 'results.jsonl'), JSON.stringify(full) + '\n')
    const missed = record.stores.flatMap((s) => s.rows.filter((r) => !r.met).map((r) => `${r.store} ${r.op} (${fmt(r.ratio)})`))
    const slow = record.stores.filter((s) => Math.max(...s.startMs.big) >= STARTUP_TARGET_MS).map((s) => s.store)
    const what = `${describeSizes(record.sizes.big)} against ${describeSizes(record.sizes.empty)}; ${record.rounds} rounds of up to ${record.sizes.samples} samples of each request on each, in blocks of ${BLOCK} a server in turn after ${record.sizes.warmup} untimed on a few users, each round on newly started servers; ratios are the medians of the rounds' (their range in brackets)`
    const verdict = [
      missed.length === 0
        ? `Every request's p99 within ${GROWTH_RATIO_TARGET}× of the nearly empty database's (median of the rounds).`
        : `**Over ${GROWTH_RATIO_TARGET}×:** ${missed.join(', ')}.`,
      slow.length === 0 ? `Start-up under ${STARTUP_TARGET_MS} ms on every start.` : `**Start-up over ${STARTUP_TARGET_MS} ms:** ${slow.join(', ')}.`,
      `Query plans on the big database (${record.stores.map((s) => `${s.store}: ${s.plans.statements} statements of ${s.plans.steps} read-only request steps`).join('; ')}): ${
        record.stores.every((s) => s.plans.scans.length === 0)
          ? 'none reads a growing table whole'
          : `**whole-table reads:** ${record.stores.flatMap((s) => s.plans.scans.map((x) => `${s.store} ${x}`)).join('; ')}`
      }.`,
      `Answers checked against the database: ${record.stores.map((s) => `${s.store} ${s.checks}`).join(', ')}. Generated in ${record.stores
        .map((s) => `${s.store} ${s.generatedSeconds.big === undefined ? 'an earlier run (cached)' : `${s.generatedSeconds.big} s`}`)
        .join(', ')}.`,
    ].join(' ')
    updatePerformanceDoc(join(import.meta.dir, '../docs/PERFORMANCE.md'), DOC_TEMPLATE, {
      growth: [runLine(meta, [loadBefore, loadNow()], what, seconds), '', table, '', verdict].join('\n'),
    })
    writePerformanceSvg(join(import.meta.dir, '..'))
  }
  return record.ok
}

if (import.meta.main) {
  const record = await runGrowth(growthSizes(process.argv.includes('--smoke')), 1, (l) => console.error(l))
  console.log(growthTable(record))
}
