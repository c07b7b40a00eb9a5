/**
 * Connecting to a room (spec §3, "Connect"). The token travels as the first offered subprotocol,
 * and RFC 6455 §4.1 makes a client fail the connection when the server does not echo one it
 * offered, so the echo is pinned here. Checks that need the refused upgrade's status and body use a
 * hand-made handshake (test/support/raw-ws.ts): a browser WebSocket only sees "error".
 *
 * A bad token or a full server must still upgrade and then close (4001 / 4029), so a client can tell
 * "log in again" and "back off" apart from a network failure.
 */
import { Database } from 'bun:sqlite'
import { expect, test } from 'bun:test'
import { SignJWT } from 'jose'
import { CLOSE } from '../../src/protocol.ts'
import { register, request } from '../support/http.ts'
import { rawUpgrade, readJson, OPCODE } from '../support/raw-ws.ts'
import { errorFrame, post, roomMessages, roomWs } from '../support/rooms.ts'
import { startTestServer, type TestServer } from '../support/server.ts'
import { openSocket } from '../support/socket.ts'

const JWT_SECRET = 'connect-test-signing-secret-0123456789'
const JSON_TYPE = 'application/json; charset=utf-8'

/** A token shaped like the server's own (HS256, sub, name, iat, exp), signed with `secret`. */
async function signToken(secret: string, user: { id: number; username: string }, exp: number, iat = Math.floor(Date.now() / 1000)): Promise<string> {
  return new SignJWT({ name: user.username })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(String(user.id))
    .setIssuedAt(iat)
    .setExpirationTime(exp)
    .sign(new TextEncoder().encode(secret))
}

/** spec §3: the upgrade completes, an `error` frame TOKEN_INVALID comes, then close 4001, and nothing else. */
async function expectTokenRejected(server: TestServer, token: string): Promise<void> {
  const socket = await openSocket(roomWs(server, 'lobby'), [token])
  expect(socket.ws.protocol).toBe(token)
  expect(await socket.closed).toEqual(CLOSE.TOKEN_INVALID)
  expect(socket.frames).toEqual([errorFrame('TOKEN_INVALID')])
}

test('the token offered as subprotocol is echoed, so ws.protocol equals the token', async () => {
  await using server = await startTestServer()
  const alice = await register(server.url, 'alice')
  using socket = await openSocket(roomWs(server, 'lobby'), [alice.token])
  expect(socket.ws.protocol).toBe(alice.token)
  await socket.next('welcome')
})

test('only the first offered subprotocol is taken as the token and echoed', async () => {
  await using server = await startTestServer()
  const alice = await register(server.url, 'alice')
  const raw = await rawUpgrade(roomWs(server, 'lobby'), { protocols: [alice.token, 'chat.v2'] })
  expect(raw.response.status).toBe(101)
  expect(raw.response.headers['sec-websocket-protocol']).toBe(alice.token)
  const welcome = readJson(await raw.next())
  expect(welcome.data.user).toEqual(alice.user)
  raw.destroy()
})

test('an authenticated connection is welcomed with its user, not read-only', async () => {
  await using server = await startTestServer()
  const alice = await register(server.url, 'alice')
  using socket = await openSocket(roomWs(server, 'lobby'), [alice.token])
  expect(await socket.next()).toEqual({
    type: 'welcome',
    error: null,
    data: { room: 'lobby', user: alice.user, readOnly: false, members: [alice.user], history: [], changes: [], truncated: false },
  })
})

test('a connection without a token is read-only: welcome has user null and readOnly true', async () => {
  await using server = await startTestServer()
  using socket = await openSocket(roomWs(server, 'lobby'))
  expect(socket.ws.protocol).toBe('')
  expect(await socket.next()).toEqual({
    type: 'welcome',
    error: null,
    data: { room: 'lobby', user: null, readOnly: true, members: [], history: [], changes: [], truncated: false },
  })
})

