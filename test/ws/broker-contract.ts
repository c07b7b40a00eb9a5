/**
 * The broker contract, run against every implementation (alone: the local broker; a cluster: Redis
 * brokers of two instances on one Redis), like the store's: what the hub and the room list see of
 * presence and of other instances is the same whatever carries it.
 */
import { describe, expect, test } from 'bun:test'
import type { User } from '../../src/protocol.ts'
import type { StreamEvent } from '../../src/store/store.ts'
import type { Notice } from '../../src/chat/notices.ts'
import type { Broker } from '../../src/ws/broker.ts'
import type { RoomSink } from '../../src/ws/room-sink.ts'
import { until } from '../support/wait.ts'

/** One instance of the deployment under test: its broker, and what its hub would do on a connection. */
export interface Instance {
  broker: Broker
  /** A connection of `user` opened (true) or closed (false) here: presence and announcement, as the hub does. */
  connect(room: string, user: User, present: boolean): void
}

export interface BrokerFixture {
  /** Two instances; alone, both are the same one. */
  here: Instance
  there: Instance
  /** True when `there` is another process's instance, reached through the broker. */
  cluster: boolean
  [Symbol.asyncDispose](): Promise<void>
}

interface Recorded {
  delivered: { event: StreamEvent; after: number }[]
  heard: { instance: string; user: User; present: boolean }[]
  typed: User[]
}

/** A sink that records what a broker told it. */
export function recordingSink(): RoomSink & Recorded {
  const delivered: Recorded['delivered'] = []
  const heard: Recorded['heard'] = []
  const typed: User[] = []
  return {
    delivered,
    heard,
    typed,
    typing: (user) => void typed.push(user),
    deliver: (event, after) => void delivered.push({ event, after }),
    presence: (instance, user, present) => void heard.push({ instance, user, present }),
    instances: () => new Set(heard.filter((p) => p.present).map((p) => p.instance)),
    forget() {},
    repair: () => Promise.resolve(),
  }
}

const alice = { id: 1, username: 'alice' }
const bob = { id: 2, username: 'bob' }
const message = (room: string, id: number): StreamEvent => ({
  type: 'message',
  room,
  data: { id, room, user: alice, text: `m${id}`, ts: new Date(0).toISOString() },
})
const WAIT_MS = 5000

