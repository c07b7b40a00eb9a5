/** Picks the store for the DATABASE setting: a postgres:// URL or a SQLite file path. */
import { openPostgresStore } from './postgres.ts'
import { openSqliteStore } from './sqlite.ts'
import type { Store } from './store.ts'

export function isPostgresUrl(database: string): boolean {
  return /^postgres(ql)?:\/\//i.test(database)
}

export async function openStore(database: string): Promise<Store> {
  return isPostgresUrl(database) ? openPostgresStore(database) : openSqliteStore(database)
}
