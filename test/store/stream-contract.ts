/**
 * The room-stream half of the store contract (spec §5 "Editing and deleting messages"), run against
 * every store: edits and deletions are events that share the message id sequence and the `after`
 * chain, are checked and applied in one transaction, and history shows messages as they are now.
 */
import { describe, expect, test } from 'bun:test'
import type { TextMessage } from '../../src/protocol.ts'
import type { MessageChange, NewMessage, Store } from '../../src/store/store.ts'
import type { StoreFixture } from './contract.ts'

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
      expect(await f.store.findRoomActivity(['h1'])).toEqual([{ room: 'h1', lastMessageId: m.id, lastActiveAt: T0 + 1, visibility: 'public' }])
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
  })
}
