/** The PostgreSQL connection: which failures mean "the database is away", and migrations applied once per cluster. */
import { SQL } from 'bun'
import { drizzle } from 'drizzle-orm/bun-sql'
import { readMigrations } from '../../db/migrations.ts' with { type: 'macro' }
import { AppError } from '../errors.ts'

const MIGRATIONS = readMigrations('postgres')

/** Advisory lock keys: (class, id) pairs, so they can't collide with another application's single-key locks. */
export const LOCK_CLASS = 0x63686174 // "chat"
const MIGRATION_LOCK = 1

/** True for failures of the database connection rather than of the query: those become 503 UNAVAILABLE. */
export function isUnavailable(err: unknown): boolean {
  for (let e: unknown = err; e instanceof Error; e = e.cause) {
    if (e instanceof SQL.PostgresError) {
      if (e.code !== 'ERR_POSTGRES_SERVER_ERROR') return true
      // 08: connection exception; 57P0x: server shutting down / starting; 53300: too many connections.
      return e.errno !== undefined && (e.errno.startsWith('08') || e.errno.startsWith('57P0') || e.errno === '53300')
    }
    if ('code' in e && typeof e.code === 'string' && /^(ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE|ERR_POSTGRES_)/.test(e.code)) return true
  }
  return false
}

/** True when the database refused a write for a duplicate in a unique index (Drizzle wraps the error). */
export function isUniqueViolation(err: unknown): boolean {
  for (let e: unknown = err; e instanceof Error; e = e.cause) {
    if (e instanceof SQL.PostgresError) return e.errno === '23505'
  }
  return false
}

/** Runs a store call, turning a lost database into AppError UNAVAILABLE so clients get 503 and retry. */
export async function guard<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work()
  } catch (err) {
    if (isUnavailable(err)) throw new AppError('UNAVAILABLE', 'the database is not answering; try again shortly')
    throw err
  }
}

/** Applies the embedded migrations once, even when several instances start together. */
export async function migrate(client: SQL): Promise<void> {
  const conn = await client.reserve()
  try {
    await conn`SELECT pg_advisory_lock(${LOCK_CLASS}, ${MIGRATION_LOCK})`
    try {
      const db = drizzle({ client: conn })
      const internals = db as unknown as { dialect: { migrate(m: typeof MIGRATIONS, s: unknown, c: object): Promise<void> }; session: unknown }
      await internals.dialect.migrate(MIGRATIONS, internals.session, {})
    } finally {
      await conn`SELECT pg_advisory_unlock(${LOCK_CLASS}, ${MIGRATION_LOCK})`
    }
  } finally {
    conn.release()
  }
}
