/**
 * Search reads indexes, never a table (spec §7, issue 14: 1 M messages under 50 ms at p99): the query
 * plans of both stores' search statements. SQLite walks the FTS5 trigram indexes (public, and private
 * for the caller's rooms) in descending rowid order, merged without a sort, and looks each candidate
 * up by primary key; PostgreSQL looks a string rare in public rooms up bucket by bucket in its trigram keys and
 * walks the primary key backwards for a common one, never scanning the table. Neither reads the
 * messages of private rooms the caller is not in, however many match.
 */
import { SQL } from 'bun'
import { Database } from 'bun:sqlite'
import { expect, test as sqliteTest } from 'bun:test'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { drizzle } from 'drizzle-orm/bun-sql'
import { PgDialect } from 'drizzle-orm/pg-core'
import { openPostgresStore } from '../../src/store/postgres.ts'
import { searchPlanner } from '../../src/store/postgres-search-plan.ts'
import { searchStatement } from '../../src/store/postgres-search.ts'
import { openSqliteStore } from '../../src/store/sqlite.ts'
import type { SearchQuery } from '../../src/store/search.ts'
import type { Store } from '../../src/store/store.ts'
import { ftsQuery, privateBase, SEARCH_PUBLIC_SQL, SEARCH_READABLE_SQL, SEARCH_STRETCH_SQL, searchScope, STRETCH } from '../../src/store/sqlite-search.ts'
import { requireServices } from '../support/require-services.ts'
import { startPostgres } from '../support/services.ts'
import { addUser } from './contract.ts'

const { test: pgTest } = requireServices('postgresql')

