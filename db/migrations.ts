/**
 * Bun macro: reads the generated migrations at bundle time, so they are inlined into the code
 * and the compiled binary needs no migrations folder beside it (spec §4).
 */
import { readMigrationFiles } from 'drizzle-orm/migrator'

export function readMigrations(dialect: 'sqlite' | 'postgres') {
  return readMigrationFiles({ migrationsFolder: `${import.meta.dir}/${dialect === 'sqlite' ? 'migrations' : 'migrations-pg'}` })
}
