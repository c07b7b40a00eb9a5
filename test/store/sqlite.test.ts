import { Database } from 'bun:sqlite'
import { expect, test } from 'bun:test'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { drizzle } from 'drizzle-orm/bun-sqlite'
import { readMigrationFiles } from 'drizzle-orm/migrator'
import * as schema from '../../db/schema.ts'
import { openSqliteStore, roomActivityQueries } from '../../src/store/sqlite.ts'
import { describeAccountContract } from './accounts-contract.ts'
import { describeAttachmentsContract } from './attachments-contract.ts'
import { describeStoreContract, type LegacyFixture, type StoreFixture } from './contract.ts'
import { describeRoomsContract, type RoomsFixture } from './rooms-contract.ts'
import { describeSearchContract } from './search-contract.ts'
import { describeStreamContract } from './stream-contract.ts'
import { describeWebhooksContract } from './webhooks-contract.ts'

/** Migration 0000 alone: the schema of a server from before the rooms table. */
const BEFORE_ROOMS = readMigrationFiles({ migrationsFolder: join(import.meta.dir, '../../db/migrations') }).slice(0, 1)

function openAt(dir: string): StoreFixture {
  const store = openSqliteStore(join(dir, 'chat.db'))
  return {
    store,
    async [Symbol.asyncDispose]() {
      await store.close()
    },
  }
}

async function openFixture(): Promise<RoomsFixture & { file: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'chat-store-'))
  let fixture = openAt(dir)
  return {
    get store() {
      return fixture.store
    },
    file: join(dir, 'chat.db'),
    async restart() {
      await fixture[Symbol.asyncDispose]()
      fixture = openAt(dir)
    },
    // One instance per file: the second "instance" is this one.
    another: async () => ({ store: fixture.store, async [Symbol.asyncDispose]() {} }),
    async [Symbol.asyncDispose]() {
      await fixture[Symbol.asyncDispose]()
      rmSync(dir, { recursive: true, force: true })
    },
  }
}

async function openLegacy(): Promise<LegacyFixture> {
  const dir = mkdtempSync(join(tmpdir(), 'chat-store-'))
  const client = new Database(join(dir, 'chat.db'), { create: true, strict: true })
  // The same embedded-migrations entry point the store uses, given only the first migration.
  const internals = drizzle({ client }) as unknown as { dialect: { migrate(m: typeof BEFORE_ROOMS, s: unknown, c: object): void }; session: unknown }
  internals.dialect.migrate(BEFORE_ROOMS, internals.session, {})
  const insert = client.query<{ id: number }, { room: string; createdAt: number }>(
    "INSERT INTO messages (room, user_id, username, text, nonce, created_at) VALUES ($room, 1, 'alice', 'from before', NULL, $createdAt) RETURNING id",
  )
  return {
    insertMessage: async (room, createdAt) => insert.get({ room, createdAt })!.id,
    async open() {
      client.close()
      return openAt(dir)
    },
    async [Symbol.asyncDispose]() {
      client.close()
      rmSync(dir, { recursive: true, force: true })
    },
  }
}

describeStoreContract('SQLite', openFixture, openLegacy)
describeAccountContract('SQLite', openFixture)
describeStreamContract('SQLite', openFixture)
describeRoomsContract('SQLite', openFixture)
describeAttachmentsContract('SQLite', openFixture)
describeSearchContract('SQLite', openFixture)
describeWebhooksContract('SQLite', openFixture)

// spec §2: the room list's cost grows with the page, never with the number of messages stored.
test('the room list walks the rooms index and never reads messages, with 200 000 messages in 20 000 rooms', async () => {
  await using f = await openFixture()
  const ROOMS = 20_000
  const MESSAGES = 200_000
  const BATCH = 5_000
  const user = { id: 1, username: 'alice' }
  // Posted a batch per turn, as the server's group commit takes them; message i goes to room i % ROOMS.
  for (let i = 0; i < MESSAGES; i += BATCH) {
    await Promise.all(
      Array.from({ length: BATCH }, (_, j) =>
        f.store.insertMessage({ room: `room-${(i + j) % ROOMS}`, user, text: 'x', nonce: undefined, mentions: [], createdAt: i + j }).then((c) => c.message),
      ),
    )
  }

  const reader = new Database(f.file, { readonly: true })
  const queries = roomActivityQueries(drizzle({ client: reader, schema }))
  const plan = ({ sql, params }: { sql: string; params: unknown[] }, values: (string | number)[]) => {
    expect(params).toHaveLength(values.length)
    return reader
      .query<{ detail: string }, (string | number)[]>(`EXPLAIN QUERY PLAN ${sql}`)
      .all(...values)
      .map((r) => r.detail)
  }
  // Each is one index search: no scan of anything, no sort, and no mention of messages. A page is
  // read from the index alone (migration 0017), not from a row per room.
  expect(plan(queries.page.toSQL(), ['public', 100_000, 0, 50])).toEqual([
    'SEARCH rooms USING COVERING INDEX rooms_visibility_last_message_id (visibility=? AND last_message_id>? AND last_message_id<?)',
  ])
  expect(plan(queries.named(['room-1', 'room-2']).toSQL(), ['room-1', 'room-2'])).toEqual(['SEARCH rooms USING INDEX sqlite_autoindex_rooms_1 (name=?)'])
  reader.close()

  // And the pages are right: every room once, newest first (room-19999 got the last message).
  const seen: string[] = []
  let before: number | undefined
  for (;;) {
    const page = await f.store.listRoomActivity({ before, limit: 200 })
    if (page.length === 0) break
    seen.push(...page.map((r) => r.room))
    before = page.at(-1)!.lastMessageId
  }
  expect(seen).toEqual(Array.from({ length: ROOMS }, (_, k) => `room-${ROOMS - 1 - k}`))
}, 120_000)
