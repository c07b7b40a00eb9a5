/** Picks the store for the DATABASE setting: a postgres:// URL or a SQLite file path. */
import { isPostgresUrl } from '../config.ts'
import { settingFailure, StartupError } from '../startup.ts'
import { openPostgresStore } from './postgres.ts'
import { DatabaseInUse, describeSqliteExposure } from './sqlite-file.ts'
import { openSqliteStore } from './sqlite.ts'
import type { SqliteOptions } from './sqlite.ts'
import type { Store } from './store.ts'

export interface StoreOptions extends SqliteOptions {
  /** How long PostgreSQL gets to answer (STARTUP_TIMEOUT); without it, one attempt. */
  startupTimeoutMs?: number
}

/** Opens and migrates the store, or throws a StartupError naming DATABASE. */
export async function openStore(database: string, options: StoreOptions = {}): Promise<Store> {
  const { startupTimeoutMs, ...sqlite } = options
  if (!isPostgresUrl(database)) {
    try {
      return openSqliteStore(database, sqlite)
    } catch (err) {
      if (err instanceof DatabaseInUse)
        throw new StartupError(
          `DATABASE ${JSON.stringify(database)} is in use: ${err.message}; one server runs on a SQLite file (for several, use PostgreSQL with REDIS_URL)`,
        )
      throw settingFailure('cannot open', 'database', database, err)
    }
  }
  try {
    return await openPostgresStore(database, startupTimeoutMs)
  } catch (err) {
    // The URL is well formed (config checked it): the server behind it is what failed.
    throw settingFailure('cannot connect to', 'database', database, err, { valueAtFault: false })
  }
}

/** A start-up warning when a SQLite database file is readable by other local users (PostgreSQL: none). */
export function describeExposure(database: string): string | undefined {
  return isPostgresUrl(database) || database === ':memory:' ? undefined : describeSqliteExposure(database)
}
