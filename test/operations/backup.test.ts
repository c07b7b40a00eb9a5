/**
 * `chat-server backup FILE` and `chat-server restore FILE` (docs/OPERATIONS.md) as real processes on
 * real SQLite files: a backup taken while messages are being posted holds every message acknowledged
 * before it began, passes SQLite's integrity check and brings its attachments along; a restore never
 * replaces the database of a running server, refuses what is not a chat-server database, and takes
 * a server back to the moment of the backup (rollback), whatever the old database's -wal held.
 */
import { Database } from 'bun:sqlite'
import { afterEach, beforeEach, expect, test } from 'bun:test'
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Message } from '../../src/protocol.ts'
import { startChildServer, REPO_ROOT, type ChildServer } from '../support/child-server.ts'
import { register, request, type Account } from '../support/http.ts'
import { makePng } from '../support/images.ts'
import { openSocket, type TestSocket } from '../support/socket.ts'
import { withTimeout } from '../support/wait.ts'

let dir: string
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'chat-backup-'))
})
afterEach(() => rmSync(dir, { recursive: true, force: true }))

const ENV = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '' }
/** Posting as fast as the sockets allow: the per-user message limit is not what is tested here. */
const FAST = { MESSAGE_RATE: '1000000', MESSAGE_BURST: '1000000' }
const WAIT_MS = 10_000

/** Runs `chat-server <args> --db <database>` as its own process. */
async function cli(database: string, args: string[]): Promise<{ code: number; out: string; err: string }> {
  const proc = Bun.spawn([process.execPath, join(REPO_ROOT, 'src', 'main.ts'), ...args, '--db', database], { env: ENV, stdout: 'pipe', stderr: 'pipe' })
  const timer = setTimeout(() => proc.kill('SIGKILL'), 30_000)
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited])
  clearTimeout(timer)
  return { code, out: out.trim(), err: err.trim() }
}

const auth = (account: Account) => ({ Authorization: `Bearer ${account.token}` })

async function upload(server: ChildServer, account: Account, room: string, name: string, bytes: Uint8Array<ArrayBuffer>): Promise<string> {
  const res = await request(`${server.url}/api/v1/rooms/${room}/attachments?filename=${name}`, { method: 'POST', headers: auth(account), body: bytes })
  if (res.status !== 201) throw new Error(`upload failed: ${res.status} ${JSON.stringify(res.body)}`)
  return res.body.data.id
}

/** Posts `fields` and waits for the server's copy of it (the acknowledgement: it is stored by then). */
async function post(socket: TestSocket, fields: Record<string, unknown>): Promise<Message> {
  const nonce = crypto.randomUUID()
  const start = socket.frames.length
  socket.send({ type: 'message', nonce, ...fields })
  for (;;) {
    const frame = await withTimeout(socket.next(), WAIT_MS, `the acknowledgement of ${nonce}`)
    if (frame.type === 'error') throw new Error(`post refused: ${JSON.stringify(frame.error)} (frame ${start})`)
    if (frame.type === 'message' && frame.data.nonce === nonce) return frame.data
  }
}

/** Every message of `room`, oldest first, read page by page through the REST history. */
async function wholeHistory(server: ChildServer, room: string): Promise<Message[]> {
  const pages: Message[][] = []
  let before = ''
  for (let page = 0; page < 1000; page++) {
    const res = await request(`${server.url}/api/v1/rooms/${room}/messages?limit=200${before}`)
    if (res.status !== 200) throw new Error(`history failed: ${res.status} ${JSON.stringify(res.body)}`)
    const { messages, hasMore } = res.body.data as { messages: Message[]; hasMore: boolean }
    pages.unshift(messages)
    if (!hasMore || messages.length === 0) return pages.flat()
    before = `&before=${messages[0]!.id}`
  }
  throw new Error(`${room} has more history than the test reads`)
}

function integrityOf(path: string): string {
  const db = new Database(path, { readonly: true })
  try {
    return db.query<{ integrity_check: string }, []>('PRAGMA integrity_check').get()!.integrity_check
  } finally {
    db.close()
  }
}

function writeDatabase(path: string, sql: string): void {
  const db = new Database(path)
  try {
    db.exec(sql)
  } finally {
    db.close()
  }
}

