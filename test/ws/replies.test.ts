/**
 * Replies (spec §7), on SQLite and PostgreSQL: a `message` frame may carry `"replyTo":<message id>`
 * of the same room; the message then carries `"replyTo":{"id","user","text"}`, the original's current
 * text cut to 200 code points including a final `…`, `text: null` once the original is deleted (its
 * author stays). Live frames, welcome history, REST pages and resumes all show the quote as it is
 * now. A `replyTo` that is not a message of this room (another room's, an event's id, an unknown id,
 * or no id at all) is MESSAGE_INVALID with nothing stored; a private room's messages can be quoted
 * in that room only.
 */
import { expect } from 'bun:test'
import { change, registerAdmin } from '../support/changes.ts'
import { answerToMessage, byId, reply, restHistory, WAIT_MS, welcomeOf } from '../support/conversation.ts'
import { register, type Account } from '../support/http.ts'
import { addMember, cast, connectRoom, createRoom } from '../support/private-rooms.ts'
import { errorFrame, post, storedMessages } from '../support/rooms.ts'
import type { TestServer } from '../support/server.ts'
import { STORES } from '../support/stores.ts'
import { frameWhere } from '../support/wait.ts'

async function trio(server: TestServer): Promise<{ root: Account; alice: Account; bob: Account }> {
  const root = await registerAdmin(server)
  const alice = await register(server.url, 'alice')
  const bob = await register(server.url, 'bob')
  return { root, alice, bob }
}

const codePoints = (s: string) => [...s].length

