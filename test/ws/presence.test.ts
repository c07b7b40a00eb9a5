/**
 * Presence (spec §3): `join` when a user's first connection to a room opens, `leave` when the last
 * one closes — two tabs are one presence — and `welcome.members` lists the logged-in users present,
 * never read-only readers.
 *
 * "No frame was sent" is checked without waiting for time: the watcher's next frame must be a marker
 * posted afterwards, since a room's frames reach each socket in order. A client's own close handshake
 * completes only after the server has run its close handler (same process), so awaiting `closed` is
 * enough for the server to have seen it.
 */
import { expect, test } from 'bun:test'
import { CLOSE } from '../../src/protocol.ts'
import { register, type Account } from '../support/http.ts'
import { post, roomWs } from '../support/rooms.ts'
import { startTestServer, type TestServer } from '../support/server.ts'
import { openSocket, type TestSocket } from '../support/socket.ts'

async function join(server: TestServer, account?: Account, room = 'lobby'): Promise<TestSocket & { members: Account['user'][] }> {
  const socket = await openSocket(roomWs(server, room), account ? [account.token] : undefined)
  const welcome = await socket.next('welcome')
  return Object.assign(socket, { members: welcome.data.members })
}

async function leave(socket: TestSocket): Promise<void> {
  socket.close()
  await socket.closed
}

const byId = (users: { id: number }[]) => [...users].sort((a, b) => a.id - b.id)
const joinFrame = (user: Account['user']) => ({ type: 'join' as const, error: null, data: { user } })
const leaveFrame = (user: Account['user']) => ({ type: 'leave' as const, error: null, data: { user } })

/** The watcher's next frame is the marker posted now: nothing else was sent to the room before it. */
async function expectNothingBefore(watcher: TestSocket, poster: TestSocket): Promise<void> {
  const text = `marker ${++markers}`
  poster.send({ type: 'message', text })
  const next = await watcher.next()
  expect(next.type).toBe('message')
  expect(next.data.text).toBe(text)
}

let markers = 0

test("a user's first connection sends join to the others, and welcome lists them", async () => {
  await using server = await startTestServer()
  const alice = await register(server.url, 'alice')
  const bob = await register(server.url, 'bob')
  using a = await join(server, alice)
  expect(a.members).toEqual([alice.user])
  using b = await join(server, bob)
  expect(byId(b.members)).toEqual([alice.user, bob.user])
  expect(await a.next()).toEqual(joinFrame(bob.user))
})

test('a connecting user gets no join for itself', async () => {
  await using server = await startTestServer()
  const alice = await register(server.url, 'alice')
  using a = await join(server, alice)
  const marker = await post(a, 'first frame after welcome')
  expect(a.frames.map((f) => f.type)).toEqual(['welcome', 'message'])
  expect(a.frames[1]!.data).toEqual(marker)
})

test('a second tab of the same user sends no second join and is listed once', async () => {
  await using server = await startTestServer()
  const alice = await register(server.url, 'alice')
  const bob = await register(server.url, 'bob')
  using a = await join(server, alice)
  using tab1 = await join(server, bob)
  expect(await a.next()).toEqual(joinFrame(bob.user))
  using tab2 = await join(server, bob)
  expect(byId(tab2.members)).toEqual([alice.user, bob.user])
  await expectNothingBefore(a, tab2)
  expect((await tab1.next()).data.text).toBe(a.frames.at(-1)!.data.text)
})

test('closing one of two tabs sends no leave; closing the last one does', async () => {
  await using server = await startTestServer()
  const alice = await register(server.url, 'alice')
  const bob = await register(server.url, 'bob')
  using a = await join(server, alice)
  const tab1 = await join(server, bob)
  const tab2 = await join(server, bob)
  expect(await a.next()).toEqual(joinFrame(bob.user))
  await leave(tab1)
  await expectNothingBefore(a, tab2)
  await leave(tab2)
  expect(await a.next()).toEqual(leaveFrame(bob.user))
  const carol = await register(server.url, 'carol')
  using c = await join(server, carol)
  expect(byId(c.members)).toEqual([alice.user, carol.user])
})

test('welcome.members lists every logged-in user present, each once', async () => {
  await using server = await startTestServer()
  const accounts = await Promise.all(['alice', 'bob', 'carol'].map((name) => register(server.url, name)))
  const sockets = []
  for (const account of accounts) sockets.push(await join(server, account))
  sockets.push(await join(server, accounts[1]))
  const dave = await register(server.url, 'dave')
  using d = await join(server, dave)
  expect(byId(d.members)).toEqual(byId([...accounts.map((a) => a.user), dave.user]))
  for (const s of sockets) s.close()
})

test('read-only readers are not listed in members and send no join or leave', async () => {
  await using server = await startTestServer()
  const alice = await register(server.url, 'alice')
  using a = await join(server, alice)
  const reader = await join(server)
  expect(reader.members).toEqual([alice.user])
  await expectNothingBefore(a, a)
  using other = await join(server)
  expect(other.members).toEqual([alice.user])
  await leave(reader)
  await expectNothingBefore(a, a)
  const bob = await register(server.url, 'bob')
  using b = await join(server, bob)
  expect(byId(b.members)).toEqual([alice.user, bob.user])
})

test('presence is per room: joining another room sends nothing here', async () => {
  await using server = await startTestServer()
  const alice = await register(server.url, 'alice')
  const bob = await register(server.url, 'bob')
  using a = await join(server, alice, 'lobby')
  using elsewhere = await join(server, bob, 'other')
  expect(elsewhere.members).toEqual([bob.user])
  await expectNothingBefore(a, a)
})

test('a socket closed by the server (here for a binary frame) sends leave', async () => {
  await using server = await startTestServer()
  const alice = await register(server.url, 'alice')
  const bob = await register(server.url, 'bob')
  using a = await join(server, alice)
  const b = await join(server, bob)
  expect(await a.next()).toEqual(joinFrame(bob.user))
  b.sendRaw(new Uint8Array([1, 2, 3]))
  expect((await b.closed).code).toBe(CLOSE.BINARY_UNSUPPORTED.code)
  expect(await a.next()).toEqual(leaveFrame(bob.user))
})

test('a user who left and comes back sends join again', async () => {
  await using server = await startTestServer()
  const alice = await register(server.url, 'alice')
  const bob = await register(server.url, 'bob')
  using a = await join(server, alice)
  await leave(await join(server, bob))
  expect(await a.next()).toEqual(joinFrame(bob.user))
  expect(await a.next()).toEqual(leaveFrame(bob.user))
  using again = await join(server, bob)
  expect(await a.next()).toEqual(joinFrame(bob.user))
})