test('a backup under write load, restored into a fresh data folder: every message acknowledged before it began, integrity_check ok, attachments download', async () => {
  const database = join(dir, 'live', 'chat.db')
  // In a folder that does not exist yet: backup makes it, private.
  const backup = join(dir, 'backups', 'chat.db')
  const png = makePng(3, 2)
  const blob = crypto.getRandomValues(new Uint8Array(200_000))
  let files: { id: string; bytes: Uint8Array<ArrayBuffer> }[]
  let ackedBefore: Message[]
  const acked: Message[] = []
  {
    await using server = await startChildServer({ database, env: FAST })
    const writers = await Promise.all(['ann', 'bob', 'cyd'].map((name) => register(server.url, name)))
    const sockets = await Promise.all(writers.map((w) => openSocket(`${server.wsUrl}/api/v1/rooms/load/messages/ws`, [w.token])))
    for (const socket of sockets) await withTimeout(socket.next('welcome'), WAIT_MS, 'welcome')
    files = [
      { id: await upload(server, writers[0]!, 'load', 'dot.png', png), bytes: png },
      { id: await upload(server, writers[0]!, 'load', 'data.bin', blob), bytes: blob },
      // An upload no message uses yet is part of the server's state too.
      { id: await upload(server, writers[1]!, 'load', 'unused.bin', blob.slice(0, 1000)), bytes: blob.slice(0, 1000) },
    ]
    acked.push(await post(sockets[0]!, { text: 'two files', attachments: [files[0]!.id, files[1]!.id] }))

    let writing = true
    const load = sockets.map(async (socket, i) => {
      for (let n = 0; writing; n++) acked.push(await post(socket, { text: `${writers[i]!.user.username} ${n}` }))
    })
    // Writes are under way (a few hundred stored) before the backup starts, and go on while it runs.
    const started = performance.now()
    while (acked.length < 300 && performance.now() - started < WAIT_MS) await Bun.sleep(10)
    ackedBefore = [...acked]
    const made = await cli(database, ['backup', backup])
    const during = acked.length - ackedBefore.length
    const extra = performance.now()
    while (acked.length < ackedBefore.length + during + 100 && performance.now() - extra < WAIT_MS) await Bun.sleep(10)
    writing = false
    await Promise.all(load)
    expect(made).toMatchObject({ code: 0, err: '' })
    // The server went on storing messages while the backup ran.
    expect(during).toBeGreaterThan(0)
    expect(made.out).toContain('3 attachment file(s)')
    for (const socket of sockets) socket.close()
    expect(await server.stop()).toBe(0)
  }
  expect(ackedBefore.length).toBeGreaterThanOrEqual(300)
  // Private, as the database it copies: it holds password hashes and the signing secret.
  expect(statSync(backup).mode & 0o777).toBe(0o600)
  expect(statSync(`${backup}.attachments`).mode & 0o777).toBe(0o700)
  for (const { id } of files) expect(statSync(join(`${backup}.attachments`, id)).mode & 0o777).toBe(0o600)
  expect(integrityOf(backup)).toBe('ok')

  const fresh = join(dir, 'fresh', 'chat.db')
  const restored = await cli(fresh, ['restore', backup])
  expect(restored).toMatchObject({ code: 0, err: '' })
  expect(restored.out).toContain('3 attachment file(s)')
  expect(integrityOf(fresh)).toBe('ok')
  expect(statSync(fresh).mode & 0o777).toBe(0o600)

  await using server = await startChildServer({ database: fresh, env: FAST })
  const history = await wholeHistory(server, 'load')
  const ids = new Set(history.map((m) => m.id))
  expect(ackedBefore.filter((m) => !ids.has(m.id))).toEqual([])
  // Each message is as it was sent, and nothing appears that was never acknowledged or stored.
  const sent = new Map(acked.map((m) => [m.id, m]))
  for (const m of history) expect(sent.get(m.id)?.text).toBe(m.text)
  expect(history.map((m) => m.id)).toEqual([...ids].sort((a, b) => a - b))

  const login = await request(`${server.url}/api/v1/login`, { json: { username: 'ann', secret: 'correct horse battery staple' } })
  expect(login.status).toBe(200)
  for (const { id, bytes } of files) {
    const res = await fetch(`${server.url}/api/v1/attachments/${id}`, { headers: { Authorization: `Bearer ${login.body.data.token}` } })
    expect(res.status).toBe(200)
    expect(new Uint8Array(await res.arrayBuffer())).toEqual(bytes)
  }
  // The restored server takes new messages after the old ones.
  using socket = await openSocket(`${server.wsUrl}/api/v1/rooms/load/messages/ws`, [login.body.data.token])
  await withTimeout(socket.next('welcome'), WAIT_MS, 'welcome')
  expect((await post(socket, { text: 'after the restore' })).id).toBeGreaterThan(history.at(-1)!.id)

  // And a restore onto the database of a running server is refused, with the database left as it is.
  const before = readFileSync(fresh)
  const refused = await cli(fresh, ['restore', backup])
  expect(refused.code).toBe(1)
  expect(refused.err).toBe(`chat-server: ${fresh} is in use by a running server or another chat-server command: stop it first`)
  expect(readFileSync(fresh)).toEqual(before)
}, 90_000)

