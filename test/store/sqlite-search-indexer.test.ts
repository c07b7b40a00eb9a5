/**
 * SQLite's search index is written in batches after the messages' commits (src/store/sqlite-search-
 * indexer.ts): a search still finds what was posted before it, the index catches up by itself, a
 * crash between a message's commit and its indexing loses nothing, edits and deletions are right
 * whichever side of the indexing they fall, and two stores on one file never index an entry twice.
 */
import { Database } from 'bun:sqlite'
import { expect, test } from 'bun:test'
import type { Message, User } from '../../src/protocol.ts'
import { privateRowid, publicRowid } from '../../src/store/sqlite-search.ts'
import { INDEXED_THROUGH, sortedForIndex } from '../../src/store/sqlite-search-indexer.ts'
import { openSqliteStore } from '../../src/store/sqlite.ts'
import type { Store } from '../../src/store/store.ts'
import { addUser } from './contract.ts'
import { withDatabaseFile } from '../support/temp-file.ts'

const T0 = Date.UTC(2026, 10, 30, 12, 0, 0, 0)

const withDir = (run: (file: string) => Promise<void>) => withDatabaseFile('chat-search-indexer-', run)

async function post(store: Store, room: string, by: User, text: string): Promise<Message> {
  return (await store.insertMessage({ room, user: by, text, nonce: undefined, mentions: [], createdAt: T0 })).message
}

const ids = (messages: Message[]) => messages.map((m) => m.id)

/** The index's entries and the last id it covers, read beside the store as another program would. */
function indexState(file: string): { entries: number; through: number } {
  const db = new Database(file, { readonly: true })
  try {
    const count = (table: string) => db.query<{ n: number }, []>(`SELECT count(*) AS n FROM ${table}`).get()!.n
    const through = db.query<{ value: string }, []>(`SELECT value FROM settings WHERE key = '${INDEXED_THROUGH}'`).get()
    return { entries: count('messages_public_fts') + count('messages_private_fts'), through: Number(through?.value ?? 0) }
  } finally {
    db.close()
  }
}

test('a search finds what was posted before it; without one, the index catches up by itself within a moment', async () => {
  await withDir(async (file) => {
    const store = openSqliteStore(file)
    try {
      const alice = await addUser(store, 'alice')
      const first = await post(store, 'lobby', alice, 'fresh words')
      expect(ids(await store.searchMessages({ q: 'fresh', userId: null, limit: 10 }))).toEqual([first.id])
      const posted = await Promise.all(Array.from({ length: 30 }, (_, i) => post(store, 'lobby', alice, `later words ${i}`)))
      const newest = Math.max(...ids(posted))
      const until = performance.now() + 3000
      while (indexState(file).through < newest && performance.now() < until) await Bun.sleep(20)
      expect(indexState(file)).toEqual({ entries: 31, through: newest })
    } finally {
      await store.close()
    }
  })
})

test('messages a crash left unindexed (committed, the index not yet written) are indexed when the store opens again', async () => {
  await withDir(async (file) => {
    const store = openSqliteStore(file)
    const alice = await addUser(store, 'alice')
    expect(await store.createRoom({ name: 'team', visibility: 'private', topic: null, owner: alice, at: T0 })).toBe(true)
    const indexed = await post(store, 'lobby', alice, 'needle before the crash')
    await store.close()
    // What the writer's transaction leaves when the process dies before the indexer's next step.
    const raw = new Database(file, { strict: true })
    const insert = raw.query<{ id: number }, { room: string; text: string; private: number }>(
      `INSERT INTO messages (room, user_id, username, text, created_at, private) VALUES ($room, ${alice.id}, 'alice', $text, ${T0}, $private) RETURNING id`,
    )
    const publicId = insert.get({ room: 'lobby', text: 'needle in public, unindexed', private: 0 })!.id
    const privateId = insert.get({ room: 'team', text: 'needle in private, unindexed', private: 1 })!.id
    raw.close()
    expect(indexState(file)).toEqual({ entries: 1, through: indexed.id })
    const reopened = openSqliteStore(file)
    try {
      expect(indexState(file)).toEqual({ entries: 3, through: privateId })
      const found = await reopened.searchMessages({ q: 'needle', userId: alice.id, limit: 10 })
      expect(ids(found)).toEqual([privateId, publicId, indexed.id])
      expect(ids(await reopened.searchMessages({ q: 'needle', userId: null, limit: 10 }))).toEqual([publicId, indexed.id])
    } finally {
      await reopened.close()
    }
  })
})

