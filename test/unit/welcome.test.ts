/**
 * The `welcome` frame from parts serialised once (issue 16, reconnect storms): the member list kept as
 * JSON by presence, the history part kept by the room history while the room's stream stays as it
 * is. Whatever was kept, the frame must be byte for byte what serialising the whole welcome writes,
 * and never stale: a new entry, a presence change or a reader's own reactions are always in it.
 */
import { expect, test } from 'bun:test'
import fc from 'fast-check'
import { createLogger } from '../../src/log.ts'
import type { Message, User } from '../../src/protocol.ts'
import type { ReactionRow, StreamEvent } from '../../src/store/store.ts'
import { encodeFrame, encodeWelcome } from '../../src/ws/frames.ts'
import { Presence } from '../../src/ws/presence.ts'
import { RoomHistory } from '../../src/ws/room-history.ts'

const ROOM = 'lobby'
const user = (id: number): User => ({ id, username: `user "${id}" ✓` })
const message = (id: number): Message => ({
  id,
  room: ROOM,
  user: user(id % 3),
  text: `text ${id} \u2028 "quoted"`,
  ts: new Date(Date.UTC(2026, 10, 30, 0, 0, id)).toISOString(),
})

/** A welcome serialised whole, as the hub wrote it before. */
function whole(room: string, who: User | null, members: User[], found: { history: Message[]; changes: unknown[]; truncated: boolean }): string {
  return encodeFrame({
    type: 'welcome',
    data: { room, user: who, readOnly: who === null, members, history: found.history, changes: found.changes as never, truncated: found.truncated },
  })
}

test('presence keeps the member list as JSON that is always what members() serialises to, whatever happens in the room', () => {
  const op = fc.oneof(
    fc.record({ kind: fc.constant('enter' as const), id: fc.integer({ min: 1, max: 40 }) }),
    fc.record({ kind: fc.constant('exit' as const), id: fc.integer({ min: 1, max: 40 }) }),
    fc.record({ kind: fc.constant('remote' as const), id: fc.integer({ min: 1, max: 40 }), instance: fc.constantFrom('a', 'b'), present: fc.boolean() }),
    fc.record({ kind: fc.constant('forget' as const), instance: fc.constantFrom('a', 'b') }),
    fc.record({ kind: fc.constant('drop' as const) }),
  )
  fc.assert(
    fc.property(fc.array(op, { maxLength: 200 }), (ops) => {
      const presence = new Presence()
      // A crowd first, so that the list is kept (rooms of 16 or more) while the operations change it.
      for (let id = 100; id < 120; id++) presence.enter(ROOM, user(id))
      for (const o of ops) {
        if (o.kind === 'enter') presence.enter(ROOM, user(o.id))
        else if (o.kind === 'exit') presence.exit(ROOM, user(o.id))
        else if (o.kind === 'remote') presence.remote(ROOM, o.instance, user(o.id), o.present)
        else if (o.kind === 'forget') presence.forget(ROOM, o.instance)
        else presence.drop(ROOM)
        expect(presence.membersJson(ROOM)).toBe(JSON.stringify(presence.members(ROOM)))
      }
    }),
    { numRuns: 300 },
  )
})

test('a room of many members: the kept list grows as users arrive and is rebuilt after one leaves', () => {
  const presence = new Presence()
  for (let id = 1; id <= 40; id++) {
    presence.enter(ROOM, user(id))
    presence.enter(ROOM, user(id))
    expect(presence.membersJson(ROOM)).toBe(JSON.stringify(presence.members(ROOM)))
  }
  presence.exit(ROOM, user(7))
  expect(presence.membersJson(ROOM)).toBe(JSON.stringify(presence.members(ROOM)))
  presence.exit(ROOM, user(7))
  expect(JSON.parse(presence.membersJson(ROOM)).map((u: User) => u.id)).not.toContain(7)
  expect(presence.membersJson('elsewhere')).toBe('[]')
})

test('encodeWelcome writes the same bytes as the whole welcome serialised, with or without the history part kept', () => {
  const history = [message(4), { id: 5, room: ROOM, user: user(1), ts: message(5).ts, deleted: true as const }]
  const changes = [{ type: 'edited' as const, id: 9, messageId: 2, text: 'x', editedAt: message(9).ts }]
  for (const who of [null, user(1)])
    for (const members of [[], [user(1), user(2)]])
      for (const found of [
        { history, changes, truncated: true },
        { history: [], changes: [], truncated: false },
      ]) {
        const expected = whole('room-"1"', who, members, found)
        const head = { room: 'room-"1"', user: who, readOnly: who === null }
        expect(encodeWelcome(head, JSON.stringify(members), found)).toBe(expected)
        expect(encodeWelcome(head, JSON.stringify(members), { ...found, json: JSON.stringify(found).slice(1, -1) })).toBe(expected)
        expect(JSON.parse(expected).data.history).toEqual(found.history)
      }
})

