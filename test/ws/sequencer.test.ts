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
import type { Message } from '../../src/protocol.ts'
import { openSqliteStore } from '../../src/store/sqlite.ts'
import type { Committed, Store } from '../../src/store/store.ts'
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
const post = (room: string, text: string): Promise<Committed> => store.insertMessage({ room, user, text, nonce: undefined, createdAt: 0 })

function sequencer(catchUpMs = 50): { seq: Sequencer; out: Message[] } {
  const out: Message[] = []
  const seq = new Sequencer({ store, log: createLogger('silent', 'text'), emit: (m) => void out.push(m), catchUpMs })
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
  expect(out.map((m) => m.id)).toEqual([one.message.id])
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
  seq.anchor('r', two.message.id)
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