test('welcome is the first frame even when the client sends at once', async () => {
  await using server = await startTestServer()
  const alice = await register(server.url, 'alice')
  using socket = await openSocket(roomWs(server, 'lobby'), [alice.token])
  socket.send({ type: 'ping' })
  socket.send({ type: 'message', text: 'early', nonce: 'e1' })
  expect((await socket.next()).type).toBe('welcome')
  expect((await socket.next()).type).toBe('pong')
  expect(await socket.next()).toMatchObject({ type: 'message', data: { text: 'early', nonce: 'e1' } })
})

test('a token signed like the server does with its secret is accepted (control for the rejections below)', async () => {
  await using server = await startTestServer({ config: { jwtSecret: JWT_SECRET } })
  const alice = await register(server.url, 'alice')
  const token = await signToken(JWT_SECRET, alice.user, Math.floor(Date.now() / 1000) + 3600)
  using socket = await openSocket(roomWs(server, 'lobby'), [token])
  expect((await socket.next('welcome')).data.user).toEqual(alice.user)
})

test('a garbage token: error TOKEN_INVALID, then close 4001 TOKEN_INVALID', async () => {
  await using server = await startTestServer()
  await expectTokenRejected(server, 'garbage')
})

test('a token signed with another key: error TOKEN_INVALID, then close 4001', async () => {
  await using server = await startTestServer({ config: { jwtSecret: JWT_SECRET } })
  const alice = await register(server.url, 'alice')
  await expectTokenRejected(server, await signToken(`${JWT_SECRET}-but-another-one`, alice.user, Math.floor(Date.now() / 1000) + 3600))
})

test('an unsigned (alg none) token: error TOKEN_INVALID, then close 4001', async () => {
  await using server = await startTestServer({ config: { jwtSecret: JWT_SECRET } })
  const alice = await register(server.url, 'alice')
  const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url')
  const exp = Math.floor(Date.now() / 1000) + 3600
  await expectTokenRejected(server, `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ sub: String(alice.user.id), name: 'alice', exp })}.`)
})

test('an expired token: error TOKEN_INVALID, then close 4001', async () => {
  await using server = await startTestServer({ config: { jwtSecret: JWT_SECRET } })
  const alice = await register(server.url, 'alice')
  const now = Math.floor(Date.now() / 1000)
  await expectTokenRejected(server, await signToken(JWT_SECRET, alice.user, now - 60, now - 3600))
})

test('a token whose user was deleted: error TOKEN_INVALID, then close 4001', async () => {
  await using server = await startTestServer()
  const alice = await register(server.url, 'alice')
  const db = new Database(server.config.database)
  try {
    db.query('DELETE FROM users WHERE id = ?1').run(alice.user.id)
  } finally {
    db.close()
  }
  await expectTokenRejected(server, alice.token)
})

test('a rejected token announces nothing and stores nothing', async () => {
  await using server = await startTestServer()
  const alice = await register(server.url, 'alice')
  using watcher = await openSocket(roomWs(server, 'lobby'), [alice.token])
  await watcher.next('welcome')
  const socket = await openSocket(roomWs(server, 'lobby'), ['garbage'])
  socket.send({ type: 'message', text: 'sneaky' })
  expect((await socket.closed).code).toBe(CLOSE.TOKEN_INVALID.code)
  // The watcher's next frame is its own marker: no join, leave or message from the rejected socket.
  await post(watcher, 'marker')
  expect(watcher.frames.map((f) => f.type)).toEqual(['welcome', 'message'])
  expect((await request(roomMessages(server, 'lobby'))).body.data.messages.map((m: { text: string }) => m.text)).toEqual(['marker'])
})

const BAD_ROOMS: [string, string][] = [
  ['65 characters', 'a'.repeat(65)],
  ['a leading dot', '.hidden'],
  ['a leading dash', '-dash'],
  ['a leading underscore', '_under'],
  ['a space', 'two words'],
  ['a slash (percent-encoded)', 'a/b'],
  ['a non-ASCII letter', 'café'],
  ['CJK characters', '日本語'],
  ['an emoji', 'room😀'],
  ['a NUL character', 'a\u0000b'],
  ['nothing (empty)', ''],
]

