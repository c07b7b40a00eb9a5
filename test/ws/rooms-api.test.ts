/**
 * The room REST endpoints (spec §2): `GET /api/v1/rooms/{room}/messages?before=&limit=` pages back
 * through history — the newest `limit` messages below `before`, oldest first, `hasMore` when older
 * ones exist — and `GET /api/v1/rooms` lists rooms with messages or people in them, counting the
 * logged-in users present.
 */
import { expect, test } from 'bun:test'
import { register, request } from '../support/http.ts'
import { post, postMany, roomMessages, roomWs } from '../support/rooms.ts'
import { startTestServer, type TestServer } from '../support/server.ts'
import { openSocket, type TestSocket } from '../support/socket.ts'

const FAST = { messageBurst: 100_000, messageRate: 100_000 }
const JSON_TYPE = 'application/json; charset=utf-8'

async function connect(server: TestServer, token?: string, room = 'lobby'): Promise<TestSocket> {
  const socket = await openSocket(roomWs(server, room), token === undefined ? undefined : [token])
  await socket.next('welcome')
  return socket
}

async function page(server: TestServer, room: string, query = '') {
  const res = await request(roomMessages(server, room, query))
  expect(res.status).toBe(200)
  expect(res.headers.get('content-type')).toBe(JSON_TYPE)
  expect(res.body.error).toBeNull()
  return res.body.data as { messages: { id: number }[]; hasMore: boolean }
}

const ids = (messages: { id: number }[]) => messages.map((m) => m.id)
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i)

test('a room without messages has an empty page', async () => {
  await using server = await startTestServer()
  expect(await page(server, 'lobby')).toEqual({ messages: [], hasMore: false })
})

test('a page holds the same messages the sockets got, whole', async () => {
  await using server = await startTestServer({ config: FAST })
  const alice = await register(server.url, 'alice')
  using socket = await connect(server, alice.token)
  const sent = [await post(socket, 'one', 'n1'), await post(socket, 'two')]
  socket.send({ type: 'message', text: 'three' })
  sent.push((await socket.next('message')).data)
  expect(await page(server, 'lobby')).toEqual({ messages: sent, hasMore: false })
})

test('before and limit page back through history, oldest first within a page', async () => {
  await using server = await startTestServer({ config: FAST })
  const alice = await register(server.url, 'alice')
  using socket = await connect(server, alice.token)
  await postMany(socket, 7)
  const first = await page(server, 'lobby', '?limit=3')
  expect(ids(first.messages)).toEqual([5, 6, 7])
  expect(first.hasMore).toBe(true)
  const second = await page(server, 'lobby', '?limit=3&before=5')
  expect(ids(second.messages)).toEqual([2, 3, 4])
  expect(second.hasMore).toBe(true)
  const last = await page(server, 'lobby', '?limit=3&before=2')
  expect(ids(last.messages)).toEqual([1])
  expect(last.hasMore).toBe(false)
})

test('hasMore is false when the page ends exactly at the oldest message', async () => {
  await using server = await startTestServer({ config: FAST })
  const alice = await register(server.url, 'alice')
  using socket = await connect(server, alice.token)
  await postMany(socket, 6)
  expect(await page(server, 'lobby', '?limit=3&before=4')).toMatchObject({ hasMore: false })
  expect(ids((await page(server, 'lobby', '?limit=6')).messages)).toEqual(range(1, 6))
  expect((await page(server, 'lobby', '?limit=6')).hasMore).toBe(false)
  expect((await page(server, 'lobby', '?limit=5')).hasMore).toBe(true)
})

test('before beyond the newest id gives the newest messages; before=1 gives none', async () => {
  await using server = await startTestServer({ config: FAST })
  const alice = await register(server.url, 'alice')
  using socket = await connect(server, alice.token)
  await postMany(socket, 4)
  expect(ids((await page(server, 'lobby', '?before=1000')).messages)).toEqual(range(1, 4))
  expect(await page(server, 'lobby', '?before=1')).toEqual({ messages: [], hasMore: false })
})