export function describeBrokerContract(name: string, open: () => Promise<BrokerFixture>): void {
  describe(`${name} broker`, () => {
    test('occupiedRooms lists rooms with users present on any instance, each user once, and forgets emptied rooms', async () => {
      await using f = await open()
      f.here.connect('r1', alice, true)
      f.there.connect('r1', bob, true)
      f.there.connect('r1', alice, true)
      f.here.connect('r2', bob, true)
      const sorted = async () => (await f.here.broker.occupiedRooms()).sort((a, b) => a.name.localeCompare(b.name))
      await until(
        async () =>
          JSON.stringify(await sorted()) ===
          JSON.stringify([
            { name: 'r1', members: 2 },
            { name: 'r2', members: 1 },
          ]),
        WAIT_MS,
        'presence to be shared',
      )
      f.here.connect('r2', bob, false)
      f.here.connect('r1', alice, false)
      await until(async () => JSON.stringify(await sorted()) === JSON.stringify([{ name: 'r1', members: 2 }]), WAIT_MS, 'r2 to empty')
      expect(await f.there.broker.occupiedRooms()).toEqual([{ name: 'r1', members: 2 }])
    })

    test('countMembers answers for each room asked, in order, 0 for a room nobody is in', async () => {
      await using f = await open()
      f.here.connect('a', alice, true)
      f.there.connect('b', alice, true)
      f.there.connect('b', bob, true)
      await until(async () => JSON.stringify(await f.here.broker.countMembers(['b', 'nobody', 'a'])) === '[2,0,1]', WAIT_MS, 'counts to be shared')
      expect(await f.there.broker.countMembers([])).toEqual([])
    })

    test("a publish never throws and never comes back to the publisher's own rooms", async () => {
      await using f = await open()
      const own = recordingSink()
      await f.here.broker.follow('echo', own)
      f.here.broker.publish({ event: message('echo', 7), after: 0 })
      // A later publish from the other side proves the channel works, so silence here is not luck.
      const other = recordingSink()
      await f.there.broker.follow('echo', other)
      f.there.broker.publish({ event: message('echo', 8), after: 7 })
      if (f.cluster) await until(() => own.delivered.length === 1, WAIT_MS, 'the other instance to be heard')
      expect(own.delivered.map((m) => m.event.data.id)).toEqual(f.cluster ? [8] : [])
    })

    test('another instance gets each published message of a room it follows, with its predecessor, and nothing of others', async () => {
      await using f = await open()
      const sink = recordingSink()
      await f.there.broker.follow('news', sink)
      for (let id = 1; id <= 5; id++) f.here.broker.publish({ event: message('news', id), after: id - 1 })
      f.here.broker.publish({ event: message('elsewhere', 6), after: 0 })
      if (!f.cluster) return expect(sink.delivered).toEqual([])
      await until(() => sink.delivered.length === 5, WAIT_MS, 'five messages')
      expect(sink.delivered.map(({ event, after }) => [event.data.id, after])).toEqual([
        [1, 0],
        [2, 1],
        [3, 2],
        [4, 3],
        [5, 4],
      ])
      f.there.broker.unfollow('news')
      f.here.broker.publish({ event: message('news', 9), after: 5 })
      f.here.broker.publish({ event: message('probe', 10), after: 0 })
      const probe = recordingSink()
      await f.there.broker.follow('probe', probe)
      f.here.broker.publish({ event: message('probe', 11), after: 10 })
      await until(() => probe.delivered.length === 1, WAIT_MS, 'the probe')
      expect(sink.delivered).toHaveLength(5)
    })

    // spec §5: edits and deletions are entries of the room's stream, carried as messages are.
    test('edits and deletions reach another instance as they were published, each with its predecessor', async () => {
      await using f = await open()
      const sink = recordingSink()
      await f.there.broker.follow('changes', sink)
      const edited: StreamEvent = { type: 'edited', room: 'changes', data: { id: 2, messageId: 1, text: 'new', editedAt: new Date(1).toISOString() } }
      const deleted: StreamEvent = { type: 'deleted', room: 'changes', data: { id: 4, messageId: 1 } }
      f.here.broker.publish({ event: message('changes', 1), after: 0 })
      f.here.broker.publish({ event: edited, after: 1 })
      f.here.broker.publish({ event: message('changes', 3), after: 2 })
      f.here.broker.publish({ event: deleted, after: 3 })
      if (!f.cluster) return expect(sink.delivered).toEqual([])
      await until(() => sink.delivered.length === 4, WAIT_MS, 'four entries')
      expect(sink.delivered).toEqual([
        { event: message('changes', 1), after: 0 },
        { event: edited, after: 1 },
        { event: message('changes', 3), after: 2 },
        { event: deleted, after: 3 },
      ])
    })

    test("another instance hears of a user's presence in a room it follows, and of its end", async () => {
      await using f = await open()
      const sink = recordingSink()
      await f.there.broker.follow('hall', sink)
      f.here.connect('hall', alice, true)
      f.here.connect('hall', alice, false)
      if (!f.cluster) return expect(sink.heard).toEqual([])
      await until(() => sink.heard.length === 2, WAIT_MS, 'join and leave')
      expect(sink.heard.map((p) => [p.user, p.present])).toEqual([
        [alice, true],
        [alice, false],
      ])
      expect(sink.heard[0]!.instance).toBe(sink.heard[1]!.instance)
    })

    // spec §6: typing goes to the other instances that follow the room, never back to the sender's.
    test('typing reaches the other instances that follow the room, not the sender', async () => {
      await using f = await open()
      const own = recordingSink()
      const other = recordingSink()
      await f.here.broker.follow('typing', own)
      await f.there.broker.follow('typing', other)
      f.here.broker.typing('typing', alice)
      f.there.broker.typing('typing', bob)
      if (!f.cluster) return expect([own.typed, other.typed]).toEqual([[], []])
      await until(() => own.typed.length === 1 && other.typed.length === 1, WAIT_MS, 'each side to hear the other')
      expect([own.typed, other.typed]).toEqual([[bob], [alice]])
    })

    // spec §6: notices (user stream frames, evictions) reach every other instance, whatever rooms it follows.
    test('a notice reaches every other instance once, and not its sender', async () => {
      await using f = await open()
      const here: Notice[] = []
      const there: Notice[] = []
      f.here.broker.onNotice((n) => void here.push(n))
      f.there.broker.onNotice((n) => void there.push(n))
      const evict: Notice = { kind: 'evict', room: 'secret', userId: 2 }
      const mention: Notice = { kind: 'user', userId: 1, frame: { type: 'read', data: { room: 'secret', id: 5 } } }
      f.here.broker.notify(evict)
      f.there.broker.notify(mention)
      if (!f.cluster) return expect([here, there]).toEqual([[], []])
      await until(() => here.length === 1 && there.length === 1, WAIT_MS, 'both notices')
      expect([here, there]).toEqual([[mention], [evict]])
    })

    test('a room followed late learns who is already present on the other instances', async () => {
      await using f = await open()
      f.here.connect('late', bob, true)
      await until(async () => (await f.there.broker.countMembers(['late']))[0] === 1, WAIT_MS, 'bob to count')
      const sink = recordingSink()
      await f.there.broker.follow('late', sink)
      // Told once from the stored presence, perhaps again live: the same fact, which presence takes once.
      expect([...new Set(sink.heard.map((p) => JSON.stringify([p.user, p.present])))]).toEqual(f.cluster ? [JSON.stringify([bob, true])] : [])
    })
  })
}
