/**
 * Bun macro: reads the generated migrations at bundle time, so they are inlined into the code
 * and the compiled binary needs no migrations folder beside it (spec §4).
 */
import { readMigrationFiles } from 'drizzle-orm/migrator'

export function readMigrations() {
  return readMigrationFiles({ migrationsFolder: `${import.meta.dir}/migrations` })
}