test.each(BAD_ROOMS)('a room name with %s is 400 ROOM_INVALID before the upgrade', async (_, room) => {
  await using server = await startTestServer()
  const raw = await rawUpgrade(roomWs(server, room))
  expect(raw.response).toEqual({
    status: 400,
    headers: expect.objectContaining({ 'content-type': JSON_TYPE }),
    body: { error: { type: 'ROOM_INVALID', message: expect.any(String) }, data: null },
  })
  // A plain GET on the upgrade path is ROOM_INVALID too: the room check comes first (spec §2).
  const plain = await request(`${server.url}/api/v1/rooms/${encodeURIComponent(room)}/messages/ws`)
  expect(plain.status).toBe(400)
  expect(plain.body.error.type).toBe('ROOM_INVALID')
})

test.each(BAD_ROOMS)('a room name with %s is 400 ROOM_INVALID on the REST history path', async (_, room) => {
  await using server = await startTestServer()
  const res = await request(roomMessages(server, room))
  expect(res.status).toBe(400)
  expect(res.headers.get('content-type')).toBe(JSON_TYPE)
  expect(res.body).toEqual({ error: { type: 'ROOM_INVALID', message: expect.any(String) }, data: null })
})

test('a browser-style client cannot connect to an invalid room', async () => {
  await using server = await startTestServer()
  await expect(openSocket(roomWs(server, '.hidden'))).rejects.toThrow()
})

test.each([
  ['64 characters', 'a'.repeat(64)],
  ['every allowed character', 'Room-1.b_c'],
  ['a leading digit', '9lives'],
  ['one character', 'x'],
])('a room name of %s is accepted', async (_, room) => {
  await using server = await startTestServer()
  using socket = await openSocket(roomWs(server, room))
  expect((await socket.next('welcome')).data.room).toBe(room)
})

test('a plain GET on the upgrade path is 426 UPGRADE_REQUIRED with an Upgrade header', async () => {
  await using server = await startTestServer()
  const res = await request(`${server.url}/api/v1/rooms/lobby/messages/ws`)
  expect(res.status).toBe(426)
  expect(res.headers.get('content-type')).toBe(JSON_TYPE)
  // RFC 9110 §15.5.22: a 426 must say what to upgrade to.
  expect(res.headers.get('upgrade')).toBe('websocket')
  expect(res.body).toEqual({ error: { type: 'UPGRADE_REQUIRED', message: expect.any(String) }, data: null })
})

test.each(['abc', '-1', '1.5', '', '1e3', '0x10'])('since=%p is 400 BAD_QUERY before the upgrade', async (since) => {
  await using server = await startTestServer()
  const raw = await rawUpgrade(roomWs(server, 'lobby', `?since=${since}`))
  expect(raw.response).toEqual({
    status: 400,
    headers: expect.objectContaining({ 'content-type': JSON_TYPE }),
    body: { error: { type: 'BAD_QUERY', message: expect.any(String) }, data: null },
  })
})

/** spec §3: past a cap the upgrade is accepted and closed at once with 4029; existing users are unaffected. */
async function expectConnectionLimit(server: TestServer, token?: string): Promise<void> {
  const socket = await openSocket(roomWs(server, 'lobby'), token === undefined ? undefined : [token])
  if (token !== undefined) expect(socket.ws.protocol).toBe(token)
  expect(await socket.closed).toEqual(CLOSE.CONNECTION_LIMIT)
  expect(socket.frames).toEqual([])
}

