/**
 * Limits on a room socket (spec §3, "Rules"; close codes from RFC 6455 §7.4.1 and the spec's 4xxx).
 *
 * - Rate: a token bucket per user of 20, refilled at 10 a second, shared by all of the user's
 *   sockets; only `message` frames count. The clock is injected (`now`), so refills happen when the
 *   test moves time, never by waiting.
 * - Binary frames close 1003; frames over 64 KiB close 1009 (sent by Bun itself, so the reason text
 *   is Bun's).
 * - A reader that stops reading is closed with 1013 once its send buffer passes the limit; it is
 *   built from a raw TCP socket that stops reading, as Bun's backpressure tests do. Everyone else in
 *   the room keeps getting every message.
 * - A token that expires while connected: `error` TOKEN_EXPIRED, then close 4001 TOKEN_EXPIRED (the
 *   hub's sweeper runs every 250 ms).
 * - Frames of every kind past the frame budget (FRAME_BUDGET, per user or per anonymous address):
 *   `error` RATE_LIMITED, then close 4029 CONNECTION_LIMIT (back off).
 */
import { expect, test } from 'bun:test'
import { CLOSE, LIMITS } from '../../src/protocol.ts'
import { FRAME_BUDGET } from '../../src/protocol-frames.ts'
import { register } from '../support/http.ts'
import { OPCODE, rawUpgrade, readClose, readJson } from '../support/raw-ws.ts'
import { errorFrame, post, postMany, roomWs, storedMessages } from '../support/rooms.ts'
import { startTestServer, type TestServer } from '../support/server.ts'
import { openSocket, type Frame, type TestSocket } from '../support/socket.ts'

const START = Date.parse('2026-11-28T23:00:00.000Z')

async function connect(server: TestServer, token?: string, room = 'lobby'): Promise<TestSocket> {
  const socket = await openSocket(roomWs(server, room), token === undefined ? undefined : [token])
  await socket.next('welcome')
  return socket
}

/** Sends `count` messages with nonces `<prefix>0`…, then collects one answer (echo or error) per message. */
async function burst(socket: TestSocket, count: number, prefix: string): Promise<{ accepted: string[]; errors: Frame[] }> {
  for (let i = 0; i < count; i++) socket.send({ type: 'message', text: `${prefix} ${i}`, nonce: `${prefix}${i}` })
  const accepted: string[] = []
  const errors: Frame[] = []
  while (accepted.length + errors.length < count) {
    const frame = await socket.next()
    if (frame.type === 'error') errors.push(frame)
    else if (frame.type === 'message' && String(frame.data.nonce).startsWith(prefix)) accepted.push(frame.data.nonce)
  }
  return { accepted, errors }
}

const nonces = (prefix: string, from: number, to: number) => Array.from({ length: to - from }, (_, i) => `${prefix}${from + i}`)

test('a burst of 20 messages is accepted; each one past it gets RATE_LIMITED and is not stored', async () => {
  const clock = START
  await using server = await startTestServer({ now: () => clock })
  const alice = await register(server.url, 'alice')
  using socket = await connect(server, alice.token)
  const { accepted, errors } = await burst(socket, 25, 'm')
  expect(accepted).toEqual(nonces('m', 0, 20))
  expect(errors).toEqual(Array(5).fill(errorFrame('RATE_LIMITED')))
  expect((await storedMessages(server, 'lobby')).map((m) => m.nonce)).toEqual(nonces('m', 0, 20))
})

test('the bucket refills at 10 messages a second', async () => {
  let clock = START
  await using server = await startTestServer({ now: () => clock })
  const alice = await register(server.url, 'alice')
  using socket = await connect(server, alice.token)
  expect((await burst(socket, 20, 'a')).errors).toEqual([])
  clock += 1000
  const { accepted, errors } = await burst(socket, 12, 'b')
  expect(accepted).toEqual(nonces('b', 0, 10))
  expect(errors).toEqual(Array(2).fill(errorFrame('RATE_LIMITED')))
  clock += 500
  expect((await burst(socket, 6, 'c')).accepted).toEqual(nonces('c', 0, 5))
  expect(await storedMessages(server, 'lobby')).toHaveLength(35)
})

