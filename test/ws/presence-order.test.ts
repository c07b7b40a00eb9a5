/**
 * Presence in bursts (spec §3): users arriving or leaving back to back, with messages, typing and
 * closes in between. Each socket's welcome and the presence frames after it must tell one consistent
 * story: a join for each user who arrived after its welcome and none for those it listed or itself,
 * a leave only for someone it was told of, and no frame from a user before that user's join. (These
 * pinned the behaviour while a version that held a room's presence frames back for up to 100 ms to
 * send them together was measured; docs/PERFORMANCE.md, "Reconnect storm".)
 */
import { expect, test } from 'bun:test'
import { register, type Account } from '../support/http.ts'
import { roomWs } from '../support/rooms.ts'
import { startTestServer, type TestServer } from '../support/server.ts'
import { openSocket, type Frame, type TestSocket } from '../support/socket.ts'

type User = Account['user']

async function enter(server: TestServer, account?: Account): Promise<TestSocket & { members: User[] }> {
  const socket = await openSocket(roomWs(server, 'lobby'), account ? [account.token] : undefined)
  const welcome = await socket.next('welcome')
  return Object.assign(socket, { members: welcome.data.members as User[] })
}

let markers = 0

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

const joinOf = (user: User) => ({ type: 'join' as const, error: null, data: { user } })
const leaveOf = (user: User) => ({ type: 'leave' as const, error: null, data: { user } })
const ids = (users: User[]) => users.map((u) => u.id).sort((a, b) => a - b)

test('users arriving back to back: each socket gets the joins of those after it, in order, once, and none it was welcomed with', async () => {
  await using server = await startTestServer()
  const accounts = await Promise.all(['alice', 'bob', 'carol', 'dave', 'erin'].map((name) => register(server.url, name)))
  const sockets: (TestSocket & { members: User[] })[] = []
  for (const account of accounts) sockets.push(await enter(server, account))
  const reader = await enter(server)
  const frames = await framesUntilMarker(sockets[0]!, [...sockets, reader])
  sockets.forEach((socket, i) => {
    expect(ids(socket.members)).toEqual(ids(accounts.slice(0, i + 1).map((a) => a.user)))
    expect(frames[i]).toEqual(accounts.slice(i + 1).map((a) => joinOf(a.user)))
  })
  expect(ids(reader.members)).toEqual(ids(accounts.map((a) => a.user)))
  expect(frames.at(-1)).toEqual([])
  for (const socket of [...sockets, reader]) socket.close()
})

test('a message, typing or a leave that follows a join reaches the others after that join', async () => {
  await using server = await startTestServer()
  const [alice, bob, carol, dave] = await Promise.all(['alice', 'bob', 'carol', 'dave'].map((name) => register(server.url, name)))
  using a = await enter(server, alice!)
  // Bob posts the moment he is in: his join, which may still wait, goes first.
  using b = await enter(server, bob!)
  b.send({ type: 'message', text: 'hi from bob' })
  expect(await a.next()).toEqual(joinOf(bob!.user))
  expect((await a.next()).data.text).toBe('hi from bob')
  // Carol types at once.
  using c = await enter(server, carol!)
  c.send({ type: 'typing' })
  expect(await a.next()).toEqual(joinOf(carol!.user))
  expect(await a.next()).toEqual({ type: 'typing', error: null, data: { user: carol!.user } })
  // Dave leaves at once: join, then leave, to everyone who was there before him.
  const d = await enter(server, dave!)
  d.close()
  await d.closed
  for (const socket of [a, b, c]) {
    const seen: Frame[] = []
    while (seen.length < 2) {
      const frame = await socket.next()
      if ((frame.type === 'join' || frame.type === 'leave') && frame.data.user.id === dave!.user.id) seen.push(frame)
    }
    expect(seen).toEqual([joinOf(dave!.user), leaveOf(dave!.user)])
  }
})

test('users leaving back to back: the others get each leave once, in order, and a socket opened meanwhile none for those its welcome left out', async () => {
  await using server = await startTestServer()
  const accounts = await Promise.all(['alice', 'bob', 'carol', 'dave', 'erin'].map((name) => register(server.url, name)))
  const sockets: (TestSocket & { members: User[] })[] = []
  for (const account of accounts) sockets.push(await enter(server, account))
  const [a, ...rest] = sockets
  expect(await framesUntilMarker(a!, sockets)).toEqual(sockets.map((_, i) => accounts.slice(i + 1).map((x) => joinOf(x.user))))
  // Bob and carol go; a reader comes; dave and erin go.
  for (const socket of rest.slice(0, 2)) {
    socket.close()
    await socket.closed
  }
  const reader = await enter(server)
  expect(ids(reader.members)).toEqual(ids([accounts[0]!.user, accounts[3]!.user, accounts[4]!.user]))
  for (const socket of rest.slice(2)) {
    socket.close()
    await socket.closed
  }
  const [fromA, fromReader] = await framesUntilMarker(a!, [a!, reader])
  expect(fromA).toEqual(accounts.slice(1).map((x) => leaveOf(x.user)))
  expect(fromReader).toEqual(accounts.slice(3).map((x) => leaveOf(x.user)))
  a!.close()
  reader.close()
})

test('sockets opening and closing in any order: every open socket ends with the room as it is, never hearing a join or leave out of turn', async () => {
  await using server = await startTestServer()
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
    const socket = await enter(server, account)
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
