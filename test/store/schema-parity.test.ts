/**
 * The two stores keep one data model: db/schema.ts (SQLite) and db/schema.pg.ts (PostgreSQL) must
 * declare the same tables, columns (name, kind of value, nullability, primary key, uniqueness, ids
 * the database assigns) and indexes (name, columns, uniqueness), but for what SQLITE_ONLY names, and each migrations folder must
 * already hold what its schema says: `bun run db:generate` on a clean tree writes nothing.
 */
import { expect, test } from 'bun:test'
import { cpSync, mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { is } from 'drizzle-orm'
import { getTableConfig as pgTableConfig, PgTable } from 'drizzle-orm/pg-core'
import { getTableConfig as sqliteTableConfig, SQLiteTable } from 'drizzle-orm/sqlite-core'
import * as pgSchema from '../../db/schema.pg.ts'
import * as sqliteSchema from '../../db/schema.ts'

const REPO = join(import.meta.dir, '..', '..')

/** What both dialects can say about a column; `generated` is SQLite's AUTOINCREMENT or a PostgreSQL identity. */
interface ColumnShape {
  name: string
  /** drizzle's dialect-neutral kind: 'number', 'string', … */
  dataType: string
  notNull: boolean
  primaryKey: boolean
  /** The name of the column's own unique constraint, if it has one. */
  unique: string | false
  generated: boolean
}

interface TableShape {
  name: string
  columns: ColumnShape[]
  primaryKeys: string[][]
  uniqueConstraints: { name: string | undefined; columns: string[] }[]
  foreignKeys: number
  checks: string[]
  indexes: { name: string | undefined; columns: (string | undefined)[]; unique: boolean }[]
}

type Config = ReturnType<typeof sqliteTableConfig> | ReturnType<typeof pgTableConfig>

function shapeOf(config: Config, generated: (column: Config['columns'][number]) => boolean): TableShape {
  return {
    name: config.name,
    columns: config.columns.map((c: Config['columns'][number]) => ({
      name: c.name,
      dataType: c.dataType,
      notNull: c.notNull,
      primaryKey: c.primary,
      unique: c.isUnique ? String(c.uniqueName) : false,
      generated: generated(c),
    })),
    primaryKeys: config.primaryKeys.map((pk) => pk.columns.map((c) => c.name)),
    uniqueConstraints: config.uniqueConstraints.map((u) => ({ name: u.name, columns: u.columns.map((c) => c.name) })),
    foreignKeys: config.foreignKeys.length,
    checks: config.checks.map((c) => c.name),
    indexes: config.indexes
      .map((i) => ({
        name: i.config.name,
        columns: i.config.columns.map((c) => ('name' in c ? c.name : '<expression>')),
        unique: i.config.unique,
      }))
      .sort((a, b) => (a.name ?? '').localeCompare(b.name ?? '')),
  }
}

/** Every table a schema module exports, by export name. */
function sqliteTables(): Record<string, TableShape> {
  return Object.fromEntries(
    Object.entries(sqliteSchema)
      .filter(([, t]) => is(t, SQLiteTable))
      .map(([key, t]) => [key, shapeOf(sqliteTableConfig(t as SQLiteTable), (c) => 'autoIncrement' in c && c.autoIncrement === true)]),
  )
}

function pgTables(): Record<string, TableShape> {
  return Object.fromEntries(
    Object.entries(pgSchema)
      .filter(([, t]) => is(t, PgTable))
      .map(([key, t]) => [key, shapeOf(pgTableConfig(t as PgTable), (c) => 'generatedIdentity' in c && c.generatedIdentity !== undefined)]),
  )
}

/**
 * What one store keeps for its own way of storing the model, and only that: SQLite's room-ordered copy
 * of history (src/store/sqlite-history.ts), which answers what PostgreSQL answers from its own cache.
 */
const SQLITE_ONLY = { messages: { columns: ['filed'], indexes: ['messages_room_filed'] } } as const

function withoutSqliteOnly(tables: Record<string, TableShape>): Record<string, TableShape> {
  const out = structuredClone(tables)
  for (const [table, only] of Object.entries(SQLITE_ONLY)) {
    const shape = out[table]!
    for (const name of only.columns) expect(shape.columns.map((c) => c.name)).toContain(name)
    for (const name of only.indexes) expect(shape.indexes.map((i) => i.name)).toContain(name)
    shape.columns = shape.columns.filter((c) => !(only.columns as readonly string[]).includes(c.name))
    shape.indexes = shape.indexes.filter((i) => !(only.indexes as readonly (string | undefined)[]).includes(i.name))
  }
  return out
}

test('the SQLite and PostgreSQL schemas declare the same tables, columns and indexes', () => {
  const sqlite = withoutSqliteOnly(sqliteTables())
  const pg = pgTables()
  // The comparison below is only as good as what it found.
  expect(Object.keys(sqlite).sort()).toEqual([
    'attachmentBlobs',
    'attachments',
    'audit',
    'incomingWebhooks',
    'invites',
    'mentions',
    'messages',
    'outgoingWebhookRooms',
    'outgoingWebhooks',
    'reactions',
    'roomMembers',
    'rooms',
    'settings',
    'userChanges',
    'users',
    'webhookDeliveries',
  ])
  expect(sqlite.users!.columns.find((c) => c.name === 'username_key')).toMatchObject({ unique: 'users_username_key_unique' })
  expect(sqlite.messages!.indexes).toContainEqual({ name: 'messages_room_message_id', columns: ['room', 'id'], unique: false })
  expect(pg).toEqual(sqlite)
})

/**
 * Runs drizzle-kit's generate for one schema into a copy of its migrations folder (the tree is not
 * touched) and returns what it printed; the copy must come out unchanged.
 */
async function generateInto(dialect: 'sqlite' | 'postgresql', schema: string, migrations: string): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'chat-drizzle-kit-'))
  try {
    cpSync(join(REPO, migrations), join(dir, 'out'), { recursive: true })
    const before = readdirSync(join(dir, 'out'), { recursive: true }).sort()
    // Run from the copy with a relative --out: drizzle-kit prefixes an absolute one with './'.
    const proc = Bun.spawn(
      [process.execPath, join(REPO, 'node_modules/drizzle-kit/bin.cjs'), 'generate', '--dialect', dialect, '--schema', join(REPO, schema), '--out', 'out'],
      {
        cwd: dir,
        // No terminal: a question (e.g. "is this a rename?") would end the run instead of waiting.
        stdin: 'ignore',
        stdout: 'pipe',
        stderr: 'pipe',
      },
    )
    const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited])
    const output = `${out}${err}`
    // drizzle-kit exits 0 even when it fails, so its words decide.
    expect({ code, output }).toEqual({ code: 0, output: expect.stringContaining('No schema changes, nothing to migrate') })
    expect(readdirSync(join(dir, 'out'), { recursive: true }).sort()).toEqual(before)
    return output
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

test('db/migrations is in step with db/schema.ts: drizzle-kit generate finds nothing to add', async () => {
  await generateInto('sqlite', 'db/schema.ts', 'db/migrations')
})

test('db/migrations-pg is in step with db/schema.pg.ts: drizzle-kit generate finds nothing to add', async () => {
  await generateInto('postgresql', 'db/schema.pg.ts', 'db/migrations-pg')
})
