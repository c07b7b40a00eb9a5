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
import { describe, expect, test } from 'bun:test'
import { CLOSE } from '../../src/protocol.ts'
import { PRESENCE_WINDOW_FROM } from '../../src/ws/presence-window.ts'
import { register, type Account } from '../support/http.ts'
import { post, roomWs } from '../support/rooms.ts'
import { startTestServer, type TestServer } from '../support/server.ts'
import { openSocket, type Frame, type TestSocket } from '../support/socket.ts'

type User = Account['user']

async function join(server: TestServer, account?: Account, room = 'lobby'): Promise<TestSocket & { members: User[] }> {
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

// Presence in bursts: users arriving or leaving back to back, with messages, typing and closes in
// between. Each socket's welcome and the presence frames after it must tell one consistent story.

/** Posts a marker from `poster` and returns, for each socket, the frames it got before the marker (after what was read already). */
async function framesUntilMarker(poster: TestSocket, sockets: TestSocket[]): Promise<Frame[][]> {
  const text = `marker ${++markers}`
  poster.send({ type: 'message', text })
  return Promise.all(
    sockets.map(async (socket) => {
      const before: Frame[] = []
      for (;;) {
        const frame = await socket.next()
        if (frame.type === 'message' && frame.data.text === text) return before
        before.push(frame)
      }
    }),
  )
}

const ids = (users: User[]) => byId(users).map((u) => u.id)

/**
 * `count` read-only readers in `room`, opened first: from PRESENCE_WINDOW_FROM sockets a room's
 * presence frames may wait for each other (src/ws/presence-window.ts), and below it they go out at
 * once; the tests below hold either way. The server closes them when it stops.
 */
async function crowdIn(server: TestServer, count: number, room = 'lobby'): Promise<void> {
  for (let i = 0; i < count; i++) await join(server, undefined, room)
}

describe.each([
  ['a small room', 0],
  ['a crowded room', PRESENCE_WINDOW_FROM],
])('in %s', (_, crowd) => {
  test('users arriving back to back: each socket gets the joins of those after it, in order, once, and none it was welcomed with', async () => {
    await using server = await startTestServer()
    await crowdIn(server, crowd)
    const accounts = await Promise.all(['alice', 'bob', 'carol', 'dave', 'erin'].map((name) => register(server.url, name)))
    const sockets: (TestSocket & { members: User[] })[] = []
    for (const account of accounts) sockets.push(await join(server, account))
    const reader = await join(server)
    const frames = await framesUntilMarker(sockets[0]!, [...sockets, reader])
    sockets.forEach((socket, i) => {
      expect(ids(socket.members)).toEqual(ids(accounts.slice(0, i + 1).map((a) => a.user)))
      expect(frames[i]).toEqual(accounts.slice(i + 1).map((a) => joinFrame(a.user)))
    })
    expect(ids(reader.members)).toEqual(ids(accounts.map((a) => a.user)))
    expect(frames.at(-1)).toEqual([])
    for (const socket of [...sockets, reader]) socket.close()
  })

  test('a message, typing or a leave that follows a join reaches the others after that join', async () => {
    await using server = await startTestServer()
    await crowdIn(server, crowd)
    const [alice, bob, carol, dave] = await Promise.all(['alice', 'bob', 'carol', 'dave'].map((name) => register(server.url, name)))
    using a = await join(server, alice!)
    // Bob posts the moment he is in: his join reaches alice first.
    using b = await join(server, bob!)
    b.send({ type: 'message', text: 'hi from bob' })
    expect(await a.next()).toEqual(joinFrame(bob!.user))
    expect((await a.next()).data.text).toBe('hi from bob')
    // Carol types at once.
    using c = await join(server, carol!)
    c.send({ type: 'typing' })
    expect(await a.next()).toEqual(joinFrame(carol!.user))
    expect(await a.next()).toEqual({ type: 'typing', error: null, data: { user: carol!.user } })
    // Dave leaves at once: join, then leave, to everyone who was there before him.
    const d = await join(server, dave!)
    d.close()
    await d.closed
    for (const socket of [a, b, c]) {
      const seen: Frame[] = []
      while (seen.length < 2) {
        const frame = await socket.next()
        if ((frame.type === 'join' || frame.type === 'leave') && frame.data.user.id === dave!.user.id) seen.push(frame)
      }
      expect(seen).toEqual([joinFrame(dave!.user), leaveFrame(dave!.user)])
    }
  })

  test('users leaving back to back: the others get each leave once, in order, and a socket opened meanwhile none for those its welcome left out', async () => {
    await using server = await startTestServer()
    await crowdIn(server, crowd)
    const accounts = await Promise.all(['alice', 'bob', 'carol', 'dave', 'erin'].map((name) => register(server.url, name)))
    const sockets: (TestSocket & { members: User[] })[] = []
    for (const account of accounts) sockets.push(await join(server, account))
    const [a, ...rest] = sockets
    expect(await framesUntilMarker(a!, sockets)).toEqual(sockets.map((_, i) => accounts.slice(i + 1).map((x) => joinFrame(x.user))))
    // Bob and carol go; a reader comes; dave and erin go.
    for (const socket of rest.slice(0, 2)) {
      socket.close()
      await socket.closed
    }
    const reader = await join(server)
    expect(ids(reader.members)).toEqual(ids([accounts[0]!.user, accounts[3]!.user, accounts[4]!.user]))
    for (const socket of rest.slice(2)) {
      socket.close()
      await socket.closed
    }
    const [fromA, fromReader] = await framesUntilMarker(a!, [a!, reader])
    expect(fromA).toEqual(accounts.slice(1).map((x) => leaveFrame(x.user)))
    expect(fromReader).toEqual(accounts.slice(3).map((x) => leaveFrame(x.user)))
    a!.close()
    reader.close()
  })

  test('sockets opening and closing in any order: every open socket ends with the room as it is, never hearing a join or leave out of turn', async () => {
    await using server = await startTestServer()
    await crowdIn(server, crowd)
    const accounts = await Promise.all(['u0', 'u1', 'u2', 'u3', 'u4', 'u5'].map((name) => register(server.url, name)))
    // A fixed pseudo-random sequence (xorshift), so a failure is repeatable.
    let seed = 0x2f6b_a1c3
    const random = (n: number) => {
      seed ^= seed << 13
      seed ^= seed >>> 17
      seed ^= seed << 5
      return (seed >>> 0) % n
    }
    interface Tracked {
      socket: TestSocket
      user: User
      /** The presence this socket has been told of: its welcome, then its joins and leaves. */
      told: Set<number>
    }
    const open: Tracked[] = []
    const track = async (account: Account): Promise<Tracked> => {
      const socket = await join(server, account)
      const tracked = { socket, user: account.user, told: new Set(socket.members.map((u) => u.id)) }
      expect(tracked.told.has(account.user.id)).toBe(true)
      return tracked
    }
    const closing: Promise<unknown>[] = []
    const keeper = await track(accounts[0]!)
    for (let step = 0; step < 40; step++) {
      if (open.length > 0 && random(3) === 0) {
        const [gone] = open.splice(random(open.length), 1)
        gone!.socket.close()
        closing.push(gone!.socket.closed)
        // Sometimes the next socket opens while this one is still closing.
        if (random(2) === 0) await gone!.socket.closed
      } else {
        open.push(await track(accounts[1 + random(accounts.length - 1)]!))
      }
    }
    // The server has run every close handler before the marker (a client's close completes after it).
    await Promise.all(closing)
    const everyone = [keeper, ...open]
    const frames = await framesUntilMarker(
      keeper.socket,
      everyone.map((t) => t.socket),
    )
    const present = new Set(everyone.map((t) => t.user.id))
    everyone.forEach((tracked, i) => {
      for (const frame of frames[i]!) {
        if (frame.type === 'join') {
          expect(tracked.told.has(frame.data.user.id)).toBe(false)
          tracked.told.add(frame.data.user.id)
        } else if (frame.type === 'leave') {
          expect(tracked.told.has(frame.data.user.id)).toBe(true)
          tracked.told.delete(frame.data.user.id)
        }
      }
      expect([...tracked.told].sort((a, b) => a - b)).toEqual([...present].sort((a, b) => a - b))
    })
    for (const tracked of everyone) tracked.socket.close()
  })

  test('joins waiting in several rooms at once each reach their room in time, with no later frame to push them out', async () => {
    await using server = await startTestServer()
    await crowdIn(server, crowd, 'lobby')
    await crowdIn(server, crowd, 'annex')
    const [alice, bob, carol, dave] = await Promise.all(['alice', 'bob', 'carol', 'dave'].map((name) => register(server.url, name)))
    // In each room the first join goes out at once; in a crowded one those right after it wait for the room's window to close.
    using a = await join(server, alice!, 'lobby')
    using b = await join(server, bob!, 'lobby')
    using c = await join(server, carol!, 'annex')
    using d = await join(server, dave!, 'annex')
    using a2 = await join(server, alice!, 'annex')
    const started = performance.now()
    expect(await a.next()).toEqual(joinFrame(bob!.user))
    expect(await c.next()).toEqual(joinFrame(dave!.user))
    expect(await c.next()).toEqual(joinFrame(alice!.user))
    expect(await d.next()).toEqual(joinFrame(alice!.user))
    // A window is 100 ms: well within a second even on a loaded machine.
    expect(performance.now() - started).toBeLessThan(1000)
    expect(ids(b.members)).toEqual(ids([alice!.user, bob!.user]))
    expect(ids(a2.members)).toEqual(ids([carol!.user, dave!.user, alice!.user]))
  })
})
