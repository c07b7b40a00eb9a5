import { SQL } from 'bun'
import { expect } from 'bun:test'
import { join } from 'node:path'
import { drizzle } from 'drizzle-orm/bun-sql'
import { readMigrationFiles } from 'drizzle-orm/migrator'
import { LOCK_CLASS } from '../../src/store/postgres-connection.ts'
import { openPostgresStore } from '../../src/store/postgres.ts'
import { postgresPlans, violations, type Step } from '../support/query-plans.ts'
import { requireServices } from '../support/require-services.ts'
import { startPostgres, type Service } from '../support/services.ts'
import { describeAccountContract } from './accounts-contract.ts'
import { describeAttachmentsContract } from './attachments-contract.ts'
import { describeStoreContract, type LegacyFixture, type StoreFixture } from './contract.ts'
import { describeRoomsContract, type RoomsFixture } from './rooms-contract.ts'
import { describeSearchContract } from './search-contract.ts'
import { describeStreamContract } from './stream-contract.ts'
import { describeWebhooksContract } from './webhooks-contract.ts'

// Skipped, with one line saying so, where PostgreSQL is not installed.
const { describe, test, beforeAll, afterAll } = requireServices('postgresql')

/** Migration 0000 alone: the schema of a server from before the rooms table. */
const BEFORE_ROOMS = readMigrationFiles({ migrationsFolder: join(import.meta.dir, '../../db/migrations-pg') }).slice(0, 1)

let pg: Service
beforeAll(async () => {
  pg = await startPostgres()
})
afterAll(async () => {
  await pg?.[Symbol.asyncDispose]()
})

async function openAt(url: string): Promise<StoreFixture> {
  const store = await openPostgresStore(url)
  return {
    store,
    async [Symbol.asyncDispose]() {
      await store.close()
    },
  }
}

// One throwaway cluster for the file; each test starts from empty tables.
async function openFixture(): Promise<RoomsFixture> {
  let fixture = await openAt(pg.url)
  const admin = new SQL(pg.url)
  await admin`TRUNCATE users, messages, rooms, room_members, mentions, reactions, attachments, attachment_blobs, settings, user_changes, invites, audit,
    incoming_webhooks, outgoing_webhooks, outgoing_webhook_rooms, webhook_deliveries RESTART IDENTITY`
  await admin.close()
  return {
    get store() {
      return fixture.store
    },
    async restart() {
      await fixture[Symbol.asyncDispose]()
      fixture = await openAt(pg.url)
    },
    another: () => openAt(pg.url),
    [Symbol.asyncDispose]: () => fixture[Symbol.asyncDispose](),
  }
}

let legacies = 0

/** A database of its own on the cluster, migrated only as far as 0000. */
async function openLegacy(): Promise<LegacyFixture> {
  const name = `legacy_${++legacies}`
  const admin = new SQL(pg.url)
  await admin.unsafe(`CREATE DATABASE ${name}`)
  const url = pg.url.replace(/\/postgres$/, `/${name}`)
  const client = new SQL(url)
  // The same embedded-migrations entry point the store uses, given only the first migration.
  const internals = drizzle({ client }) as unknown as { dialect: { migrate(m: typeof BEFORE_ROOMS, s: unknown, c: object): Promise<void> }; session: unknown }
  await internals.dialect.migrate(BEFORE_ROOMS, internals.session, {})
  return {
    async insertMessage(room, createdAt) {
      const [row] =
        await client`INSERT INTO messages (room, user_id, username, text, nonce, created_at) VALUES (${room}, 1, 'alice', 'from before', NULL, ${createdAt}) RETURNING id`
      return Number(row.id)
    },
    open: () => openAt(url),
    async [Symbol.asyncDispose]() {
      await client.close()
      await admin.unsafe(`DROP DATABASE ${name} WITH (FORCE)`)
      await admin.close()
    },
  }
}

