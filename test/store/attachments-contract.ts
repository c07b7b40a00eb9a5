/**
 * The attachments half of the store contract (spec §7, src/store/attachments.ts), run against every
 * store: an upload's bytes and row stored as one unit (a failure midway or over the quota leaves
 * neither), read back byte for byte in any size, the quota's sum, and the removal of uploads unused
 * past a time and of bytes no row describes.
 */
import { describe, expect, test } from 'bun:test'
import { randomBytes } from 'node:crypto'
import type { NewAttachment } from '../../src/store/attachments.ts'
import type { Store } from '../../src/store/store.ts'
import type { StoreFixture } from './contract.ts'

const T0 = Date.UTC(2026, 10, 30, 12)
const newId = () => randomBytes(16).toString('base64url')
/** A user id no other test of the file uses (the PostgreSQL fixture keeps attachments between tests). */
let users = 1_000_000 + Math.floor(Math.random() * 1_000_000)

async function* chunks(bytes: Uint8Array, size: number): AsyncGenerator<Uint8Array> {
  for (let at = 0; at < bytes.byteLength; at += size) yield bytes.slice(at, at + size)
}

const meta = (userId: number, size: number, createdAt = T0): Omit<NewAttachment, 'id'> => ({
  room: 'lobby',
  userId,
  name: 'a.bin',
  type: 'application/octet-stream',
  size,
  width: null,
  height: null,
  createdAt,
})

async function readAll(store: Store, id: string): Promise<Uint8Array | undefined> {
  const body = await store.openAttachment(id)
  return body && new Uint8Array(await new Response(body).arrayBuffer())
}

async function save(store: Store, bytes: Uint8Array, userId: number, opts: { quota?: number; createdAt?: number; chunk?: number } = {}) {
  const id = newId()
  const saved = await store.saveAttachment(id, chunks(bytes, opts.chunk ?? 1000), () => meta(userId, bytes.byteLength, opts.createdAt), opts.quota ?? 1e12)
  return { id, saved }
}

export function describeAttachmentsContract(name: string, open: () => Promise<StoreFixture>): void {
  describe(`${name} store: attachments (spec §7)`, () => {
    test('an upload is stored with its row and read back byte for byte, across chunk boundaries', async () => {
      await using f = await open()
      const user = ++users
      for (const size of [0, 1, 256 * 1024 - 1, 256 * 1024, 256 * 1024 + 1, 1024 * 1024 + 17]) {
        const bytes = new Uint8Array(randomBytes(size))
        const { id, saved } = await save(f.store, bytes, user, { chunk: 70_001 })
        expect(saved).toBe(true)
        expect(await f.store.findAttachment(id)).toEqual({ ...meta(user, size), id, messageId: null })
        expect(await readAll(f.store, id)).toEqual(bytes)
      }
    })

    test('unknown and malformed ids name nothing', async () => {
      await using f = await open()
      for (const id of [newId(), '../../chat.db', '', 'x'.repeat(22) + '/']) {
        expect(await f.store.findAttachment(id)).toBeUndefined()
        expect(await f.store.openAttachment(id)).toBeUndefined()
      }
    })

    test('bytes that fail midway, or a finish that throws, leave neither row nor bytes', async () => {
      await using f = await open()
      const user = ++users
      const id = newId()
      async function* failing() {
        yield new Uint8Array(300_000)
        throw new Error('client gone')
      }
      await expect(f.store.saveAttachment(id, failing(), () => meta(user, 300_000), 1e12)).rejects.toThrow('client gone')
      const other = newId()
      await expect(
        f.store.saveAttachment(
          other,
          chunks(new Uint8Array(10), 5),
          () => {
            throw new Error('refused')
          },
          1e12,
        ),
      ).rejects.toThrow('refused')
      for (const gone of [id, other]) {
        expect(await f.store.findAttachment(gone)).toBeUndefined()
        expect(await f.store.openAttachment(gone)).toBeUndefined()
      }
      expect(await f.store.attachmentBytesOf(user)).toBe(0)
      expect(await f.store.removeOrphanAttachmentBytes(T0 + 1e12)).toBe(0)
    })

    test('the quota counts every upload of the user, and is checked with the insert even for uploads at once', async () => {
      await using f = await open()
      const [alice, bob] = [++users, ++users]
      expect((await save(f.store, new Uint8Array(600), alice, { quota: 1000 })).saved).toBe(true)
      const over = await save(f.store, new Uint8Array(401), alice, { quota: 1000 })
      expect(over.saved).toBe(false)
      expect(await f.store.findAttachment(over.id)).toBeUndefined()
      expect(await f.store.openAttachment(over.id)).toBeUndefined()
      expect((await save(f.store, new Uint8Array(1000), bob, { quota: 1000 })).saved).toBe(true)
      const racing = await Promise.all(Array.from({ length: 6 }, () => save(f.store, new Uint8Array(150), alice, { quota: 1000 })))
      expect(racing.filter((r) => r.saved)).toHaveLength(2)
      expect(await f.store.attachmentBytesOf(alice)).toBe(900)
      expect(await f.store.attachmentBytesOf(++users)).toBe(0)
    })

    test('unused uploads created before a time are removed with their bytes, oldest first, a batch at a time', async () => {
      await using f = await open()
      const user = ++users
      const old = [await save(f.store, new Uint8Array(5), user, { createdAt: T0 - 3 }), await save(f.store, new Uint8Array(5), user, { createdAt: T0 - 2 })]
      const young = await save(f.store, new Uint8Array(5), user, { createdAt: T0 })
      // Other tests' uploads of the PostgreSQL fixture are at T0 too; none is older.
      expect(await f.store.removeUnusedAttachments(T0, 1)).toEqual([old[0]!.id])
      expect(await f.store.removeUnusedAttachments(T0, 10)).toEqual([old[1]!.id])
      expect(await f.store.removeUnusedAttachments(T0, 10)).toEqual([])
      for (const { id } of old) {
        expect(await f.store.findAttachment(id)).toBeUndefined()
        expect(await f.store.openAttachment(id)).toBeUndefined()
      }
      expect(await readAll(f.store, young.id)).toEqual(new Uint8Array(5))
      expect(await f.store.attachmentBytesOf(user)).toBe(5)
      // Removing files that are already gone (or never were) is no error.
      await f.store.removeAttachmentFiles([old[0]!.id, newId(), 'not an id'])
      expect(await readAll(f.store, young.id)).toEqual(new Uint8Array(5))
    })
  })
}
