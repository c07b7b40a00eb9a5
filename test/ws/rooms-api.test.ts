/**
 * The room REST endpoints (spec §2): `GET /api/v1/rooms/{room}/messages?before=&limit=` pages back
 * through history — the newest `limit` messages below `before`, oldest first, `hasMore` when older
 * ones exist — and `GET /api/v1/rooms?limit=&cursor=` lists, a page at a time, the rooms with
 * messages (most recently active first) and then those with logged-in people but no messages (by
 * name), counting the logged-in users present. Following `next` across pages never skips or repeats
 * a room that did not change meanwhile.
 */
import { expect, test } from 'bun:test'
import type { RoomPage, RoomSummary } from '../../src/protocol.ts'
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

test('GET /api/v1/rooms is empty on a fresh server, with no next page', async () => {
  await using server = await startTestServer()
  const res = await request(`${server.url}/api/v1/rooms`)
  expect(res.status).toBe(200)
  expect(res.headers.get('content-type')).toBe(JSON_TYPE)
  expect(res.body).toEqual({ error: null, data: { rooms: [], next: null } })
})

/** One page of GET /api/v1/rooms. */
async function roomPage(server: TestServer, query: Record<string, string> = {}): Promise<RoomPage> {
  const res = await request(`${server.url}/api/v1/rooms?${new URLSearchParams(query)}`)
  expect(res.status).toBe(200)
  expect(res.headers.get('content-type')).toBe(JSON_TYPE)
  expect(res.body.error).toBeNull()
  return res.body.data
}

/** Every page of GET /api/v1/rooms, following `next`; `between` runs after each page but the last. */
async function allRoomPages(server: TestServer, limit: number, between: (page: number) => Promise<void> = async () => {}): Promise<RoomSummary[][]> {
  const pages: RoomSummary[][] = []
  let cursor: string | null = null
  do {
    const page = await roomPage(server, cursor === null ? { limit: String(limit) } : { limit: String(limit), cursor })
    expect(page.next === null || typeof page.next === 'string').toBe(true)
    expect(page.rooms.length).toBeLessThanOrEqual(limit)
    if (pages.length === 1000) throw new Error('the pages never end')
    pages.push(page.rooms)
    cursor = page.next
    if (cursor !== null) await between(pages.length)
  } while (cursor !== null)
  return pages
}

/** Posts one message in each room, in this order, from a socket opened for it and closed after. */
async function postIn(server: TestServer, token: string, rooms: string[]): Promise<number[]> {
  const ids: number[] = []
  for (const room of rooms) {
    using socket = await connect(server, token, room)
    ids.push((await post(socket, `hello ${room}`)).id)
  }
  return ids
}

const names = (rooms: RoomSummary[]) => rooms.map((r) => r.name)

test('GET /api/v1/rooms lists rooms with messages or logged-in people, most recently active first; members = logged-in users present', async () => {
  await using server = await startTestServer()
  const alice = await register(server.url, 'alice')
  const bob = await register(server.url, 'bob')
  // "busy": messages, alice in two tabs, bob, and a read-only reader.
  using a1 = await connect(server, alice.token, 'busy')
  using a2 = await connect(server, alice.token, 'busy')
  using b = await connect(server, bob.token, 'busy')
  using r = await connect(server, undefined, 'busy')
  await post(a1, 'one')
  const busyLast = await post(b, 'two')
  // "quiet": messages, nobody present any more; its message is the newest.
  const q = await connect(server, bob.token, 'quiet')
  const quietLast = await post(q, 'hello?')
  q.close()
  await q.closed
  // "empty" and "alcove": people, no messages (after the rooms with messages, by name); "lurkers": only a read-only reader.
  using e = await connect(server, bob.token, 'empty')
  using c = await connect(server, alice.token, 'alcove')
  using l = await connect(server, undefined, 'lurkers')
  expect(await roomPage(server)).toEqual({
    rooms: [
      { name: 'quiet', members: 0, lastMessageId: quietLast.id },
      { name: 'busy', members: 2, lastMessageId: busyLast.id },
      { name: 'alcove', members: 1, lastMessageId: null },
      { name: 'empty', members: 1, lastMessageId: null },
    ],
    next: null,
  })
  // A new message moves its room to the front.
  const busyNewer = await post(a2, 'three')
  expect(names((await roomPage(server)).rooms)).toEqual(['busy', 'quiet', 'alcove', 'empty'])
  expect((await roomPage(server)).rooms[0]).toEqual({ name: 'busy', members: 2, lastMessageId: busyNewer.id })
})