test("the limit is shared by all of a user's sockets, and other users are unaffected", async () => {
  const clock = START
  await using server = await startTestServer({ now: () => clock })
  const alice = await register(server.url, 'alice')
  const bob = await register(server.url, 'bob')
  using tab1 = await connect(server, alice.token)
  using tab2 = await connect(server, alice.token, 'other')
  expect((await burst(tab1, 15, 'x')).errors).toEqual([])
  const second = await burst(tab2, 10, 'y')
  expect(second.accepted).toEqual(nonces('y', 0, 5))
  expect(second.errors).toEqual(Array(5).fill(errorFrame('RATE_LIMITED')))
  using b = await connect(server, bob.token)
  expect((await burst(b, 20, 'z')).errors).toEqual([])
  expect((await storedMessages(server, 'other')).map((m) => m.nonce)).toEqual(nonces('y', 0, 5))
})

test('only message frames count against the rate limit (pings do not)', async () => {
  const clock = START
  await using server = await startTestServer({ now: () => clock })
  const alice = await register(server.url, 'alice')
  using socket = await connect(server, alice.token)
  for (let i = 0; i < 50; i++) socket.send({ type: 'ping' })
  for (let i = 0; i < 50; i++) expect((await socket.next()).type).toBe('pong')
  expect((await burst(socket, 20, 'm')).errors).toEqual([])
})

test('the rate follows the messageRate and messageBurst settings', async () => {
  let clock = START
  await using server = await startTestServer({ now: () => clock, config: { messageBurst: 3, messageRate: 2 } })
  const alice = await register(server.url, 'alice')
  using socket = await connect(server, alice.token)
  expect((await burst(socket, 5, 'a')).accepted).toEqual(nonces('a', 0, 3))
  clock += 1000
  expect((await burst(socket, 3, 'b')).accepted).toEqual(nonces('b', 0, 2))
})

test("frames of any kind past the frame budget close the socket 4029 CONNECTION_LIMIT, after an error RATE_LIMITED; the user's sockets share it, other users are unaffected", async () => {
  let clock = START
  await using server = await startTestServer({ now: () => clock })
  const alice = await register(server.url, 'alice')
  const bob = await register(server.url, 'bob')
  // The defaults: MESSAGE_BURST 20 and MESSAGE_RATE 10 raise the budget's burst and rate.
  const burstOf = FRAME_BUDGET.burst + FRAME_BUDGET.perMessage * 20
  const rateOf = FRAME_BUDGET.rate + FRAME_BUDGET.perMessage * 10
  using tab1 = await connect(server, alice.token)
  using tab2 = await connect(server, alice.token, 'other')
  using watcher = await connect(server, bob.token)
  // The whole burst is answered, pings and read markers alike, over both of alice's sockets.
  for (let i = 0; i < burstOf - 10; i++) tab1.send(i % 2 === 0 ? { type: 'ping' } : { type: 'read', id: 1 })
  for (let i = 0; i < 10; i++) tab2.send({ type: 'ping' })
  for (let i = 0; i < (burstOf - 10) / 2; i++) expect((await tab1.next('pong')).type).toBe('pong')
  for (let i = 0; i < 10; i++) expect((await tab2.next('pong')).type).toBe('pong')
  // A second later, the rate's worth more.
  clock += 1000
  for (let i = 0; i < rateOf; i++) tab1.send({ type: 'ping' })
  for (let i = 0; i < rateOf; i++) expect((await tab1.next('pong')).type).toBe('pong')
  // One more, of any kind: the socket says why and is closed; nothing it sent is stored.
  tab1.send({ type: 'message', text: 'one too many' })
  expect(await tab1.next()).toEqual(errorFrame('RATE_LIMITED'))
  expect(await tab1.closed).toEqual({ code: 4029, reason: 'CONNECTION_LIMIT' })
  tab2.send({ type: 'ping' })
  expect(await tab2.closed).toEqual({ code: 4029, reason: 'CONNECTION_LIMIT' })
  expect(await storedMessages(server, 'lobby')).toEqual([])
  // bob posts and reads as before.
  expect((await post(watcher, 'still here')).text).toBe('still here')
})

