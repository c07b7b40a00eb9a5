/**
 * The PostgreSQL store's attachments (spec §7): the bytes live in `attachment_blobs`, in chunks of
 * CHUNK_BYTES, so every instance of a cluster serves every upload. An upload's chunks and its row are
 * written in one transaction: a client that goes away mid-upload, or an instance that dies, leaves
 * nothing (the transaction rolls back). Downloads read a few chunks at a time as the client takes them.
 */
import { sql, type SQL } from 'drizzle-orm'
import type { BunSQLDatabase } from 'drizzle-orm/bun-sql'
import type * as schema from '../../db/schema.pg.ts'
import { isAttachmentId, type AttachmentRecord, type AttachmentStore } from './attachments.ts'
import { guard, LOCK_CLASS } from './postgres-connection.ts'

type Db = BunSQLDatabase<typeof schema>
type Runner = Pick<Db, 'execute'>
type Row = Record<string, unknown>
const rows = async (run: Runner, query: SQL) => (await run.execute(query)) as unknown as Row[]

/** One blob row: small enough to keep memory flat, large enough that a 10 MiB file is 40 rows. */
export const CHUNK_BYTES = 256 * 1024
/**
 * Chunks read per query when serving. The next batch is read while the client takes this one, so a
 * download holds at most two batches (4 MiB); 4 chunks cost more CPU per byte, 16 gained nothing.
 */
const READ_CHUNKS = 8
/**
 * INSERTs an upload keeps in flight on its connection: the next chunks arrive and are sent while the
 * database stores the previous ones (a lone upload is about a fifth faster than with one at a time).
 */
const WRITES_IN_FLIGHT = 4
/**
 * Uploads writing at once on this instance. Each holds a pooled connection (max 20) for its whole
 * transaction, so slow uploaders wait for one another instead of starving every other query.
 */
const UPLOAD_SLOTS = 6

/** The quota's check and the insert under one lock per user; `/` keeps the key apart from room names (rooms have no `/`). */
const lockUser = (tx: Runner, userId: number) => tx.execute(sql`SELECT pg_advisory_xact_lock(${LOCK_CLASS}, hashtext(${`attachments/${userId}`}))`)

const toRecord = (r: Row): AttachmentRecord => ({
  id: String(r.id),
  room: String(r.room),
  userId: Number(r.user_id),
  name: String(r.name),
  type: String(r.type),
  size: Number(r.size),
  width: r.width === null ? null : Number(r.width),
  height: r.height === null ? null : Number(r.height),
  createdAt: Number(r.created_at),
  messageId: r.message_id === null ? null : Number(r.message_id),
})

/** Over the quota: rolls the upload's transaction back. */
class OverQuota extends Error {}

/** A counting semaphore: `take` resolves when a slot is free; call the function it gives to free it. */
function slots(size: number) {
  let free = size
  const waiting: (() => void)[] = []
  return async (): Promise<() => void> => {
    if (free > 0) free--
    else await new Promise<void>((resolve) => waiting.push(resolve))
    return () => {
      const next = waiting.shift()
      if (next) next()
      else free++
    }
  }
}

/** Cuts a stream of chunks of any size into CHUNK_BYTES pieces (the last one shorter). */
async function* rechunk(bytes: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
  let buffer = new Uint8Array(CHUNK_BYTES)
  let filled = 0
  for await (const chunk of bytes) {
    for (let at = 0; at < chunk.byteLength;) {
      const n = Math.min(CHUNK_BYTES - filled, chunk.byteLength - at)
      buffer.set(chunk.subarray(at, at + n), filled)
      filled += n
      at += n
      if (filled === CHUNK_BYTES) {
        yield buffer
        buffer = new Uint8Array(CHUNK_BYTES)
        filled = 0
      }
    }
  }
  if (filled > 0) yield buffer.subarray(0, filled)
}

/**
 * Inserts the chunks of `bytes` as rows of `id`, WRITES_IN_FLIGHT at a time. Returns once all are in;
 * on any failure (an INSERT's, or the body's), waits for those still in flight before rethrowing, so
 * the transaction rolls back with none of its queries still running.
 */
async function writeChunks(tx: Runner, id: string, bytes: AsyncIterable<Uint8Array>): Promise<void> {
  const inFlight: Promise<unknown>[] = []
  let seq = 0
  try {
    for await (const chunk of rechunk(bytes)) {
      if (inFlight.length === WRITES_IN_FLIGHT) await inFlight.shift()
      const insert = Promise.resolve(tx.execute(sql`INSERT INTO attachment_blobs (attachment_id, seq, data) VALUES (${id}, ${seq++}, ${chunk})`))
      // Awaited in turn above or below; until then a failure must not count as unhandled.
      insert.catch(() => {})
      inFlight.push(insert)
    }
    while (inFlight.length > 0) await inFlight.shift()
  } finally {
    await Promise.allSettled(inFlight)
  }
}