test('rollback: restoring the backup taken before later changes brings the server back to it, even over a -wal a killed server left', async () => {
  const database = join(dir, 'data', 'chat.db')
  const backup = join(dir, 'before.db')
  let kept: Message
  let keptFile: string
  let account: Account
  let after: Message
  let latecomer: Account
  {
    await using server = await startChildServer({ database })
    account = await register(server.url, 'owner')
    using socket = await openSocket(`${server.wsUrl}/api/v1/rooms/lobby/messages/ws`, [account.token])
    await withTimeout(socket.next('welcome'), WAIT_MS, 'welcome')
    keptFile = await upload(server, account, 'lobby', 'kept.png', makePng(1, 1))
    kept = await post(socket, { text: 'before the backup', attachments: [keptFile] })
    expect((await cli(database, ['backup', backup])).code).toBe(0)
    after = await post(socket, { text: 'after the backup' })
    latecomer = await register(server.url, 'latecomer')
    // Killed: the last writes are only in chat.db-wal, which must not be replayed into the restored database.
    server.proc.kill('SIGKILL')
    await server.exited
  }
  expect(existsSync(`${database}-wal`)).toBe(true)
  const restored = await cli(database, ['restore', backup])
  expect(restored).toMatchObject({ code: 0, err: '' })
  expect(existsSync(`${database}-wal`)).toBe(false)
  expect(integrityOf(database)).toBe('ok')

  await using server = await startChildServer({ database })
  expect((await wholeHistory(server, 'lobby')).map((m) => m.text)).toEqual([kept.text])
  expect((await request(`${server.url}/api/v1/login`, { json: { username: 'latecomer', secret: 'x' } })).body.error.type).toBe('USER_NOT_FOUND')
  // The JWT secret came back with the database: a token from before the backup is still good.
  expect((await request(`${server.url}/api/v1/users/me`, { headers: auth(account) })).status).toBe(200)
  expect((await fetch(`${server.url}/api/v1/attachments/${keptFile}`, { headers: auth(account) })).status).toBe(200)
  // Ids go on from the replaced database's, never back: a client resuming from the newest id it saw
  // gets what is posted now, and the rolled-back account's token names no one new.
  const newcomer = await register(server.url, 'newcomer')
  expect(newcomer.user.id).toBeGreaterThan(latecomer.user.id)
  expect((await request(`${server.url}/api/v1/users/me`, { headers: auth(latecomer) })).status).toBe(401)
  using socket = await openSocket(`${server.wsUrl}/api/v1/rooms/lobby/messages/ws?since=${after.id}`, [newcomer.token])
  await withTimeout(socket.next('welcome'), WAIT_MS, 'welcome')
  const now = await post(socket, { text: 'after the restore' })
  expect(now.id).toBeGreaterThan(after.id)
  using resumed = await openSocket(`${server.wsUrl}/api/v1/rooms/lobby/messages/ws?since=${after.id}`)
  expect((await withTimeout(resumed.next('welcome'), WAIT_MS, 'welcome')).data.history.map((m: Message) => m.id)).toEqual([now.id])
}, 60_000)