// The issue this closes: anyone could make any name show up (256 per address) by reading a room.
test('a room with only an anonymous reader is not listed; a logged-in reader lists it with members 1 and lastMessageId null', async () => {
  await using server = await startTestServer()
  const alice = await register(server.url, 'alice')
  const anonymous = await Promise.all(['spam-1', 'spam-2', 'spam-3'].map((room) => connect(server, undefined, room)))
  expect(await roomPage(server)).toEqual({ rooms: [], next: null })
  using reader = await connect(server, alice.token, 'spam-2')
  expect(await roomPage(server)).toEqual({ rooms: [{ name: 'spam-2', members: 1, lastMessageId: null }], next: null })
  for (const socket of anonymous) socket.close()
})

test('a room with no messages leaves the list when its last logged-in person leaves', async () => {
  await using server = await startTestServer()
  const alice = await register(server.url, 'alice')
  const socket = await connect(server, alice.token, 'passing')
  expect((await roomPage(server)).rooms).toEqual([{ name: 'passing', members: 1, lastMessageId: null }])
  socket.close()
  await socket.closed
  expect(await roomPage(server)).toEqual({ rooms: [], next: null })
})

test('limit defaults to 50 and may be 1 to 200; next is null only on the last page', async () => {
  await using server = await startTestServer({ config: FAST })
  const alice = await register(server.url, 'alice')
  const rooms = Array.from({ length: 201 }, (_, i) => `room-${String(i).padStart(3, '0')}`)
  const ids = await postIn(server, alice.token, rooms)
  const newestFirst = rooms.map((name, i) => ({ name, members: 0, lastMessageId: ids[i]! })).reverse()
  const byDefault = await roomPage(server)
  expect(byDefault.rooms).toEqual(newestFirst.slice(0, 50))
  expect(byDefault.next).toEqual(expect.any(String))
  expect((await roomPage(server, { limit: '1' })).rooms).toEqual(newestFirst.slice(0, 1))
  const max = await roomPage(server, { limit: '200' })
  expect(max.rooms).toEqual(newestFirst.slice(0, 200))
  expect(await roomPage(server, { limit: '200', cursor: max.next! })).toEqual({ rooms: newestFirst.slice(200), next: null })
  // 201 = 3 × 67: the third page is the last, not followed by an empty one.
  const thirds = await allRoomPages(server, 67)
  expect(thirds.map((page) => page.length)).toEqual([67, 67, 67])
  expect(thirds.flat()).toEqual(newestFirst)
})

test.each(['limit=0', 'limit=201', 'limit=abc', 'limit=-1', 'limit=1.5', 'limit=', 'cursor=', 'cursor=abc', 'cursor=bTU', 'cursor=bTU.AAAAAAAAAAAAAAAAAAAAAA'])(
  'GET /api/v1/rooms?%s is 400 BAD_QUERY',
  async (query) => {
    await using server = await startTestServer()
    const res = await request(`${server.url}/api/v1/rooms?${query}`)
    expect(res.status).toBe(400)
    expect(res.headers.get('content-type')).toBe(JSON_TYPE)
    expect(res.body).toEqual({ error: { type: 'BAD_QUERY', message: expect.any(String) }, data: null })
  },
)

