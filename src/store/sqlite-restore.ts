/**
 * `chat-server restore FILE` for the SQLite store: a backup (sqlite-backup.ts) put in place as the
 * configured database, never while a server (or another chat-server command) has that database open,
 * and never half: the backup is copied beside the database, checked, and renamed over it.
 *
 * Detecting a server: it keeps its connection open in WAL mode, which holds a shared lock on the
 * database file for as long as the process runs (the OS drops it when a process dies, so a crashed
 * server does not count). A connection in `locking_mode = EXCLUSIVE` asks for the exclusive lock,
 * without waiting, and gets SQLITE_BUSY while any other process has the file open; the server is
 * never asked to do anything, so it pays nothing for this. The lock is held until the backup is in
 * place, so a server starting meanwhile waits for it on the old file; that file is then made
 * unreadable (its header zeroed, after the rename: it is no database's any more), so such a server
 * fails to start rather than run on a file no one will see again, or leave a -wal beside the new one.
 */
import { Database } from 'bun:sqlite'
import { randomBytes } from 'node:crypto'
import { closeSync, existsSync, openSync, writeSync } from 'node:fs'
import { mkdir, rename, rm } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { attachmentIdsOf, backupAttachmentFolder, copyPrivately, isNoEntry, Refused, stagingPath, syncFolder } from './sqlite-backup.ts'
import { attachmentFolderOf } from './sqlite-attachments.ts'
import { isBusy, lockExclusively } from './sqlite-file.ts'
import { MIGRATIONS } from './sqlite.ts'

/** The tables every release's schema has had since the first migration, and the migrator's own. */
const REQUIRED_TABLES = ['users', 'messages', 'settings', '__drizzle_migrations']

/**
 * The exclusive lock on `database`, or a refusal when another process has it open; undefined when
 * there is no database there yet. Closing the returned connection folds a WAL left by a crashed
 * server into the old file and removes it.
 */
function lockDatabase(database: string): Database | undefined {
  if (!existsSync(database)) return undefined
  try {
    return lockExclusively(database, { create: false })
  } catch (err) {
    if (isBusy(err)) throw new Refused(`${database} is in use by a running server or another chat-server command: stop it first`)
    throw err
  }
}

/** Why the SQLite database `db` is not a backup this chat-server can run on, or undefined when it is. */
function describeUnfit(db: Database, file: string): string | undefined {
  try {
    const check = db.query<{ integrity_check: string }, []>('PRAGMA integrity_check').all()
    if (check.length !== 1 || check[0]!.integrity_check !== 'ok') return `${file} fails SQLite's integrity check (${check[0]?.integrity_check})`
    const tables = new Set(
      db
        .query<{ name: string }, []>(`SELECT name FROM sqlite_master WHERE type = 'table'`)
        .all()
        .map((r) => r.name),
    )
    const absent = REQUIRED_TABLES.filter((t) => !tables.has(t))
    if (absent.length > 0) return `${file} is not a chat-server database (no ${absent.join(', ')} table)`
    const known = new Set(MIGRATIONS.map((m) => m.folderMillis))
    const applied = db.query<{ at: number }, []>('SELECT CAST(created_at AS INTEGER) AS at FROM __drizzle_migrations').all()
    if (applied.length === 0) return `${file} is not a chat-server database (no migration applied)`
    if (applied.some((m) => !known.has(m.at)))
      return `${file} has migrations this chat-server does not know: it was made by a newer release (restore it with that one)`
    return undefined
  } catch (err) {
    return `${file} is not a usable SQLite database (${err instanceof Error ? err.message : String(err)})`
  }
}

/** The attachment ids of the backup copied to `path`, once it has been found fit; else a refusal. */
function inspectBackup(path: string, file: string): string[] {
  const db = new Database(path, { create: false, strict: true })
  try {
    const unfit = describeUnfit(db, file)
    if (unfit) throw new Refused(unfit)
    return attachmentIdsOf(db)
  } finally {
    db.close()
  }
}

/**
 * Ids never go back (PROTOCOL.md: a client resumes from the newest id it saw; a token names its user by
 * id): each id sequence of the restored database goes on from the higher of the backup's and the
 * replaced database's, so nothing made after a rollback takes an id someone saw before it. A replaced
 * database too damaged to read (maybe why it is being restored) has no sequences to keep.
 */
