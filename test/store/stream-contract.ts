/**
 * The room-stream half of the store contract (spec §5 "Editing and deleting messages", spec §7
 * replies, reactions and attachments), run against every store: edits, deletions and reactions are
 * events that share the message id sequence and the `after` chain, are checked and applied in one
 * transaction, and history shows messages (and the quotes of replies) as they are now.
 */
import { describe, expect, test } from 'bun:test'
import type { TextMessage } from '../../src/protocol.ts'
import { randomBytes } from 'node:crypto'
import type { MessageChange, NewMessage, Store } from '../../src/store/store.ts'
import { MessageRefused } from '../../src/store/stream.ts'
import type { StoreFixture } from './contract.ts'

/** The bytes of a test upload. */
async function* bytes(): AsyncGenerator<Uint8Array> {
  yield new Uint8Array([1, 2, 3])
}

const alice = { id: 1, username: 'alice' }
const bob = { id: 2, username: 'bob' }
const T0 = Date.UTC(2026, 10, 28, 23, 0, 0, 0)
const iso = (ms: number) => new Date(T0 + ms).toISOString()

function message(room: string, text: string, user = alice, ms = 0): NewMessage {
  return { room, user, text, nonce: 'n', mentions: [], createdAt: T0 + ms }
}
const edit = (room: string, messageId: number, text: string, user = alice, ms = 10): MessageChange => ({
  type: 'edited',
  room,
  messageId,
  user,
  text,
  mentions: [],
  at: T0 + ms,
})
const remove = (room: string, messageId: number, user = alice, byAdmin = false, ms = 20): MessageChange => ({
  type: 'deleted',
  room,
  messageId,
  user,
  byAdmin,
  at: T0 + ms,
})
const react = (room: string, messageId: number, emoji: string, user = alice, on = true, ms = 30): MessageChange => ({
  type: 'reaction',
  room,
  messageId,
  user,
  emoji,
  on,
  at: T0 + ms,
})

/** The committed event of a change that must succeed. */
/** A message as posted: never deleted yet. */
async function post(store: Store, m: NewMessage): Promise<TextMessage> {
  return (await store.insertMessage(m)).message as TextMessage
}

async function change(store: Store, c: MessageChange) {
  const outcome = await store.changeMessage(c)
  if (!outcome.ok) throw new Error(`change refused: ${outcome.refusal}`)
  return outcome
}

