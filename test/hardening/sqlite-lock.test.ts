/**
 * Another process holding SQLite's write lock (a backup tool, the sqlite3 shell, a second server on
 * the same file): bun:sqlite is synchronous, so a long busy wait would freeze every socket. Sockets
 * keep answering while the lock is held, a short lock delays a write without losing it, and a lock
 * held past the store's wait turns into 503 UNAVAILABLE.
 */
import { expect, test } from 'bun:test'
import { join } from 'node:path'
import { BUSY_WAIT_MS } from '../../src/store/sqlite-file.ts'
import { register, request } from '../support/http.ts'
import { startTestServer } from '../support/server.ts'
import { openSocket } from '../support/socket.ts'

/** A child process that takes the write lock on `db`, says "locked", and holds it for `ms`. */
async function holdWriteLock(db: string, ms: number): Promise<{ released: Promise<unknown> }> {
  const script = `const { Database } = require('bun:sqlite')
const db = new Database(${JSON.stringify(db)})
db.exec('BEGIN IMMEDIATE')
db.exec("INSERT INTO settings (key, value) VALUES ('lock-holder', 'x')")
console.log('locked')
await Bun.sleep(${ms})
db.exec('ROLLBACK')
db.close()`
  const proc = Bun.spawn([process.execPath, '-e', script], { stdout: 'pipe', stderr: 'inherit' })
  const reader = proc.stdout.getReader()
  const { value } = await reader.read()
  if (!new TextDecoder().decode(value).includes('locked')) throw new Error('the lock holder did not start')
  return { released: proc.exited }
}

test('while another process holds the write lock, sockets keep answering and a sign-up gets 503 UNAVAILABLE', async () => {
  await using server = await startTestServer()
  const alice = await register(server.url, 'alice')
  await using socket = await openSocket(`${server.wsUrl}/api/v1/rooms/lobby/messages/ws`, [alice.token])
  await socket.next('welcome')
  const lock = await holdWriteLock(join(server.dir, 'chat.db'), BUSY_WAIT_MS + 1500)

  const signUp = request(`${server.url}/api/v1/users`, { json: { username: 'bob', secret: 'correct horse' } })
  // The event loop is free while the write waits: pings are answered at once, many times over.
  const started = performance.now()
  let slowest = 0
  for (let i = 0; i < 10; i++) {
    const t = performance.now()
    socket.send({ type: 'ping' })
    await socket.next('pong')
    slowest = Math.max(slowest, performance.now() - t)
    await Bun.sleep(100)
  }
  expect(slowest).toBeLessThan(500)
  expect((await request(`${server.url}/healthz`)).status).toBe(200)

  const res = await signUp
  expect({ status: res.status, type: res.body.error?.type }).toEqual({ status: 503, type: 'UNAVAILABLE' })
  expect(performance.now() - started).toBeLessThan(BUSY_WAIT_MS + 1000)
  await lock.released
  // Nothing half-written: the same sign-up goes through once the lock is gone.
  expect((await request(`${server.url}/api/v1/users`, { json: { username: 'bob', secret: 'correct horse' } })).status).toBe(201)
})

test('messages sent during a short lock are stored and broadcast in order once it is released', async () => {
  await using server = await startTestServer()
  const alice = await register(server.url, 'alice')
  await using socket = await openSocket(`${server.wsUrl}/api/v1/rooms/lobby/messages/ws`, [alice.token])
  await socket.next('welcome')
  const lock = await holdWriteLock(join(server.dir, 'chat.db'), 800)
  for (const text of ['one', 'two', 'three']) {
    socket.send({ type: 'message', text })
    await Bun.sleep(50)
  }
  socket.send({ type: 'ping' })
  await socket.next('pong')
  await lock.released
  const got = [await socket.next('message'), await socket.next('message'), await socket.next('message')]
  expect(got.map((f) => f.data.text)).toEqual(['one', 'two', 'three'])
  expect(got.map((f) => f.data.id)).toEqual([...got.map((f) => f.data.id)].sort((a, b) => a - b))
  const page = await request(`${server.url}/api/v1/rooms/lobby/messages`)
  expect(page.body.data.messages.map((m: { text: string }) => m.text)).toEqual(['one', 'two', 'three'])
})

test('a message sent while the lock outlasts the wait gets an UNAVAILABLE error frame and is not stored', async () => {
  await using server = await startTestServer()
  const alice = await register(server.url, 'alice')
  await using socket = await openSocket(`${server.wsUrl}/api/v1/rooms/lobby/messages/ws`, [alice.token])
  await socket.next('welcome')
  const lock = await holdWriteLock(join(server.dir, 'chat.db'), BUSY_WAIT_MS + 1500)
  socket.send({ type: 'message', text: 'lost?', nonce: 'n1' })
  const error = await socket.next('error')
  expect(error.error?.type).toBe('UNAVAILABLE')
  await lock.released
  socket.send({ type: 'message', text: 'after' })
  expect((await socket.next('message')).data.text).toBe('after')
  const page = await request(`${server.url}/api/v1/rooms/lobby/messages`)
  expect(page.body.data.messages.map((m: { text: string }) => m.text)).toEqual(['after'])
})
