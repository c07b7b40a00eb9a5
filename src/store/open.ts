/** Picks the store for the DATABASE setting. */
import { openSqliteStore } from './sqlite.ts'
import type { Store } from './store.ts'

export function openStore(database: string): Store {
  return openSqliteStore(database)
}
