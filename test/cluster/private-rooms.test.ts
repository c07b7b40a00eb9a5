/**
 * Spec §6 in a cluster: two instances (child processes) on one PostgreSQL and one Redis. What is
 * done on instance A reaches the people concerned on instance B: a removed member's socket on B
 * closes with 4004 within 2 s and their user stream there gets `room` {member:false}; a name
 * registered private on A closes the sockets reading it on B (not the owner's); a member added on A
 * reads the room on B while an outsider gets 4004 on both; messages, read markers and mentions made
 * on A move the counts and raise `unread`, `read` and `mention` on the user stream on B; `typing` on
 * A reaches the others on B, throttled to one every 2 s per user and room; a DM opened on A is the
 * same room from B.
 */
import { expect } from 'bun:test'
import { CLOSE } from '../../src/protocol.ts'
import { ROOM_LIMITS } from '../../src/protocol-rooms.ts'
import { call, closedWithin2s, expectError } from '../support/accounts.ts'
import { startChildServer, type ChildServer } from '../support/child-server.ts'
import { register, type Account } from '../support/http.ts'
import {
  addMember,
  connectRoom,
  createRoom,
  expectMyRoom,
  expectRoomNotFoundSocket,
  frameOf,
  framesOf,
  get,
  historyPath,
  markRead,
  openDm,
  openUserStream,
  removeMember,
  sync,
  type AnyFrame,
  unreadReaches,
} from '../support/private-rooms.ts'
import { errorFrame, post, roomWs } from '../support/rooms.ts'
import { requireServices } from '../support/require-services.ts'
import type { TestServer } from '../support/server.ts'
import { startPostgres, startRedis, type Service } from '../support/services.ts'
import { openSocket, type TestSocket } from '../support/socket.ts'
import { until } from '../support/wait.ts'

// Skipped, with one line per missing service, where PostgreSQL or redis-server is not installed.
const { test, beforeAll, afterAll } = requireServices('postgresql', 'redis-server')

const CLUSTER_ENV = { INSTANCE_TTL: '3', MESSAGE_RATE: '1000', MESSAGE_BURST: '1000' }

let pg: Service
let redis: Service
let a: ChildServer
let b: ChildServer
/** The same instances as the §6 helpers take them (they only read `url` and `wsUrl`). */
let A: TestServer
let B: TestServer
let admin: Account

beforeAll(async () => {
  ;[pg, redis] = await Promise.all([startPostgres(), startRedis()])
  const env = { REDIS_URL: redis.url, ...CLUSTER_ENV }
  ;[a, b] = await Promise.all([startChildServer({ database: pg.url, env }), startChildServer({ database: pg.url, env })])
  A = a as unknown as TestServer
  B = b as unknown as TestServer
  // The cluster's first account is its admin (spec §5); the tests' users are ordinary ones.
  admin = await register(a.url, 'root')
}, 60_000)

afterAll(async () => {
  await Promise.all([a, b].map((s) => s?.stop(2000).catch(() => {})))
  await Promise.all([pg?.[Symbol.asyncDispose](), redis?.[Symbol.asyncDispose]()])
})

/** Signs up `names` (suffixed with the test's tag, so every test has its own users), alternating A and B. */
async function people<const N extends string[]>(tag: string, ...names: N): Promise<{ [K in keyof N]: Account }> {
  const accounts: Account[] = []
  for (const [i, name] of names.entries()) accounts.push(await register((i % 2 ? b : a).url, `${name}-${tag}`))
  return accounts as { [K in keyof N]: Account }
}

/** The `room` frame of the user stream as spec §6 words it. */
const roomEvent = (room: string, member: boolean) => ({ type: 'room', error: null, data: { room, visibility: 'private', member } })

const typingFrames = (socket: TestSocket) => socket.frames.filter((f) => f.type === 'typing')

