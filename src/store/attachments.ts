/**
 * The attachments half of the store contract (spec §7), implemented by every store: an upload's
 * metadata (the `attachments` table) and its bytes (SQLite: a file in the data folder; PostgreSQL:
 * `attachment_blobs`, so every instance serves it). An upload is unused (`messageId` null) until a
 * message claims it in the message's own transaction (stream.ts); one no message uses within a day is
 * removed by the cleanup (chat/attachments.ts).
 */

/** An upload as stored. */
export interface AttachmentRecord {
  /** 22 characters of base64url (128 random bits): see isAttachmentId. */
  id: string
  room: string
  userId: number
  name: string
  /** Judged from the bytes (chat/attachments.ts): image/png, image/jpeg, image/gif, image/webp or application/octet-stream. */
  type: string
  size: number
  width: number | null
  height: number | null
  /** Epoch ms. */
  createdAt: number
  /** The message that carries it; null while unused. */
  messageId: number | null
}

/** What an upload's row is made of once its bytes are all in: everything but the message. */
export type NewAttachment = Omit<AttachmentRecord, 'messageId'>

/**
 * The bytes of an attachment, ready to be a Response body: a Blob (SQLite: the file itself, so Bun
 * can send it with sendfile) or a stream (PostgreSQL: chunks read as the client takes them).
 */
export type AttachmentBody = Blob | ReadableStream<Uint8Array>

/** An attachment id: what the server generates (128 random bits, base64url). Anything else names no attachment. */
export function isAttachmentId(id: string): boolean {
  return /^[A-Za-z0-9_-]{22}$/.test(id)
}

/**
 * An upload's bytes: its chunks in order as they arrive (the caller counts and judges each one as it
 * passes). With `whole`, the length is fixed in advance within every limit (a declared Content-Length,
 * which the HTTP framing holds the body to), and a store may instead copy `whole.body` as the runtime
 * streams it, with no JavaScript per chunk; it must then show the stored bytes, from the first, to
 * `whole.inspect` until that returns false. A store reads one or the other, never both.
 */
export interface UploadBytes extends AsyncIterable<Uint8Array> {
  readonly whole?: { body: ReadableStream<Uint8Array>; length: number; inspect(chunk: Uint8Array): boolean }
}

export interface AttachmentStore {
  /**
   * Stores upload `id`: every byte of `bytes`, then the row `finish()` describes (called once the
   * last byte is in), as one unit. If `bytes` or `finish` throws (the client went away, a limit was
   * passed), nothing remains, neither row nor bytes, and the error is rethrown. False, with nothing
   * stored, when the user's uploads with this one would total more than `quotaBytes` (checked with
   * the insert, so two uploads at once cannot both slip under it).
   */
  saveAttachment(id: string, bytes: UploadBytes, finish: () => Omit<NewAttachment, 'id'>, quotaBytes: number): Promise<boolean>
  /** The upload's row; undefined for an unknown (or malformed) id. */
  findAttachment(id: string): Promise<AttachmentRecord | undefined>
  /** The upload's bytes; undefined when it has none (unknown id, or removed meanwhile). */
  openAttachment(id: string): Promise<AttachmentBody | undefined>
  /** Bytes of every upload of the user, used or not (the quota counts them all). */
  attachmentBytesOf(userId: number): Promise<number>
  /**
   * Removes up to `limit` uploads that no message uses, created before `before` (epoch ms), rows and
   * bytes; their ids. An upload claimed meanwhile stays (the claim and the removal exclude each other).
   */
  removeUnusedAttachments(before: number, limit: number): Promise<string[]>
  /**
   * Removes bytes that no row describes any more, untouched since before `before` (epoch ms): a
   * deleted message's files (spec §7: its attachments go with it) missed after its commit, or what a
   * crash left mid-upload. Their number.
   */
  removeOrphanAttachmentBytes(before: number): Promise<number>
  /**
   * After a deletion committed the removal of these attachments' rows (stream.ts `dropped`): their
   * bytes go now. SQLite removes the files; PostgreSQL's blobs went in the deletion's transaction.
   */
  removeAttachmentFiles(ids: string[]): Promise<void>
}
