/**
 * Reactions (spec §7), on SQLite and PostgreSQL: `{"type":"react","id","emoji","on"}` puts (or takes
 * back) one emoji grapheme on a message of the room; everyone in the room, the sender included, gets
 * `reaction` {id (the event's own, in the room's stream), messageId, emoji, user, on}. History (welcome,
 * REST pages, resumes) carries `reactions` [{emoji,count,me}] in the order the emoji were first put,
 * `me` for the reader (always false for anonymous readers); a message without reactions carries none.
 * A toggle that changes nothing is silently nothing; the 21st different emoji, a non-emoji and a
 * non-boolean `on` are MESSAGE_INVALID, and so is a message not in the room or deleted (every refusal of
 * a §7 frame is); a
 * read-only socket is closed 1008. Reaction events are resumed in `welcome.changes` like edits, count
 * against the edit bucket (20, +10 a second), disappear with their message and survive a restart.
 */
import { expect } from 'bun:test'
import { CLOSE, type Message } from '../../src/protocol.ts'
import { change, registerAdmin, sendChange } from '../support/changes.ts'
import { answerToMessage, byId, MANY_EMOJI, react, reactRefusal, restHistory, sendReact, WAIT_MS, welcomeOf } from '../support/conversation.ts'
import { register, type Account } from '../support/http.ts'
import { connectRoom, sync } from '../support/private-rooms.ts'
import { errorFrame, post } from '../support/rooms.ts'
import type { TestServer } from '../support/server.ts'
import type { TestSocket } from '../support/socket.ts'
import { STORES } from '../support/stores.ts'
import { frameWhere, withTimeout } from '../support/wait.ts'

const START = Date.parse('2026-11-28T23:00:00.000Z')
/** Enough budget that only the tests about the rate limit meet it. */
const NO_LIMIT = { config: { messageBurst: 100_000, messageRate: 100_000 } }

async function trio(server: TestServer): Promise<{ root: Account; alice: Account; bob: Account; carol: Account }> {
  const root = await registerAdmin(server)
  const alice = await register(server.url, 'alice')
  const bob = await register(server.url, 'bob')
  const carol = await register(server.url, 'carol')
  return { root, alice, bob, carol }
}

const reactionFrames = (socket: TestSocket) => socket.frames.filter((f) => (f.type as string) === 'reaction')
const reactionsOf = (messages: Message[], id: number) => byId(messages, id)?.reactions

/** Every frame of a socket that carries a stream id, in arrival order. */
const streamIds = (socket: TestSocket) =>
  socket.frames.filter((f) => ['message', 'edited', 'deleted', 'reaction'].includes(f.type as string)).map((f) => f.data.id as number)

