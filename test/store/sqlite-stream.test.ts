/**
 * SQLite specifics of the room stream (spec §5): a page of history walks an index of the room's
 * messages alone, however many edits and deletions the room has; and a deleted message's text, and
 * that of its edits, is gone from the database file itself (PRAGMA secure_delete), not just hidden.
 */
import { Database } from 'bun:sqlite'
import { expect, test } from 'bun:test'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { openSqliteStore } from '../../src/store/sqlite.ts'
import { EVENT_PAGE_SQL, FILED_PAGE_SQL, PAGE_IDS_SQL } from '../../src/store/sqlite-queries.ts'

const alice = { id: 1, username: 'alice' }

function tempFile(): { file: string; [Symbol.dispose](): void } {
  const dir = mkdtempSync(join(tmpdir(), 'chat-stream-'))
  return { file: join(dir, 'chat.db'), [Symbol.dispose]: () => rmSync(dir, { recursive: true, force: true }) }
}

test("a history page's ids come from the index of the room's messages alone, its filed messages from the room-ordered copy, and a stretch of the stream adds the events' own index: no scan, no sort", async () => {
  using tmp = tempFile()
  const store = openSqliteStore(tmp.file)
  const { message } = await store.insertMessage({ room: 'lobby', user: alice, text: 'x', nonce: undefined, mentions: [], createdAt: 0 })
  for (let i = 0; i < 50; i++)
    await store.changeMessage({ type: 'edited', room: 'lobby', messageId: message.id, user: alice, text: `x${i}`, mentions: [], at: i })
  const { message: later } = await store.insertMessage({ room: 'lobby', user: alice, text: 'y', nonce: undefined, mentions: [], createdAt: 60 })
  await store.close()

  const reader = new Database(tmp.file, { readonly: true })
  const plan = (sql: string, params: Record<string, string | number>) =>
    reader
      .query<{ detail: string }, Record<string, string | number>>(`EXPLAIN QUERY PLAN ${sql}`)
      .all(params)
      .map((r) => r.detail)
  const page = { $room: 'lobby', $before: 100, $after: 0, $limit: 50 }
  expect(plan(PAGE_IDS_SQL, page)).toEqual(['SEARCH messages USING COVERING INDEX messages_room_message_id (room=? AND id>? AND id<?)'])
  expect(plan(FILED_PAGE_SQL, { $room: 'lobby', $first: 1, $last: 100 })).toEqual([
    'SEARCH messages USING COVERING INDEX messages_room_filed (room=? AND id>? AND id<?)',
  ])
  expect(plan(EVENT_PAGE_SQL, { ...page, $upTo: 100 })).toEqual(['SEARCH messages USING INDEX messages_room_event_id (room=? AND id>? AND id<?)'])
  // And the answers are right: the page holds the two messages' ids, none of the 50 edits'; the events'
  // stretch holds the edits newest first, and none past the reader's cursor.
  expect(reader.query(PAGE_IDS_SQL).all(page)).toEqual([{ id: later.id }, { id: message.id }])
  const events = reader.query<{ id: number; kind: string }, Record<string, string | number>>(EVENT_PAGE_SQL)
  expect(events.all({ ...page, $upTo: 100, $limit: 100 }).map((r) => r.id)).toEqual(Array.from({ length: 50 }, (_, i) => later.id - 1 - i))
  expect(events.all({ ...page, $upTo: message.id - 1 })).toEqual([])
  reader.close()

  // The store merges them: every entry newest first, the LIMIT cutting across both, and changes past
  // the reader's cursor left out.
  const again = openSqliteStore(tmp.file)
  try {
    const stream = async (q: { limit: number; changesUpTo?: number }) => (await again.listStream('lobby', q)).map((e) => e.type)
    expect(await stream({ limit: 100 })).toEqual(['message', ...Array(50).fill('edited' as const), 'message'])
    expect(await stream({ limit: 3 })).toEqual(['edited', 'edited', 'message'])
    expect(await stream({ limit: 100, changesUpTo: message.id - 1 })).toEqual(['message', 'message'])
  } finally {
    await again.close()
  }
})

test("a deleted message's text and its edits' texts are gone from the file's bytes once the store has closed", async () => {
  using tmp = tempFile()
  const store = openSqliteStore(tmp.file)
  // Short texts live in the row; a long one spills onto overflow pages.
  const secrets = ['SECRET-short-original', 'SECRET-short-edit', `SECRET-long-${'x'.repeat(6000)}`, 'SECRET-kept']
  const post = (text: string) => store.insertMessage({ room: 'lobby', user: alice, text, nonce: 'n', mentions: [], createdAt: 0 }).then((c) => c.message)
  const gone = await post(secrets[0]!)
  await store.changeMessage({ type: 'edited', room: 'lobby', messageId: gone.id, user: alice, text: secrets[1]!, mentions: [], at: 1 })
  const long = await post(secrets[2]!)
  const kept = await post(secrets[3]!)
  for (const id of [gone.id, long.id])
    expect(await store.changeMessage({ type: 'deleted', room: 'lobby', messageId: id, user: alice, byAdmin: false, at: 2 })).toMatchObject({ ok: true })
  await store.close()

  const bytes = readFileSync(tmp.file)
  expect(bytes.includes('SECRET-kept')).toBe(true)
  expect(secrets.slice(0, 3).map((s) => [s.slice(0, 20), bytes.includes(s.slice(0, 20))])).toEqual(secrets.slice(0, 3).map((s) => [s.slice(0, 20), false]))
  expect(bytes.includes('x'.repeat(200))).toBe(false)
  expect(kept.text).toBe('SECRET-kept')
})