test('anonymous readers of one address share a frame budget', async () => {
  const clock = START
  await using server = await startTestServer({ now: () => clock })
  const burstOf = FRAME_BUDGET.burst + FRAME_BUDGET.perMessage * 20
  using a = await connect(server)
  using b = await connect(server, undefined, 'other')
  for (let i = 0; i < burstOf; i++) (i % 2 === 0 ? a : b).send({ type: 'ping' })
  for (let i = 0; i < burstOf / 2; i++) expect([(await a.next()).type, (await b.next()).type]).toEqual(['pong', 'pong'])
  b.send({ type: 'ping' })
  expect(await b.closed).toEqual({ code: 4029, reason: 'CONNECTION_LIMIT' })
})

test('a binary frame closes the socket with 1003 BINARY_UNSUPPORTED', async () => {
  await using server = await startTestServer()
  const alice = await register(server.url, 'alice')
  const socket = await connect(server, alice.token)
  socket.sendRaw(new TextEncoder().encode(JSON.stringify({ type: 'message', text: 'as bytes' })))
  expect(await socket.closed).toEqual(CLOSE.BINARY_UNSUPPORTED)
  expect(socket.frames.map((f) => f.type)).toEqual(['welcome'])
  expect(await storedMessages(server, 'lobby')).toEqual([])
})

test('a binary frame from a read-only socket closes it with 1003 too', async () => {
  await using server = await startTestServer()
  const socket = await connect(server)
  socket.sendRaw(new Uint8Array([0x7b, 0x7d]))
  expect(await socket.closed).toEqual(CLOSE.BINARY_UNSUPPORTED)
})

/** A valid message frame of exactly `bytes` bytes, padded with JSON whitespace. */
function frameOfSize(bytes: number): string {
  const head = '{"type":"message","text":"padded"'
  return head + ' '.repeat(bytes - head.length - 1) + '}'
}

test('a frame of exactly 64 KiB is accepted', async () => {
  await using server = await startTestServer()
  const alice = await register(server.url, 'alice')
  using socket = await connect(server, alice.token)
  socket.sendRaw(frameOfSize(LIMITS.FRAME_MAX_BYTES))
  expect(await socket.next()).toMatchObject({ type: 'message', data: { text: 'padded' } })
})

// spec §3's close table: 1009 with the reason `TOO_LARGE`, whatever the frame's kind or characters (up to 128 KiB; Bun's own reason past it).
for (const [what, frame] of [
  ['one byte over 64 KiB', frameOfSize(LIMITS.FRAME_MAX_BYTES + 1)],
  ['of 100 000 bytes', frameOfSize(100_000)],
  ['under 64 KiB characters but over 64 KiB of UTF-8', `{"type":"message","text":"${'é'.repeat(LIMITS.FRAME_MAX_BYTES / 2)}"}`],
  ['binary, over 64 KiB', new Uint8Array(100 * 1024)],
] as const) {
  test(`a frame ${what} closes the socket with 1009 TOO_LARGE, as the client sees it`, async () => {
    await using server = await startTestServer()
    const alice = await register(server.url, 'alice')
    const socket = await connect(server, alice.token)
    socket.sendRaw(frame)
    expect(await socket.closed).toEqual({ code: CLOSE.TOO_LARGE.code, reason: 'TOO_LARGE' })
    expect(await storedMessages(server, 'lobby')).toEqual([])
  })
}

