/**
 * Editing and deleting messages (spec §5). `{"type":"edit","id","text"}` is for the author only;
 * `{"type":"delete","id"}` and `DELETE /api/v1/rooms/{room}/messages/{id}` for the author or an
 * admin. Each change is an event of the room's stream with an id of its own, broadcast to the room
 * as `edited` {id, messageId, text, editedAt} or `deleted` {id, messageId}. A message that is not in
 * that room (unknown, another room's, an event's id) or is already deleted: MESSAGE_NOT_FOUND (REST
 * 404); someone else's: FORBIDDEN (REST 403); edit text follows the message rules (MESSAGE_INVALID);
 * a read-only socket sending either is closed 1008. History shows messages as they are now: edited
 * text with `editedAt`, a deleted one as `{"id","room","user","ts","deleted":true}`.
 *
 * The first account of a server becomes its admin (spec §5), so each test signs up `root` first.
 */
import { expect, test } from 'bun:test'
import { CLOSE } from '../../src/protocol.ts'
import { change, refusal, registerAdmin, sendChange } from '../support/changes.ts'
import { register, request } from '../support/http.ts'
import { errorFrame, post, roomMessages, roomWs, storedMessages } from '../support/rooms.ts'
import { startTestServer, type TestServer } from '../support/server.ts'
import { openSocket, type TestSocket } from '../support/socket.ts'

const START = Date.parse('2026-11-28T23:00:00.000Z')

async function connect(server: TestServer, token?: string, room = 'lobby'): Promise<TestSocket> {
  const socket = await openSocket(roomWs(server, room), token === undefined ? undefined : [token])
  await socket.next('welcome')
  return socket
}

const bearer = (token: string) => ({ Authorization: `Bearer ${token}` })

test('an edit reaches the whole room as `edited` with the event id, and history shows the new text with editedAt', async () => {
  let clock = START
  await using server = await startTestServer({ now: () => clock })
  await registerAdmin(server)
  const alice = await register(server.url, 'alice')
  using socket = await connect(server, alice.token)
  using reader = await connect(server)
  const m = await post(socket, 'helo', 'n1')
  clock += 5000
  socket.send({ type: 'edit', id: m.id, text: 'hello' })
  const edited = { type: 'edited' as const, error: null, data: { id: m.id + 1, messageId: m.id, text: 'hello', editedAt: '2026-11-28T23:00:05.000Z' } }
  expect(await socket.next()).toEqual(edited)
  expect((await reader.next('message')).data).toEqual(m)
  expect(await reader.next()).toEqual(edited)
  const now = { ...m, text: 'hello', editedAt: '2026-11-28T23:00:05.000Z' }
  expect(await storedMessages(server, 'lobby')).toEqual([now])
  using late = await openSocket(roomWs(server, 'lobby'))
  expect((await late.next('welcome')).data).toMatchObject({ history: [now], changes: [] })
})

test('a deletion reaches the whole room as `deleted`; history keeps a tombstone with no text', async () => {
  await using server = await startTestServer()
  await registerAdmin(server)
  const alice = await register(server.url, 'alice')
  using socket = await connect(server, alice.token)
  using reader = await connect(server)
  const m = await post(socket, 'oops', 'n1')
  const kept = await post(socket, 'fine')
  socket.send({ type: 'delete', id: m.id })
  const deleted = { type: 'deleted' as const, error: null, data: { id: kept.id + 1, messageId: m.id } }
  expect(await socket.next()).toEqual(deleted)
  await reader.next('message')
  await reader.next('message')
  expect(await reader.next()).toEqual(deleted)
  const tombstone = { id: m.id, room: 'lobby', user: alice.user, ts: m.ts, deleted: true }
  const page = await request(roomMessages(server, 'lobby'))
  expect(page.body).toEqual({ error: null, data: { messages: [tombstone, kept], hasMore: false } })
  expect(Object.keys(page.body.data.messages[0]).sort()).toEqual(['deleted', 'id', 'room', 'ts', 'user'])
  using late = await openSocket(roomWs(server, 'lobby'))
  expect((await late.next('welcome')).data.history).toEqual([tombstone, kept])
})

test("an admin may delete anyone's message, audited as message.delete; a member may not", async () => {
  await using server = await startTestServer()
  const root = await registerAdmin(server)
  const alice = await register(server.url, 'alice')
  const bob = await register(server.url, 'bob')
  using aliceSocket = await connect(server, alice.token)
  using bobSocket = await connect(server, bob.token)
  using rootSocket = await connect(server, root.token)
  const m = await post(aliceSocket, 'spam')
  expect(await refusal(bobSocket, { type: 'delete', id: m.id })).toBe('FORBIDDEN')
  const frame = await change(rootSocket, { type: 'delete', id: m.id })
  expect(frame.data).toEqual({ id: expect.any(Number), messageId: m.id })
  expect((await aliceSocket.next('deleted')).data).toEqual(frame.data)
  // Deleting one's own message is no admin action.
  const own = await post(rootSocket, 'mine')
  await change(rootSocket, { type: 'delete', id: own.id })
  const audit = await request(`${server.url}/api/v1/admin/audit`, { headers: bearer(root.token) })
  expect(audit.body.data.entries.filter((e: { action: string }) => e.action === 'message.delete')).toEqual([
    { id: expect.any(Number), at: expect.any(String), actor: root.user, action: 'message.delete', target: { room: 'lobby', messageId: m.id } },
  ])
})

