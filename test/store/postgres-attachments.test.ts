/**
 * The PostgreSQL store's attachments beyond the store contract (src/store/postgres-attachments.ts):
 * uploads write several chunks at once and downloads read a batch ahead, so sizes around those
 * batches read back whole, and a failure with writes in flight (the body's or an INSERT's) still
 * leaves nothing and a store that keeps working.
 */
import { SQL } from 'bun'
import { expect } from 'bun:test'
import { randomBytes } from 'node:crypto'
import { CHUNK_BYTES } from '../../src/store/postgres-attachments.ts'
import { openPostgresStore } from '../../src/store/postgres.ts'
import type { Store } from '../../src/store/store.ts'
import { requireServices } from '../support/require-services.ts'
import { startPostgres, type Service } from '../support/services.ts'

const { describe, test, beforeAll, afterAll } = requireServices('postgresql')

let pg: Service
let store: Store
let admin: SQL
beforeAll(async () => {
  pg = await startPostgres()
  store = await openPostgresStore(pg.url)
  admin = new SQL(pg.url)
})
afterAll(async () => {
  await admin?.close()
  await store?.close()
  await pg?.[Symbol.asyncDispose]()
})

const newId = () => randomBytes(16).toString('base64url')
const meta = (size: number) => ({ room: 'lobby', userId: 1, name: 'a.bin', type: 'application/octet-stream', size, width: null, height: null, createdAt: 0 })

async function* pieces(bytes: Uint8Array, size: number): AsyncGenerator<Uint8Array> {
  for (let at = 0; at < bytes.byteLength; at += size) yield bytes.slice(at, at + size)
}

const blobRows = async (id: string) => Number((await admin`SELECT count(*) AS n FROM attachment_blobs WHERE attachment_id = ${id}`)[0].n)

describe('PostgreSQL attachments: chunks written and read several at a time', () => {
  test('sizes around the read batches (8 chunks) read back byte for byte, one row per chunk', async () => {
    for (const size of [8 * CHUNK_BYTES, 8 * CHUNK_BYTES + 1, 16 * CHUNK_BYTES, 17 * CHUNK_BYTES + 5]) {
      const bytes = new Uint8Array(randomBytes(size))
      const id = newId()
      expect(await store.saveAttachment(id, pieces(bytes, 100_003), () => meta(size), 1e12)).toBe(true)
      expect(await blobRows(id)).toBe(Math.ceil(size / CHUNK_BYTES))
      const body = await store.openAttachment(id)
      expect(new Uint8Array(await new Response(body!).arrayBuffer())).toEqual(bytes)
    }
  })

  test('a body that fails with chunks in flight leaves nothing, and the store keeps working', async () => {
    const id = newId()
    async function* failing() {
      yield* pieces(new Uint8Array(6 * CHUNK_BYTES), CHUNK_BYTES)
      throw new Error('client gone')
    }
    await expect(store.saveAttachment(id, failing(), () => meta(6 * CHUNK_BYTES), 1e12)).rejects.toThrow('client gone')
    expect(await blobRows(id)).toBe(0)
    expect(await store.findAttachment(id)).toBeUndefined()
    const next = newId()
    expect(await store.saveAttachment(next, pieces(new Uint8Array(CHUNK_BYTES + 1), 4096), () => meta(CHUNK_BYTES + 1), 1e12)).toBe(true)
  })

  test('an INSERT that fails while others are in flight rolls the upload back and rejects with its error', async () => {
    const id = newId()
    // A leftover chunk 2 of the same id: the upload's own chunk 2 collides with it.
    await admin`INSERT INTO attachment_blobs (attachment_id, seq, data) VALUES (${id}, 2, ${new Uint8Array([7])})`
    const size = 6 * CHUNK_BYTES
    await expect(store.saveAttachment(id, pieces(new Uint8Array(size), CHUNK_BYTES), () => meta(size), 1e12)).rejects.toThrow()
    expect(await blobRows(id)).toBe(1)
    expect(await store.findAttachment(id)).toBeUndefined()
    const next = newId()
    expect(await store.saveAttachment(next, pieces(new Uint8Array(10), 5), () => meta(10), 1e12)).toBe(true)
  })

  test('a download cancelled after its first chunk leaves the store working', async () => {
    const size = 20 * CHUNK_BYTES
    const id = newId()
    expect(await store.saveAttachment(id, pieces(new Uint8Array(size), CHUNK_BYTES), () => meta(size), 1e12)).toBe(true)
    const reader = ((await store.openAttachment(id)) as ReadableStream<Uint8Array>).getReader()
    expect((await reader.read()).value?.byteLength).toBe(CHUNK_BYTES)
    await reader.cancel()
    expect(await store.findAttachment(id)).toMatchObject({ size })
  })
})
