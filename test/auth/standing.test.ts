/**
 * The standing cache (spec §5: checking a token costs no database round trip, and a change made
 * anywhere applies everywhere): filled on first use, kept true by the change feed, on real stores.
 * PostgreSQL hands out identity values before commit, so a change can become visible after a later
 * one has been read: the feed re-reads the ids just below the newest it saw and handles each once.
 */
import { SQL } from 'bun'
import { expect, test } from 'bun:test'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { StandingCache, type StandingStore } from '../../src/auth/standing.ts'
import { createLogger } from '../../src/log.ts'
import { openPostgresStore } from '../../src/store/postgres.ts'
import { openSqliteStore } from '../../src/store/sqlite.ts'
import type { Standing, Store } from '../../src/store/store.ts'
import { addUser } from '../store/contract.ts'
import { requireServices } from '../support/require-services.ts'
import { startPostgres, type Service } from '../support/services.ts'

const log = createLogger('silent', 'text')
const T0 = Date.UTC(2026, 10, 28, 23)

/** A cache whose feed is read only when the test says (start() reads where the feed ends, stop() the timer). */
async function manualCache(store: Store): Promise<StandingCache> {
  const cache = new StandingCache(store, log, () => T0)
  await cache.start()
  await cache.stop()
  return cache
}

test('filled on first use; a change read from the feed reloads a cached user and forgets an uncached one; a deleted user is null', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'chat-standing-'))
  const store = openSqliteStore(join(dir, 'chat.db'))
  try {
    const [alice, bob, carol] = [await addUser(store, 'alice'), await addUser(store, 'bob'), await addUser(store, 'carol')]
    await store.changeUser(carol.id, { kind: 'revoke' }, { at: T0 })
    // Changes from before the start are not read again.
    const cache = await manualCache(store)
    expect(cache.peek(alice.id)).toBeUndefined()
    expect(await cache.get(alice.id)).toEqual(alice)
    expect(cache.peek(alice.id)).toEqual(alice)
    expect(await cache.get(9999)).toBeNull()
    await store.changeUser(alice.id, { kind: 'revoke' }, { at: T0 })
    await store.changeUser(bob.id, { kind: 'ban', reason: null }, { at: T0 })
    // Not read yet: the cache still has the old standing.
    expect(cache.peek(alice.id)).toEqual(alice)
    await cache.poll()
    expect(cache.peek(alice.id)).toEqual({ ...alice, tokenVersion: 1 })
    expect(cache.peek(bob.id)).toBeUndefined()
    expect(await cache.get(bob.id)).toEqual({ ...bob, banned: true, tokenVersion: 1 })
    await store.deleteUser(bob.id, { at: T0, placeholder: '[deleted]' })
    await cache.poll()
    expect(cache.peek(bob.id)).toBeNull()
    // Read once: polling again changes nothing.
    await cache.poll()
    expect(cache.peek(alice.id)).toEqual({ ...alice, tokenVersion: 1 })
    expect(await cache.reload(carol.id)).toEqual({ ...carol, tokenVersion: 1 })
  } finally {
    await store.close()
    rmSync(dir, { recursive: true, force: true })
  }
})

const pgGate = requireServices('postgresql')
let pg: Service
pgGate.beforeAll(async () => {
  pg = await startPostgres()
})
pgGate.afterAll(async () => {
  await pg?.[Symbol.asyncDispose]()
})

pgGate.test('PostgreSQL: a change committed after a later one was read is still read', async () => {
  const store = await openPostgresStore(pg.url)
  const raw = new SQL(pg.url)
  try {
    const alice = await addUser(store, 'alice')
    const bob = await addUser(store, 'bob')
    const cache = await manualCache(store)
    await cache.get(alice.id)
    await cache.get(bob.id)
    const slow = await raw.reserve()
    try {
      // Alice's change takes its id first and commits last.
      await slow`BEGIN`
      await slow`UPDATE users SET token_version = token_version + 1 WHERE id = ${alice.id}`
      await slow`INSERT INTO user_changes (user_id, at) VALUES (${alice.id}, ${T0})`
      await store.changeUser(bob.id, { kind: 'revoke' }, { at: T0 })
      await cache.poll()
      expect(cache.peek(bob.id)).toMatchObject({ tokenVersion: 1 })
      expect(cache.peek(alice.id)).toMatchObject({ tokenVersion: 0 })
      await slow`COMMIT`
    } finally {
      slow.release()
    }
    await cache.poll()
    expect(cache.peek(alice.id)).toMatchObject({ tokenVersion: 1 })
  } finally {
    await raw.close()
    await store.close()
  }
})

/** A store of users in memory that counts its reads (the feed is empty). */
function countingStore(users: Standing[]) {
  const reads: number[][] = []
  const store: StandingStore = {
    async findStandings(ids) {
      reads.push([...ids])
      return users.filter((u) => ids.includes(u.id))
    },
    lastUserChangeId: async () => 0,
    listUserChanges: async () => [],
    pruneUserChanges: async () => {},
  }
  return { store, reads }
}

test('users asked for in one turn of the event loop are read by one query; each caller gets its own, a reload waits for the next read', async () => {
  const users = [1, 2, 3].map((id): Standing => ({ id, username: `u${id}`, role: 'member', tokenVersion: 0, banned: false, apiTokenHash: null }))
  const { store, reads } = countingStore(users)
  const cache = new StandingCache(store, log, () => T0)
  const asked = [cache.get(1), cache.get(2), cache.get(1), cache.get(9), cache.reload(3)]
  expect(await Promise.all(asked)).toEqual([users[0]!, users[1]!, users[0]!, null, users[2]!])
  expect(reads).toEqual([[1, 2, 9, 3]])
  // Cached now: no query.
  expect(await cache.get(2)).toEqual(users[1]!)
  expect(reads.length).toBe(1)
  // A reload asked for while a read of the same user is queued shares that read, which has not started yet.
  const queued = cache.get(4)
  const again = cache.reload(4)
  expect(await Promise.all([queued, again])).toEqual([null, null])
  expect(reads).toEqual([[1, 2, 9, 3], [4]])
  // A failed read reaches every caller of its turn, and nothing is cached.
  store.findStandings = async () => {
    throw new Error('database gone')
  }
  const failed = await Promise.allSettled([cache.get(5), cache.get(6)])
  expect(failed.map((r) => r.status)).toEqual(['rejected', 'rejected'])
  expect(cache.peek(5)).toBeUndefined()
})