test('only the author edits: another member and an admin get FORBIDDEN, and nothing changes', async () => {
  await using server = await startTestServer()
  const root = await registerAdmin(server)
  const alice = await register(server.url, 'alice')
  const bob = await register(server.url, 'bob')
  using aliceSocket = await connect(server, alice.token)
  using bobSocket = await connect(server, bob.token)
  using rootSocket = await connect(server, root.token)
  const m = await post(aliceSocket, 'mine')
  for (const socket of [bobSocket, rootSocket]) {
    socket.send({ type: 'edit', id: m.id, text: 'yours now' })
    expect(await socket.next('error')).toEqual(errorFrame('FORBIDDEN'))
  }
  // The socket stays open and nothing was stored: the next message follows the first directly.
  const next = await post(bobSocket, 'still here')
  expect(next.id).toBe(m.id + 1)
  expect(await storedMessages(server, 'lobby')).toEqual([m, next].map(({ nonce: _, ...rest }) => expect.objectContaining(rest)))
  expect(aliceSocket.frames.filter((f) => f.type === 'edited' || f.type === 'deleted')).toEqual([])
})

test('an unknown id, another room, an event id and a deleted message are MESSAGE_NOT_FOUND, for edit and delete', async () => {
  await using server = await startTestServer()
  const root = await registerAdmin(server)
  using socket = await connect(server, root.token)
  using elsewhere = await connect(server, root.token, 'elsewhere')
  const m = await post(socket, 'here')
  const there = await post(elsewhere, 'there')
  const event = await change(socket, { type: 'edit', id: m.id, text: 'here, edited' })
  const gone = await post(socket, 'gone')
  await change(socket, { type: 'delete', id: gone.id })
  const before = await storedMessages(server, 'lobby')
  for (const id of [999_999, there.id, event.data.id, gone.id]) {
    expect({ id, edit: await refusal(socket, { type: 'edit', id, text: 'x' }) }).toEqual({ id, edit: 'MESSAGE_NOT_FOUND' })
    expect({ id, delete: await refusal(socket, { type: 'delete', id }) }).toEqual({ id, delete: 'MESSAGE_NOT_FOUND' })
  }
  expect(await storedMessages(server, 'lobby')).toEqual(before)
  expect(await storedMessages(server, 'elsewhere')).toEqual([expect.objectContaining({ id: there.id, text: 'there' })])
})

test('edit text follows the message rules and ids must be message ids: MESSAGE_INVALID, nothing stored', async () => {
  await using server = await startTestServer()
  const alice = await registerAdmin(server, 'alice')
  using socket = await connect(server, alice.token)
  const m = await post(socket, 'original')
  const frames = [
    { type: 'edit', id: m.id, text: '' },
    { type: 'edit', id: m.id, text: '   ' },
    { type: 'edit', id: m.id, text: '\u200b' },
    { type: 'edit', id: m.id, text: 'x'.repeat(4001) },
    { type: 'edit', id: m.id, text: 'a\u0000b' },
    { type: 'edit', id: m.id, text: 7 },
    { type: 'edit', id: m.id },
    { type: 'edit', text: 'no id' },
    { type: 'edit', id: String(m.id), text: 'x' },
    { type: 'delete', id: 0 },
    { type: 'delete', id: -1 },
    { type: 'delete', id: 1.5 },
    { type: 'delete', id: 2 ** 53 },
    { type: 'delete', id: null },
    { type: 'delete' },
  ]
  for (const frame of frames) {
    socket.send(frame)
    expect({ frame, answer: await socket.next() }).toEqual({ frame, answer: errorFrame('MESSAGE_INVALID') })
  }
  // 4000 code points (emoji are two UTF-16 units each) is within the limit.
  expect((await change(socket, { type: 'edit', id: m.id, text: '😀'.repeat(4000) })).data.text).toBe('😀'.repeat(4000))
})

test('a read-only socket sending edit or delete is closed 1008 READ_ONLY and nothing changes', async () => {
  await using server = await startTestServer()
  const alice = await registerAdmin(server, 'alice')
  using socket = await connect(server, alice.token)
  const m = await post(socket, 'mine')
  for (const frame of [
    { type: 'edit', id: m.id, text: 'hijacked' },
    { type: 'delete', id: m.id },
    { type: 'edit', id: m.id, text: '' },
  ]) {
    using reader = await connect(server)
    reader.send(frame)
    expect(await reader.closed).toEqual({ code: CLOSE.READ_ONLY.code, reason: CLOSE.READ_ONLY.reason })
  }
  expect(await storedMessages(server, 'lobby')).toEqual([m])
})

