/**
 * The SQLite store's attachments (spec §7): each upload's bytes are a file named by its id in the
 * `attachments` folder beside the database, private like the database (folder 0700, files 0600). An
 * upload is written to a temporary file in the same folder, synced, then renamed into place and only
 * then given its row, so a half upload or a crash leaves no file that a row points to.
 *
 * A body of declared length is copied to its file by Bun itself, as it arrives (Bun.write of the
 * stream): no JavaScript per chunk, which halves the server's time per upload; the file's first bytes
 * are then read back for the image probe. Renames made while the folder is being synced share the
 * next sync, so uploads at once pay for one folder sync, not one each.
 */
import type { Database } from 'bun:sqlite'
import { randomBytes } from 'node:crypto'
import { mkdirSync, mkdtempSync } from 'node:fs'
import { open, opendir, rename, rm, stat, type FileHandle } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { isAttachmentId, type AttachmentRecord, type AttachmentStore, type NewAttachment, type UploadBytes } from './attachments.ts'
import { whenFree } from './sqlite-file.ts'

/** Where a database's attachments live: the `attachments` folder beside the file (a temp folder for `:memory:`). */
export function attachmentFolderOf(databasePath: string): string {
  return databasePath === ':memory:' ? mkdtempSync(join(tmpdir(), 'chat-attachments-')) : join(dirname(databasePath), 'attachments')
}

/** An upload in progress: `.<random>.part`. */
const PART = /^\.[0-9a-f]{16}\.part$/
/** Writes are gathered to this size: fewer system calls than one per request chunk. */
const WRITE_BYTES = 1024 * 1024
/** Rows looked up at once when sweeping the folder. */
const SWEEP_BATCH = 500

const COLUMNS = `id, room, user_id AS userId, name, type, size, width, height, created_at AS createdAt, message_id AS messageId`

async function syncFolder(folder: string): Promise<void> {
  // A rename is durable only once the folder's entry is on disk.
  const handle = await open(folder, 'r')
  try {
    await handle.sync()
  } finally {
    await handle.close()
  }
}

/**
 * Syncs of one folder, shared: a caller waits for a sync that starts after its call (one already
 * running may have read the folder before the caller's rename), and every caller arriving meanwhile
 * shares that same next one.
 */
function folderSyncer(folder: () => string): () => Promise<void> {
  let running: Promise<void> | undefined
  let queued: Promise<void> | undefined
  const start = () => {
    const sync: Promise<void> = syncFolder(folder()).finally(() => {
      if (running === sync) running = undefined
    })
    running = sync
    return sync
  }
  return () => {
    if (!running) return start()
    queued ??= running
      .catch(() => {})
      .then(() => {
        queued = undefined
        return start()
      })
    return queued
  }
}

/** Every chunk, gathered to WRITE_BYTES a write. */
async function writeChunks(handle: FileHandle, bytes: AsyncIterable<Uint8Array>): Promise<void> {
  const pending: Uint8Array[] = []
  let buffered = 0
  const flush = async () => {
    if (buffered === 0) return
    const data = pending.length === 1 ? pending[0]! : Buffer.concat(pending, buffered)
    for (let at = 0; at < data.byteLength;) at += (await handle.write(data, at)).bytesWritten
    pending.length = 0
    buffered = 0
  }
  for await (const chunk of bytes) {
    pending.push(chunk)
    buffered += chunk.byteLength
    if (buffered >= WRITE_BYTES) await flush()
  }
  await flush()
}

/** A body of known length, copied by Bun as it arrives; then its first bytes, read back, go to `inspect` until it has seen enough. */
async function copyWhole(handle: FileHandle, path: string, whole: NonNullable<UploadBytes['whole']>): Promise<void> {
  const written = await Bun.write(Bun.file(handle.fd), new Response(whole.body))
  if (written !== whole.length) throw new Error(`an upload of ${whole.length} bytes wrote ${written}`)
  const reader = Bun.file(path).stream().getReader()
  try {
    for (let next = await reader.read(); !next.done && whole.inspect(next.value); next = await reader.read());
  } finally {
    await reader.cancel()
  }
}

/** Writes the upload to a new 0600 file at `path` and syncs it; on any failure the file is removed and the error rethrown. */
async function writeFile(path: string, bytes: UploadBytes): Promise<void> {
  const handle = await open(path, 'wx', 0o600)
  try {
    await (bytes.whole ? copyWhole(handle, path, bytes.whole) : writeChunks(handle, bytes))
    await handle.sync()
  } catch (err) {
    await handle.close().catch(() => {})
    await rm(path, { force: true })
    throw err
  }
  await handle.close()
}