test('edits and deletions are searchable right whether they come before the message is indexed or after', async () => {
  await withDir(async (file) => {
    const store = openSqliteStore(file)
    try {
      const alice = await addUser(store, 'alice')
      const edit = (m: Message, text: string) =>
        store.changeMessage({ type: 'edited', room: m.room, messageId: m.id, user: alice, text, mentions: [], at: T0 + 1 })
      const remove = (m: Message) => store.changeMessage({ type: 'deleted', room: m.room, messageId: m.id, user: alice, byAdmin: false, at: T0 + 2 })
      const search = async (q: string) => ids(await store.searchMessages({ q, userId: alice.id, limit: 10 }))
      // Before: changed in the writer's batch right after their own, with no step between.
      const [early, gone] = await Promise.all([post(store, 'lobby', alice, 'alpha early'), post(store, 'lobby', alice, 'alpha gone')])
      const [edited, deleted] = await Promise.all([edit(early!, 'omega early'), remove(gone!)])
      expect(edited.ok && deleted.ok).toBe(true)
      expect(indexState(file).through).toBeLessThan(early!.id)
      expect(await search('alpha')).toEqual([])
      expect(await search('omega')).toEqual([early!.id])
      // After: the search above indexed everything, so these change entries already written.
      const late = await post(store, 'lobby', alice, 'beta late')
      const lateGone = await post(store, 'lobby', alice, 'beta late gone')
      expect(await search('beta')).toEqual([lateGone.id, late.id])
      expect((await edit(late, 'gamma late')).ok).toBe(true)
      expect((await remove(lateGone)).ok).toBe(true)
      expect(await search('beta')).toEqual([])
      expect(await search('gamma')).toEqual([late.id])
    } finally {
      await store.close()
    }
  })
})

test('two stores on one file index each entry once, however their steps interleave', async () => {
  await withDir(async (file) => {
    const a = openSqliteStore(file)
    const b = openSqliteStore(file)
    try {
      const alice = await addUser(a, 'alice')
      const posted = await Promise.all(Array.from({ length: 3000 }, (_, i) => post(a, 'lobby', alice, `shared needle ${i}`)))
      const [fromA, fromB] = await Promise.all([
        a.searchMessages({ q: 'needle', userId: null, limit: 100 }),
        b.searchMessages({ q: 'needle', userId: null, limit: 100 }),
      ])
      const newest = ids(posted)
        .sort((x, y) => y - x)
        .slice(0, 100)
      expect(ids(fromA)).toEqual(newest)
      expect(ids(fromB)).toEqual(newest)
      expect(indexState(file)).toEqual({ entries: 3000, through: Math.max(...ids(posted)) })
    } finally {
      await Promise.all([a.close(), b.close()])
    }
  })
}, 30_000)

test('closing the store indexes what is waiting and leaves nothing scheduled on the closed database', async () => {
  await withDir(async (file) => {
    const store = openSqliteStore(file)
    const alice = await addUser(store, 'alice')
    const posted = await Promise.all(Array.from({ length: 5 }, (_, i) => post(store, 'lobby', alice, `closing words ${i}`)))
    // A step is due within 100 ms; the close comes first.
    await store.close()
    expect(indexState(file)).toEqual({ entries: 5, through: Math.max(...ids(posted)) })
    await Bun.sleep(250)
    expect(indexState(file)).toEqual({ entries: 5, through: Math.max(...ids(posted)) })
  })
})

test("a step's entries go to each index in ascending rowids (FTS5 writes a segment out whenever one is not above the one before)", () => {
  const rooms = ['team', 'vault', 'dm.1.2', 'ops']
  const entries = Array.from({ length: 200 }, (_, i) => ({ id: i + 1, room: rooms[i % 4]!, private: i % 5 !== 0 }))
  const { public: pub, private: priv } = sortedForIndex(entries)
  // Public: newest first, each under its public rowid; private: by stretch, newest first within each.
  expect(pub.map((e) => e.id)).toEqual(
    entries
      .filter((e) => !e.private)
      .map((e) => e.id)
      .reverse(),
  )
  expect(pub.every((e) => e.rowid === publicRowid(e.id))).toBe(true)
  expect(priv).toHaveLength(entries.filter((e) => e.private).length)
  expect(priv.every((e) => e.rowid === privateRowid(e.room, e.id))).toBe(true)
  for (const list of [pub, priv]) for (let i = 1; i < list.length; i++) expect(list[i]!.rowid).toBeGreaterThan(list[i - 1]!.rowid)
})