test('a member removed on A: their socket to the room on B gets error ROOM_NOT_FOUND and 4004 within 2 s, their stream on B gets room {member:false}', async () => {
  const [alice, bob] = await people('evict', 'alice', 'bob')
  const room = 'evict-room'
  await createRoom(A, alice, room)
  await addMember(A, alice, room, bob.user.username)
  const { stream: bobStream } = await openUserStream(B, bob)
  const bobOnB = await connectRoom(B, room, bob)
  const bobOnA = await connectRoom(A, room, bob)
  const aliceOnB = await connectRoom(B, room, alice)

  await removeMember(A, alice, room, bob.user.username)
  // Every instance: B through the notice from A, A itself.
  expect(await closedWithin2s(bobOnB)).toEqual({ ...CLOSE.ROOM_NOT_FOUND, error: 'ROOM_NOT_FOUND' })
  expect(await closedWithin2s(bobOnA)).toEqual({ ...CLOSE.ROOM_NOT_FOUND, error: 'ROOM_NOT_FOUND' })
  expect(bobOnB.frames.at(-1)).toEqual(errorFrame('ROOM_NOT_FOUND'))
  expect(await frameOf(bobStream, 'room', (d) => d.room === room)).toEqual(roomEvent(room, false))

  // The owner's socket on B stays, and sees bob leave.
  await sync(aliceOnB)
  expect((await frameOf(aliceOnB, 'leave')).data).toEqual({ user: bob.user })
  // From now on B treats bob as an outsider.
  await expectRoomNotFoundSocket(B, room, bob)
  expectError(await get(B, historyPath(room), bob), 404, 'ROOM_NOT_FOUND')
  expect((await get(B, historyPath(room), alice)).status).toBe(200)
  for (const s of [bobStream, aliceOnB]) s.close()
})

test('a member who removes themselves on A loses their socket on B the same way', async () => {
  const [alice, bob] = await people('leave', 'alice', 'bob')
  const room = 'leave-room'
  await createRoom(B, alice, room)
  await addMember(B, alice, room, bob.user.username)
  const { stream: bobStream } = await openUserStream(B, bob)
  const bobOnB = await connectRoom(B, room, bob)
  await removeMember(A, bob, room, bob.user.username)
  expect(await closedWithin2s(bobOnB)).toEqual({ ...CLOSE.ROOM_NOT_FOUND, error: 'ROOM_NOT_FOUND' })
  expect(await frameOf(bobStream, 'room', (d) => d.room === room)).toEqual(roomEvent(room, false))
  bobStream.close()
})

test('a removal on A racing the member connecting on B never leaves them reading: the socket ends with 4004 within 2 s', async () => {
  const [alice, bob] = await people('race', 'alice', 'bob')
  const room = 'race-room'
  await createRoom(A, alice, room)
  const aliceOnA = await connectRoom(A, room, alice)
  for (let round = 0; round < 10; round++) {
    await addMember(A, alice, room, bob.user.username)
    // The upgrade on B and the removal on A at once, the removal a little later each round.
    const connecting = openSocket(roomWs(B, room), [bob.token])
    await Bun.sleep(round * 3)
    await removeMember(A, alice, room, bob.user.username)
    const socket = await connecting
    const ending = await closedWithin2s(socket)
    expect({ round, ...ending }).toEqual({ round, ...CLOSE.ROOM_NOT_FOUND, error: 'ROOM_NOT_FOUND' })
  }
  // Out for good: B refuses him, and the owner's socket was never disturbed.
  await expectRoomNotFoundSocket(B, room, bob)
  await post(aliceOnA, 'after the race')
  aliceOnA.close()
})

