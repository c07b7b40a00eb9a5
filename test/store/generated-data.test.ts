/**
 * bench/generate-data.ts writes rows straight into the store's tables, so its derived tables must be
 * what the server itself would have left (issue 16): read through the store, every room's head and
 * count, every member's unread and mention counts and the search index agree with the rows
 * (`checkGenerated`); and the store's own writes go on from there as from data it wrote, the counters
 * moving by one with a message and back to zero with a read.
 */
import { SQL } from 'bun'
import { describe, expect, test as sqliteTest } from 'bun:test'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  checkGenerated,
  DATA_SMOKE,
  generatePostgres,
  generateSqlite,
  postgresReader,
  RoomPlan,
  sqliteReader,
  type RawReader,
} from '../../bench/generate-data.ts'
import { openPostgresStore } from '../../src/store/postgres.ts'
import { openSqliteStore } from '../../src/store/sqlite.ts'
import type { Store } from '../../src/store/store.ts'
import { requireServices } from '../support/require-services.ts'
import { startPostgres } from '../support/services.ts'

const { test: pgTest } = requireServices('postgresql')

/** A member posts in a private room of the plan: another member has one more unread and mention; a read clears them. */
async function writesGoOn(store: Store, raw: RawReader): Promise<void> {
  const plan = new RoomPlan(DATA_SMOKE)
  const r = plan.names.findIndex((_, i) => plan.kindOf(i) === 'private' && plan.membersOf(i).length >= 2)
  const room = plan.names[r]!
  const [author, reader] = [...plan.membersOf(r)] as [number, number]
  const before = (await store.listMyRooms(reader)).find((m) => m.name === room)!
  const user = (id: number) => ({ id, username: `user${id}` })
  const { message, after } = await store.insertMessage({
    room,
    user: user(author),
    text: `@user${reader} a new message`,
    nonce: undefined,
    mentions: [user(reader)],
    createdAt: Date.now(),
  })
  const [head] = await raw.all<{ head: number }>(`SELECT max(id) AS head FROM messages WHERE room = $1 AND id < $2`, room, message.id)
  expect(after).toBe(Number(head!.head))
  const now = (await store.listMyRooms(reader)).find((m) => m.name === room)!
  expect([now.unread, now.mentions, now.lastMessageId]).toEqual([before.unread + 1, before.mentions + 1, message.id])
  expect(await store.markRead(room, reader, message.id)).toEqual({ lastReadId: message.id, moved: true })
  const read = (await store.listMyRooms(reader)).find((m) => m.name === room)!
  expect([read.unread, read.mentions]).toEqual([0, 0])
  // The new message is found in the private index, by a member only.
  expect((await store.searchMessages({ q: 'a new message', userId: reader, limit: 5 })).map((m) => m.id)).toEqual([message.id])
  expect(await store.searchMessages({ q: 'a new message', userId: null, limit: 5 })).toEqual([])
}

describe('generated data', () => {
  sqliteTest(
    'SQLite: as the store would have written it',
    async () => {
      const dir = mkdtempSync(join(tmpdir(), 'chat-generated-'))
      try {
        const file = join(dir, 'chat.db')
        await generateSqlite(file, DATA_SMOKE)
        const store = openSqliteStore(file)
        const raw = sqliteReader(file)
        try {
          await checkGenerated(store, raw, DATA_SMOKE, 40)
          await writesGoOn(store, raw)
        } finally {
          await raw.close()
          await store.close()
        }
      } finally {
        rmSync(dir, { recursive: true, force: true })
      }
    },
    60_000,
  )

  pgTest(
    'PostgreSQL: as the store would have written it',
    async () => {
      await using pg = await startPostgres()
      await generatePostgres(pg.url, DATA_SMOKE)
      const store = await openPostgresStore(pg.url)
      const raw = postgresReader(pg.url)
      try {
        await checkGenerated(store, raw, DATA_SMOKE, 40)
        await writesGoOn(store, raw)
        // Identities continue after the generated ids.
        const sql = new SQL(pg.url)
        const [{ max }] = (await sql`SELECT max(id)::int AS max FROM users`) as [{ max: number }]
        await sql.close()
        const made = await store.createUser({ username: 'newcomer', usernameKey: 'newcomer', passwordHash: 'x' })
        expect(typeof made === 'object' && made.id).toBe(max + 1)
      } finally {
        await raw.close()
        await store.close()
      }
    },
    120_000,
  )
})
