/**
 * A database at an older schema, for tests of what a migration does to data stored before it: only
 * the first `n` migrations of a store's folder are applied, by Drizzle's own migrator.
 */
import type { SQL } from 'bun'
import { Database } from 'bun:sqlite'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { drizzle as pgDrizzle } from 'drizzle-orm/bun-sql'
import { drizzle as sqliteDrizzle } from 'drizzle-orm/bun-sqlite'
import { readMigrationFiles } from 'drizzle-orm/migrator'

const firstOf = (folder: string, n: number) => readMigrationFiles({ migrationsFolder: join(import.meta.dir, '../../db', folder) }).slice(0, n)

type Migrator = { dialect: { migrate(m: ReturnType<typeof firstOf>, s: unknown, c: object): unknown }; session: unknown }

/** Applies SQLite's migrations 0000 to `n - 1`. */
function migrateSqliteTo(client: Database, n: number): void {
  const internals = sqliteDrizzle({ client }) as unknown as Migrator
  internals.dialect.migrate(firstOf('migrations', n), internals.session, {})
}

/**
 * A SQLite file in a temp folder at the schema of migrations 0000 to `n - 1`, filled by `fill` (whose
 * answer is `filled`) and closed, ready for a store to open; the folder goes when it is disposed.
 */
export function oldSqliteFile<T>(n: number, fill: (client: Database) => T): { file: string; filled: T; [Symbol.dispose](): void } {
  const dir = mkdtempSync(join(tmpdir(), 'chat-old-schema-'))
  const file = join(dir, 'chat.db')
  const client = new Database(file, { create: true, strict: true })
  try {
    migrateSqliteTo(client, n)
    return { file, filled: fill(client), [Symbol.dispose]: () => rmSync(dir, { recursive: true, force: true }) }
  } catch (err) {
    rmSync(dir, { recursive: true, force: true })
    throw err
  } finally {
    client.close()
  }
}

/** Applies PostgreSQL's migrations 0000 to `n - 1`. */
export async function migratePostgresTo(client: SQL, n: number): Promise<void> {
  const internals = pgDrizzle({ client }) as unknown as Migrator
  await internals.dialect.migrate(firstOf('migrations-pg', n), internals.session, {})
}