test("a name registered private on A closes the sockets reading it on B with 4004 (the owner's stay)", async () => {
  const [alice, carol] = await people('register', 'alice', 'carol')
  const room = 'register-room'
  // Readers of the empty, still public name: a logged-in one and an anonymous one on B, one on A; the owner on both.
  const carolOnB = await connectRoom(B, room, carol)
  const anonymousOnB = await connectRoom(B, room)
  const carolOnA = await connectRoom(A, room, carol)
  const aliceOnB = await connectRoom(B, room, alice)
  const aliceOnA = await connectRoom(A, room, alice)
  const { stream: aliceStream } = await openUserStream(B, alice)

  expect(await createRoom(A, alice, room, 'private')).toEqual({ name: room, visibility: 'private', topic: null, owner: alice.user })
  for (const socket of [carolOnB, anonymousOnB, carolOnA]) {
    expect(await closedWithin2s(socket)).toEqual({ ...CLOSE.ROOM_NOT_FOUND, error: 'ROOM_NOT_FOUND' })
  }
  // The owner's sockets stay open and usable, on both instances.
  for (const socket of [aliceOnB, aliceOnA]) await sync(socket)
  const said = await post(aliceOnA, 'still here')
  expect((await frameOf(aliceOnB, 'message', (d) => d.id === said.id)).data).toMatchObject({ text: 'still here' })
  // Her stream on B learns of the room she is now in.
  expect(await frameOf(aliceStream, 'room', (d) => d.room === room)).toEqual(roomEvent(room, true))
  await expectRoomNotFoundSocket(B, room, carol)
  await expectRoomNotFoundSocket(B, room)
  for (const s of [aliceOnB, aliceOnA, aliceStream]) s.close()
})

test('a member added on A opens the room on B and reads what is said on A; an outsider and an anonymous reader get 4004 on both', async () => {
  const [alice, bob, carol] = await people('member', 'alice', 'bob', 'carol')
  const room = 'member-room'
  await createRoom(A, alice, room, 'private', 'members only')
  // Before being added, bob is an outsider on B too.
  await expectRoomNotFoundSocket(B, room, bob)
  const { stream: bobStream } = await openUserStream(B, bob)
  await addMember(A, alice, room, bob.user.username)
  expect(await frameOf(bobStream, 'room', (d) => d.room === room)).toEqual(roomEvent(room, true))

  const aliceOnA = await connectRoom(A, room, alice)
  const bobOnB = await connectRoom(B, room, bob)
  expect(bobOnB.frames[0]!.data).toMatchObject({ room, readOnly: false, user: bob.user })
  const said = await post(aliceOnA, 'for members')
  expect((await frameOf(bobOnB, 'message', (d) => d.id === said.id)).data).toMatchObject({ text: 'for members', user: alice.user })
  const answer = await post(bobOnB, 'seen on B')
  expect((await frameOf(aliceOnA, 'message', (d) => d.id === answer.id)).data).toMatchObject({ text: 'seen on B', user: bob.user })
  // REST on B agrees with A.
  const members = await get(B, `/api/v1/rooms/${room}/members`, bob)
  expect(members.body.data.members).toEqual([alice.user, bob.user])
  expect((await get(B, historyPath(room), bob)).body.data.messages.map((m: { id: number }) => m.id)).toEqual([said.id, answer.id])

  for (const server of [A, B]) {
    await expectRoomNotFoundSocket(server, room, carol)
    await expectRoomNotFoundSocket(server, room)
    expectError(await get(server, historyPath(room), carol), 404, 'ROOM_NOT_FOUND')
    expectError(await get(server, `/api/v1/rooms/${room}/members`), 404, 'ROOM_NOT_FOUND')
  }
  // Nothing of it leaked to the members' sockets (no join of an outsider).
  await sync(bobOnB)
  expect(bobOnB.frames.filter((f) => f.type === 'join').map((f) => f.data.user.id)).not.toContain(carol.user.id)
  for (const s of [aliceOnA, bobOnB, bobStream]) s.close()
})