test('backup refuses to overwrite a backup unless --force, and to run without a database (creating none)', async () => {
  const database = join(dir, 'data', 'chat.db')
  const backup = join(dir, 'b.db')
  const missing = await cli(database, ['backup', backup])
  expect(missing).toMatchObject({ code: 1, err: `chat-server: there is no database at ${database}` })
  expect(existsSync(database)).toBe(false)
  {
    await using server = await startChildServer({ database })
    await register(server.url, 'first')
    expect((await cli(database, ['backup', backup])).code).toBe(0)
    await register(server.url, 'second')
    const again = await cli(database, ['backup', backup])
    expect(again).toMatchObject({ code: 1, err: `chat-server: ${backup} already exists (--force replaces it)` })
    const users = () => {
      const db = new Database(backup, { readonly: true })
      try {
        return db.query<{ n: number }, []>('SELECT count(*) AS n FROM users').get()!.n
      } finally {
        db.close()
      }
    }
    expect(users()).toBe(1)
    expect((await cli(database, ['backup', backup, '--force'])).code).toBe(0)
    expect(users()).toBe(2)
  }
  // Nothing is left under a temporary name.
  expect(Bun.spawnSync(['ls', '-A', dir]).stdout.toString().trim().split('\n').sort()).toEqual(['b.db', 'b.db.attachments', 'data'])
  expect((await cli(database, ['backup'])).code).toBe(2)
})

test('restore refuses what is not a chat-server database, or one from a newer release, and leaves the database as it was', async () => {
  const database = join(dir, 'data', 'chat.db')
  const backup = join(dir, 'good.db')
  {
    await using server = await startChildServer({ database })
    await register(server.url, 'owner')
  }
  expect((await cli(database, ['backup', backup])).code).toBe(0)
  const original = readFileSync(database)
  const listing = () =>
    Bun.spawnSync(['ls', '-A', join(dir, 'data')])
      .stdout.toString()
      .trim()
      .split('\n')
  const files = listing()
  const refuse = async (file: string, reason: string) => {
    const res = await cli(database, ['restore', file])
    expect(res).toMatchObject({ code: 1, out: '' })
    expect(res.err).toStartWith(`chat-server: ${file} `)
    expect(res.err).toContain(reason)
    expect(res.err.split('\n')).toHaveLength(1)
    expect(readFileSync(database)).toEqual(original)
  }
  expect(await cli(database, ['restore', join(dir, 'nothing.db')])).toMatchObject({
    code: 1,
    err: `chat-server: there is no backup at ${join(dir, 'nothing.db')}`,
  })
  const text = join(dir, 'notes.txt')
  writeFileSync(text, 'not a database at all, just some text that is long enough to have a header\n'.repeat(20))
  await refuse(text, 'not a usable SQLite database')
  const other = join(dir, 'other.db')
  writeDatabase(other, 'CREATE TABLE notes (body TEXT); INSERT INTO notes VALUES (1)')
  await refuse(other, 'is not a chat-server database (no users, messages, settings, __drizzle_migrations table)')
  const newer = join(dir, 'newer.db')
  writeFileSync(newer, readFileSync(backup))
  writeDatabase(newer, `INSERT INTO __drizzle_migrations (hash, created_at) VALUES ('future', ${Date.UTC(2100, 0, 1)})`)
  await refuse(newer, 'made by a newer release')
  // Nothing was written beside the database.
  expect(listing()).toEqual(files)
})

test('with a PostgreSQL DATABASE, backup and restore point to pg_dump and pg_restore (one line, status 1)', async () => {
  const url = 'postgres://chat@127.0.0.1:1/chat'
  const backup = await cli(url, ['backup', join(dir, 'b.db')])
  expect(backup).toMatchObject({ code: 1, out: '' })
  expect(backup.err).toBe('chat-server: backup works on a SQLite DATABASE; with PostgreSQL, which holds the attachments too, use pg_dump (docs/OPERATIONS.md)')
  const restore = await cli(url, ['restore', join(dir, 'b.db')])
  expect(restore.code).toBe(1)
  expect(restore.err).toContain('use pg_restore (docs/OPERATIONS.md)')
})