test('the default limit is 50, and 200 is allowed', async () => {
  await using server = await startTestServer({ config: FAST })
  const alice = await register(server.url, 'alice')
  using socket = await connect(server, alice.token)
  await postMany(socket, 205)
  const byDefault = await page(server, 'lobby')
  expect(ids(byDefault.messages)).toEqual(range(156, 205))
  expect(byDefault.hasMore).toBe(true)
  const max = await page(server, 'lobby', '?limit=200')
  expect(ids(max.messages)).toEqual(range(6, 205))
  expect(max.hasMore).toBe(true)
  expect(ids((await page(server, 'lobby', '?limit=1')).messages)).toEqual([205])
})

test('a page holds only messages of its own room', async () => {
  await using server = await startTestServer({ config: FAST })
  const alice = await register(server.url, 'alice')
  using a = await connect(server, alice.token, 'a')
  using b = await connect(server, alice.token, 'b')
  const a1 = await post(a, 'a1')
  const b1 = await post(b, 'b1')
  const a2 = await post(a, 'a2')
  expect(await page(server, 'a')).toEqual({ messages: [a1, a2], hasMore: false })
  expect(await page(server, 'b')).toEqual({ messages: [b1], hasMore: false })
})

test.each(['limit=0', 'limit=201', 'limit=abc', 'limit=-1', 'limit=1.5', 'limit=', 'before=abc', 'before=-1', 'before=1.5'])(
  '%s is 400 BAD_QUERY',
  async (query) => {
    await using server = await startTestServer()
    const res = await request(roomMessages(server, 'lobby', `?${query}`))
    expect(res.status).toBe(400)
    expect(res.headers.get('content-type')).toBe(JSON_TYPE)
    expect(res.body).toEqual({ error: { type: 'BAD_QUERY', message: expect.any(String) }, data: null })
  },
)

test('an invalid room is ROOM_INVALID on any method, before the method check', async () => {
  await using server = await startTestServer()
  const res = await request(roomMessages(server, '.bad'), { method: 'POST', body: '{}' })
  expect(res.status).toBe(400)
  expect(res.body.error.type).toBe('ROOM_INVALID')
})

test('GET /api/v1/rooms is empty on a fresh server', async () => {
  await using server = await startTestServer()
  const res = await request(`${server.url}/api/v1/rooms`)
  expect(res.status).toBe(200)
  expect(res.headers.get('content-type')).toBe(JSON_TYPE)
  expect(res.body).toEqual({ error: null, data: { rooms: [] } })
})

async function rooms(server: TestServer) {
  const res = await request(`${server.url}/api/v1/rooms`)
  expect(res.status).toBe(200)
  return (res.body.data.rooms as { name: string; members: number; lastMessageId: number | null }[]).sort((a, b) => a.name.localeCompare(b.name))
}

test('GET /api/v1/rooms lists rooms with messages or people, members = logged-in users present, lastMessageId or null', async () => {
  await using server = await startTestServer()
  const alice = await register(server.url, 'alice')
  const bob = await register(server.url, 'bob')
  // "busy": messages, alice in two tabs, bob, and a read-only reader.
  using a1 = await connect(server, alice.token, 'busy')
  using a2 = await connect(server, alice.token, 'busy')
  using b = await connect(server, bob.token, 'busy')
  using r = await connect(server, undefined, 'busy')
  await post(a1, 'one')
  const last = await post(b, 'two')
  // "quiet": messages, nobody present any more.
  const q = await connect(server, bob.token, 'quiet')
  const quietLast = await post(q, 'hello?')
  q.close()
  await q.closed
  // "empty": people, no messages; "lurkers": only a read-only reader.
  using e = await connect(server, bob.token, 'empty')
  using l = await connect(server, undefined, 'lurkers')
  expect(await rooms(server)).toEqual([
    { name: 'busy', members: 2, lastMessageId: last.id },
    { name: 'empty', members: 1, lastMessageId: null },
    { name: 'lurkers', members: 0, lastMessageId: null },
    { name: 'quiet', members: 0, lastMessageId: quietLast.id },
  ])
})

test('a room with no messages leaves the list when its last person leaves', async () => {
  await using server = await startTestServer()
  const alice = await register(server.url, 'alice')
  const socket = await connect(server, alice.token, 'passing')
  expect(await rooms(server)).toEqual([{ name: 'passing', members: 1, lastMessageId: null }])
  socket.close()
  await socket.closed
  expect(await rooms(server)).toEqual([])
})
