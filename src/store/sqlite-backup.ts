/**
 * `chat-server backup FILE` for the SQLite store: a consistent copy of the database, made while the
 * server may be running, and the attachment files that copy refers to.
 *
 * A backup is two things side by side: FILE, a plain SQLite database (`VACUUM INTO`: one read
 * transaction, so one point in time, compacted, no -wal to go with it), and `FILE.attachments/`, the
 * files named by the `attachments` rows of that copy. Both are private (0600 files, 0700 folder): the
 * database holds password hashes and, without JWT_SECRET, the signing secret.
 */
import { Database } from 'bun:sqlite'
import { randomBytes } from 'node:crypto'
import { closeSync, existsSync, openSync } from 'node:fs'
import { chmod, copyFile, mkdir, open, rename, rm } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'
import { isAttachmentId } from './attachments.ts'
import { attachmentFolderOf } from './sqlite-attachments.ts'
import { BUSY_WAIT_MS } from './sqlite-file.ts'

/** A refusal to be told to the owner as one line (exit status 1): nothing was changed. */
export class Refused extends Error {
  override name = 'Refused'
}

/** Where a backup FILE keeps its attachment files. */
export function backupAttachmentFolder(file: string): string {
  return `${file}.attachments`
}

/** A name beside `path` for something being written, so that only a rename makes it visible. */
export function stagingPath(path: string, what: string): string {
  return join(dirname(path), `.${basename(path)}.${what}-${randomBytes(6).toString('hex')}`)
}

export function isNoEntry(err: unknown): boolean {
  return err instanceof Error && 'code' in err && err.code === 'ENOENT'
}

/** Makes renames and new files in `folder` durable. */
export async function syncFolder(folder: string): Promise<void> {
  const handle = await open(folder, 'r')
  try {
    await handle.sync()
  } finally {
    await handle.close()
  }
}

/** Copies `from` to a new 0600 file `to` and syncs it. */
export async function copyPrivately(from: string, to: string): Promise<void> {
  await copyFile(from, to)
  await chmod(to, 0o600)
  const handle = await open(to, 'r+')
  try {
    await handle.sync()
  } finally {
    await handle.close()
  }
}

/** The attachment ids a database's rows name; none before the schema had attachments (migration 0008). */
export function attachmentIdsOf(db: Database): string[] {
  const table = db.query(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'attachments'`).get()
  if (!table) return []
  return db
    .query<{ id: string }, []>('SELECT id FROM attachments ORDER BY id')
    .all()
    .map((r) => r.id)
    .filter(isAttachmentId)
}

export interface BackupResult {
  attachments: number
  /** Attachment files deleted between the snapshot and their copy (their rows were deleted too). */
  missing: number
}

/**
 * Backs `database` up to `file` (and `file.attachments/`). An existing backup there is refused
 * unless `force`. Everything is written under temporary names and renamed into place at the end,
 * the database last, so an interrupted backup leaves no FILE that looks complete.
 */
export async function backupSqlite(database: string, file: string, { force = false } = {}): Promise<BackupResult> {
  const folder = backupAttachmentFolder(file)
  if (!force && (existsSync(file) || existsSync(folder))) throw new Refused(`${file} already exists (--force replaces it)`)
  if (!existsSync(database)) throw new Refused(`there is no database at ${database}`)
  const copy = stagingPath(file, 'backup')
  const files = stagingPath(folder, 'backup')
  await mkdir(dirname(file), { recursive: true, mode: 0o700 })
  try {
    // VACUUM INTO wants an empty or missing file; an empty one made here gets the private mode.
    closeSync(openSync(copy, 'wx', 0o600))
    const source = new Database(database, { create: false, strict: true })
    try {
      // A reader waits for nothing in WAL mode except a checkpoint restarting the log: wait as long as a server write would.
      source.exec(`PRAGMA busy_timeout = ${BUSY_WAIT_MS}`)
      source.query('VACUUM INTO ?').run(copy)
    } finally {
      source.close()
    }
    const snapshot = new Database(copy, { strict: true })
    let ids: string[]
    try {
      ids = attachmentIdsOf(snapshot)
    } finally {
      snapshot.close()
    }
    // Attachment files never change once their row exists, so a copy made after the snapshot is the
    // file the snapshot's row names. One that is gone was deleted after the snapshot, with its row
    // (a deleted message's, or an upload never used): it is counted, and the backup goes on.
    await mkdir(files, { mode: 0o700 })
    const live = attachmentFolderOf(database)
    let missing = 0
    for (const id of ids) {
      try {
        await copyPrivately(join(live, id), join(files, id))
      } catch (err) {
        if (!isNoEntry(err)) throw err
        missing++
      }
    }
    await syncFolder(files)
    if (force) await rm(folder, { recursive: true, force: true })
    await rename(files, folder)
    await rename(copy, file)
    await syncFolder(dirname(file))
    return { attachments: ids.length - missing, missing }
  } finally {
    await rm(copy, { force: true })
    await rm(files, { recursive: true, force: true })
  }
}
