/**
 * Attachments (spec §7): who may upload to a room and fetch from it, what an upload is (judged from
 * its bytes: chat/image-probe.ts), its name, the size limit and the per-user quota, and the cleanup of
 * uploads that no message used within a day.
 */
import { randomBytes } from 'node:crypto'
import { AppError, ClientGone } from '../errors.ts'
import type { Logger } from '../log.ts'
import { CONVERSATION_PATHS } from '../protocol-conversation.ts'
import type { Attachment, User } from '../protocol.ts'
import type { AttachmentBody, AttachmentRecord, UploadBytes } from '../store/attachments.ts'
import type { Store } from '../store/store.ts'
import { ImageProbe, IMAGE_TYPES } from './image-probe.ts'
import type { RoomGate } from './room-access.ts'

export { isAttachmentId } from '../store/attachments.ts'

/** spec §7: an upload no message uses within this long is removed. */
export const UNUSED_TTL_MS = 24 * 60 * 60 * 1000
/** How often the cleanup runs. */
export const CLEANUP_EVERY_MS = 10 * 60 * 1000
/** Files with no row are removed once untouched this long (a file gets its row a moment after it is in place). */
export const ORPHAN_GRACE_MS = 60 * 60 * 1000
/** The longest name kept, in code points. */
export const NAME_MAX_LENGTH = 200
const DEFAULT_NAME = 'file'
const SWEEP_BATCH = 500

type AttachmentStore = Pick<
  Store,
  'saveAttachment' | 'findAttachment' | 'openAttachment' | 'attachmentBytesOf' | 'removeUnusedAttachments' | 'removeOrphanAttachmentBytes'
>

export interface AttachmentDeps {
  store: AttachmentStore
  gate: Pick<RoomGate, 'check' | 'canRead'>
  /** ATTACHMENT_MAX_BYTES: the largest upload. */
  maxBytes: number
  /** ATTACHMENT_QUOTA_BYTES: what one user's uploads may total. */
  quotaBytes: number
  now: () => number
}

/** An image type is shown inline (spec §7); anything else is only ever a download. */
export function isInlineType(type: string): boolean {
  return (IMAGE_TYPES as readonly string[]).includes(type)
}

// Controls, and the invisible marks that reorder text (a name could show as "photo.png" and be "…gnp.exe").
const UNSAFE = /[\p{Cc}\p{Zl}\p{Zp}\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\ufeff]/gu

/**
 * The name to show and offer for download: the last segment of any path the client sent, without
 * control characters or direction marks, trimmed, at most NAME_MAX_LENGTH code points; "file" when
 * nothing is left. Never used as a path on disk (files are named by id).
 */
export function sanitizeFilename(raw: string | null | undefined): string {
  const base = (raw ?? '').toWellFormed().normalize('NFC').split(/[/\\]/).pop()!
  const cleaned = Array.from(base.replace(UNSAFE, '').trim()).slice(0, NAME_MAX_LENGTH).join('').trim()
  return cleaned === '' || cleaned === '.' || cleaned === '..' ? DEFAULT_NAME : cleaned
}

/** The wire shape of an upload (spec §7). */
export function toAttachment(r: Pick<AttachmentRecord, 'id' | 'name' | 'type' | 'size' | 'width' | 'height'>): Attachment {
  const out: Attachment = { id: r.id, name: r.name, type: r.type, size: r.size, url: CONVERSATION_PATHS.attachment(r.id) }
  if (r.width !== null && r.height !== null) Object.assign(out, { width: r.width, height: r.height })
  return out
}

const newId = () => randomBytes(16).toString('base64url')

export interface Upload {
  room: string
  user: User
  filename: string | null
  /** The request body, read as it arrives. */
  body: ReadableStream<Uint8Array> | null
  /** The Content-Length the client declared, if any. */
  declaredBytes: number | undefined
}

export interface Attachments {
  /** Stores an upload (spec §7) and answers what it is; ROOM_NOT_FOUND, PAYLOAD_TOO_LARGE, ClientGone. */
  upload(upload: Upload): Promise<Attachment>
  /** The attachment and its bytes, for a reader (null: anonymous) who may read its room; NOT_FOUND otherwise, as for an unknown id. */
  open(id: string, readerId: number | null): Promise<{ record: AttachmentRecord; body: AttachmentBody }>
}