test("messages posted on A raise the unread count on the user's stream on B; a read marker set on A sends read there and the counts drop", async () => {
  const [alice, bob] = await people('unread', 'alice', 'bob')
  const room = 'unread-room'
  await createRoom(A, alice, room)
  await addMember(B, alice, room, bob.user.username)
  const { stream: bobStream, welcome } = await openUserStream(B, bob)
  expect(welcome.data.rooms).toContainEqual(expect.objectContaining({ name: room, unread: 0, mentions: 0 }))
  const { stream: bobStreamOnA } = await openUserStream(A, bob)

  const aliceOnA = await connectRoom(A, room, alice)
  const first = await post(aliceOnA, 'one')
  await unreadReaches(bobStream, room, { unread: 1, mentions: 0, lastMessageId: first.id })
  const second = await post(aliceOnA, 'two')
  const third = await post(aliceOnA, 'three')
  await unreadReaches(bobStream, room, { unread: 3, mentions: 0, lastMessageId: third.id })
  await expectMyRoom(B, bob, room, { lastMessageId: third.id, lastReadId: 0, unread: 3, mentions: 0 })

  // A marker set on A through REST: bob's streams on B and on A learn of it, and the count drops.
  await markRead(A, bob, room, second.id)
  for (const stream of [bobStream, bobStreamOnA]) {
    expect(await frameOf(stream, 'read', (d) => d.room === room)).toEqual({ type: 'read', error: null, data: { room, id: second.id } })
    await unreadReaches(stream, room, { unread: 1, mentions: 0, lastMessageId: third.id })
  }
  await expectMyRoom(B, bob, room, { lastReadId: second.id, unread: 1 })

  // The socket frame `read` on A does the same.
  const bobOnA = await connectRoom(A, room, bob)
  bobOnA.send({ type: 'read', id: third.id })
  expect(await frameOf(bobStream, 'read', (d) => d.room === room && d.id === third.id)).toEqual({
    type: 'read',
    error: null,
    data: { room, id: third.id },
  })
  await unreadReaches(bobStream, room, { unread: 0, mentions: 0, lastMessageId: third.id })
  await expectMyRoom(B, bob, room, { lastReadId: third.id, unread: 0 })

  // An older marker is ignored everywhere: no read event goes back.
  await markRead(A, bob, room, first.id)
  await expectMyRoom(B, bob, room, { lastReadId: third.id, unread: 0 })
  // bob's own messages never count as unread for him.
  await post(bobOnA, 'mine')
  const fourth = await post(aliceOnA, 'four')
  await unreadReaches(bobStream, room, { unread: 1, mentions: 0, lastMessageId: fourth.id })
  await sync(bobStream)
  expect(framesOf(bobStream, 'read').map((f) => f.data.id)).toEqual([second.id, third.id])
  for (const s of [bobStream, bobStreamOnA, aliceOnA, bobOnA]) s.close()
})

test("a mention posted on A reaches the mentioned user's stream on B as mention, and counts; an outsider of a private room is not notified", async () => {
  const [alice, bob, carol] = await people('mention', 'alice', 'bob', 'carol')
  const room = 'mention-room'
  await createRoom(A, alice, room)
  await addMember(A, alice, room, bob.user.username)
  const { stream: bobStream } = await openUserStream(B, bob)
  const { stream: carolStream } = await openUserStream(B, carol)
  const aliceOnA = await connectRoom(A, room, alice)

  const text = `hey @${bob.user.username}, and @${carol.user.username}!`
  const said = await post(aliceOnA, text)
  // Only the member is a mention: carol can't read the room, so her name is plain text.
  expect(said.mentions).toEqual([bob.user])
  const mention = await frameOf(bobStream, 'mention', (d) => d.room === room)
  expect(mention).toEqual({ type: 'mention', error: null, data: { room, message: expect.objectContaining({ id: said.id, text, mentions: [bob.user] }) } })
  await unreadReaches(bobStream, room, { unread: 1, mentions: 1, lastMessageId: said.id })
  await expectMyRoom(B, bob, room, { unread: 1, mentions: 1 })

  // A public room bob never joined: he is notified all the same, wherever his stream is.
  const aliceInPublic = await connectRoom(A, 'mention-lobby', alice)
  const shout = await post(aliceInPublic, `@${carol.user.username} look`)
  expect(shout.mentions).toEqual([carol.user])
  expect((await frameOf(carolStream, 'mention')).data).toEqual({ room: 'mention-lobby', message: expect.objectContaining({ id: shout.id }) })
  // The private room's message reached carol's stream in no form.
  await sync(carolStream)
  expect(carolStream.frames.filter((f) => JSON.stringify(f).includes(room))).toEqual([])
  for (const s of [bobStream, carolStream, aliceOnA, aliceInPublic]) s.close()
})

