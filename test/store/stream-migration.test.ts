/**
 * SQLite's migration 0019 and PostgreSQL's 0017 put a room's messages and its events in two indexes
 * of their own (spec §5): a stream stored before them reads the same after, history pages hold its
 * messages alone, and what is written afterwards joins it in id order, on both stores.
 */
import { SQL } from 'bun'
import { expect, test as sqliteTest } from 'bun:test'
import type { StreamEvent } from '../../src/store/entries.ts'
import { openPostgresStore } from '../../src/store/postgres.ts'
import { openSqliteStore } from '../../src/store/sqlite.ts'
import type { Store } from '../../src/store/store.ts'
import { migratePostgresTo, oldSqliteFile } from '../support/old-schema.ts'
import { requireServices } from '../support/require-services.ts'
import { startPostgres } from '../support/services.ts'

const { test: pgTest } = requireServices('postgresql')

/**
 * As the store wrote them: message 1 edited by event 2 (its row holds the new text), message 3,
 * a reaction to it (4), message 5 deleted by event 6 (ids in insert order, on a new database); and
 * the rooms' rows at the heads of their streams.
 */
const ROWS = `INSERT INTO messages (room, user_id, username, text, created_at, kind, target_id, edited_at, deleted) VALUES
  ('lobby', 1, 'alice', 'first, edited', 10, 'message', NULL, 20, false),
  ('lobby', 1, 'alice', 'first, edited', 20, 'edited', 1, NULL, false),
  ('lobby', 2, 'bob', 'second', 30, 'message', NULL, NULL, false),
  ('lobby', 1, 'alice', '👍', 40, 'reacted', 3, NULL, false),
  ('lobby', 2, 'bob', '', 50, 'message', NULL, NULL, true),
  ('lobby', 2, 'bob', '', 60, 'deleted', 5, NULL, false),
  ('elsewhere', 2, 'bob', 'not here', 70, 'message', NULL, NULL, false);
INSERT INTO rooms (name, last_message_id, last_active_at, last_event_id, visibility, message_count) VALUES
  ('lobby', 5, 50, 6, 'public', 3), ('elsewhere', 7, 70, 7, 'public', 1)`

const entries = (events: StreamEvent[]) => events.map((e) => `${e.type} ${e.data.id}`)

async function expectStream(store: Store): Promise<void> {
  expect(entries(await store.listStream('lobby', { limit: 10 }))).toEqual(['message 1', 'edited 2', 'message 3', 'reaction 4', 'message 5', 'deleted 6'])
  expect((await store.listMessages('lobby', { limit: 10 })).map((m) => [m.id, m.deleted ? 'deleted' : m.text])).toEqual([
    [1, 'first, edited'],
    [3, 'second'],
    [5, 'deleted'],
  ])
  // A resume from message 3: what came after it, and no change to a message it does not have.
  expect(entries(await store.listStream('lobby', { after: 3, changesUpTo: 3, limit: 10 }))).toEqual(['reaction 4', 'message 5'])
  // Every entry after the message before the newest two (a room's first load); the limit keeps the newest.
  expect(entries(await store.listStream('lobby', { fromNewest: 2, limit: 10 }))).toEqual(['edited 2', 'message 3', 'reaction 4', 'message 5', 'deleted 6'])
  expect(entries(await store.listStream('lobby', { fromNewest: 1, limit: 10 }))).toEqual(['reaction 4', 'message 5', 'deleted 6'])
  expect(entries(await store.listStream('lobby', { limit: 3 }))).toEqual(['reaction 4', 'message 5', 'deleted 6'])

  const { message } = await store.insertMessage({
    room: 'lobby',
    user: { id: 1, username: 'alice' },
    text: 'third',
    nonce: undefined,
    mentions: [],
    createdAt: 80,
  })
  expect(
    await store.changeMessage({ type: 'edited', room: 'lobby', messageId: 3, user: { id: 2, username: 'bob' }, text: 'second, edited', mentions: [], at: 90 }),
  ).toMatchObject({ ok: true })
  const stream = entries(await store.listStream('lobby', { after: 6, limit: 10 }))
  expect(stream).toEqual([`message ${message.id}`, `edited ${message.id + 1}`])
  expect((await store.listMessages('lobby', { after: 1, limit: 10 })).map((m) => [m.id, m.deleted ? 'deleted' : m.text])).toEqual([
    [3, 'second, edited'],
    [5, 'deleted'],
    [message.id, 'third'],
  ])
}

sqliteTest('SQLite: a stream stored before migration 0019 reads the same after it, and new entries join it in order', async () => {
  using old = oldSqliteFile(19, (client) => client.exec(ROWS))
  const store = openSqliteStore(old.file)
  try {
    await expectStream(store)
  } finally {
    await store.close()
  }
})

pgTest(
  'PostgreSQL: a stream stored before migration 0017 reads the same after it, and new entries join it in order',
  async () => {
    await using pg = await startPostgres()
    const client = new SQL(pg.url)
    try {
      await migratePostgresTo(client, 17)
      await client.unsafe(ROWS)
    } finally {
      await client.close()
    }
    const store = await openPostgresStore(pg.url)
    try {
      await expectStream(store)
    } finally {
      await store.close()
    }
  },
  60_000,
)