export function createAttachments({ store, gate, maxBytes, quotaBytes, now }: AttachmentDeps): Attachments {
  const tooLarge = () => new AppError('PAYLOAD_TOO_LARGE', `an attachment must be at most ${maxBytes} bytes`)
  const overQuota = () =>
    new AppError('PAYLOAD_TOO_LARGE', `your uploads would total more than your quota of ${quotaBytes} bytes; uploads no message uses are removed after 24 h`)
  const notFound = () => new AppError('NOT_FOUND', 'no such attachment')

  /** The body's chunks, fed to `probe`, refused as soon as they pass `limit` bytes (a body without a declared length can be any size). */
  async function* read(body: ReadableStream<Uint8Array> | null, limit: number, refuse: () => AppError, probe: ImageProbe, size: { n: number }) {
    if (!body) return
    const reader = body.getReader()
    try {
      for (;;) {
        const { done, value } = await reader.read()
        if (done) return
        size.n += value.byteLength
        if (size.n > limit) throw refuse()
        probe.push(value)
        yield value
      }
    } catch (err) {
      void reader.cancel().catch(() => {})
      throw err
    }
  }

  /** What the store takes: the chunks, and, when the length was declared (so within the limits, checked before), the body whole. */
  function bytesOf(body: ReadableStream<Uint8Array> | null, declared: number | undefined, chunks: AsyncGenerator<Uint8Array>, probe: ImageProbe): UploadBytes {
    if (!body || declared === undefined) return chunks
    const inspect = (chunk: Uint8Array) => {
      probe.push(chunk)
      return !probe.done
    }
    return Object.assign(chunks, { whole: { body, length: declared, inspect } })
  }

  return {
    async upload({ room, user, filename, body, declaredBytes }) {
      await gate.check(room, user.id)
      if (declaredBytes !== undefined && declaredBytes > maxBytes) throw tooLarge()
      const left = quotaBytes - (await store.attachmentBytesOf(user.id))
      if (declaredBytes !== undefined && declaredBytes > left) throw overQuota()
      const limit = Math.min(maxBytes, Math.max(0, left))
      const refuse = limit === maxBytes ? tooLarge : overQuota
      const probe = new ImageProbe()
      const size = { n: 0 }
      const id = newId()
      let row: AttachmentRecord | undefined
      const finish = () => {
        const judged = probe.result()
        const { width = null, height = null } = judged
        // A declared length is the body's length (the HTTP framing holds it to that), whichever way the store read it.
        const bytes = declaredBytes ?? size.n
        row = { id, room, userId: user.id, name: sanitizeFilename(filename), type: judged.type, size: bytes, width, height, createdAt: now(), messageId: null }
        return row
      }
      let saved: boolean
      try {
        saved = await store.saveAttachment(id, bytesOf(body, declaredBytes, read(body, limit, refuse, probe, size), probe), finish, quotaBytes)
      } catch (err) {
        // Bun rejects a body read (by JavaScript or its own copy to a file) with an AbortError when the peer closes mid-body.
        if (err instanceof Error && err.name === 'AbortError') throw new ClientGone('the client closed the connection mid-upload', { cause: err })
        throw err
      }
      if (!saved || !row) throw overQuota()
      return toAttachment(row)
    },
    async open(id, readerId) {
      const record = await store.findAttachment(id)
      if (!record || !(await gate.canRead(record.room, readerId))) throw notFound()
      const body = await store.openAttachment(id)
      if (!body) throw notFound()
      return { record, body }
    },
  }
}

/**
 * One cleanup pass at `at` (epoch ms): uploads no message used within UNUSED_TTL_MS, then bytes no
 * row describes (a deleted message's files, a crash's leftovers). Every instance may run it: each
 * removal is one statement that a second runner finds already done.
 */
export async function sweepAttachments(store: AttachmentStore, at: number): Promise<{ unused: number; orphans: number }> {
  let unused = 0
  for (;;) {
    const gone = await store.removeUnusedAttachments(at - UNUSED_TTL_MS, SWEEP_BATCH)
    unused += gone.length
    if (gone.length < SWEEP_BATCH) break
  }
  return { unused, orphans: await store.removeOrphanAttachmentBytes(at - ORPHAN_GRACE_MS) }
}

/** Runs sweepAttachments now and every `everyMs`; `stop` ends it, waiting for a pass under way. */
export function startAttachmentCleanup(store: AttachmentStore, log: Logger, now: () => number, everyMs = CLEANUP_EVERY_MS): { stop(): Promise<void> } {
  let running: Promise<void> | undefined
  const pass = () => {
    running ??= sweepAttachments(store, now())
      .then(({ unused, orphans }) => {
        if (unused + orphans > 0) log.info('attachments cleaned up', { unused, orphans })
      })
      .catch((err: unknown) => log.warn('attachment cleanup failed; trying again later', { err }))
      .finally(() => (running = undefined))
  }
  const timer = setInterval(pass, everyMs)
  timer.unref()
  pass()
  return {
    async stop() {
      clearInterval(timer)
      await running
    },
  }
}