sqliteTest('SQLite: candidates come from the FTS5 index in rowid order, then one primary-key look-up each', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'chat-search-plan-'))
  try {
    await openSqliteStore(join(dir, 'chat.db')).close()
    const db = new Database(join(dir, 'chat.db'), { readonly: true, strict: true })
    const plan = (sql: string, params: Record<string, string | number | null>) =>
      db
        .query<{ detail: string }, [Record<string, string | number | null>]>(`EXPLAIN QUERY PLAN ${sql}`)
        .all(params)
        .map((r) => r.detail)
    // M: the MATCH, >: the rowid bound; no sorter, so FTS5 itself yields ascending rowids (newest first, migration 0018).
    expect(plan(SEARCH_PUBLIC_SQL, { public: ftsQuery('needle'), before: 10, chunk: 256 })).toEqual([
      expect.stringMatching(/^SCAN messages_public_fts VIRTUAL TABLE INDEX \d+:M\d*>$/),
    ])
    // A private room's stretch: the MATCH within both rowid bounds (> and <), in order, no sorter.
    const end = privateBase('team') + STRETCH
    expect(plan(SEARCH_STRETCH_SQL, { text: ftsQuery('needle'), from: end - 10, end, chunk: 256 })).toEqual([
      expect.stringMatching(/^SCAN messages_private_fts VIRTUAL TABLE INDEX \d+:M\d*(><|<>)$/),
    ])
    const readable = plan(SEARCH_READABLE_SQL, { ids: '[1,2]', room: null, user: 1, limit: 21 })
    expect(readable).toContain('SEARCH m USING INTEGER PRIMARY KEY (rowid=?)')
    expect(readable).toContain('SEARCH o USING INTEGER PRIMARY KEY (rowid=?) LEFT-JOIN')
    expect(readable).toContain('SEARCH r USING INDEX sqlite_autoindex_rooms_1 (name=?) LEFT-JOIN')
    expect(readable).toContain('SEARCH rm USING PRIMARY KEY (user_id=? AND room=?)')
    expect(readable.filter((line) => /^SCAN (m|o|r|rm|messages)\b/.test(line))).toEqual([])
    db.close()
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

/** Rows of `messages` (and entries of its indexes) a plan's nodes read, from EXPLAIN (ANALYZE, FORMAT JSON). */
type PlanNode = Record<string, unknown> & { Plans?: PlanNode[] }
function rowsRead(node: PlanNode): number {
  const own =
    node['Relation Name'] === 'messages' || String(node['Index Name'] ?? '').startsWith('messages')
      ? (Number(node['Actual Rows'] ?? 0) + Number(node['Rows Removed by Filter'] ?? 0) + Number(node['Rows Removed by Index Recheck'] ?? 0)) *
        Number(node['Actual Loops'] ?? 1)
      : 0
  return own + (node.Plans ?? []).reduce((sum, child) => sum + rowsRead(child), 0)
}

sqliteTest('SQLite: the indexes yield no candidate from private rooms the caller is not in, however many match', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'chat-search-plan-'))
  try {
    const store: Store = openSqliteStore(join(dir, 'chat.db'))
    const { id } = await addUser(store, 'alice')
    const alice = { id, username: 'alice' }
    const post = async (room: string, text: string) =>
      (await store.insertMessage({ room, user: alice, text, nonce: undefined, mentions: [], createdAt: 0 })).message.id
    expect(await store.createRoom({ name: 'vault', visibility: 'private', topic: null, owner: alice, at: 0 })).toBe(true)
    expect(await store.createRoom({ name: 'team', visibility: 'private', topic: null, owner: alice, at: 0 })).toBe(true)
    const lobby = await post('lobby', 'a needle in public')
    await Promise.all(Array.from({ length: 2000 }, (_, i) => post('vault', `needle ${i} in the vault`)))
    const team = await post('team', 'a needle for the team')
    await store.close()
    const db = new Database(join(dir, 'chat.db'), { readonly: true, strict: true })
    const ids = (sql: string, params: Record<string, string | number>) =>
      db
        .query<{ id: number }, [Record<string, string | number>]>(sql)
        .all(params)
        .map((r) => r.id)
    const page = { before: Number.MAX_SAFE_INTEGER, chunk: 5000 }
    // Someone in no private room: the public index alone. A member of `team` only: team's stretch too,
    // which holds none of the vault's 2 000 needles.
    const stretchOf = (room: string) => ({ chunk: page.chunk, from: privateBase(room), end: privateBase(room) + STRETCH })
    expect(ids(SEARCH_PUBLIC_SQL, { ...page, public: ftsQuery('needle') })).toEqual([lobby])
    expect(ids(SEARCH_STRETCH_SQL, { ...stretchOf('team'), text: ftsQuery('needle') })).toEqual([team])
    expect(ids(SEARCH_STRETCH_SQL, { ...stretchOf('team'), text: ftsQuery('vault') })).toEqual([])
    expect(ids(SEARCH_STRETCH_SQL, { ...stretchOf('vault'), text: ftsQuery('needle') })).toHaveLength(2000)
    // The text is never matched in the scope column, nor the scope in the text.
    expect(ids(SEARCH_PUBLIC_SQL, { ...page, public: ftsQuery(searchScope('lobby')) })).toEqual([])
    db.close()
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

pgTest(
  'PostgreSQL: a rare string is looked up in the public bucket keys, a common one walked down the primary key; never a scan of messages, never a row of private rooms the caller is not in',
  async () => {
    await using pg = await startPostgres()
    await (await openPostgresStore(pg.url)).close()
    const sql = new SQL(pg.url)
    try {
      // 100 public rooms: as many rooms as a server has, each few of all messages (the planner's judgement of a room).
      await sql`INSERT INTO messages (room, user_id, username, text, created_at)
        SELECT 'pub-' || (i % 100), 1, 'alice', 'common words ' || md5(i::text) || CASE WHEN i % 10000 = 0 THEN ' zyxwvut' ELSE '' END, i
        FROM generate_series(1, 50000) i`
      // Bob (2) is in `team`, not in `vault`, where every message holds `classified`.
      await sql`INSERT INTO rooms (name, last_message_id, last_active_at, visibility) VALUES ('vault', 0, 0, 'private'), ('team', 0, 0, 'private')`
      await sql`INSERT INTO room_members (room, user_id, joined_at) VALUES ('vault', 1, 0), ('team', 1, 0), ('team', 2, 0)`
      await sql`INSERT INTO messages (room, user_id, username, text, created_at, private)
        SELECT CASE WHEN i % 10 = 0 THEN 'team' ELSE 'vault' END, 1, 'alice',
          CASE WHEN i % 10 = 0 THEN 'common words for the team ' ELSE 'classified ' END || md5(i::text), 50000 + i, true
        FROM generate_series(1, 20000) i`
      const counted = sql`UPDATE rooms SET message_count = (SELECT count(*) FROM messages m WHERE m.room = rooms.name AND m.kind = 'message')`
      await counted
      await sql`ANALYZE messages`
      const dialect = new PgDialect()
      const explain = async (statement: Parameters<PgDialect['sqlToQuery']>[0], options = '') => {
        const query = dialect.sqlToQuery(statement)
        return (await sql.unsafe(`EXPLAIN ${options} ${query.sql}`, query.params as never[])) as Record<string, unknown>[]
      }
      const plan = async (statement: Parameters<PgDialect['sqlToQuery']>[0]) => (await explain(statement)).map((r) => r['QUERY PLAN']).join('\n')
      // The statement as the store plans it: judged by ANALYZE's samples, as the store judges a pattern.
      const planner = searchPlanner()
      const db = drizzle({ client: sql })
      const statement = async (query: SearchQuery) => searchStatement(query, await planner(db, query))
      const rare = await plan(await statement({ q: 'zyxwvut', userId: 2, limit: 21 }))
      expect(rare).toContain('Bitmap Index Scan on messages_public_bucket_trgm')
      expect(rare).not.toContain('Seq Scan on messages')
      const common = await plan(await statement({ q: 'common', userId: 2, limit: 21 }))
      expect(common).toContain('Index Scan Backward using messages_pkey on messages')
      expect(common).not.toContain('Seq Scan on messages')
      // 18 000 messages of `vault` match; bob's search reads none of them: what it reads is the same with 20 000 more.
      const readByBob = async () => {
        const [analysed] = await explain(await statement({ q: 'classified', userId: 2, limit: 21 }), '(ANALYZE, FORMAT JSON)')
        return rowsRead((analysed!['QUERY PLAN'] as [{ Plan: PlanNode }])[0].Plan)
      }
      const before = await readByBob()
      // At most his own team's 2 000 (rows, and index entries of them).
      expect(before).toBeLessThanOrEqual(2 * 2000)
      await sql`INSERT INTO messages (room, user_id, username, text, created_at, private)
        SELECT 'vault', 1, 'alice', 'classified ' || md5(i::text), 70000 + i, true FROM generate_series(1, 20000) i`
      await counted
      expect(await readByBob()).toBe(before)
      // Alice, a member, finds them, newest first: the newest of a busy room are walked, not its 38 000 matches read.
      const [found] = await explain(await statement({ q: 'classified', userId: 1, limit: 21 }), '(ANALYZE, FORMAT JSON)')
      const foundPlan = (found!['QUERY PLAN'] as [{ Plan: PlanNode }])[0].Plan
      expect(foundPlan['Actual Rows']).toBe(21)
      expect(rowsRead(foundPlan)).toBeLessThanOrEqual(2 * 2000)
    } finally {
      await sql.close()
    }
  },
  60_000,
)

pgTest(
  'PostgreSQL: a rare string is found bucket by bucket, newest first: pages across buckets in order, and a page read from the newest buckets alone',
  async () => {
    await using pg = await startPostgres()
    const store = await openPostgresStore(pg.url)
    const sql = new SQL(pg.url)
    try {
      const { id: alice } = await addUser(store, 'alice')
      // Buckets are blocks of 2^20 ids (migration 0020): the ids are moved on to reach buckets 2 and 3.
      const fill = (room: string, count: number) => sql`INSERT INTO messages (room, user_id, username, text, created_at)
        SELECT ${room}, 1, 'alice', 'filler ' || md5(i::text), i FROM generate_series(1, ${count}::int) i`
      const needle = async (room: string, text: string) =>
        Number((await sql`INSERT INTO messages (room, user_id, username, text, created_at) VALUES (${room}, 1, 'alice', ${text}, 0) RETURNING id`)[0].id)
      const restartAt = (id: number) => sql.unsafe(`ALTER TABLE messages ALTER COLUMN id RESTART WITH ${id}`)
      const found: number[] = [await needle('lobby', 'a Needle in bucket 0'), await needle('attic', 'needles, bucket 0')]
      await fill('lobby', 3000)
      await restartAt(2 * 2 ** 20)
      found.push(await needle('attic', 'bucket 2 has a needle'))
      await fill('attic', 900)
      found.push(await needle('lobby', 'and another NEEDLE'))
      await restartAt(3 * 2 ** 20 + 7)
      await sql`INSERT INTO rooms (name, last_message_id, last_active_at, visibility) VALUES ('vault', 0, 0, 'private')`
      await sql`INSERT INTO messages (room, user_id, username, text, created_at, private) VALUES ('vault', 1, 'alice', 'a needle nobody else may see', 0, true)`
      found.push(await needle('lobby', 'the newest needle'))
      await fill('lobby', 500)
      found.reverse()
      // Each room's count of messages, as posting keeps it: lobby's 3 503 are more than a small room's 1 000.
      await sql`INSERT INTO rooms (name, last_message_id, last_active_at, message_count)
        SELECT room, max(id), 0, count(*) FROM messages WHERE NOT private GROUP BY room`
      const db = drizzle({ client: sql })
      // Without ANALYZE's samples no string counts as common: a search is looked up bucket by bucket, but
      // in a small room, whose messages are walked whole instead.
      const unsampled = searchPlanner()
      expect((await unsampled(db, { q: 'needle', userId: alice, limit: 5 })).publicWalk).toBe(false)
      expect((await unsampled(db, { q: 'needle', userId: alice, room: 'lobby', limit: 5 })).publicWalk).toBe(false)
      expect((await unsampled(db, { q: 'needle', userId: alice, room: 'attic', limit: 5 })).publicWalk).toBe(true)

      // Page by page, as a client follows `before`: every match once, newest first, across the buckets.
      const pages: number[][] = []
      let before: number | undefined
      for (let page = 0; page < 5; page++) {
        const ids = (await store.searchMessages({ q: 'needle', userId: alice, before, limit: 2 })).map((m) => m.id)
        if (ids.length === 0) break
        pages.push(ids)
        before = ids.at(-1)
      }
      expect(pages).toEqual([found.slice(0, 2), found.slice(2, 4), found.slice(4)])
      expect((await store.searchMessages({ q: 'needle', userId: alice, room: 'attic', limit: 5 })).map((m) => m.id)).toEqual(found.slice(2, 4))
      expect((await store.searchMessages({ q: 'needle', userId: alice, room: 'lobby', before: found[0], limit: 5 })).map((m) => m.id)).toEqual(
        found.filter((_, i) => i === 1 || i === 4),
      )

      // The statement looked up bucket by bucket, as for a string ANALYZE's samples do not hold: a page of
      // one reads the newest bucket alone, a page of three the newest two.
      await sql`ANALYZE messages`
      const dialect = new PgDialect()
      const planner = searchPlanner()
      const bucketsRead = async (limit: number) => {
        const query = { q: 'needle', userId: alice, limit }
        const statement = dialect.sqlToQuery(searchStatement(query, { ...(await planner(db, query)), publicWalk: false }))
        const [explained] = (await sql.unsafe(`EXPLAIN (ANALYZE, FORMAT JSON) ${statement.sql}`, statement.params as never[])) as Record<string, unknown>[]
        const lookups: PlanNode[] = []
        const visit = (node: PlanNode) => {
          if (node['Index Name'] === 'messages_public_bucket_trgm') lookups.push(node)
          for (const child of node.Plans ?? []) visit(child)
        }
        visit((explained!['QUERY PLAN'] as [{ Plan: PlanNode }])[0].Plan)
        expect(lookups).toHaveLength(1)
        return Number(lookups[0]!['Actual Loops'])
      }
      expect(await bucketsRead(1)).toBe(1)
      expect(await bucketsRead(3)).toBe(2)
    } finally {
      await sql.close()
      await store.close()
    }
  },
  60_000,
)