for (const store of STORES()) {
  store.describe(`on ${store.name}`, () => {
    const test = store.test

    test('a reply carries replyTo {id,user,text} live, in welcome history, in REST history and on resume', async () => {
      await using server = await store.start()
      const { alice, bob } = await trio(server)
      using aliceIn = await connectRoom(server, 'lobby', alice)
      using bobIn = await connectRoom(server, 'lobby', bob)
      using reader = await connectRoom(server, 'lobby')
      const m = await post(aliceIn, 'where shall we meet?')
      expect('replyTo' in m).toBe(false)
      const quote = { id: m.id, user: alice.user, text: 'where shall we meet?' }
      const r = await reply(bobIn, 'at the station', m.id)
      expect(r).toEqual({
        id: expect.any(Number),
        room: 'lobby',
        user: bob.user,
        text: 'at the station',
        ts: expect.any(String),
        nonce: expect.any(String),
        replyTo: quote,
      })
      // Everyone in the room gets the same quote live.
      for (const socket of [aliceIn, reader]) {
        const live = await frameWhere(socket, (f) => f.type === 'message' && f.data.id === r.id, WAIT_MS, 'the reply')
        expect(live.data.replyTo).toEqual(quote)
      }
      const { nonce: _, ...stored } = r
      // History shows it too, whoever reads.
      expect(byId(await restHistory(server, 'lobby'), r.id)).toMatchObject({ ...stored, replyTo: quote })
      expect(byId(await restHistory(server, 'lobby', alice), r.id)).toMatchObject({ ...stored, replyTo: quote })
      expect(byId((await welcomeOf(server, 'lobby')).history, r.id)).toMatchObject({ ...stored, replyTo: quote })
      expect(byId((await welcomeOf(server, 'lobby', bob)).history, r.id)).toMatchObject({ ...stored, replyTo: quote })
      // A resume from the original's id brings the reply with its quote.
      const resumed = await welcomeOf(server, 'lobby', alice, `?since=${m.id}`)
      expect(resumed.history).toEqual([expect.objectContaining({ ...stored, replyTo: quote })])
      expect(resumed.changes).toEqual([])
      // The original itself carries no replyTo.
      expect('replyTo' in byId(await restHistory(server, 'lobby'), m.id)!).toBe(false)
    })

    test('the quote is at most 200 code points, a final … included when cut (astral characters count once)', async () => {
      await using server = await store.start()
      const { alice, bob } = await trio(server)
      using aliceIn = await connectRoom(server, 'lobby', alice)
      using bobIn = await connectRoom(server, 'lobby', bob)
      const cases: [string, string][] = [
        ['😀'.repeat(200), '😀'.repeat(200)],
        ['😀'.repeat(201), `${'😀'.repeat(199)}…`],
        ['𝒜'.repeat(4000), `${'𝒜'.repeat(199)}…`],
        [`${'a'.repeat(150)}${'😀'.repeat(100)}`, `${'a'.repeat(150)}${'😀'.repeat(49)}…`],
        ['a'.repeat(200), 'a'.repeat(200)],
        ['a'.repeat(201), `${'a'.repeat(199)}…`],
        ['short', 'short'],
      ]
      for (const [text, quoted] of cases) {
        const m = await post(aliceIn, text)
        const r = await reply(bobIn, 'ok', m.id)
        expect({ length: codePoints(text), quote: r.replyTo }).toEqual({ length: codePoints(text), quote: { id: m.id, user: alice.user, text: quoted } })
        expect(codePoints(r.replyTo!.text!)).toBeLessThanOrEqual(200)
        expect(byId(await restHistory(server, 'lobby'), r.id)!.replyTo).toEqual({ id: m.id, user: alice.user, text: quoted })
      }
    })

    test('the quote follows an edit of the original: new sockets, REST and resumes show the new text', async () => {
      await using server = await store.start()
      const { alice, bob } = await trio(server)
      using aliceIn = await connectRoom(server, 'lobby', alice)
      using bobIn = await connectRoom(server, 'lobby', bob)
      const m = await post(aliceIn, 'meet at 5')
      const r = await reply(bobIn, 'fine', m.id)
      expect(r.replyTo).toEqual({ id: m.id, user: alice.user, text: 'meet at 5' })
      const edited = await change(aliceIn, { type: 'edit', id: m.id, text: 'meet at 6' })
      const now = { id: m.id, user: alice.user, text: 'meet at 6' }
      expect(byId(await restHistory(server, 'lobby'), r.id)!.replyTo).toEqual(now)
      expect(byId((await welcomeOf(server, 'lobby')).history, r.id)!.replyTo).toEqual(now)
      expect(byId((await welcomeOf(server, 'lobby', alice)).history, r.id)!.replyTo).toEqual(now)
      // Resuming from before the reply: the reply as it is now, and the edit of the original.
      const resumed = await welcomeOf(server, 'lobby', bob, `?since=${m.id}`)
      expect(resumed.history).toEqual([expect.objectContaining({ id: r.id, replyTo: now })])
      expect(resumed.changes).toEqual([{ type: 'edited', ...edited.data }])
      // A long edit is cut like a long original.
      await change(aliceIn, { type: 'edit', id: m.id, text: '🎉'.repeat(300) })
      expect(byId(await restHistory(server, 'lobby'), r.id)!.replyTo).toEqual({ id: m.id, user: alice.user, text: `${'🎉'.repeat(199)}…` })
    })

    test('once the original is deleted the quote text is null; its id and author stay', async () => {
      await using server = await store.start()
      const { root, alice, bob } = await trio(server)
      using aliceIn = await connectRoom(server, 'lobby', alice)
      using bobIn = await connectRoom(server, 'lobby', bob)
      using rootIn = await connectRoom(server, 'lobby', root)
      const m = await post(aliceIn, 'regrettable')
      const r = await reply(bobIn, 'indeed', m.id)
      await change(aliceIn, { type: 'delete', id: m.id })
      const gone = { id: m.id, user: alice.user, text: null }
      expect(byId(await restHistory(server, 'lobby'), r.id)!.replyTo).toEqual(gone)
      expect(byId((await welcomeOf(server, 'lobby')).history, r.id)!.replyTo).toEqual(gone)
      expect((await welcomeOf(server, 'lobby', bob, `?since=${m.id}`)).history).toEqual([expect.objectContaining({ id: r.id, text: 'indeed', replyTo: gone })])
      // The same when an admin deletes someone else's original; the reply itself stays.
      const n = await post(bobIn, 'spam')
      const s = await reply(aliceIn, 'what is this', n.id)
      await change(rootIn, { type: 'delete', id: n.id })
      expect(byId(await restHistory(server, 'lobby'), s.id)).toMatchObject({
        id: s.id,
        text: 'what is this',
        replyTo: { id: n.id, user: bob.user, text: null },
      })
    })

    test('replyTo another room’s message, an event id, an unknown id, 0, -1, 1.5, a string or null: MESSAGE_INVALID, nothing stored', async () => {
      await using server = await store.start()
      const { alice } = await trio(server)
      using lobby = await connectRoom(server, 'lobby', alice)
      using elsewhere = await connectRoom(server, 'elsewhere', alice)
      const m = await post(lobby, 'here')
      const there = await post(elsewhere, 'there')
      const event = await change(lobby, { type: 'edit', id: m.id, text: 'here, edited' })
      const before = await storedMessages(server, 'lobby')
      const beforeThere = await storedMessages(server, 'elsewhere')
      for (const replyTo of [there.id, event.data.id, 999_999, 0, -1, 1.5, String(m.id), null, 2 ** 53, [m.id], { id: m.id }, true]) {
        const answer = await answerToMessage(lobby, { text: 'a reply', replyTo })
        expect({ replyTo, answer }).toEqual({ replyTo, answer: errorFrame('MESSAGE_INVALID') })
      }
      expect(await storedMessages(server, 'lobby')).toEqual(before)
      expect(await storedMessages(server, 'elsewhere')).toEqual(beforeThere)
      // The socket stays open and a good reply still works.
      expect((await reply(lobby, 'a reply', m.id)).replyTo).toEqual({ id: m.id, user: alice.user, text: 'here, edited' })
    })

    test('in a private room a reply may quote that room’s messages only, and no other room may quote them', async () => {
      await using server = await store.start()
      const [, alice, bob, carol] = (await cast(server, 'root', 'alice', 'bob', 'carol')) as [Account, Account, Account, Account]
      await createRoom(server, alice, 'secret', 'private')
      await addMember(server, alice, 'secret', 'bob')
      using aliceSecret = await connectRoom(server, 'secret', alice)
      using bobSecret = await connectRoom(server, 'secret', bob)
      using aliceLobby = await connectRoom(server, 'lobby', alice)
      using carolLobby = await connectRoom(server, 'lobby', carol)
      const inSecret = await post(aliceSecret, 'the plan')
      const inLobby = await post(aliceLobby, 'hello all')
      const lobbyBefore = await storedMessages(server, 'lobby')
      // From the private room to a public message: refused.
      expect(await answerToMessage(bobSecret, { text: 'quoting the lobby', replyTo: inLobby.id })).toEqual(errorFrame('MESSAGE_INVALID'))
      // From a public room to the private message, by a member or an outsider: refused, nothing leaks.
      expect(await answerToMessage(aliceLobby, { text: 'leak', replyTo: inSecret.id })).toEqual(errorFrame('MESSAGE_INVALID'))
      expect(await answerToMessage(carolLobby, { text: 'peek', replyTo: inSecret.id })).toEqual(errorFrame('MESSAGE_INVALID'))
      expect(await storedMessages(server, 'lobby')).toEqual(lobbyBefore)
      expect(await restHistory(server, 'secret', alice)).toEqual([inSecret].map(({ nonce: _, ...rest }) => expect.objectContaining(rest)))
      // Inside the room: fine.
      const r = await reply(bobSecret, 'agreed', inSecret.id)
      expect(r.replyTo).toEqual({ id: inSecret.id, user: alice.user, text: 'the plan' })
      expect((await frameWhere(aliceSecret, (f) => f.type === 'message' && f.data.id === r.id, WAIT_MS, 'the reply')).data).toMatchObject({
        id: r.id,
        replyTo: { id: inSecret.id, user: alice.user, text: 'the plan' },
      })
      expect(byId(await restHistory(server, 'secret', bob), r.id)!.replyTo).toEqual({ id: inSecret.id, user: alice.user, text: 'the plan' })
    })
  })
}
