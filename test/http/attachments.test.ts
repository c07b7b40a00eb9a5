/**
 * Spec §7 attachments over HTTP, on SQLite and PostgreSQL: `POST /api/v1/rooms/{room}/attachments`
 * (raw body, streamed; 413 PAYLOAD_TOO_LARGE as soon as ATTACHMENT_MAX_BYTES is passed, with or
 * without Content-Length; a per-user quota) and `GET /api/v1/attachments/{id}` (only for those who may
 * read the room, 404 NOT_FOUND otherwise exactly as for an unknown id). The type is judged from the
 * bytes, never from the name or the client's Content-Type: PNG, JPEG, GIF and WebP are served inline,
 * everything else (HTML and SVG included) as a download with `Content-Disposition: attachment`,
 * `Content-Security-Policy: sandbox` and `X-Content-Type-Options: nosniff`. An upload that stops
 * halfway, or is refused, leaves nothing behind; one no message used within 24 h is removed.
 */
import { SQL } from 'bun'
import { Database } from 'bun:sqlite'
import { expect } from 'bun:test'
import { existsSync, readdirSync, statSync, utimesSync, writeFileSync } from 'node:fs'
import { once } from 'node:events'
import { connect } from 'node:net'
import { join } from 'node:path'
import fc from 'fast-check'
import { sanitizeFilename, sweepAttachments } from '../../src/chat/attachments.ts'
import { CONVERSATION_PATHS } from '../../src/protocol-conversation.ts'
import { expectError } from '../support/accounts.ts'
import { request, type Account } from '../support/http.ts'
import { makePng } from '../support/images.ts'
import { addMember, cast, createRoom } from '../support/private-rooms.ts'
import type { TestServer } from '../support/server.ts'
import { STORES } from '../support/stores.ts'
import { until } from '../support/wait.ts'

const HTML = '<!doctype html><script>alert(document.domain)</script><h1>hi</h1>'
const SVG = '<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><script>alert(2)</script><circle r="5"/></svg>'
const MiB = 1024 * 1024

function upload(server: TestServer, token: string | undefined, room: string, body: BodyInit | null, filename?: string, headers: Record<string, string> = {}) {
  const query = filename === undefined ? '' : `?filename=${encodeURIComponent(filename)}`
  const auth: Record<string, string> = token === undefined ? {} : { Authorization: `Bearer ${token}` }
  return request(`${server.url}${CONVERSATION_PATHS.upload(room)}${query}`, { method: 'POST', headers: { ...auth, ...headers }, body })
}

async function download(server: TestServer, url: string, token?: string) {
  const res = await fetch(`${server.url}${url}`, { headers: token === undefined ? {} : { Authorization: `Bearer ${token}` } })
  return { res, bytes: new Uint8Array(await res.arrayBuffer()) }
}

/** A body sent chunk by chunk with no Content-Length (chunked transfer encoding). */
function chunked(total: number, chunkBytes = 64 * 1024): ReadableStream<Uint8Array> {
  let sent = 0
  return new ReadableStream({
    pull(controller) {
      if (sent >= total) return controller.close()
      const n = Math.min(chunkBytes, total - sent)
      sent += n
      controller.enqueue(new Uint8Array(n).fill(0x61))
    },
  })
}

/** Rows and stored bytes of every upload, straight from the database. */
async function stored(server: TestServer): Promise<{ rows: number; bytes: number }> {
  if (server.config.database.startsWith('postgres')) {
    const sql = new SQL(server.config.database)
    try {
      const [a] = await sql`SELECT count(*)::int AS n FROM attachments`
      const [b] = await sql`SELECT count(*)::int AS n FROM attachment_blobs`
      return { rows: a.n, bytes: b.n }
    } finally {
      await sql.close()
    }
  }
  const folder = join(server.dir, 'attachments')
  const files = existsSync(folder) ? readdirSync(folder).length : 0
  const db = new Database(server.config.database, { readonly: true })
  try {
    return { rows: (db.query('SELECT count(*) AS n FROM attachments').get() as { n: number }).n, bytes: files }
  } finally {
    db.close()
  }
}