export function describeStreamContract(name: string, open: () => Promise<StoreFixture>): void {
  describe(`${name} store: edits and deletions`, () => {
    test('an edit by the author is an event after the message: the event carries the new text, the message shows it with editedAt', async () => {
      await using f = await open()
      const m = await post(f.store, message('e1', 'first'))
      const outcome = await change(f.store, edit('e1', m.id, 'second'))
      expect(outcome).toEqual({
        ok: true,
        author: alice,
        mentioned: [],
        dropped: [],
        committed: { after: m.id, event: { type: 'edited', room: 'e1', data: { id: expect.any(Number), messageId: m.id, text: 'second', editedAt: iso(10) } } },
      })
      const eventId = outcome.committed.event.data.id
      expect(eventId).toBeGreaterThan(m.id)
      const now = { ...m, text: 'second', editedAt: iso(10) }
      expect(await f.store.listMessages('e1', { limit: 10 })).toEqual([now])
      expect(await f.store.listStream('e1', { limit: 10 })).toEqual([{ type: 'message', room: 'e1', data: now }, outcome.committed.event])
      // The next message follows the event in the chain.
      const next = await f.store.insertMessage(message('e1', 'third'))
      expect(next.after).toBe(eventId)
    })

    test('a deletion leaves a tombstone and erases the text of the message and of its earlier edits', async () => {
      await using f = await open()
      const m = await post(f.store, message('d1', 'secret one'))
      const edited = await change(f.store, edit('d1', m.id, 'secret two'))
      const deleted = await change(f.store, remove('d1', m.id))
      expect(deleted).toEqual({
        ok: true,
        author: alice,
        mentioned: [],
        dropped: [],
        committed: { after: edited.committed.event.data.id, event: { type: 'deleted', room: 'd1', data: { id: expect.any(Number), messageId: m.id } } },
      })
      const tombstone = { id: m.id, room: 'd1', user: alice, ts: m.ts, deleted: true as const }
      expect(await f.store.listMessages('d1', { limit: 10 })).toEqual([tombstone])
      // The erased edit is gone from the stream; the deletion stands.
      expect(await f.store.listStream('d1', { limit: 10 })).toEqual([{ type: 'message', room: 'd1', data: tombstone }, deleted.committed.event])
    })

    test("an admin may delete another user's message, audited as message.delete; the author may delete their own unaudited", async () => {
      await using f = await open()
      const m = await post(f.store, message('a1', 'by alice'))
      const own = await post(f.store, message('a1', 'by bob', bob))
      expect(await change(f.store, remove('a1', m.id, bob, true))).toMatchObject({ ok: true, author: alice })
      expect(await change(f.store, remove('a1', own.id, bob, false))).toMatchObject({ ok: true, author: bob })
      const entries = (await f.store.listAudit({ limit: 100 })).filter((e) => e.action === 'message.delete' && e.target.room === 'a1')
      expect(entries.map(({ actor, action, target, at }) => ({ actor, action, target, at }))).toEqual([
        { actor: bob, action: 'message.delete', target: { room: 'a1', messageId: m.id }, at: T0 + 20 },
      ])
    })

    test('refusals: another user, an unknown id, another room, an event id, a deleted message; nothing is written', async () => {
      await using f = await open()
      const m = await post(f.store, message('r1', 'mine'))
      const elsewhere = await post(f.store, message('r2', 'there'))
      const { committed } = await change(f.store, edit('r1', m.id, 'mine, edited'))
      const gone = await post(f.store, message('r1', 'to delete'))
      const { committed: deletion } = await change(f.store, remove('r1', gone.id))
      const stream = await f.store.listStream('r1', { limit: 100 })
      const refused = [
        [edit('r1', m.id, 'not yours', bob), 'FORBIDDEN'],
        // An admin may delete anyone's message, but edit only their own.
        [{ ...edit('r1', m.id, 'not yours', bob), byAdmin: true }, 'FORBIDDEN'],
        [remove('r1', m.id, bob), 'FORBIDDEN'],
        [edit('r1', 999_999, 'x'), 'MESSAGE_NOT_FOUND'],
        [remove('r1', 999_999, alice, true), 'MESSAGE_NOT_FOUND'],
        [edit('r1', elsewhere.id, 'x'), 'MESSAGE_NOT_FOUND'],
        [remove('r1', elsewhere.id, alice, true), 'MESSAGE_NOT_FOUND'],
        [edit('r1', committed.event.data.id, 'x'), 'MESSAGE_NOT_FOUND'],
        [remove('r1', deletion.event.data.id, alice, true), 'MESSAGE_NOT_FOUND'],
        [edit('r1', gone.id, 'x'), 'MESSAGE_NOT_FOUND'],
        [remove('r1', gone.id), 'MESSAGE_NOT_FOUND'],
      ] as const
      for (const [c, refusal] of refused)
        expect({ c, outcome: await f.store.changeMessage(c as MessageChange) }).toEqual({ c, outcome: { ok: false, refusal } })
      expect(await f.store.listStream('r1', { limit: 100 })).toEqual(stream)
      expect((await f.store.insertMessage(message('r1', 'after all that'))).after).toBe(deletion.event.data.id)
    })

    test('messages and changes asked for in one turn are one chain, in the order asked', async () => {
      await using f = await open()
      const m = await post(f.store, message('c1', 'one'))
      const [two, edited, three, deleted] = await Promise.all([
        f.store.insertMessage(message('c1', 'two')),
        f.store.changeMessage(edit('c1', m.id, 'one, edited')),
        f.store.insertMessage(message('c1', 'three')),
        f.store.changeMessage(remove('c1', m.id)),
      ])
      if (!edited.ok || !deleted.ok) throw new Error('a change was refused')
      const chain = [
        { id: two.message.id, after: two.after },
        { id: edited.committed.event.data.id, after: edited.committed.after },
        { id: three.message.id, after: three.after },
        { id: deleted.committed.event.data.id, after: deleted.committed.after },
      ]
      expect(chain.map((c) => c.after)).toEqual([m.id, ...chain.slice(0, -1).map((c) => c.id)])
      expect((await f.store.listStream('c1', { limit: 10 })).map((e) => [e.type, e.data.id])).toEqual([
        ['message', m.id],
        ['message', two.message.id],
        ['message', three.message.id],
        ['deleted', deleted.committed.event.data.id],
      ])
    })

    test("changes move the room's stream head, never its activity: lastMessageId stays the newest message", async () => {
      await using f = await open()
      const m = await post(f.store, message('h1', 'one', alice, 1))
      await change(f.store, edit('h1', m.id, 'edited', alice, 50))
      expect(await f.store.findRoomActivity(['h1'])).toEqual([{ room: 'h1', lastMessageId: m.id, visibility: 'public' }])
      const newer = await post(f.store, message('other-h1', 'elsewhere'))
      await change(f.store, remove('h1', m.id))
      expect((await f.store.listRoomActivity({ limit: 10 })).map((r) => [r.room, r.lastMessageId])).toEqual([
        ['other-h1', newer.id],
        ['h1', m.id],
      ])
    })

    test('listStream: bounds by id, and with changesUpTo only the changes to messages up to it (a resume)', async () => {
      await using f = await open()
      const old = await post(f.store, message('s1', 'old'))
      const cursor = await post(f.store, message('s1', 'at the cursor'))
      const fresh = await post(f.store, message('s1', 'new'))
      const e1 = await change(f.store, edit('s1', old.id, 'old, edited'))
      const e2 = await change(f.store, edit('s1', fresh.id, 'new, edited'))
      const e3 = await change(f.store, remove('s1', cursor.id))
      const resume = await f.store.listStream('s1', { after: cursor.id, changesUpTo: cursor.id, limit: 10 })
      expect(resume).toEqual([
        { type: 'message', room: 's1', data: { ...fresh, text: 'new, edited', editedAt: iso(10) } },
        e1.committed.event,
        e3.committed.event,
      ])
      expect((await f.store.listStream('s1', { after: old.id, before: e3.committed.event.data.id, limit: 10 })).map((e) => e.data.id)).toEqual([
        cursor.id,
        fresh.id,
        e1.committed.event.data.id,
        e2.committed.event.data.id,
      ])
      // The newest `limit`, oldest first.
      expect((await f.store.listStream('s1', { limit: 2 })).map((e) => e.data.id)).toEqual([e2.committed.event.data.id, e3.committed.event.data.id])
      expect(await f.store.listMessages('s1', { after: old.id, limit: 10 })).toEqual([
        { id: cursor.id, room: 's1', user: alice, ts: cursor.ts, deleted: true },
        { ...fresh, text: 'new, edited', editedAt: iso(10) },
      ])
    })

    test("listStream with fromNewest: the room's newest messages and every entry after the oldest of them, tombstones counted", async () => {
      await using f = await open()
      const first = await post(f.store, message('n1', 'first'))
      const second = await post(f.store, message('n1', 'second'))
      await post(f.store, message('elsewhere', 'not this room'))
      const third = await post(f.store, message('n1', 'third'))
      const gone = await change(f.store, remove('n1', third.id))
      const edited = await change(f.store, edit('n1', first.id, 'first, edited'))
      const fourth = await post(f.store, message('n1', 'fourth'))
      const ids = async (q: { fromNewest: number; limit: number; after?: number }) => (await f.store.listStream('n1', q)).map((e) => e.data.id)
      // The two newest messages are the deleted third and the fourth: from the third on, with the edit of the first that followed it.
      expect(await ids({ fromNewest: 2, limit: 10 })).toEqual([third.id, gone.committed.event.data.id, edited.committed.event.data.id, fourth.id])
      expect(await ids({ fromNewest: 3, limit: 10 })).toEqual([second.id, third.id, gone.committed.event.data.id, edited.committed.event.data.id, fourth.id])
      // As many messages as the room has, or more: its whole stream.
      const whole = await ids({ fromNewest: 1000, limit: 10 })
      expect(whole).toEqual((await f.store.listStream('n1', { limit: 10 })).map((e) => e.data.id))
      expect(whole[0]).toBe(first.id)
      // The limit still keeps the newest, and `after` still bounds it.
      expect(await ids({ fromNewest: 3, limit: 2 })).toEqual([edited.committed.event.data.id, fourth.id])
      expect(await ids({ fromNewest: 3, limit: 10, after: third.id })).toEqual([gone.committed.event.data.id, edited.committed.event.data.id, fourth.id])
    })
  })

  describe(`${name} store: replies, reactions and attachments`, () => {
    test('a reply carries its original as a quote, cut to 200 code points with a final …; history shows it as it is now, null once deleted', async () => {
      await using f = await open()
      // 250 code points (500 UTF-16 units): cut to 199 and the ellipsis.
      const long = await post(f.store, message('q1', '😀'.repeat(250)))
      const exact = await post(f.store, message('q1', 'x'.repeat(200), bob))
      const short = await post(f.store, message('q1', 'short one', bob))
      const toLong = await post(f.store, { ...message('q1', 're: long', bob), replyTo: long.id })
      expect(toLong.replyTo).toEqual({ id: long.id, user: alice, text: `${'😀'.repeat(199)}…` })
      expect(toLong.text).toBe('re: long')
      const toExact = await post(f.store, { ...message('q1', 're: exact'), replyTo: exact.id })
      expect(toExact.replyTo).toEqual({ id: exact.id, user: bob, text: 'x'.repeat(200) })
      const toShort = await post(f.store, { ...message('q1', 're: short'), replyTo: short.id })
      expect(toShort.replyTo).toEqual({ id: short.id, user: bob, text: 'short one' })
      const history = await f.store.listMessages('q1', { limit: 10 })
      expect(history.slice(3)).toEqual([toLong, toExact, toShort])

      // The original edited, then deleted: every page shows the quote as the original is now.
      await change(f.store, edit('q1', short.id, 'short, edited', bob))
      await change(f.store, remove('q1', long.id))
      const now = {
        long: { ...toLong, replyTo: { id: long.id, user: alice, text: null } },
        short: { ...toShort, replyTo: { id: short.id, user: bob, text: 'short, edited' } },
      }
      expect((await f.store.listMessages('q1', { after: exact.id, limit: 10 })).slice(1)).toEqual([now.long, toExact, now.short])
      const stream = await f.store.listStream('q1', { after: short.id, limit: 10 })
      expect(stream.filter((e) => e.type === 'message')).toEqual([
        { type: 'message', room: 'q1', data: now.long },
        { type: 'message', room: 'q1', data: toExact },
        { type: 'message', room: 'q1', data: now.short },
      ])
      // A message without replyTo has no quote; a reply to a deleted message quotes null.
      expect(history[0]).not.toHaveProperty('replyTo')
      expect((await post(f.store, { ...message('q1', 're: gone'), replyTo: long.id })).replyTo).toEqual({ id: long.id, user: alice, text: null })
    })

    test('a reply to an unknown id, an event or another room is refused with MessageRefused; nothing is written', async () => {
      await using f = await open()
      const m = await post(f.store, message('p1', 'here'))
      const elsewhere = await post(f.store, message('p2', 'there'))
      const { committed } = await change(f.store, edit('p1', m.id, 'here, edited'))
      const stream = await f.store.listStream('p1', { limit: 100 })
      const activity = await f.store.findRoomActivity(['p1'])
      for (const replyTo of [elsewhere.id, 999_999, committed.event.data.id]) {
        await expect(f.store.insertMessage({ ...message('p1', `re ${replyTo}`), replyTo })).rejects.toBeInstanceOf(MessageRefused)
      }
      // Asked in one turn with others: refused alone, the others chained as if it had not been asked.
      const [one, refused, two] = await Promise.allSettled([
        f.store.insertMessage(message('p1', 'one')),
        f.store.insertMessage({ ...message('p1', 'refused'), replyTo: elsewhere.id }),
        f.store.insertMessage({ ...message('p1', 'two', bob), replyTo: m.id }),
      ])
      expect(refused).toEqual({ status: 'rejected', reason: expect.any(MessageRefused) })
      if (one.status !== 'fulfilled' || two.status !== 'fulfilled') throw new Error('a valid message was refused')
      expect([one.value.after, two.value.after]).toEqual([committed.event.data.id, one.value.message.id])
      expect((two.value.message as TextMessage).replyTo).toEqual({ id: m.id, user: alice, text: 'here, edited' })
      expect(await f.store.listStream('p1', { limit: 100 })).toEqual([
        ...stream,
        { type: 'message', room: 'p1', data: one.value.message },
        { type: 'message', room: 'p1', data: two.value.message },
      ])
      expect(activity).toEqual([{ room: 'p1', lastMessageId: m.id, visibility: 'public' }])
      expect(await f.store.findRoomActivity(['p1'])).toEqual([{ room: 'p1', lastMessageId: two.value.message.id, visibility: 'public' }])
    })

    test('reactions: anyone puts and takes back an emoji, as events of the stream; a toggle that changes nothing is UNCHANGED', async () => {
      await using f = await open()
      const m = await post(f.store, message('x1', 'react to me'))
      const other = await post(f.store, message('x1', 'me too', bob))
      const thumbs = await f.store.changeMessage(react('x1', m.id, '👍', bob, true, 30))
      expect(thumbs).toEqual({
        ok: true,
        author: alice,
        mentioned: [],
        dropped: [],
        committed: {
          after: other.id,
          event: { type: 'reaction', room: 'x1', data: { id: expect.any(Number), messageId: m.id, emoji: '👍', user: bob, on: true } },
        },
      })
      if (!thumbs.ok) throw new Error('refused')
      const heart = await change(f.store, react('x1', m.id, '❤️', alice, true, 31))
      const mine = await change(f.store, react('x1', m.id, '👍', alice, true, 32))
      const onOther = await change(f.store, react('x1', other.id, '👍', alice, true, 33))
      expect(heart.committed.after).toBe(thumbs.committed.event.data.id)
      const before = await f.store.listStream('x1', { limit: 100 })
      for (const c of [react('x1', m.id, '👍', bob), react('x1', m.id, '🎉', bob, false), react('x1', other.id, '❤️', alice, false)])
        expect({ c, outcome: await f.store.changeMessage(c) }).toEqual({ c, outcome: { ok: false, refusal: 'UNCHANGED' } })
      const gone = await post(f.store, message('x1', 'deleted'))
      await change(f.store, remove('x1', gone.id))
      const elsewhere = await post(f.store, message('x2', 'elsewhere'))
      for (const c of [
        react('x1', 999_999, '👍'),
        react('x1', elsewhere.id, '👍'),
        react('x1', gone.id, '👍'),
        react('x1', heart.committed.event.data.id, '👍'),
      ])
        expect({ c, outcome: await f.store.changeMessage(c) }).toEqual({ c, outcome: { ok: false, refusal: 'MESSAGE_NOT_FOUND' } })
      expect((await f.store.listStream('x1', { limit: 100 })).slice(0, before.length)).toEqual(before)
      // In the order they were put: each emoji by its first, then the users in order.
      expect(await f.store.listReactions([m.id, other.id])).toEqual([
        { messageId: m.id, emoji: '👍', userId: bob.id },
        { messageId: m.id, emoji: '❤️', userId: alice.id },
        { messageId: m.id, emoji: '👍', userId: alice.id },
        { messageId: other.id, emoji: '👍', userId: alice.id },
      ])
      expect(await f.store.listReactions([])).toEqual([])
      expect(await f.store.listReactions([other.id])).toEqual([{ messageId: other.id, emoji: '👍', userId: alice.id }])

      const off = await change(f.store, react('x1', m.id, '👍', bob, false, 34))
      expect(off.committed.event).toEqual({
        type: 'reaction',
        room: 'x1',
        data: { id: expect.any(Number), messageId: m.id, emoji: '👍', user: bob, on: false },
      })
      expect(await f.store.listReactions([m.id])).toEqual([
        { messageId: m.id, emoji: '❤️', userId: alice.id },
        { messageId: m.id, emoji: '👍', userId: alice.id },
      ])
      // The events are in the stream, and a resume from `m` replays those on messages up to it as changes.
      const events = [thumbs.committed.event, heart.committed.event, mine.committed.event, onOther.committed.event]
      expect(await f.store.listStream('x1', { after: other.id, before: onOther.committed.event.data.id + 1, limit: 10 })).toEqual(events)
      const resume = await f.store.listStream('x1', { after: m.id, changesUpTo: m.id, limit: 100 })
      expect(resume.filter((e): boolean => e.type === 'reaction')).toEqual([
        thumbs.committed.event,
        heart.committed.event,
        mine.committed.event,
        off.committed.event,
      ])
      expect(resume.filter((e) => e.type === 'message').map((e) => e.data.id)).toEqual([other.id, gone.id])

      // A deletion takes the message's reactions with it.
      expect(await change(f.store, remove('x1', m.id))).toMatchObject({ ok: true, dropped: [] })
      expect(await f.store.listReactions([m.id, other.id])).toEqual([{ messageId: other.id, emoji: '👍', userId: alice.id }])
      await change(f.store, remove('x1', other.id, bob))
      expect(await f.store.listReactions([m.id, other.id])).toEqual([])
    })

    test('a 21st different emoji on a message is refused as MESSAGE_INVALID, nothing written; more users on the 20 are not', async () => {
      await using f = await open()
      const m = await post(f.store, message('x3', 'popular'))
      const emoji = Array.from({ length: 21 }, (_, i) => String.fromCodePoint(0x1f600 + i))
      for (const [i, e] of emoji.slice(0, 20).entries()) await change(f.store, react('x3', m.id, e, alice, true, i))
      const stream = await f.store.listStream('x3', { limit: 100 })
      expect(await f.store.changeMessage(react('x3', m.id, emoji[20]!, bob, true, 40))).toEqual({ ok: false, refusal: 'MESSAGE_INVALID' })
      expect(await f.store.listStream('x3', { limit: 100 })).toEqual(stream)
      expect((await f.store.listReactions([m.id])).length).toBe(20)
      await change(f.store, react('x3', m.id, emoji[0]!, bob, true, 41))
      // Once an emoji is gone altogether, another may take its place.
      await change(f.store, react('x3', m.id, emoji[5]!, alice, false, 42))
      await change(f.store, react('x3', m.id, emoji[20]!, bob, true, 43))
      expect(new Set((await f.store.listReactions([m.id])).map((r) => r.emoji)).size).toBe(20)
      await change(f.store, remove('x3', m.id))
      expect(await f.store.listReactions([m.id])).toEqual([])
    })

    test("a message claims the sender's unused uploads to the room, carried with their url; anything else is MessageRefused; a deletion drops them", async () => {
      await using f = await open()
      const upload = async (room: string, userId: number, name: string, image = true) => {
        const id = randomBytes(16).toString('base64url')
        const finish = () => ({
          room,
          userId,
          name,
          type: image ? 'image/png' : 'application/octet-stream',
          size: 3,
          width: image ? 4 : null,
          height: image ? 3 : null,
          createdAt: T0,
        })
        expect(await f.store.saveAttachment(id, bytes(), finish, 1e12)).toBe(true)
        return id
      }
      const a1 = await upload('f1', alice.id, 'a1.png')
      const a2 = await upload('f1', alice.id, 'notes.bin', false)
      const a3 = await upload('f1', alice.id, 'a3.png')
      const b1 = await upload('f1', bob.id, 'b1.png')
      const c1 = await upload('f2', alice.id, 'c1.png')
      const d1 = await upload('f1', alice.id, 'd1.png')
      const used = await post(f.store, { ...message('f1', 'uses d1'), attachments: [d1] })
      const m = await post(f.store, { ...message('f1', 'two files'), attachments: [a1, a2] })
      expect(m.attachments).toEqual([
        { id: a1, name: 'a1.png', type: 'image/png', size: 3, width: 4, height: 3, url: `/api/v1/attachments/${a1}` },
        { id: a2, name: 'notes.bin', type: 'application/octet-stream', size: 3, url: `/api/v1/attachments/${a2}` },
      ])
      expect(await f.store.findAttachment(a1)).toMatchObject({ messageId: m.id })
      expect(await f.store.listMessages('f1', { limit: 10 })).toEqual([used, m])
      expect(await f.store.listStream('f1', { limit: 10 })).toEqual([
        { type: 'message', room: 'f1', data: used },
        { type: 'message', room: 'f1', data: m },
      ])
      expect(await post(f.store, message('f1', 'no files'))).not.toHaveProperty('attachments')

      const stream = await f.store.listStream('f1', { limit: 100 })
      // Someone else's, another room's, already used (by another message or this one), unknown; with a usable one or not: refused, nothing claimed.
      const unknown = randomBytes(16).toString('base64url')
      for (const ids of [[b1], [c1], [d1], [a1], [unknown], [a3, b1], [a3, a3, c1]])
        await expect(f.store.insertMessage({ ...message('f1', 'refused'), attachments: ids })).rejects.toBeInstanceOf(MessageRefused)
      expect(await f.store.listStream('f1', { limit: 100 })).toEqual(stream)
      expect(await f.store.findAttachment(a3)).toMatchObject({ messageId: null })
      // Still theirs to use: a3 alice's (named twice, carried once), b1 bob's; and one upload goes to one message only.
      const withA3 = await post(f.store, { ...message('f1', 'a3'), attachments: [a3, a3] })
      expect(withA3.attachments?.map((a) => a.id)).toEqual([a3])
      const [bobs, again] = await Promise.allSettled([
        f.store.insertMessage({ ...message('f1', "bob's", bob), attachments: [b1] }),
        f.store.insertMessage({ ...message('f1', "bob's again", bob), attachments: [b1] }),
      ])
      if (bobs.status !== 'fulfilled') throw new Error("bob's upload was refused")
      expect((bobs.value.message as TextMessage).attachments?.map((a) => a.id)).toEqual([b1])
      expect(again).toEqual({ status: 'rejected', reason: expect.any(MessageRefused) })

      // A deletion drops the message's uploads (and says which): their rows go with it, they can't be claimed again.
      const deleted = await change(f.store, remove('f1', m.id))
      expect(deleted.dropped.toSorted()).toEqual([a1, a2].toSorted())
      expect(await f.store.findAttachment(a1)).toBeUndefined()
      expect(await f.store.findAttachment(a2)).toBeUndefined()
      await f.store.removeAttachmentFiles(deleted.dropped)
      expect(await f.store.openAttachment(a1)).toBeUndefined()
      expect((await f.store.listMessages('f1', { before: m.id + 1, limit: 1 }))[0]).toEqual({ id: m.id, room: 'f1', user: alice, ts: m.ts, deleted: true })
      await expect(f.store.insertMessage({ ...message('f1', 'reuse'), attachments: [a1] })).rejects.toBeInstanceOf(MessageRefused)
      expect((await change(f.store, remove('f1', bobs.value.message.id, bob))).dropped).toEqual([b1])
      expect((await change(f.store, remove('f1', withA3.id))).dropped).toEqual([a3])
      expect((await change(f.store, remove('f1', used.id))).dropped).toEqual([d1])
      // c1 was never claimed: it is still alice's to use in its own room (and leaves no upload behind for other tests).
      const inF2 = await post(f.store, { ...message('f2', 'c1'), attachments: [c1] })
      expect((await change(f.store, remove('f2', inF2.id))).dropped).toEqual([c1])
    })
  })
}
