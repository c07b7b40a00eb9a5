/**
 * Delivery order (spec §3: ids order messages): the sequencer emits a followed room's messages in
 * id order and once, whichever road each came by, and fills a gap from the store (a real SQLite
 * file) when a predecessor does not arrive.
 */
import { afterEach, beforeEach, expect, test } from 'bun:test'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createLogger } from '../../src/log.ts'
import { openSqliteStore } from '../../src/store/sqlite.ts'
import type { CommittedEvent, MessageChange, Store, StreamEvent } from '../../src/store/store.ts'
import { Sequencer } from '../../src/ws/sequencer.ts'
import { until } from '../support/wait.ts'

let dir: string
let store: Store
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'chat-seq-'))
  store = openSqliteStore(join(dir, 'chat.db'))
})
afterEach(async () => {
  await store.close()
  rmSync(dir, { recursive: true, force: true })
})

const user = { id: 1, username: 'alice' }
/** A message posted, as the poster hands it on: its stream entry and predecessor. */
const post = async (room: string, text: string) => {
  const { message, after } = await store.insertMessage({ room, user, text, nonce: undefined, mentions: [], createdAt: 0 })
  return { message: { type: 'message', room, data: message } as StreamEvent, after }
}
/** A change committed, as the poster hands it on. */
const change = async (c: MessageChange): Promise<CommittedEvent> => {
  const outcome = await store.changeMessage(c)
  if (!outcome.ok) throw new Error(outcome.refusal)
  return outcome.committed
}

/** What the sequencer emitted: messages by their text, changes by type and message id. */
type Out = { text?: string; id: number; type: string } & Record<string, unknown>

function sequencer(catchUpMs = 50): { seq: Sequencer; out: Out[] } {
  const out: Out[] = []
  const seq = new Sequencer({ store, log: createLogger('silent', 'text'), emit: (e) => void out.push({ type: e.type, ...e.data }), catchUpMs })
  return { seq, out }
}

test('a message that overtook its predecessor waits for it, then both go out in id order', async () => {
  const [one, two, three] = [await post('r', 'one'), await post('r', 'two'), await post('r', 'three')]
  const { seq, out } = sequencer(10_000)
  seq.open('r')
  seq.anchor('r', 0)
  seq.offer(three.message, three.after)
  seq.offer(two.message, two.after)
  expect(out).toEqual([])
  seq.offer(one.message, one.after)
  expect(out.map((m) => m.text)).toEqual(['one', 'two', 'three'])
  seq.close('r')
})

test('a message offered twice (its own road and the broker, or a repair) goes out once', async () => {
  const one = await post('r', 'one')
  const { seq, out } = sequencer()
  seq.open('r')
  seq.anchor('r', 0)
  seq.offer(one.message, one.after)
  seq.offer(one.message, one.after)
  expect(out.map((m) => m.id)).toEqual([one.message.data.id])
  seq.close('r')
})

test('a predecessor that never comes (lost with Redis) is read from the store after the catch-up wait', async () => {
  const [one, two, three] = [await post('r', 'one'), await post('r', 'two'), await post('r', 'three')]
  const { seq, out } = sequencer(30)
  seq.open('r')
  seq.anchor('r', 0)
  seq.offer(one.message, one.after)
  seq.offer(three.message, three.after)
  expect(out.map((m) => m.text)).toEqual(['one'])
  await until(() => out.length === 3, 2000, 'the gap to be filled')
  expect(out.map((m) => m.text)).toEqual(['one', 'two', 'three'])
  // What the store filled in is not repeated when it arrives late after all.
  seq.offer(two.message, two.after)
  expect(out).toHaveLength(3)
  seq.close('r')
})

test('until the room is anchored (history loading), messages go out as they come; older ones after the anchor are repeats', async () => {
  const [one, two] = [await post('r', 'one'), await post('r', 'two')]
  const { seq, out } = sequencer()
  seq.open('r')
  seq.offer(two.message, two.after)
  expect(out.map((m) => m.text)).toEqual(['two'])
  seq.anchor('r', two.message.data.id)
  seq.offer(one.message, one.after)
  expect(out.map((m) => m.text)).toEqual(['two'])
  seq.close('r')
})

