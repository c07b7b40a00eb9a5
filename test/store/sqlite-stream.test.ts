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
import { drizzle } from 'drizzle-orm/bun-sqlite'
import * as schema from '../../db/schema.ts'
import { openSqliteStore } from '../../src/store/sqlite.ts'
import { MESSAGE_PAGE_SQL, streamQuery } from '../../src/store/sqlite-queries.ts'

const alice = { id: 1, username: 'alice' }

function tempFile(): { file: string; [Symbol.dispose](): void } {
  const dir = mkdtempSync(join(tmpdir(), 'chat-stream-'))
  return { file: join(dir, 'chat.db'), [Symbol.dispose]: () => rmSync(dir, { recursive: true, force: true }) }
}

test('a history page searches the (room, kind, id) index: no scan, no sort, whatever the events', async () => {
  using tmp = tempFile()
  const store = openSqliteStore(tmp.file)
  const { message } = await store.insertMessage({ room: 'lobby', user: alice, text: 'x', nonce: undefined, mentions: [], createdAt: 0 })
  for (let i = 0; i < 50; i++)
    await store.changeMessage({ type: 'edited', room: 'lobby', messageId: message.id, user: alice, text: `x${i}`, mentions: [], at: i })
  await store.close()

  const reader = new Database(tmp.file, { readonly: true })
  const plan = (sql: string, params: Record<string, string | number>) =>
    reader
      .query<{ detail: string }, Record<string, string | number>>(`EXPLAIN QUERY PLAN ${sql}`)
      .all(params)
      .map((r) => r.detail)
  const page = { $room: 'lobby', $before: 100, $after: 0, $limit: 50 }
  expect(plan(MESSAGE_PAGE_SQL, page)).toEqual(['SEARCH messages USING INDEX messages_room_kind_id (room=? AND kind=? AND id>? AND id<?)'])
  const stream = streamQuery(drizzle({ client: reader, schema })).toSQL()
  expect(plan(stream.sql, Object.fromEntries(stream.params.map((_, i) => [`?${i + 1}`, 1])))).toEqual([
    'SEARCH messages USING INDEX messages_room_id (room=? AND id>? AND id<?)',
  ])
  // And the page is right: the message as it is now, none of its 50 edits.
  expect(reader.query(MESSAGE_PAGE_SQL).all(page)).toEqual([expect.objectContaining({ id: message.id, text: 'x49' })])
  reader.close()
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