function keepIdsGoingUp(lock: Database | undefined, staged: string): void {
  let old: { name: string; seq: number }[]
  try {
    // Whole numbers only: a damaged file may hold anything there, and a text or a huge seq would break the sequence.
    old =
      lock?.query<{ name: string; seq: number }, []>(`SELECT name, seq FROM sqlite_sequence WHERE typeof(seq) = 'integer' AND seq < 9007199254740991`).all() ??
      []
  } catch {
    return
  }
  const db = new Database(staged, { create: false, strict: true })
  try {
    const raise = db.query('UPDATE sqlite_sequence SET seq = max(seq, $seq) WHERE name = $name')
    const add = db.query('INSERT INTO sqlite_sequence (name, seq) SELECT $name, $seq WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = $name)')
    db.transaction(() => old.forEach((s) => (raise.run(s), add.run(s))))()
  } finally {
    db.close()
  }
}

/** A database file and the files SQLite may keep beside it (checking the copy may have made a -wal of it). */
async function removeDatabase(path: string): Promise<void> {
  await Promise.all([path, `${path}-wal`, `${path}-shm`, `${path}-journal`].map((p) => rm(p, { force: true })))
}

/**
 * Copies the attachment files `ids` from the backup's folder into the live one. A file already there
 * is the same file (ids are random and files never change), so it is kept. Each copy is written under
 * the name of an upload in progress and renamed, as uploads are, so a crash leaves only what the
 * server's cleanup removes.
 */
async function restoreAttachments(ids: string[], from: string, to: string): Promise<{ copied: number; missing: number }> {
  let copied = 0
  let missing = 0
  await mkdir(to, { recursive: true, mode: 0o700 })
  for (const id of ids) {
    const target = join(to, id)
    if (existsSync(target)) continue
    const part = join(to, `.${randomBytes(8).toString('hex')}.part`)
    try {
      await copyPrivately(join(from, id), part)
      await rename(part, target)
      copied++
    } catch (err) {
      await rm(part, { force: true })
      if (!isNoEntry(err)) throw err
      missing++
    }
  }
  await syncFolder(to)
  return { copied, missing }
}

/**
 * Renames `staged` over `database` while `lock` (if there was a database) still holds the old one. The
 * old file leaves WAL mode first, which folds its log in and removes it, so that closing the lock
 * afterwards touches no file by name (a -wal name now belongs to the new database).
 */
async function replaceDatabase(lock: Database | undefined, staged: string, database: string): Promise<void> {
  lock?.exec('PRAGMA journal_mode = DELETE')
  const old = lock && openSync(database, 'r+')
  try {
    // A -wal or hot journal left beside the old database would be replayed into the restored one.
    await Promise.all([`${database}-wal`, `${database}-shm`, `${database}-journal`].map((p) => rm(p, { force: true })))
    await rename(staged, database)
    // SQLite's 100-byte header: without it, the file is "not a database" to anyone who opens it later.
    if (old !== undefined) writeSync(old, new Uint8Array(100), 0, 100, 0)
  } finally {
    if (old !== undefined) closeSync(old)
    lock?.close()
  }
  await syncFolder(dirname(database))
}

export interface RestoreResult {
  /** Attachment files the restored database names, now in the attachments folder. */
  attachments: number
  /** Attachment files the backup lacks (told when it was made); their downloads answer 404. */
  missing: number
}

/**
 * Puts the backup `file` in place as `database`, with its attachment files. Files of the replaced
 * database that the backup does not name stay until the server's attachment cleanup removes them (an
 * hour after their last change), so every step before the final rename leaves the old database whole.
 */
export async function restoreSqlite(database: string, file: string): Promise<RestoreResult> {
  if (database === ':memory:') throw new Refused('DATABASE is :memory:, there is nothing to restore into')
  if (!existsSync(file)) throw new Refused(`there is no backup at ${file}`)
  await mkdir(dirname(database), { recursive: true, mode: 0o700 })
  const lock = lockDatabase(database)
  const staged = stagingPath(database, 'restore')
  try {
    await copyPrivately(file, staged)
    const ids = inspectBackup(staged, file)
    keepIdsGoingUp(lock, staged)
    const { missing } = await restoreAttachments(ids, backupAttachmentFolder(file), attachmentFolderOf(database))
    await replaceDatabase(lock, staged, database)
    return { attachments: ids.length - missing, missing }
  } finally {
    lock?.close()
    await removeDatabase(staged)
  }
}