test('rooms are independent, and a room not followed here passes straight through', async () => {
  const a1 = await post('a', 'a1')
  const b1 = await post('b', 'b1')
  const a2 = await post('a', 'a2')
  const { seq, out } = sequencer(10_000)
  seq.open('a')
  seq.anchor('a', 0)
  seq.offer(a2.message, a2.after)
  seq.offer(b1.message, b1.after)
  expect(out.map((m) => m.text)).toEqual(['b1'])
  seq.offer(a1.message, a1.after)
  expect(out.map((m) => m.text)).toEqual(['b1', 'a1', 'a2'])
  seq.close('a')
})

test('repair emits what the store has after the newest message out, once', async () => {
  const one = await post('r', 'one')
  const { seq, out } = sequencer()
  seq.open('r')
  seq.anchor('r', 0)
  seq.offer(one.message, one.after)
  await post('r', 'two')
  await post('r', 'three')
  await seq.repair('r')
  await seq.repair('r')
  expect(out.map((m) => m.text)).toEqual(['one', 'two', 'three'])
  seq.close('r')
})

test('edits and deletions are ordered with messages, and an edit erased by a later deletion is skipped when a gap is filled', async () => {
  const one = await post('r', 'one')
  const edit = await change({ type: 'edited', room: 'r', messageId: one.message.data.id, user, text: 'one, edited', mentions: [], at: 1 })
  const two = await post('r', 'two')
  const { seq, out } = sequencer(10_000)
  seq.open('r')
  seq.anchor('r', 0)
  seq.offer(two.message, two.after)
  seq.offer(edit.event, edit.after)
  expect(out).toEqual([])
  seq.offer(one.message, one.after)
  expect(out.map((e) => [e.type, e.text])).toEqual([
    ['message', 'one'],
    ['edited', 'one, edited'],
    ['message', 'two'],
  ])
  seq.close('r')

  // Lost: the edit, then its message is deleted; the gap read from the store no longer has the edit.
  const edit2 = await change({ type: 'edited', room: 'r', messageId: two.message.data.id, user, text: 'two, edited', mentions: [], at: 2 })
  const deletion = await change({ type: 'deleted', room: 'r', messageId: two.message.data.id, user, byAdmin: false, at: 3 })
  const three = await post('r', 'three')
  const late = sequencer(30)
  late.seq.open('r')
  late.seq.anchor('r', two.message.data.id)
  late.seq.offer(three.message, three.after)
  await until(() => late.out.length === 2, 2000, 'the gap to be filled')
  expect(late.out.map((e) => [e.type, e.id])).toEqual([
    ['deleted', deletion.event.data.id],
    ['message', three.message.data.id],
  ])
  expect(edit2.event.data.id).toBeLessThan(deletion.event.data.id)
  late.seq.close('r')
})

test('a held entry whose predecessor was erased from the stream is not held for ever', async () => {
  const one = await post('r', 'one')
  const e1 = await change({ type: 'edited', room: 'r', messageId: one.message.data.id, user, text: 'a', mentions: [], at: 1 })
  const e2 = await change({ type: 'edited', room: 'r', messageId: one.message.data.id, user, text: 'b', mentions: [], at: 2 })
  const deletion = await change({ type: 'deleted', room: 'r', messageId: one.message.data.id, user, byAdmin: false, at: 3 })
  const { seq, out } = sequencer(30)
  seq.open('r')
  seq.anchor('r', one.message.data.id)
  // e1 never comes and is erased by now, as is e2, which waits for it: the store has neither.
  seq.offer(e2.event, e2.after)
  await until(() => seq.lastId('r') === e2.event.data.id, 2000, 'the gap to be filled')
  expect(out).toEqual([])
  // The deletion that erased them follows e2, and goes out at once.
  seq.offer(deletion.event, deletion.after)
  expect(out.map((e) => [e.type, e.id])).toEqual([['deleted', deletion.event.data.id]])
  expect(e1.event.data.id).toBeLessThan(e2.event.data.id)
  seq.close('r')
})