test('past maxConnectionsPerAddress the upgrade is accepted and closed 4029 CONNECTION_LIMIT; the first ones keep working', async () => {
  await using server = await startTestServer({ config: { maxConnectionsPerAddress: 2 } })
  const alice = await register(server.url, 'alice')
  const bob = await register(server.url, 'bob')
  using first = await openSocket(roomWs(server, 'lobby'), [alice.token])
  using second = await openSocket(roomWs(server, 'lobby'))
  await first.next('welcome')
  await second.next('welcome')
  await expectConnectionLimit(server, bob.token)
  await expectConnectionLimit(server)
  // Nobody saw bob join, and both earlier sockets still post, receive and ping.
  const sent = await post(first, 'still here')
  expect(first.frames.map((f) => f.type)).toEqual(['welcome', 'message'])
  expect((await second.next()).data).toEqual(sent)
  second.send({ type: 'ping' })
  expect((await second.next()).type).toBe('pong')
})

test('past maxConnections in total the upgrade is accepted and closed 4029 CONNECTION_LIMIT; the first ones keep working', async () => {
  await using server = await startTestServer({ config: { maxConnections: 2 } })
  const alice = await register(server.url, 'alice')
  const bob = await register(server.url, 'bob')
  using first = await openSocket(roomWs(server, 'lobby'), [alice.token])
  using second = await openSocket(roomWs(server, 'other'), [bob.token])
  await first.next('welcome')
  await second.next('welcome')
  await expectConnectionLimit(server, bob.token)
  const sent = await post(first, 'still here')
  expect(sent.text).toBe('still here')
  await post(second, 'me too')
})

test('a closed connection frees its slot; a refused one never held one', async () => {
  await using server = await startTestServer({ config: { maxConnectionsPerAddress: 2 } })
  const first = await openSocket(roomWs(server, 'lobby'))
  using second = await openSocket(roomWs(server, 'lobby'))
  await first.next('welcome')
  await second.next('welcome')
  await expectConnectionLimit(server)
  await expectConnectionLimit(server)
  first.close()
  await first.closed
  using third = await openSocket(roomWs(server, 'lobby'))
  await third.next('welcome')
  await expectConnectionLimit(server)
})

test('a token rejected with 4001 does not take a connection slot', async () => {
  await using server = await startTestServer({ config: { maxConnectionsPerAddress: 1 } })
  await expectTokenRejected(server, 'garbage')
  using socket = await openSocket(roomWs(server, 'lobby'))
  await socket.next('welcome')
})

test('X-Forwarded-For picks the address for the per-address cap only with trustProxy', async () => {
  const open = async (server: TestServer, forwardedFor: string) => {
    const raw = await rawUpgrade(roomWs(server, 'lobby'), { headers: { 'X-Forwarded-For': forwardedFor } })
    expect(raw.response.status).toBe(101)
    return raw
  }
  {
    await using server = await startTestServer({ config: { maxConnectionsPerAddress: 1, trustProxy: true } })
    const a = await open(server, '203.0.113.1')
    const b = await open(server, '203.0.113.2, 10.0.0.1')
    expect(readJson(await a.next()).type).toBe('welcome')
    expect(readJson(await b.next()).type).toBe('welcome')
    const c = await open(server, '203.0.113.2')
    const frame = await c.next()
    expect(frame.opcode).toBe(OPCODE.CLOSE)
    expect(frame.payload.readUInt16BE(0)).toBe(CLOSE.CONNECTION_LIMIT.code)
    for (const raw of [a, b, c]) raw.destroy()
  }
  {
    await using server = await startTestServer({ config: { maxConnectionsPerAddress: 1 } })
    const a = await open(server, '203.0.113.1')
    const b = await open(server, '203.0.113.2')
    expect(readJson(await a.next()).type).toBe('welcome')
    const frame = await b.next()
    expect(frame.opcode).toBe(OPCODE.CLOSE)
    expect(frame.payload.readUInt16BE(0)).toBe(CLOSE.CONNECTION_LIMIT.code)
    for (const raw of [a, b]) raw.destroy()
  }
})
