/**
 * The user streams' bookkeeping (ws/user-streams.ts), kept in arrays and per-room maps rather than a
 * Set and a Map per user (issue 16: idle memory): every stream socket is swept and closed even when
 * each closes as it is visited, a room is watched exactly while one of its users has a stream here,
 * and an `unread` frame goes out only when the counts differ from those last sent.
 */
import { expect, test } from 'bun:test'
import { createLogger } from '../../src/log.ts'
import type { MyRoom } from '../../src/protocol-rooms.ts'
import { ROOM_LIMITS } from '../../src/protocol-rooms.ts'
import type { StreamEvent, UnreadRow } from '../../src/store/store.ts'
import type { RoomSocket } from '../../src/ws/socket-data.ts'
import { UserStreams } from '../../src/ws/user-streams.ts'

interface FakeSocket {
  data: { user: { id: number; username: string }; since: undefined; state: string }
  frames: string[]
  send(raw: string): void
}

function socketOf(id: number): FakeSocket {
  return {
    data: { user: { id, username: `user${id}` }, since: undefined, state: 'opening' },
    frames: [],
    send(raw) {
      this.frames.push(raw)
    },
  }
}

const myRoom = (name: string, unread = 0): MyRoom => ({
  name,
  visibility: 'public',
  topic: null,
  lastMessageId: unread === 0 ? null : 10,
  lastReadId: 0,
  unread,
  mentions: 0,
  peer: null,
})

function setUp(roomsOf: (id: number) => MyRoom[]) {
  const watched = new Map<string, number>()
  let counts: UnreadRow[] = []
  const streams = new UserStreams({
    store: { unreadOf: async (_room, ids) => counts.filter((c) => ids.includes(c.userId)), listMentionsOf: async () => [] },
    memberships: { myRooms: async (id) => roomsOf(id) },
    hub: {
      watch: (room) => void watched.set(room, (watched.get(room) ?? 0) + 1),
      unwatch: (room) => void watched.set(room, watched.get(room)! - 1),
    },
    log: createLogger('silent', 'text'),
    resumeMax: 100,
  })
  const enter = async (ws: FakeSocket) => streams.enter(ws as unknown as RoomSocket)
  const close = (ws: FakeSocket) => {
    ws.data.state = 'closing'
    streams.leave(ws as unknown as RoomSocket)
  }
  const setCounts = (rows: UnreadRow[]) => void (counts = rows)
  return { streams, watched, enter, close, setCounts }
}

const unreadFrames = (ws: FakeSocket) => ws.frames.filter((f) => f.includes('"type":"unread"')).map((f) => JSON.parse(f).data)
const message = (room: string, id: number) => ({ type: 'message', room, data: { id } }) as unknown as StreamEvent
const coalesced = () => Bun.sleep(ROOM_LIMITS.UNREAD_COALESCE_MS * 3)

test('every stream socket is swept, each user’s several ones too, even when each closes as it is visited', async () => {
  const { streams, enter, close } = setUp(() => [myRoom('lobby')])
  const sockets = [socketOf(1), socketOf(1), socketOf(2), socketOf(1), socketOf(3)]
  for (const ws of sockets) await enter(ws)
  expect(streams.count).toBe(5)
  const emptied = streams.whenEmpty()
  const seen: FakeSocket[] = []
  for (const ws of streams.all() as Iterable<unknown> as Iterable<FakeSocket>) {
    seen.push(ws)
    close(ws)
  }
  expect(new Set(seen)).toEqual(new Set(sockets))
  expect(seen).toHaveLength(5)
  expect(streams.count).toBe(0)
  await emptied
  // A socket closed twice counts once.
  close(sockets[0]!)
  expect(streams.count).toBe(0)
})

test('a room is watched while one of its users has a stream here, whatever `room` frames and closes do', async () => {
  const { streams, watched, enter, close } = setUp((id) => (id === 1 ? [myRoom('a'), myRoom('b')] : [myRoom('b')]))
  const [one, oneAgain, two] = [socketOf(1), socketOf(1), socketOf(2)]
  await enter(one)
  await enter(oneAgain)
  await enter(two)
  expect(Object.fromEntries(watched)).toEqual({ a: 1, b: 1 })
  streams.deliver(2, { type: 'room', data: { room: 'c', member: true } } as never)
  streams.deliver(2, { type: 'room', data: { room: 'c', member: true } } as never)
  expect(Object.fromEntries(watched)).toEqual({ a: 1, b: 1, c: 1 })
  streams.deliver(1, { type: 'room', data: { room: 'b', member: false } } as never)
  expect(Object.fromEntries(watched)).toEqual({ a: 1, b: 1, c: 1 })
  close(two)
  expect(Object.fromEntries(watched)).toEqual({ a: 1, b: 0, c: 0 })
  close(one)
  expect(Object.fromEntries(watched)).toEqual({ a: 1, b: 0, c: 0 })
  close(oneAgain)
  expect(Object.fromEntries(watched)).toEqual({ a: 0, b: 0, c: 0 })
  streams.stop()
})

test('`unread` goes out when the counts differ from those last sent (the welcome’s included), to every stream of the user', async () => {
  const { streams, enter, close, setCounts } = setUp(() => [myRoom('lobby', 2)])
  const [one, two] = [socketOf(1), socketOf(1)]
  await enter(one)
  await enter(two)
  // The same counts as the welcome's: nothing is sent.
  setCounts([{ userId: 1, lastMessageId: 10, unread: 2, mentions: 0 }])
  streams.observe(message('lobby', 11))
  await coalesced()
  expect(unreadFrames(one)).toEqual([])
  setCounts([{ userId: 1, lastMessageId: 11, unread: 3, mentions: 1 }])
  streams.observe(message('lobby', 11))
  await coalesced()
  const sent = { room: 'lobby', lastMessageId: 11, unread: 3, mentions: 1 }
  expect(unreadFrames(one)).toEqual([sent])
  expect(unreadFrames(two)).toEqual([sent])
  // Unchanged since: nothing more.
  streams.observe(message('lobby', 12))
  await coalesced()
  expect(unreadFrames(one)).toEqual([sent])
  close(one)
  close(two)
  streams.stop()
})