/** A room history over a store holding `entries` and `reactions`; `asked` collects the ids each reactions look-up was for. */
function roomHistory(entries: StreamEvent[], reactions: ReactionRow[] = [], asked: number[][] = []) {
  const store = {
    listStream: async (_room: string, q: { after?: number; fromNewest?: number; limit: number }) => {
      const start = q.fromNewest === undefined ? 0 : (entries.filter((e) => e.type === 'message').at(-q.fromNewest - 1)?.data.id ?? 0)
      return entries.filter((e) => e.data.id > Math.max(q.after ?? 0, start)).slice(-q.limit)
    },
    listMessages: async () => [],
    listReactions: async (ids: number[]) => {
      asked.push(ids)
      return reactions.filter((r) => ids.includes(r.messageId))
    },
  }
  return new RoomHistory(ROOM, { store, log: createLogger('silent', 'text'), historySize: 50, resumeMax: 500 })
}

const entry = (id: number): StreamEvent => ({ type: 'message', room: ROOM, data: message(id) })

test('the room history answers from memory at once once loaded, shares the serialised answer per cursor, and never serves it stale', async () => {
  const history = roomHistory([1, 2, 3, 4].map(entry))
  expect(history.welcomeNow(2, null)).toBeUndefined()
  const loaded = await history.welcome(2, 1)
  const now = history.welcomeNow(2, 7)!
  expect({ history: now.history, changes: now.changes, truncated: now.truncated }).toEqual(loaded)
  expect(now.json).toBe(JSON.stringify(loaded).slice(1, -1))
  // The same cursor, another reader: the same answer, serialised once.
  expect(history.welcomeNow(2, null)).toBe(now)
  expect(history.welcomeNow(undefined, null)!.history.map((m) => m.id)).toEqual([1, 2, 3, 4])
  // A new entry: the next welcome has it.
  history.remember(entry(5))
  const after = history.welcomeNow(2, 7)!
  expect(after.history.map((m) => m.id)).toEqual([3, 4, 5])
  expect(after.json).toBe(JSON.stringify({ history: after.history, changes: [], truncated: false }).slice(1, -1))
  history.remember({ type: 'deleted', room: ROOM, data: { id: 6, messageId: 4 } })
  expect(history.welcomeNow(2, 7)!.history[1]).toEqual({ id: 4, room: ROOM, user: message(4).user, ts: message(4).ts, deleted: true })
  expect(history.welcomeNow(3, 7)!.changes).toEqual([])
  expect(history.welcomeNow(4, 7)!.changes).toEqual([{ type: 'deleted', id: 6, messageId: 4 }])
})

test('with reactions, each reader sees their own `me` and nothing is shared', async () => {
  // As the store keeps them: the reaction's row, and its event in the stream after the message.
  const reacted: StreamEvent = { type: 'reaction', room: ROOM, data: { id: 3, messageId: 2, emoji: '👍', user: user(7), on: true } }
  const asked: number[][] = []
  const history = roomHistory([entry(1), entry(2), reacted], [{ messageId: 2, emoji: '👍', userId: 7 }], asked)
  await history.welcome(undefined, null)
  // The first load looks up the reactions of the message the stream says was reacted to, and no other.
  expect(asked).toEqual([[2]])
  const mine = history.welcomeNow(undefined, 7)!
  const theirs = history.welcomeNow(undefined, 8)!
  expect(mine.json).toBeUndefined()
  expect(mine.history[1]!.reactions).toEqual([{ emoji: '👍', count: 1, me: true }])
  expect(theirs.history[1]!.reactions).toEqual([{ emoji: '👍', count: 1, me: false }])
  // Taken back: shared again, and without reactions.
  history.remember({ type: 'reaction', room: ROOM, data: { id: 4, messageId: 2, emoji: '👍', user: user(7), on: false } })
  const none = history.welcomeNow(undefined, 7)!
  expect(none.json).toBeDefined()
  expect(none.history[1]!.reactions).toBeUndefined()
})