const nothingStored = async (server: TestServer) =>
  until(async () => (await stored(server)).rows === 0 && (await stored(server)).bytes === 0, 5_000, 'nothing stored')

function expectDownloadOnly(res: Response, name: string) {
  expect(res.status).toBe(200)
  expect(res.headers.get('content-type')).toBe('application/octet-stream')
  expect(res.headers.get('content-disposition')).toBe(`attachment; filename*=UTF-8''${encodeURIComponent(name)}`)
  expect(res.headers.get('content-security-policy')).toBe('sandbox')
  expect(res.headers.get('x-content-type-options')).toBe('nosniff')
}

for (const store of STORES()) {
  store.describe(`on ${store.name}`, () => {
    const test = store.test

    test('a real PNG is stored and served inline as image/png with its width and height', async () => {
      await using server = await store.start()
      const [alice] = (await cast(server, 'alice')) as [Account]
      const png = makePng(3, 2)
      const res = await upload(server, alice.token, 'lobby', png, 'dot.png', { 'Content-Type': 'image/png' })
      expect(res.status).toBe(201)
      const { id } = res.body.data
      expect(res.body).toEqual({
        error: null,
        data: { id, name: 'dot.png', type: 'image/png', size: png.byteLength, url: `/api/v1/attachments/${id}`, width: 3, height: 2 },
      })
      expect(id).toMatch(/^[A-Za-z0-9_-]{22}$/)
      // Anyone may read a public room, anonymous readers included.
      const { res: got, bytes } = await download(server, res.body.data.url)
      expect(got.status).toBe(200)
      expect(got.headers.get('content-type')).toBe('image/png')
      expect(got.headers.get('content-disposition')).toBe(`inline; filename*=UTF-8''dot.png`)
      expect(got.headers.get('x-content-type-options')).toBe('nosniff')
      expect(got.headers.get('content-length')).toBe(String(png.byteLength))
      expect(bytes).toEqual(new Uint8Array(png))
      if (store.name === 'SQLite') {
        // Private like the database: the folder 0700, each file 0600, named by id only.
        const folder = join(server.dir, 'attachments')
        expect(statSync(folder).mode & 0o777).toBe(0o700)
        expect(statSync(join(folder, id)).mode & 0o777).toBe(0o600)
        expect(readdirSync(folder)).toEqual([id])
      }
    })

    test('HTML and an SVG with script are only ever downloads: attachment, sandbox, nosniff', async () => {
      await using server = await store.start()
      const [alice] = (await cast(server, 'alice')) as [Account]
      for (const [name, text, type] of [
        ['page.html', HTML, 'text/html'],
        ['logo.svg', SVG, 'image/svg+xml'],
      ] as const) {
        const res = await upload(server, alice.token, 'lobby', text, name, { 'Content-Type': type })
        expect(res.status).toBe(201)
        expect(res.body.data).toEqual({ id: expect.any(String), name, type: 'application/octet-stream', size: text.length, url: expect.any(String) })
        const { res: got, bytes } = await download(server, res.body.data.url)
        expectDownloadOnly(got, name)
        expect(new TextDecoder().decode(bytes)).toBe(text)
      }
    })

    test('a Range request: the bytes asked for (206) from a file on disk, the whole file (200) from PostgreSQL; past the end 416; the same headers', async () => {
      await using server = await store.start()
      const [alice] = (await cast(server, 'alice')) as [Account]
      const { url } = (await upload(server, alice.token, 'lobby', 'hello world', 'a.txt')).body.data
      const ranged = async (range: string) => {
        const res = await fetch(`${server.url}${url}`, { headers: { Range: range } })
        return { res, text: await res.text() }
      }
      const part = await ranged('bytes=0-3')
      for (const { res } of [part, await ranged('bytes=99-')]) {
        expect(res.headers.get('content-disposition')).toBe(`attachment; filename*=UTF-8''a.txt`)
        expect(res.headers.get('content-security-policy')).toBe('sandbox')
        expect(res.headers.get('x-content-type-options')).toBe('nosniff')
      }
      const fromDisk = !server.config.database.startsWith('postgres')
      expect({ status: part.res.status, text: part.text, range: part.res.headers.get('content-range') }).toEqual(
        fromDisk ? { status: 206, text: 'hell', range: 'bytes 0-3/11' } : { status: 200, text: 'hello world', range: null },
      )
      const past = await ranged('bytes=99-')
      expect({ status: past.res.status, text: past.text, range: past.res.headers.get('content-range') }).toEqual(
        fromDisk ? { status: 416, text: '', range: 'bytes */11' } : { status: 200, text: 'hello world', range: null },
      )
    })

    test('the type comes from the bytes: a PNG named .html is image/png, a "PNG" that is not one is octet-stream', async () => {
      await using server = await store.start()
      const [alice] = (await cast(server, 'alice')) as [Account]
      const renamed = await upload(server, alice.token, 'lobby', makePng(5, 7), 'evil.html', { 'Content-Type': 'text/html' })
      expect(renamed.body.data).toMatchObject({ name: 'evil.html', type: 'image/png', width: 5, height: 7 })
      expect((await download(server, renamed.body.data.url)).res.headers.get('content-type')).toBe('image/png')
      const fake = await upload(server, alice.token, 'lobby', HTML, 'photo.png', { 'Content-Type': 'image/png' })
      expect(fake.body.data).toEqual({
        id: expect.any(String),
        name: 'photo.png',
        type: 'application/octet-stream',
        size: HTML.length,
        url: expect.any(String),
      })
      expectDownloadOnly((await download(server, fake.body.data.url)).res, 'photo.png')
    })

    test('over ATTACHMENT_MAX_BYTES: 413 with a Content-Length (before reading) and without one (as soon as passed); nothing stored', async () => {
      await using server = await store.start({ config: { attachmentMaxBytes: MiB } })
      const [alice] = (await cast(server, 'alice')) as [Account]
      expectError(await upload(server, alice.token, 'lobby', new Uint8Array(MiB + 1), 'big.bin'), 413, 'PAYLOAD_TOO_LARGE')
      expectError(await upload(server, alice.token, 'lobby', chunked(3 * MiB), 'big.bin'), 413, 'PAYLOAD_TOO_LARGE')
      await nothingStored(server)
      // Exactly the limit is fine, streamed or not.
      expect((await upload(server, alice.token, 'lobby', new Uint8Array(MiB), 'max.bin')).status).toBe(201)
      expect((await upload(server, alice.token, 'lobby', chunked(MiB), 'max.bin')).body.data.size).toBe(MiB)
    })

    test('an upload that stops halfway leaves nothing behind', async () => {
      const lines: string[] = []
      await using server = await store.start({ onLog: (line) => lines.push(line) })
      const [alice] = (await cast(server, 'alice')) as [Account]
      const abort = new AbortController()
      let sent = 0
      const body = new ReadableStream<Uint8Array>({
        async pull(controller) {
          if (sent >= 2 * MiB) {
            // Half of what was announced is out: hang up.
            abort.abort()
            return
          }
          sent += 256 * 1024
          controller.enqueue(new Uint8Array(256 * 1024).fill(1))
        },
      })
      const res = fetch(`${server.directUrl}${CONVERSATION_PATHS.upload('lobby')}?filename=half.bin`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${alice.token}` },
        body,
        signal: abort.signal,
      })
      await expect(res).rejects.toThrow()
      // The server was reading it when the client hung up.
      await until(() => lines.some((l) => l.includes('client went away')), 5_000, 'the server to see the client go')
      await nothingStored(server)
      expect(await server.app.store.attachmentBytesOf(alice.user.id)).toBe(0)
    })

    test('an upload with a Content-Length that stops halfway leaves nothing behind (the server copies such a body without reading it chunk by chunk)', async () => {
      const lines: string[] = []
      await using server = await store.start({ onLog: (line) => lines.push(line) })
      const [alice] = (await cast(server, 'alice')) as [Account]
      const { hostname, port } = new URL(server.directUrl)
      const socket = connect(Number(port), hostname)
      await once(socket, 'connect')
      socket.write(
        `POST ${CONVERSATION_PATHS.upload('lobby')}?filename=half.bin HTTP/1.1\r\nHost: ${hostname}\r\n` +
          `Authorization: Bearer ${alice.token}\r\nContent-Length: ${4 * MiB}\r\n\r\n`,
      )
      // Half of what was announced is out: hang up.
      await new Promise<void>((resolve, reject) => socket.write(new Uint8Array(2 * MiB).fill(1), (err) => (err ? reject(err) : resolve())))
      socket.destroy()
      await until(() => lines.some((l) => l.includes('client went away')), 5_000, 'the server to see the client go')
      await nothingStored(server)
      expect(await server.app.store.attachmentBytesOf(alice.user.id)).toBe(0)
    })

    test('a quota per user: an upload that would pass it is 413 and stored nowhere; others are not affected', async () => {
      await using server = await store.start({ config: { attachmentQuotaBytes: 1000 } })
      const [alice, bob] = (await cast(server, 'alice', 'bob')) as [Account, Account]
      expect((await upload(server, alice.token, 'lobby', new Uint8Array(600), 'a')).status).toBe(201)
      expectError(await upload(server, alice.token, 'lobby', new Uint8Array(401), 'b'), 413, 'PAYLOAD_TOO_LARGE')
      expectError(await upload(server, alice.token, 'lobby', chunked(401, 100), 'b'), 413, 'PAYLOAD_TOO_LARGE')
      expect((await upload(server, alice.token, 'lobby', new Uint8Array(400), 'c')).status).toBe(201)
      expect(await server.app.store.attachmentBytesOf(alice.user.id)).toBe(1000)
      expect((await upload(server, bob.token, 'lobby', new Uint8Array(1000), 'd')).status).toBe(201)
      // Uploads at once cannot slip past it together: each is checked again with its insert.
      const carol = ((await cast(server, 'carol')) as [Account])[0]
      const many = await Promise.all(Array.from({ length: 5 }, () => upload(server, carol.token, 'lobby', chunked(300, 50), 'f')))
      expect(many.filter((r) => r.status === 201)).toHaveLength(3)
      expect(await server.app.store.attachmentBytesOf(carol.user.id)).toBe(900)
    })

    test("a private room's attachments: members upload and fetch; outsiders, anonymous or not, get 404 as for an unknown id", async () => {
      await using server = await store.start()
      const [, alice, bob, carol] = (await cast(server, 'root', 'alice', 'bob', 'carol')) as [Account, Account, Account, Account]
      await createRoom(server, alice, 'secret', 'private')
      await addMember(server, alice, 'secret', 'bob')
      const res = await upload(server, bob.token, 'secret', makePng(1, 1), 'plan.png')
      expect(res.status).toBe(201)
      const { url } = res.body.data
      expect((await download(server, url, alice.token)).res.status).toBe(200)
      const unknown = await request(`${server.url}${CONVERSATION_PATHS.attachment('AAAAAAAAAAAAAAAAAAAAAA')}`, {
        headers: { Authorization: `Bearer ${carol.token}` },
      })
      expectError(unknown, 404, 'NOT_FOUND')
      const outsider = await request(`${server.url}${url}`, { headers: { Authorization: `Bearer ${carol.token}` } })
      expect(outsider).toEqual(unknown)
      expectError(await request(`${server.url}${url}`), 404, 'NOT_FOUND')
      expectError(await request(`${server.url}/api/v1/attachments/..%2F..%2Fchat.db`), 404, 'NOT_FOUND')
      // Uploading: outsiders get the room's 404, nobody uploads without a token.
      expectError(await upload(server, carol.token, 'secret', 'x', 'x'), 404, 'ROOM_NOT_FOUND')
      expectError(await upload(server, undefined, 'lobby', 'x', 'x'), 401, 'TOKEN_INVALID')
      expectError(await upload(server, alice.token, 'bad room', 'x', 'x'), 400, 'ROOM_INVALID')
      // Removed from the room, bob no longer gets it.
      await request(`${server.url}/api/v1/rooms/secret/members/bob`, { method: 'DELETE', headers: { Authorization: `Bearer ${alice.token}` } })
      expectError(await request(`${server.url}${url}`, { headers: { Authorization: `Bearer ${bob.token}` } }), 404, 'NOT_FOUND')
    })

    test('an upload no message uses is removed after 24 h, with its bytes; files with no row go too', async () => {
      // From the real now: the orphan files below are aged by their real mtime, and swept at Date.now().
      let clock = Date.now()
      await using server = await store.start({ now: () => clock })
      const [alice] = (await cast(server, 'alice')) as [Account]
      const old = (await upload(server, alice.token, 'lobby', makePng(2, 2), 'old.png')).body.data
      clock += 23 * 3600_000
      const young = (await upload(server, alice.token, 'lobby', 'young', 'young.txt')).body.data
      expect(await sweepAttachments(server.app.store, clock)).toMatchObject({ unused: 0 })
      clock += 2 * 3600_000
      expect(await sweepAttachments(server.app.store, clock)).toMatchObject({ unused: 1 })
      expectError(await request(`${server.url}${old.url}`), 404, 'NOT_FOUND')
      expect((await download(server, young.url)).res.status).toBe(200)
      expect(await stored(server)).toEqual({ rows: 1, bytes: 1 })
      if (store.name === 'SQLite') {
        const orphan = join(server.dir, 'attachments', 'BBBBBBBBBBBBBBBBBBBBBB')
        writeFileSync(orphan, 'left by a deleted message')
        await sweepAttachments(server.app.store, Date.now())
        expect(existsSync(orphan)).toBe(true) // too young: it may be getting its row
        utimesSync(orphan, new Date(Date.now() - 2 * 3600_000), new Date(Date.now() - 2 * 3600_000))
        expect(await sweepAttachments(server.app.store, Date.now())).toMatchObject({ orphans: 1 })
        expect(existsSync(orphan)).toBe(false)
        expect((await download(server, young.url)).res.status).toBe(200)
      }
    })

    test('fuzz: any name and any bytes come back byte for byte, under a clean name, never inline unless an image', async () => {
      await using server = await store.start()
      const [alice] = (await cast(server, 'alice')) as [Account]
      await fc.assert(
        fc.asyncProperty(fc.option(fc.string({ unit: 'binary', maxLength: 300 })), fc.uint8Array({ maxLength: 4096 }), async (name, bytes) => {
          const res = await upload(server, alice.token, 'lobby', new Uint8Array(bytes), name ?? undefined)
          expect(res.status).toBe(201)
          const data = res.body.data
          expect(data.name).toBe(sanitizeFilename(name))
          expect(Array.from(data.name as string).length).toBeLessThanOrEqual(200)
          expect(data.name).not.toMatch(/[/\\\p{Cc}]/u)
          expect(data.size).toBe(bytes.byteLength)
          const { res: got, bytes: back } = await download(server, data.url)
          expect(back).toEqual(bytes)
          expect(got.headers.get('x-content-type-options')).toBe('nosniff')
          const disposition = got.headers.get('content-disposition')!
          expect(decodeURIComponent(disposition.replace(/^(inline|attachment); filename\*=UTF-8''/, ''))).toBe(data.name)
          if (data.type === 'application/octet-stream') expect(disposition.startsWith('attachment;')).toBe(true)
        }),
        { numRuns: Number(process.env.FUZZ_RUNS ?? 60) },
      )
    }, 60_000)
  })
}