test('a cursor that was altered, or made by another server, is 400 BAD_QUERY', async () => {
  await using server = await startTestServer()
  await using other = await startTestServer()
  const alice = await register(server.url, 'alice')
  await postIn(server, alice.token, ['one', 'two', 'three'])
  const { next } = await roomPage(server, { limit: '1' })
  const cursor = next!
  const [payload, mac] = cursor.split('.') as [string, string]
  const flip = (text: string) => (text[0] === 'A' ? 'B' : 'A') + text.slice(1)
  for (const forged of [`${flip(payload)}.${mac}`, `${payload}.${flip(mac)}`, `${cursor}.${mac}`, `${cursor}A`, payload]) {
    const res = await request(`${server.url}/api/v1/rooms?limit=1&cursor=${encodeURIComponent(forged)}`)
    expect(res.status).toBe(400)
    expect(res.body.error.type).toBe('BAD_QUERY')
  }
  // Another server has its own signing secret.
  const elsewhere = await request(`${other.url}/api/v1/rooms?cursor=${encodeURIComponent(cursor)}`)
  expect(elsewhere.status).toBe(400)
  expect(elsewhere.body.error.type).toBe('BAD_QUERY')
  expect(names((await roomPage(server, { limit: '1', cursor })).rooms)).toEqual(['two'])
})

test('pages follow the cursor across both runs: rooms with messages by activity, then rooms with people by name, each once', async () => {
  await using server = await startTestServer({ config: FAST })
  const alice = await register(server.url, 'alice')
  const ids = await postIn(server, alice.token, ['m1', 'm2', 'm3', 'm4', 'm5'])
  const present = await Promise.all(['p-c', 'p-a', 'p-b'].map((room) => connect(server, alice.token, room)))
  const expected = [
    ...['m5', 'm4', 'm3', 'm2', 'm1'].map((name) => ({ name, members: 0, lastMessageId: ids[Number(name[1]) - 1]! })),
    ...['p-a', 'p-b', 'p-c'].map((name) => ({ name, members: 1, lastMessageId: null })),
  ]
  for (const limit of [1, 2, 3, 4, 5, 7, 8]) {
    const pages = await allRoomPages(server, limit)
    expect(pages.flat()).toEqual(expected)
    // Only the last page may be short.
    for (const page of pages.slice(0, -1)) expect(page).toHaveLength(limit)
  }
  for (const socket of present) socket.close()
})

// spec §2: a page boundary never skips or repeats a room that did not change.
test('paging while messages arrive and people come and go: every unchanged room exactly once, in order', async () => {
  await using server = await startTestServer({ config: FAST })
  const alice = await register(server.url, 'alice')
  const bob = await register(server.url, 'bob')
  const withMessages = Array.from({ length: 12 }, (_, i) => `m${String(i).padStart(2, '0')}`)
  await postIn(server, alice.token, withMessages)
  const quiet = ['q-a', 'q-b', 'q-c', 'q-d', 'q-e', 'q-f']
  const present = new Map(await Promise.all(quiet.map(async (room) => [room, await connect(server, alice.token, room)] as const)))
  // Between pages: listed and unlisted rooms get messages, new rooms start, a quiet room gets its
  // first message, a new quiet room fills in, and a quiet room empties.
  const changes: (() => Promise<void>)[] = [
    async () => void (await postIn(server, bob.token, ['m11', 'm03', 'new-1'])),
    async () => void (await postIn(server, bob.token, ['m10', 'q-e'])),
    async () => {
      present.set('q-bb', await connect(server, bob.token, 'q-bb'))
      await postIn(server, bob.token, ['m05'])
    },
    async () => {
      const leaving = present.get('q-f')!
      present.delete('q-f')
      leaving.close()
      await leaving.closed
      await postIn(server, bob.token, ['new-2'])
    },
  ]
  const changed = ['m11', 'm03', 'new-1', 'm10', 'q-e', 'q-bb', 'm05', 'q-f', 'new-2']
  const pages = await allRoomPages(server, 3, async (page) => await changes[page - 1]?.())
  expect(pages.length).toBeGreaterThan(changes.length)
  const seen = names(pages.flat())
  // No room twice, and the rooms that did not change all there, in the order they had at the start.
  expect(new Set(seen).size).toBe(seen.length)
  const unchanged = [...[...withMessages].reverse(), ...quiet].filter((room) => !changed.includes(room))
  expect(seen.filter((room) => unchanged.includes(room))).toEqual(unchanged)
  for (const socket of present.values()) socket.close()
})