for (const store of STORES()) {
  store.describe(`on ${store.name}`, () => {
    const test = store.test

    test('react on and off reach everyone in the room, the sender included, as `reaction` with an id of its own in the stream', async () => {
      await using server = await store.start()
      const { alice, bob } = await trio(server)
      using aliceIn = await connectRoom(server, 'lobby', alice)
      using bobIn = await connectRoom(server, 'lobby', bob)
      using reader = await connectRoom(server, 'lobby')
      const m = await post(aliceIn, 'vote here')
      const on = await react(bobIn, bob, m.id, '👍')
      expect(on).toEqual({ id: expect.any(Number), messageId: m.id, emoji: '👍', user: bob.user, on: true })
      expect(on.id).toBeGreaterThan(m.id)
      const off = await react(bobIn, bob, m.id, '👍', false)
      expect(off).toEqual({ id: expect.any(Number), messageId: m.id, emoji: '👍', user: bob.user, on: false })
      expect(off.id).toBeGreaterThan(on.id)
      const next = await post(aliceIn, 'next')
      expect(next.id).toBeGreaterThan(off.id)
      for (const socket of [aliceIn, bobIn, reader]) {
        await frameWhere(socket, (f) => f.type === 'message' && f.data.id === next.id, WAIT_MS, 'the next message')
        expect(reactionFrames(socket)).toEqual([
          { type: 'reaction', error: null, data: on },
          { type: 'reaction', error: null, data: off },
        ])
        // Every frame with an id comes in strictly increasing id order.
        expect(streamIds(socket)).toEqual([m.id, on.id, off.id, next.id])
      }
      // Taken back: no reactions left, so the message carries none.
      expect('reactions' in byId(await restHistory(server, 'lobby', bob), m.id)!).toBe(false)
    })

    test('history carries reactions [{emoji,count,me}] in the order first put, `me` per reader, false for anonymous readers', async () => {
      await using server = await store.start()
      const { alice, bob, carol } = await trio(server)
      using aliceIn = await connectRoom(server, 'lobby', alice)
      using bobIn = await connectRoom(server, 'lobby', bob)
      const before = await post(aliceIn, 'before')
      const m = await post(aliceIn, 'lunch?')
      const plain = await post(aliceIn, 'no reactions here')
      await react(bobIn, bob, m.id, '🎉')
      await react(aliceIn, alice, m.id, '👍')
      await react(bobIn, bob, m.id, '👍')
      await react(aliceIn, alice, m.id, '❤️')
      await react(aliceIn, alice, m.id, '❤️', false)
      await react(bobIn, bob, m.id, '👀')
      const seen = (me: [boolean, boolean, boolean]) => [
        { emoji: '🎉', count: 1, me: me[0] },
        { emoji: '👍', count: 2, me: me[1] },
        { emoji: '👀', count: 1, me: me[2] },
      ]
      const views: [Account | undefined, ReturnType<typeof seen>][] = [
        [alice, seen([false, true, false])],
        [bob, seen([true, true, true])],
        [carol, seen([false, false, false])],
        [undefined, seen([false, false, false])],
      ]
      for (const [reader, reactions] of views) {
        const who = reader?.user.username ?? 'anonymous'
        expect({ who, rest: reactionsOf(await restHistory(server, 'lobby', reader), m.id) }).toEqual({ who, rest: reactions })
        const welcome = await welcomeOf(server, 'lobby', reader)
        expect({ who, welcome: reactionsOf(welcome.history, m.id) }).toEqual({ who, welcome: reactions })
        // A resume from before the message shows it as it is now, reactions included.
        const resumed = await welcomeOf(server, 'lobby', reader, `?since=${before.id}`)
        expect({ who, resumed: reactionsOf(resumed.history, m.id) }).toEqual({ who, resumed: reactions })
        // A message without reactions carries none.
        expect('reactions' in byId(welcome.history, plain.id)!).toBe(false)
        expect('reactions' in byId(welcome.history, before.id)!).toBe(false)
      }
    })

    test('a toggle that changes nothing (put twice, take back what you did not put) gives no event and no error', async () => {
      await using server = await store.start()
      const { alice, bob } = await trio(server)
      using aliceIn = await connectRoom(server, 'lobby', alice)
      using bobIn = await connectRoom(server, 'lobby', bob)
      const m = await post(aliceIn, 'hi')
      const first = await react(aliceIn, alice, m.id, '👍')
      aliceIn.send({ type: 'react', id: m.id, emoji: '👍', on: true })
      bobIn.send({ type: 'react', id: m.id, emoji: '👍', on: false })
      bobIn.send({ type: 'react', id: m.id, emoji: '🎉', on: false })
      await sync(aliceIn)
      await sync(bobIn)
      // An effective reaction after them: whatever the no-ops caused would have come before it.
      const last = await react(bobIn, bob, m.id, '🎉')
      await frameWhere(aliceIn, (f) => (f.type as string) === 'reaction' && f.data.id === last.id, WAIT_MS, 'the last reaction')
      await sync(aliceIn)
      await sync(bobIn)
      for (const socket of [aliceIn, bobIn]) {
        expect(reactionFrames(socket).map((f) => f.data)).toEqual([first, last])
        expect(socket.frames.filter((f) => f.type === 'error')).toEqual([])
      }
      expect(reactionsOf(await restHistory(server, 'lobby', alice), m.id)).toEqual([
        { emoji: '👍', count: 1, me: true },
        { emoji: '🎉', count: 1, me: false },
      ])
    })

    test('at most 20 different emoji per message: the 21st is MESSAGE_INVALID; more of an existing one is fine', async () => {
      await using server = await store.start(NO_LIMIT)
      const { alice, bob } = await trio(server)
      using aliceIn = await connectRoom(server, 'lobby', alice)
      using bobIn = await connectRoom(server, 'lobby', bob)
      const m = await post(aliceIn, 'react away')
      const twenty = MANY_EMOJI.slice(0, 20)
      for (const emoji of twenty) await react(aliceIn, alice, m.id, emoji)
      expect(await reactRefusal(aliceIn, alice, { id: m.id, emoji: '👍', on: true })).toBe('MESSAGE_INVALID')
      expect(await reactRefusal(bobIn, bob, { id: m.id, emoji: '👍', on: true })).toBe('MESSAGE_INVALID')
      await react(bobIn, bob, m.id, twenty[3]!)
      let reactions = reactionsOf(await restHistory(server, 'lobby', bob), m.id)!
      expect(reactions.map((r) => r.emoji)).toEqual(twenty)
      expect(reactions[3]).toEqual({ emoji: twenty[3]!, count: 2, me: true })
      // Taking one back makes room for another, which comes last.
      await react(aliceIn, alice, m.id, twenty[0]!, false)
      await react(bobIn, bob, m.id, '👍')
      reactions = reactionsOf(await restHistory(server, 'lobby', bob), m.id)!
      expect(reactions.map((r) => r.emoji)).toEqual([...twenty.slice(1), '👍'])
    })

    test('emoji must be one recommended emoji grapheme; `on` a boolean; `id` a message id: else MESSAGE_INVALID, nothing stored', async () => {
      await using server = await store.start(NO_LIMIT)
      const { alice } = await trio(server)
      using socket = await connectRoom(server, 'lobby', alice)
      const m = await post(socket, 'emoji test')
      const valid = ['👍', '👍🏽', '🇫🇷', '👩‍💻', '1️⃣', '❤️', '🏳️‍🌈', '#️⃣']
      for (const emoji of valid) {
        const answer = await sendReact(socket, alice, { id: m.id, emoji, on: true })
        expect({ emoji, answer }).toEqual({
          emoji,
          answer: { type: 'reaction', error: null, data: expect.objectContaining({ messageId: m.id, emoji, on: true }) },
        })
      }
      // A lone skin tone (U+1F3FD) is left out on purpose: it is in \p{RGI_Emoji} (Basic_Emoji), which API.md names as the rule.
      const invalid: unknown[] = [
        'a',
        '👍👍',
        '',
        ' ',
        '🇫',
        '👍 ',
        ':+1:',
        'a'.repeat(65),
        '😀'.repeat(65),
        '👍'.repeat(33),
        1,
        0,
        null,
        true,
        ['👍'],
        { emoji: '👍' },
      ]
      for (const emoji of invalid) {
        socket.send({ type: 'react', id: m.id, emoji, on: true })
        expect({ emoji, answer: await socket.next('error') }).toEqual({ emoji, answer: errorFrame('MESSAGE_INVALID') })
      }
      socket.send({ type: 'react', id: m.id, on: true })
      expect(await socket.next('error')).toEqual(errorFrame('MESSAGE_INVALID'))
      for (const on of ['true', 1, 0, null, 'false', [], {}]) {
        socket.send({ type: 'react', id: m.id, emoji: '🎉', on })
        expect({ on, answer: await socket.next('error') }).toEqual({ on, answer: errorFrame('MESSAGE_INVALID') })
      }
      socket.send({ type: 'react', id: m.id, emoji: '🎉' })
      expect(await socket.next('error')).toEqual(errorFrame('MESSAGE_INVALID'))
      for (const id of [0, -1, 1.5, String(m.id), null, 2 ** 53, [m.id]]) {
        socket.send({ type: 'react', id, emoji: '🎉', on: true })
        expect({ id, answer: await socket.next('error') }).toEqual({ id, answer: errorFrame('MESSAGE_INVALID') })
      }
      socket.send({ type: 'react', emoji: '🎉', on: true })
      expect(await socket.next('error')).toEqual(errorFrame('MESSAGE_INVALID'))
      // Only the valid ones are stored, and the socket still works.
      expect(reactionsOf(await restHistory(server, 'lobby', alice), m.id)).toEqual(valid.map((emoji) => ({ emoji, count: 1, me: true })))
      await post(socket, 'still here')
    })

    test('a reaction to an unknown id, a deleted message, another room’s message or an event id is MESSAGE_INVALID, nothing stored', async () => {
      await using server = await store.start(NO_LIMIT)
      const { alice } = await trio(server)
      using lobby = await connectRoom(server, 'lobby', alice)
      using elsewhere = await connectRoom(server, 'elsewhere', alice)
      const m = await post(lobby, 'here')
      const there = await post(elsewhere, 'there')
      const gone = await post(lobby, 'gone')
      await change(lobby, { type: 'delete', id: gone.id })
      const edit = await change(lobby, { type: 'edit', id: m.id, text: 'here!' })
      const reaction = await react(lobby, alice, m.id, '👍')
      for (const id of [999_999, gone.id, there.id, edit.data.id, reaction.id]) {
        for (const on of [true, false]) {
          expect({ id, on, answer: await reactRefusal(lobby, alice, { id, emoji: '🎉', on }) }).toEqual({ id, on, answer: 'MESSAGE_INVALID' })
        }
      }
      expect(reactionsOf(await restHistory(server, 'lobby', alice), m.id)).toEqual([{ emoji: '👍', count: 1, me: true }])
      expect(byId(await restHistory(server, 'elsewhere', alice), there.id)!.reactions).toBeUndefined()
    })

    test('a read-only socket sending react is closed 1008 READ_ONLY and nothing is stored', async () => {
      await using server = await store.start()
      const { alice } = await trio(server)
      using aliceIn = await connectRoom(server, 'lobby', alice)
      const m = await post(aliceIn, 'mine')
      for (const frame of [
        { type: 'react', id: m.id, emoji: '👍', on: true },
        { type: 'react', id: m.id, emoji: 'not an emoji', on: true },
        { type: 'react', id: 999_999, emoji: '👍', on: true },
      ]) {
        using reader = await connectRoom(server, 'lobby')
        reader.send(frame)
        expect(await withTimeout(reader.closed, WAIT_MS, 'the read-only socket to close')).toEqual({
          code: CLOSE.READ_ONLY.code,
          reason: CLOSE.READ_ONLY.reason,
        })
      }
      await sync(aliceIn)
      expect(reactionFrames(aliceIn)).toEqual([])
      expect(byId(await restHistory(server, 'lobby'), m.id)!.reactions).toBeUndefined()
    })

    test('resume with ?since= brings the reaction events about messages at or before the cursor in welcome.changes', async () => {
      await using server = await store.start()
      const { alice, bob } = await trio(server)
      using aliceIn = await connectRoom(server, 'lobby', alice)
      using bobIn = await connectRoom(server, 'lobby', bob)
      const m1 = await post(aliceIn, 'one')
      const m2 = await post(aliceIn, 'two')
      const cursor = m2.id
      const e1 = await react(bobIn, bob, m1.id, '👍')
      const e2 = await react(aliceIn, alice, m2.id, '🎉')
      const m3 = await post(aliceIn, 'three')
      const e3 = await react(bobIn, bob, m3.id, '😂')
      const e4 = await react(bobIn, bob, m1.id, '👍', false)
      const resumed = await welcomeOf(server, 'lobby', alice, `?since=${cursor}`)
      // m3 is new to the client: it comes in history as it is now, and its reaction is not a change.
      expect(resumed.history).toEqual([expect.objectContaining({ id: m3.id, text: 'three', reactions: [{ emoji: '😂', count: 1, me: false }] })])
      expect(resumed.changes).toEqual([
        { type: 'reaction', ...e1 },
        { type: 'reaction', ...e2 },
        { type: 'reaction', ...e4 },
      ])
      expect(resumed.truncated).toBe(false)
      // From a later cursor (an event id), only what came after it.
      const later = await welcomeOf(server, 'lobby', bob, `?since=${e2.id}`)
      expect(later.history).toEqual([expect.objectContaining({ id: m3.id, reactions: [{ emoji: '😂', count: 1, me: true }] })])
      expect(later.changes).toEqual([{ type: 'reaction', ...e4 }])
      const latest = await welcomeOf(server, 'lobby', bob, `?since=${e3.id}`)
      expect(latest).toMatchObject({ history: [], changes: [{ type: 'reaction', ...e4 }] })
      // Without a cursor there are no changes: history is current.
      expect((await welcomeOf(server, 'lobby', alice)).changes).toEqual([])
    })

    test('reactions count against the edit bucket: a burst of 20, then RATE_LIMITED and nothing stored; messages keep their own bucket', async () => {
      const clock = START
      await using server = await store.start({ now: () => clock })
      const { alice, bob } = await trio(server)
      using aliceIn = await connectRoom(server, 'lobby', alice)
      using bobIn = await connectRoom(server, 'lobby', bob)
      const m = await post(aliceIn, 'popular')
      const twenty = MANY_EMOJI.slice(0, 20)
      for (const emoji of twenty) await react(aliceIn, alice, m.id, emoji)
      expect(await sendReact(aliceIn, alice, { id: m.id, emoji: twenty[0], on: false })).toEqual(errorFrame('RATE_LIMITED'))
      // The bucket is shared with edits and deletions…
      expect(await sendChange(aliceIn, { type: 'edit', id: m.id, text: 'edited' })).toEqual(errorFrame('RATE_LIMITED'))
      // …is per user…
      await react(bobIn, bob, m.id, twenty[0]!)
      // …and leaves messages alone.
      expect((await answerToMessage(aliceIn, { text: 'still allowed' })).type).toBe('message')
      const reactions = reactionsOf(await restHistory(server, 'lobby', alice), m.id)!
      expect(reactions.map((r) => [r.emoji, r.count])).toEqual(twenty.map((emoji, i) => [emoji, i === 0 ? 2 : 1]))
      expect(byId(await restHistory(server, 'lobby'), m.id)!.text).toBe('popular')
    })

    test('edits and reactions share one bucket: 10 edits and 10 reactions, then the next reaction is RATE_LIMITED', async () => {
      const clock = START
      await using server = await store.start({ now: () => clock })
      const { alice } = await trio(server)
      using aliceIn = await connectRoom(server, 'lobby', alice)
      const m = await post(aliceIn, 'draft')
      for (let i = 1; i <= 10; i++) await change(aliceIn, { type: 'edit', id: m.id, text: `draft ${i}` })
      for (const emoji of MANY_EMOJI.slice(0, 10)) await react(aliceIn, alice, m.id, emoji)
      expect(await sendReact(aliceIn, alice, { id: m.id, emoji: '👍', on: true })).toEqual(errorFrame('RATE_LIMITED'))
      expect(reactionsOf(await restHistory(server, 'lobby', alice), m.id)!.map((r) => r.emoji)).toEqual(MANY_EMOJI.slice(0, 10))
    })

    test('deleting a message removes its reactions: the tombstone carries none, and reacting to it is MESSAGE_INVALID', async () => {
      await using server = await store.start()
      const { alice, bob } = await trio(server)
      using aliceIn = await connectRoom(server, 'lobby', alice)
      using bobIn = await connectRoom(server, 'lobby', bob)
      const m = await post(aliceIn, 'short-lived')
      const kept = await post(aliceIn, 'kept')
      await react(bobIn, bob, m.id, '👍')
      await react(aliceIn, alice, m.id, '🎉')
      await react(bobIn, bob, kept.id, '👍')
      await change(aliceIn, { type: 'delete', id: m.id })
      const tombstone = { id: m.id, room: 'lobby', user: alice.user, ts: m.ts, deleted: true as const }
      for (const reader of [alice, bob, undefined]) {
        const page = await restHistory(server, 'lobby', reader)
        expect(byId(page, m.id)).toEqual(tombstone)
        expect(reactionsOf(page, kept.id)).toEqual([{ emoji: '👍', count: 1, me: reader === bob }])
        expect(byId((await welcomeOf(server, 'lobby', reader)).history, m.id)).toEqual(tombstone)
      }
      expect(await reactRefusal(bobIn, bob, { id: m.id, emoji: '👍', on: false })).toBe('MESSAGE_INVALID')
    })

    // PROTOCOL.md: reactions are "resumed like edits", and "an edit of a message deleted since is not listed
    // either; its deletion is"; API.md: "deleting a message removes its reactions".
    test('a resume does not replay the reactions of a message deleted since, as it does not replay its edits: its deletion is listed', async () => {
      await using server = await store.start()
      const { alice, bob } = await trio(server)
      using aliceIn = await connectRoom(server, 'lobby', alice)
      using bobIn = await connectRoom(server, 'lobby', bob)
      const m = await post(aliceIn, 'short-lived')
      const kept = await post(aliceIn, 'kept')
      const cursor = kept.id
      await react(bobIn, bob, m.id, '👍')
      await change(aliceIn, { type: 'edit', id: m.id, text: 'short-lived!' })
      const onKept = await react(bobIn, bob, kept.id, '👍')
      const deleted = await change(aliceIn, { type: 'delete', id: m.id })
      const resumed = await welcomeOf(server, 'lobby', bob, `?since=${cursor}`)
      expect(resumed.changes).toEqual([
        { type: 'reaction', ...onKept },
        { type: 'deleted', ...deleted.data },
      ])
    })

    test('reactions survive a restart', async () => {
      await using database = await store.database()
      const first = await database.start()
      let alice: Account
      let bob: Account
      let m: Message
      let later: Message
      let plain: Message
      try {
        ;({ alice, bob } = await trio(first))
        using aliceIn = await connectRoom(first, 'lobby', alice)
        using bobIn = await connectRoom(first, 'lobby', bob)
        m = await post(aliceIn, 'remember me')
        await react(bobIn, bob, m.id, '👍')
        await react(aliceIn, alice, m.id, '👍')
        await react(aliceIn, alice, m.id, '🇫🇷')
        await react(bobIn, bob, m.id, '🎉')
        await react(bobIn, bob, m.id, '🎉', false)
        // Later messages, one reacted to and one not: the first welcome after the restart reads them all.
        later = await post(aliceIn, 'after it')
        plain = await post(bobIn, 'and more')
        await react(aliceIn, alice, later.id, '🎉')
      } finally {
        await first.stop()
      }
      await using second = await database.start()
      const asAlice = [
        { emoji: '👍', count: 2, me: true },
        { emoji: '🇫🇷', count: 1, me: true },
      ]
      expect(reactionsOf(await restHistory(second, 'lobby', alice), m.id)).toEqual(asAlice)
      const welcomed = (await welcomeOf(second, 'lobby', bob)).history
      expect(reactionsOf(welcomed, m.id)).toEqual([
        { emoji: '👍', count: 2, me: true },
        { emoji: '🇫🇷', count: 1, me: false },
      ])
      expect(reactionsOf(welcomed, later.id)).toEqual([{ emoji: '🎉', count: 1, me: false }])
      expect(reactionsOf(welcomed, plain.id)).toBeUndefined()
      // The state carries on: taking one back after the restart.
      using aliceIn = await connectRoom(second, 'lobby', alice)
      await react(aliceIn, alice, m.id, '👍', false)
      expect(reactionsOf(await restHistory(second, 'lobby'), m.id)).toEqual([
        { emoji: '👍', count: 1, me: false },
        { emoji: '🇫🇷', count: 1, me: false },
      ])
    })
  })
}