test("a newcomer's typing, sent as soon as their welcome is in, reaches the other instance after their join", async () => {
  const [watcher] = await people('arrival', 'watcher')
  const room = 'arrival-room'
  const onB = await connectRoom(B, room, watcher)
  const newcomers = await people('arrival', ...Array.from({ length: 12 }, (_, i) => `new${i}`))
  for (const newcomer of newcomers) {
    const onA = await connectRoom(A, room, newcomer)
    onA.send({ type: 'typing' })
    await frameOf(onB, 'typing', (d) => d.user.id === newcomer.user.id)
    onA.close()
    await frameOf(onB, 'leave', (d) => d.user.id === newcomer.user.id)
  }
  // Per newcomer, what the watcher on B saw of them: always join, typing, leave.
  for (const { user } of newcomers) {
    const seen = (onB.frames as AnyFrame[]).filter((f) => (f.type === 'join' || f.type === 'typing' || f.type === 'leave') && f.data.user.id === user.id)
    expect({ user: user.username, seen: seen.map((f) => f.type) }).toEqual({ user: user.username, seen: ['join', 'typing', 'leave'] })
  }
  onB.close()
})

test('typing sent on A reaches the members on B (not the sender), at most one every 2 s per user and room', async () => {
  const [alice, bob] = await people('typing', 'alice', 'bob')
  const room = 'typing-room'
  await createRoom(A, alice, room)
  await addMember(A, alice, room, bob.user.username)
  const aliceOnA = await connectRoom(A, room, alice)
  const bobOnB = await connectRoom(B, room, bob)
  const bobOnA = await connectRoom(A, room, bob)

  const started = Date.now()
  for (let i = 0; i < 5; i++) aliceOnA.send({ type: 'typing' })
  expect(await frameOf(bobOnB, 'typing')).toEqual({ type: 'typing', error: null, data: { user: alice.user } })
  // A message after the typing frames, on the same room channel: once bob has it on B, he has whatever typing was passed on.
  const marker = await post(aliceOnA, 'sentinel')
  await frameOf(bobOnB, 'message', (d) => d.id === marker.id)
  await frameOf(bobOnA, 'message', (d) => d.id === marker.id)
  expect(typingFrames(bobOnB)).toHaveLength(1)
  expect(typingFrames(bobOnA)).toHaveLength(1)

  // Still within 2 s: dropped. After them: passed on again.
  if (Date.now() - started < ROOM_LIMITS.TYPING_INTERVAL_MS - 300) {
    aliceOnA.send({ type: 'typing' })
    const held = await post(aliceOnA, 'held back')
    await frameOf(bobOnB, 'message', (d) => d.id === held.id)
    expect(typingFrames(bobOnB)).toHaveLength(1)
  }
  await Bun.sleep(Math.max(0, started + ROOM_LIMITS.TYPING_INTERVAL_MS + 100 - Date.now()))
  aliceOnA.send({ type: 'typing' })
  await until(() => typingFrames(bobOnB).length === 2, 3_000, 'the second typing on B after 2 s')
  await sync(bobOnA)
  expect(typingFrames(bobOnA)).toHaveLength(2)
  // Never to the sender's own socket.
  await sync(aliceOnA)
  expect(typingFrames(aliceOnA)).toEqual([])
  for (const s of [aliceOnA, bobOnB, bobOnA]) s.close()
})