test('edits and deletions have their own rate limit, apart from messages (spec §3 counts only messages): past its burst, RATE_LIMITED and nothing stored', async () => {
  const clock = START
  await using server = await startTestServer({ now: () => clock, config: { messageBurst: 3, messageRate: 1 } })
  const alice = await registerAdmin(server, 'alice')
  using socket = await connect(server, alice.token)
  const m = await post(socket, 'one')
  await post(socket, 'two')
  await post(socket, 'three')
  // The message budget is spent; the change budget is not.
  await change(socket, { type: 'edit', id: m.id, text: 'edit 1' })
  await change(socket, { type: 'edit', id: m.id, text: 'edit 2' })
  await change(socket, { type: 'edit', id: m.id, text: 'edit 3' })
  expect(await sendChange(socket, { type: 'delete', id: m.id })).toEqual(errorFrame('RATE_LIMITED'))
  expect(await storedMessages(server, 'lobby')).toEqual([
    expect.objectContaining({ id: m.id, text: 'edit 3' }),
    expect.objectContaining({ text: 'two' }),
    expect.objectContaining({ text: 'three' }),
  ])
})

test('DELETE /api/v1/rooms/{room}/messages/{id}: 204 for the author or an admin, broadcast as `deleted`', async () => {
  await using server = await startTestServer()
  const root = await registerAdmin(server)
  const alice = await register(server.url, 'alice')
  using socket = await connect(server, alice.token)
  const mine = await post(socket, 'mine')
  const other = await post(socket, 'for the admin')
  const byAuthor = await request(`${roomMessages(server, 'lobby')}/${mine.id}`, { method: 'DELETE', headers: bearer(alice.token) })
  expect({ status: byAuthor.status, body: byAuthor.body }).toEqual({ status: 204, body: null })
  expect(await socket.next('deleted')).toEqual({ type: 'deleted', error: null, data: { id: other.id + 1, messageId: mine.id } })
  const byAdmin = await request(`${roomMessages(server, 'lobby')}/${other.id}`, { method: 'DELETE', headers: bearer(root.token) })
  expect(byAdmin.status).toBe(204)
  expect((await socket.next('deleted')).data).toEqual({ id: other.id + 2, messageId: other.id })
  expect((await storedMessages(server, 'lobby')).map((m) => m.deleted)).toEqual([true, true])
})

test('DELETE refusals: 401 without a valid token, 403 for a member, 404 for unknown or deleted ids and non-ids, 400 for a bad room', async () => {
  await using server = await startTestServer()
  await registerAdmin(server)
  const alice = await register(server.url, 'alice')
  const bob = await register(server.url, 'bob')
  using socket = await connect(server, alice.token)
  const m = await post(socket, 'mine')
  const gone = await post(socket, 'gone')
  await change(socket, { type: 'delete', id: gone.id })
  const del = (path: string, token?: string) => request(`${server.url}${path}`, { method: 'DELETE', headers: token ? bearer(token) : {} })
  const base = '/api/v1/rooms/lobby/messages'
  const cases: [string, string | undefined, number, string][] = [
    [`${base}/${m.id}`, undefined, 401, 'TOKEN_INVALID'],
    [`${base}/${m.id}`, 'not.a.token', 401, 'TOKEN_INVALID'],
    [`${base}/${m.id}`, bob.token, 403, 'FORBIDDEN'],
    [`${base}/999999`, alice.token, 404, 'MESSAGE_NOT_FOUND'],
    [`${base}/${gone.id}`, alice.token, 404, 'MESSAGE_NOT_FOUND'],
    [`/api/v1/rooms/elsewhere/messages/${m.id}`, alice.token, 404, 'MESSAGE_NOT_FOUND'],
    [`${base}/abc`, alice.token, 404, 'MESSAGE_NOT_FOUND'],
    [`${base}/0`, alice.token, 404, 'MESSAGE_NOT_FOUND'],
    [`${base}/01`, alice.token, 404, 'MESSAGE_NOT_FOUND'],
    [`${base}/99999999999999999`, alice.token, 404, 'MESSAGE_NOT_FOUND'],
    [`/api/v1/rooms/-bad/messages/${m.id}`, alice.token, 400, 'ROOM_INVALID'],
  ]
  for (const [path, token, status, type] of cases) {
    const res = await del(path, token)
    expect({ path, status: res.status, body: res.body }).toEqual({ path, status, body: { error: { type, message: expect.any(String) }, data: null } })
  }
  // The route's own checks come before the method check (spec §2).
  const get = await request(`${server.url}${base}/${m.id}`)
  expect({ status: get.status, allow: get.headers.get('allow') }).toEqual({ status: 405, allow: 'DELETE' })
  expect((await request(`${server.url}/api/v1/rooms/-bad/messages/${m.id}`)).status).toBe(400)
  expect((await request(`${server.url}${base}/abc`)).status).toBe(404)
  expect(await storedMessages(server, 'lobby')).toEqual([
    expect.objectContaining({ id: m.id, text: 'mine' }),
    expect.objectContaining({ id: gone.id, deleted: true }),
  ])
})
