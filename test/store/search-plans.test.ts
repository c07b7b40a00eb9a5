/**
 * Search reads indexes, never a table (spec §7, issue 14: 1 M messages under 50 ms at p99): the query
 * plans of both stores' search statements. SQLite walks the FTS5 trigram index in descending rowid
 * order and looks each candidate up by primary key; PostgreSQL uses the partial trigram index for a
 * rare string and walks the primary key backwards for a common one, never scanning the table.
 */
import { SQL } from 'bun'
import { Database } from 'bun:sqlite'
import { expect, test as sqliteTest } from 'bun:test'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PgDialect } from 'drizzle-orm/pg-core'
import { openPostgresStore } from '../../src/store/postgres.ts'
import { searchStatement } from '../../src/store/postgres-search.ts'
import { openSqliteStore } from '../../src/store/sqlite.ts'
import { SEARCH_CANDIDATES_SQL, SEARCH_READABLE_SQL } from '../../src/store/sqlite-search.ts'
import { requireServices } from '../support/require-services.ts'
import { startPostgres } from '../support/services.ts'

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
    // M: the MATCH, <: the rowid bound; no sorter, so FTS5 itself yields descending rowids.
    expect(plan(SEARCH_CANDIDATES_SQL, { match: '"needle"', before: 10, chunk: 256 })).toEqual([
      expect.stringMatching(/^SCAN messages_fts VIRTUAL TABLE INDEX \d+:M\d*</),
    ])
    const readable = plan(SEARCH_READABLE_SQL, { ids: '[1,2]', room: null, user: 1, limit: 21 })
    expect(readable).toContain('SEARCH m USING INTEGER PRIMARY KEY (rowid=?)')
    expect(readable).toContain('SEARCH o USING INTEGER PRIMARY KEY (rowid=?) LEFT-JOIN')
    expect(readable).toContain('SEARCH r USING INDEX sqlite_autoindex_rooms_1 (name=?) LEFT-JOIN')
    expect(readable).toContain('SEARCH rm USING COVERING INDEX sqlite_autoindex_room_members_1 (room=? AND user_id=?)')
    expect(readable.filter((line) => /^SCAN (m|o|r|rm|messages)\b/.test(line))).toEqual([])
    db.close()
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

pgTest(
  'PostgreSQL: a rare string is read from the partial trigram index, a common one down the primary key; never a scan of messages',
  async () => {
    await using pg = await startPostgres()
    await (await openPostgresStore(pg.url)).close()
    const sql = new SQL(pg.url)
    try {
      await sql`INSERT INTO messages (room, user_id, username, text, created_at)
        SELECT 'lobby', 1, 'alice', 'common words ' || md5(i::text) || CASE WHEN i % 10000 = 0 THEN ' zyxwvut' ELSE '' END, i
        FROM generate_series(1, 50000) i`
      await sql`ANALYZE messages`
      const dialect = new PgDialect()
      const plan = async (statement: Parameters<PgDialect['sqlToQuery']>[0]) => {
        const query = dialect.sqlToQuery(statement)
        const rows = (await sql.unsafe(`EXPLAIN ${query.sql}`, query.params as never[])) as { 'QUERY PLAN': string }[]
        return rows.map((r) => r['QUERY PLAN']).join('\n')
      }
      const rare = await plan(searchStatement({ q: 'zyxwvut', userId: 1, limit: 21 }))
      expect(rare).toContain('Bitmap Index Scan on messages_text_trgm')
      expect(rare).not.toContain('Seq Scan on messages')
      const common = await plan(searchStatement({ q: 'common', userId: 1, limit: 21 }))
      expect(common).toContain('Index Scan Backward using messages_pkey on messages m')
      expect(common).not.toContain('Seq Scan on messages')
    } finally {
      await sql.close()
    }
  },
  60_000,
)