export function sqliteAttachments(client: Database, databasePath: string): AttachmentStore {
  let folder: string | undefined
  /** Created on first use, 0700 like the database's own folder. */
  const folderFor = () => {
    folder ??= attachmentFolderOf(databasePath)
    mkdirSync(folder, { recursive: true, mode: 0o700 })
    return folder
  }
  const fileOf = (id: string) => join(folderFor(), id)
  const syncFolderShared = folderSyncer(folderFor)

  const q = client.query.bind(client)
  const byId = q<AttachmentRecord, [string]>(`SELECT ${COLUMNS} FROM attachments WHERE id = ?`)
  const usedBy = q<{ used: number }, [number]>(`SELECT COALESCE(SUM(size), 0) AS used FROM attachments WHERE user_id = ?`)
  const insert = q(
    `INSERT INTO attachments (id, room, user_id, name, type, size, width, height, created_at, message_id)
     VALUES ($id, $room, $userId, $name, $type, $size, $width, $height, $createdAt, NULL)`,
  )
  const removeUnused = q<{ id: string }, [number, number]>(
    `DELETE FROM attachments WHERE id IN (SELECT id FROM attachments WHERE message_id IS NULL AND created_at < ? ORDER BY created_at LIMIT ?)
     RETURNING id`,
  )
  const known = q<{ id: string }, [string]>(`SELECT id FROM attachments WHERE id IN (SELECT value FROM json_each(?))`)
  // The quota's sum and the insert in one write transaction: two uploads cannot both slip under it.
  const insertWithin = client.transaction((row: NewAttachment, quota: number) => {
    if (usedBy.get(row.userId)!.used + row.size > quota) return false
    insert.run(row)
    return true
  })

  const removeFiles = async (ids: string[]) => {
    await Promise.all(ids.filter(isAttachmentId).map((id) => rm(fileOf(id), { force: true })))
  }

  return {
    async saveAttachment(id, bytes, finish, quotaBytes) {
      if (!isAttachmentId(id)) throw new TypeError(`not an attachment id: ${JSON.stringify(id)}`)
      const dir = folderFor()
      const part = join(dir, `.${randomBytes(8).toString('hex')}.part`)
      await writeFile(part, bytes)
      let row: NewAttachment
      try {
        row = { ...finish(), id }
        await rename(part, join(dir, id))
      } catch (err) {
        await rm(part, { force: true })
        throw err
      }
      const final = join(dir, id)
      let saved = false
      try {
        await syncFolderShared()
        saved = await whenFree(() => insertWithin.immediate(row, quotaBytes))
      } finally {
        if (!saved) await rm(final, { force: true })
      }
      return saved
    },
    async findAttachment(id) {
      return isAttachmentId(id) ? (byId.get(id) ?? undefined) : undefined
    },
    async openAttachment(id) {
      if (!isAttachmentId(id)) return undefined
      const file = Bun.file(fileOf(id))
      return (await file.exists()) ? file : undefined
    },
    async attachmentBytesOf(userId) {
      return usedBy.get(userId)!.used
    },
    async removeUnusedAttachments(before, limit) {
      const ids = (await whenFree(() => removeUnused.all(before, limit))).map((r) => r.id)
      await removeFiles(ids)
      return ids
    },
    async removeOrphanAttachmentBytes(before) {
      const dir = folderFor()
      let removed = 0
      let batch: string[] = []
      const sweep = async () => {
        const rows = new Set(known.all(JSON.stringify(batch)).map((r) => r.id))
        const orphans = batch.filter((id) => !rows.has(id))
        await removeFiles(orphans)
        removed += orphans.length
        batch = []
      }
      for await (const entry of await opendir(dir)) {
        if (!entry.isFile() || !(isAttachmentId(entry.name) || PART.test(entry.name))) continue
        // A file renamed into place gets its row a moment later, an upload in progress is being written: spare the young.
        const touched = await stat(join(dir, entry.name)).then(
          (s) => s.mtimeMs,
          () => Infinity,
        )
        if (touched >= before) continue
        if (PART.test(entry.name)) {
          await rm(join(dir, entry.name), { force: true })
          removed++
          continue
        }
        batch.push(entry.name)
        if (batch.length >= SWEEP_BATCH) await sweep()
      }
      if (batch.length > 0) await sweep()
      return removed
    },
    removeAttachmentFiles: removeFiles,
  }
}