describe('on a throwaway PostgreSQL server', () => {
  describeStoreContract('PostgreSQL', openFixture, openLegacy)
  describeAccountContract('PostgreSQL', openFixture)
  describeStreamContract('PostgreSQL', openFixture)
  describeRoomsContract('PostgreSQL', openFixture)
  describeAttachmentsContract('PostgreSQL', openFixture)
  describeSearchContract('PostgreSQL', openFixture)
  describeWebhooksContract('PostgreSQL', openFixture)

  test('instances posting to the same rooms at once leave each room at its newest message', async () => {
    await using one = await openFixture()
    await using two = await openAt(pg.url)
    const user = { id: 1, username: 'alice' }
    const posted = await Promise.all(
      Array.from({ length: 200 }, (_, i) =>
        (i % 2 ? one : two).store
          .insertMessage({ room: `r${i % 5}`, user, text: `m${i}`, nonce: undefined, mentions: [], createdAt: i })
          .then((c) => c.message),
      ),
    )
    const newest = new Map<string, number>()
    for (const m of posted) newest.set(m.room, Math.max(newest.get(m.room) ?? 0, m.id))
    const expected = [...newest].map(([room, id]) => ({ room, lastMessageId: id })).sort((a, b) => b.lastMessageId - a.lastMessageId)
    for (const { store } of [one, two]) {
      expect((await store.listRoomActivity({ limit: 10 })).map(({ room, lastMessageId }) => ({ room, lastMessageId }))).toEqual(expected)
    }
  })

  test("instances writing to one room at once form one chain: each entry's `after` is the entry committed before it", async () => {
    await using one = await openFixture()
    await using two = await openAt(pg.url)
    const user = { id: 1, username: 'alice' }
    const first = await one.store.insertMessage({ room: 'busy', user, text: 'first', nonce: undefined, mentions: [], createdAt: 0 })
    // Messages and edits from both instances, many in flight on each (each instance batches what queues meanwhile).
    const committed = await Promise.all(
      Array.from({ length: 300 }, async (_, i) => {
        const { store } = i % 2 ? one : two
        if (i % 7 === 3) {
          const edit = { type: 'edited' as const, room: 'busy', messageId: first.message.id, user, text: `edit ${i}`, mentions: [], at: i }
          const outcome = await store.changeMessage(edit)
          if (!outcome.ok) throw new Error(`edit ${i} refused: ${outcome.refusal}`)
          return { id: outcome.committed.event.data.id, after: outcome.committed.after }
        }
        const c = await store.insertMessage({ room: 'busy', user, text: `m${i}`, nonce: undefined, mentions: [], createdAt: i })
        return { id: c.message.id, after: c.after }
      }),
    )
    const chain = [{ id: first.message.id, after: first.after }, ...committed].sort((a, b) => a.id - b.id)
    expect(chain[0]!.after).toBe(0)
    expect(chain.slice(1).map((c) => c.after)).toEqual(chain.slice(0, -1).map((c) => c.id))
    // What each instance reads back is that chain, in the same order.
    for (const { store } of [one, two]) expect((await store.listStream('busy', { limit: 1000 })).map((e) => e.data.id)).toEqual(chain.map((c) => c.id))
  })
})

test('STARTUP_TIMEOUT bounds the wait for PostgreSQL to answer, not the migrations: one running longer than it completes', async () => {
  await openAt(pg.url).then((f) => f[Symbol.asyncDispose]())
  // Another instance holds the migration lock for longer than the timeout (as a long index build would).
  const other = new SQL(pg.url, { max: 1 })
  await other`SELECT pg_advisory_lock(${LOCK_CLASS}, 1)`
  const opening = openPostgresStore(pg.url, 300)
  await Bun.sleep(900)
  await other`SELECT pg_advisory_unlock(${LOCK_CLASS}, 1)`
  await other.close()
  const store = await opening
  expect(typeof (await store.lastUserChangeId())).toBe('number')
  await store.close()
})

test("a webhook's deliveries are read by their own index, for one with nearly all of them as for a quiet one", async () => {
  await using f = await openFixture()
  const admin = new SQL(pg.url, { max: 1 })
  // Webhook 1 has 20 000 deliveries, webhook 2 the 5 oldest: walking the primary key down would read all of 1's.
  await admin`INSERT INTO webhook_deliveries (webhook_id, event, room, message_id, payload, status, created_at, updated_at)
    SELECT CASE WHEN g <= 5 THEN 2 ELSE 1 END, 'message', 'r', g, '{}', 'delivered', g, g FROM generate_series(1, 20005) g`
  await admin`ANALYZE webhook_deliveries`
  await admin.close()
  const steps: Step[] = [1, 2].map((id) => ({ name: `webhook ${id}`, path: 'admin', writes: false, run: (s) => s.listDeliveries(id, { limit: 51 }) }))
  const planned = await postgresPlans(pg.url, pg.logFile!, (url) => openPostgresStore(url), steps, false)
  for (const p of planned) expect(p.plan.join('\n')).toContain('using webhook_deliveries_webhook_id')
  expect(violations(planned)).toEqual([])
  expect((await f.store.listDeliveries(2, { limit: 51 })).map((d) => d.messageId)).toEqual([5, 4, 3, 2, 1])
})
