/** The SQLite file on disk: private permissions, one server per file, and waiting for a lock held by another process off the event loop. */
import { Database } from 'bun:sqlite'
import { closeSync, existsSync, mkdirSync, openSync, realpathSync, statSync } from 'node:fs'
import { dirname } from 'node:path'
import { AppError } from '../errors.ts'

/** SQLite's own wait for a lock, which blocks the event loop: short enough not to stall sockets. */
export const BUSY_TIMEOUT_MS = 20
/** How long a write keeps retrying a lock held by another process before the client gets 503. */
export const BUSY_WAIT_MS = 3000

export function isBusy(err: unknown): boolean {
  return err instanceof Error && 'code' in err && (err.code === 'SQLITE_BUSY' || err.code === 'SQLITE_LOCKED')
}

/**
 * Runs a write, retrying it off the event loop while another process holds the lock; after
 * BUSY_WAIT_MS it gives up with UNAVAILABLE (503), as a PostgreSQL outage does.
 */
export async function whenFree<T>(write: () => T): Promise<T> {
  const deadline = performance.now() + BUSY_WAIT_MS
  for (let delay = 5; ; delay = Math.min(delay * 2, 100)) {
    try {
      return write()
    } catch (err) {
      if (!isBusy(err)) throw err
      if (performance.now() + delay > deadline) throw new AppError('UNAVAILABLE', 'the database is locked by another program; try again shortly')
      await Bun.sleep(delay)
    }
  }
}

/**
 * The database holds password hashes and, unless JWT_SECRET is set, the signing secret: create its
 * folder 0700 and the file 0600 whatever the umask (SQLite gives -wal and -shm the file's mode).
 */
export function createPrivately(path: string): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 })
  if (!existsSync(path)) closeSync(openSync(path, 'a', 0o600))
}

/** A warning when an existing database file (or its -wal/-shm) can be read by other local users. */
export function describeSqliteExposure(path: string): string | undefined {
  for (const file of [path, `${path}-wal`, `${path}-shm`]) {
    let mode: number
    try {
      mode = statSync(file).mode
    } catch {
      continue
    }
    if (mode & 0o077)
      return `${file} is readable by other users (mode ${(mode & 0o777).toString(8)}); it holds password hashes and may hold the signing secret: chmod 600 it`
  }
  return undefined
}

/** A second server started on a SQLite file a server already runs on. */
export class DatabaseInUse extends Error {
  override name = 'DatabaseInUse'
}

/**
 * One server per SQLite file (docs/DEPLOY.md): a second one would store messages that the first one's
 * readers never get live, as each orders and fans out its own. A server holds an exclusive lock on a
 * file beside the database (`<database>-server.lock`) while it runs, taken before any migration; the OS
 * drops it when the process ends, crash or not, so a file left behind never blocks a start. Commands
 * (backup, users, invites) don't take it: they run beside a server. Closing the returned connection
 * lets it go.
 */
export function holdServerLock(database: string): Database {
  // Named after the file itself, not the path given: a symlink or another spelling of it locks the same.
  const path = `${realpathSync(database)}-server.lock`
  createPrivately(path)
  try {
    // Nothing is ever written to it: its journal stays in memory, not in a file beside it.
    return lockExclusively(path, { create: true, journalInMemory: true })
  } catch (err) {
    if (isBusy(err)) throw new DatabaseInUse(`another chat-server holds ${path}`)
    throw err
  }
}

/**
 * The exclusive lock on the SQLite file `path`, asked for without waiting (SQLITE_BUSY while any other
 * connection has the file open) and kept, in exclusive locking mode, until the returned connection closes.
 */
export function lockExclusively(path: string, { create, journalInMemory = false }: { create: boolean; journalInMemory?: boolean }): Database {
  const db = new Database(path, { create })
  try {
    db.exec('PRAGMA busy_timeout = 0')
    db.exec('PRAGMA locking_mode = EXCLUSIVE')
    if (journalInMemory) db.exec('PRAGMA journal_mode = MEMORY')
    // In exclusive locking mode the lock taken here is kept after the transaction ends.
    db.exec('BEGIN EXCLUSIVE')
    db.exec('COMMIT')
    return db
  } catch (err) {
    db.close()
    throw err
  }
}