test("typing is throttled per user and room across the cluster: the user's tabs on A and B share one 2 s window", async () => {
  const [alice, bob] = await people('typing2', 'alice', 'bob')
  const room = 'typing2-room'
  await createRoom(A, alice, room)
  await addMember(A, alice, room, bob.user.username)
  const aliceOnA = await connectRoom(A, room, alice)
  const aliceOnB = await connectRoom(B, room, alice)
  const bobOnB = await connectRoom(B, room, bob)
  aliceOnA.send({ type: 'typing' })
  await frameOf(bobOnB, 'typing')
  // Alice's other tab, on the other instance, well within the 2 s.
  aliceOnB.send({ type: 'typing' })
  const markerA = await post(aliceOnA, 'after typing on A')
  const markerB = await post(aliceOnB, 'after typing on B')
  await frameOf(bobOnB, 'message', (d) => d.id === markerA.id)
  await frameOf(bobOnB, 'message', (d) => d.id === markerB.id)
  await sync(bobOnB)
  expect(typingFrames(bobOnB)).toHaveLength(1)
  for (const s of [aliceOnA, aliceOnB, bobOnB]) s.close()
})

test('a DM opened on A is the same room from B: both get room {member:true}, it is usable from B, and an outsider gets 4004', async () => {
  const [alice, bob, carol] = await people('dm', 'alice', 'bob', 'carol')
  const { stream: bobStream } = await openUserStream(B, bob)
  const { stream: aliceStream } = await openUserStream(B, alice)
  const dm = await openDm(A, alice, bob.user.username)
  expect(dm).toBe(`dm.${Math.min(alice.user.id, bob.user.id)}.${Math.max(alice.user.id, bob.user.id)}`)
  for (const stream of [bobStream, aliceStream]) expect(await frameOf(stream, 'room', (d) => d.room === dm)).toEqual(roomEvent(dm, true))
  // The same room from either side, from B.
  expect(await openDm(B, bob, alice.user.username)).toBe(dm)
  expect(await openDm(B, alice, bob.user.username)).toBe(dm)
  await expectMyRoom(B, bob, dm, { visibility: 'private', peer: alice.user, unread: 0 })

  const bobOnB = await connectRoom(B, dm, bob)
  const aliceOnA = await connectRoom(A, dm, alice)
  const hello = await post(bobOnB, 'hello from B')
  expect((await frameOf(aliceOnA, 'message', (d) => d.id === hello.id)).data).toMatchObject({ text: 'hello from B', user: bob.user })
  await unreadReaches(aliceStream, dm, { unread: 1, mentions: 0, lastMessageId: hello.id })
  const back = await post(aliceOnA, 'hi from A')
  expect((await frameOf(bobOnB, 'message', (d) => d.id === back.id)).data).toMatchObject({ text: 'hi from A', user: alice.user })
  await unreadReaches(bobStream, dm, { unread: 1, mentions: 0, lastMessageId: back.id })

  // Fixed members: no third one, from either instance.
  for (const server of [A, B]) {
    expectError(await call(server.url, 'PUT', `/api/v1/rooms/${dm}/members/${carol.user.username}`, alice.token), 403, 'FORBIDDEN')
    await expectRoomNotFoundSocket(server, dm, carol)
    expectError(await get(server, historyPath(dm), carol), 404, 'ROOM_NOT_FOUND')
  }
  // Carol's attempts left the pair's sockets alone: open, and no presence of hers.
  await sync(bobOnB)
  expect(bobOnB.frames.filter((f) => f.type === 'join' && f.data.user.id === carol.user.id)).toEqual([])
  for (const s of [bobStream, aliceStream, bobOnB, aliceOnA]) s.close()
})