test('a reader that stops reading is closed with 1013 SLOW_CONSUMER as its last frame; a normal reader gets every message', async () => {
  // Big messages from several users, fast: megabytes a second into a socket that reads nothing.
  await using server = await startTestServer({
    config: { slowConsumerBytes: 64 * 1024, messageRate: 100_000, messageBurst: 100_000, maxTextLength: 15_000 },
  })
  const [slowUser, ...posterUsers] = await Promise.all(['slow', 'p1', 'p2', 'p3'].map((name) => register(server.url, name)))
  const slow = await rawUpgrade(roomWs(server, 'lobby'), { protocols: [slowUser!.token] })
  expect(slow.response.status).toBe(101)
  expect(readJson(await slow.next()).type).toBe('welcome')
  slow.pause()
  const posters = await Promise.all(posterUsers.map((u) => connect(server, u.token)))
  // Connected last, so its frames are only messages and, at the end, the slow user's leave.
  using reader = await connect(server)
  // 15 000 emoji: about 60 KB a message on the wire.
  const text = '😀'.repeat(15_000)
  const received: number[] = []
  let dropped = false
  let mostBuffered = 0
  for (let round = 0; round < 400 && !dropped; round++) {
    for (const p of posters) p.send({ type: 'message', text })
    for (const ws of server.app.hub.all()) mostBuffered = Math.max(mostBuffered, ws.getBufferedAmount())
    for (let i = 0; i < posters.length; i++) {
      const frame = await reader.next()
      if (frame.type === 'leave') {
        expect(frame.data.user).toEqual(slowUser!.user)
        dropped = true
        i--
        continue
      }
      expect(frame.type).toBe('message')
      received.push(frame.data.id)
    }
  }
  // The slow reader was dropped (its user's presence ended) well before the posters gave up,
  // and what the server held for it stayed bounded (megabytes were posted meanwhile).
  expect(dropped).toBe(true)
  expect(mostBuffered).toBeLessThan(8 * 64 * 1024)
  // The normal reader got every message, in order, none missing.
  const stored = await storedMessages(server, 'lobby')
  expect(received).toEqual(stored.map((m) => m.id))
  // Once it reads again, the slow reader finds what was buffered, then a close 1013, then nothing.
  slow.resume()
  const frames = await slow.ended
  const last = frames.at(-1)!
  expect(last.opcode).toBe(OPCODE.CLOSE)
  expect(readClose(last)).toEqual(CLOSE.SLOW_CONSUMER)
  expect(frames.slice(0, -1).every((f) => f.opcode === OPCODE.TEXT)).toBe(true)
  const got = frames.slice(0, -1).map((f) => readJson(f))
  expect(got[0].type).toBe('welcome')
  // It got a part of the messages, in order, and none after the close.
  const gotIds = got.filter((f) => f.type === 'message').map((f) => f.data.id)
  expect(gotIds.length).toBeLessThan(stored.length)
  expect(gotIds).toEqual([...gotIds].sort((a, b) => a - b))
  for (const p of posters) p.close()
})

test('a token that expires while connected: error TOKEN_EXPIRED, then close 4001 TOKEN_EXPIRED', async () => {
  let clock = START
  await using server = await startTestServer({ now: () => clock, config: { tokenTtlSeconds: 3600 } })
  const alice = await register(server.url, 'alice')
  const socket = await connect(server, alice.token)
  using reader = await connect(server)
  clock += 3600 * 1000
  // A token issued now is fresh; its socket is in another room so alice's frames stay predictable.
  const bob = await register(server.url, 'bob')
  using fresh = await connect(server, bob.token, 'other')
  expect(await socket.next()).toEqual(errorFrame('TOKEN_EXPIRED'))
  expect(await socket.closed).toEqual(CLOSE.TOKEN_EXPIRED)
  expect(socket.frames.map((f) => f.type)).toEqual(['welcome', 'error'])
  // The same sweep spared the read-only socket and the one with a fresh token.
  for (const s of [reader, fresh]) {
    s.send({ type: 'ping' })
    expect((await s.next('pong')).type).toBe('pong')
  }
  await post(fresh, 'still here')
})

test('posting still works until the token expires', async () => {
  let clock = START
  await using server = await startTestServer({ now: () => clock, config: { tokenTtlSeconds: 3600 } })
  const alice = await register(server.url, 'alice')
  using socket = await connect(server, alice.token)
  clock += 3599 * 1000
  expect((await postMany(socket, 3)).map((m) => m.text)).toEqual(['message 1', 'message 2', 'message 3'])
})