export function postgresAttachments(db: Db): AttachmentStore {
  const take = slots(UPLOAD_SLOTS)

  /** Chunks `from` to `from + READ_CHUNKS` of `id`; a failure is handled (marked caught) when the reader awaits it, or never if it went away. */
  function readBatch(id: string, from: number): Promise<Row[]> {
    const batch = guard(() =>
      rows(db, sql`SELECT data FROM attachment_blobs WHERE attachment_id = ${id} AND seq >= ${from} AND seq < ${from + READ_CHUNKS} ORDER BY seq`),
    )
    batch.catch(() => {})
    return batch
  }

  /** The bytes of `id`, read a batch ahead of the reader. */
  function streamOf(id: string): ReadableStream<Uint8Array> {
    let seq = 0
    let next: Promise<Row[]> | undefined
    return new ReadableStream<Uint8Array>({
      async pull(controller) {
        const found = await (next ?? readBatch(id, seq))
        seq += READ_CHUNKS
        next = found.length === READ_CHUNKS ? readBatch(id, seq) : undefined
        // Each value is a Buffer of its own (the driver does not reuse its memory): no copy needed.
        for (const r of found) controller.enqueue(r.data as Uint8Array)
        if (found.length < READ_CHUNKS) controller.close()
      },
    })
  }

  return {
    async saveAttachment(id, bytes, finish, quotaBytes) {
      if (!isAttachmentId(id)) throw new TypeError(`not an attachment id: ${JSON.stringify(id)}`)
      const release = await take()
      try {
        return await guard(() =>
          db.transaction(async (tx) => {
            await writeChunks(tx, id, bytes)
            const row = { ...finish(), id }
            await lockUser(tx, row.userId)
            const [used] = await rows(tx, sql`SELECT COALESCE(SUM(size), 0) AS used FROM attachments WHERE user_id = ${row.userId}`)
            if (Number(used!.used) + row.size > quotaBytes) throw new OverQuota()
            await tx.execute(sql`INSERT INTO attachments (id, room, user_id, name, type, size, width, height, created_at, message_id)
              VALUES (${id}, ${row.room}, ${row.userId}, ${row.name}, ${row.type}, ${row.size}, ${row.width}, ${row.height}, ${row.createdAt}, NULL)`)
            return true
          }),
        )
      } catch (err) {
        if (err instanceof OverQuota) return false
        throw err
      } finally {
        release()
      }
    },
    findAttachment: (id) =>
      guard(async () => {
        if (!isAttachmentId(id)) return undefined
        const [row] = await rows(db, sql`SELECT * FROM attachments WHERE id = ${id}`)
        return row && toRecord(row)
      }),
    openAttachment: (id) =>
      guard(async () => {
        if (!isAttachmentId(id)) return undefined
        const [row] = await rows(db, sql`SELECT 1 AS one FROM attachments WHERE id = ${id}`)
        return row ? streamOf(id) : undefined
      }),
    attachmentBytesOf: (userId) =>
      guard(async () => {
        const [row] = await rows(db, sql`SELECT COALESCE(SUM(size), 0) AS used FROM attachments WHERE user_id = ${userId}`)
        return Number(row!.used)
      }),
    removeUnusedAttachments: (before, limit) =>
      guard(async () => {
        // One statement: a message claiming one of them meanwhile either wins (it stays) or finds it gone.
        const gone = await rows(
          db,
          sql`WITH gone AS (
              DELETE FROM attachments WHERE message_id IS NULL AND id IN (
                SELECT id FROM attachments WHERE message_id IS NULL AND created_at < ${before} ORDER BY created_at LIMIT ${limit})
              RETURNING id),
            blobs AS (DELETE FROM attachment_blobs WHERE attachment_id IN (SELECT id FROM gone))
            SELECT id FROM gone`,
        )
        return gone.map((r) => String(r.id))
      }),
    removeOrphanAttachmentBytes: () =>
      guard(async () => {
        // An upload in progress is uncommitted, so invisible here: no age is needed to spare it.
        const gone = await rows(
          db,
          sql`WITH gone AS (DELETE FROM attachment_blobs b WHERE NOT EXISTS (SELECT 1 FROM attachments a WHERE a.id = b.attachment_id)
              RETURNING attachment_id)
            SELECT count(DISTINCT attachment_id) AS n FROM gone`,
        )
        return Number(gone[0]?.n ?? 0)
      }),
    // The deletion's transaction removed the blobs with the rows.
    removeAttachmentFiles: async () => {},
  }
}
