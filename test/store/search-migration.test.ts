/**
 * Migrations 0010, 0013 and 0018 on a populated database (spec §7): messages stored before them, in a public room, a
 * private room and a DM, are found afterwards by exactly those who may read them, and only those,
 * on both stores. In SQLite the migrations compute each room's scope token and private stretch in SQL; a search computes
 * them in TypeScript (searchScope, privateBase), so finding the private messages at all shows the two agree.
 */
import { SQL } from 'bun'
import { Database } from 'bun:sqlite'
import { expect, test as sqliteTest } from 'bun:test'
import { openPostgresStore } from '../../src/store/postgres.ts'
import { openSqliteStore } from '../../src/store/sqlite.ts'
import { privateRowid, searchScope } from '../../src/store/sqlite-search.ts'
import type { Store } from '../../src/store/store.ts'
import { migratePostgresTo, oldSqliteFile } from '../support/old-schema.ts'
import { requireServices } from '../support/require-services.ts'
import { startPostgres } from '../support/services.ts'

const { test: pgTest } = requireServices('postgresql')

/** Migrations 0000–0009: the schema of a server from before the search was split by visibility. */
const BEFORE_SPLIT = 10

/** Users 1 (alice), 2 (bob), 3 (carol); `team` is alice's and bob's, `dm.1.2` alice's and bob's DM. */
const ROOMS = `INSERT INTO rooms (name, last_message_id, last_active_at, last_event_id, visibility, registered_at, message_count)
  VALUES ('team', 0, 0, 0, 'private', 0, 0), ('dm.1.2', 0, 0, 0, 'private', 0, 0)`
const MEMBERS = `INSERT INTO room_members (room, user_id, joined_at) VALUES ('team', 1, 0), ('team', 2, 0), ('dm.1.2', 1, 0), ('dm.1.2', 2, 0)`
const POSTED: [string, string][] = [
  ['lobby', 'launch plan, public'],
  ['team', 'launch plan, team only'],
  ['dm.1.2', 'launch plan, just us'],
  ['Lobby', 'launch plan, another public room'],
]

async function expectSearches(store: Store, ids: number[]): Promise<void> {
  const [lobby, team, dm, other] = ids as [number, number, number, number]
  const found = async (userId: number | null, room?: string) => (await store.searchMessages({ q: 'launch', userId, room, limit: 10 })).map((m) => m.id)
  expect(await found(2)).toEqual([other, dm, team, lobby])
  expect(await found(3)).toEqual([other, lobby])
  expect(await found(null)).toEqual([other, lobby])
  expect(await found(2, 'team')).toEqual([team])
  expect(await found(3, 'team')).toEqual([])
  expect(await found(null, 'lobby')).toEqual([lobby])
  // What is written after the migration is found beside what it moved.
  const posted = await store.insertMessage({
    room: 'team',
    user: { id: 1, username: 'alice' },
    text: 'launch, later',
    nonce: undefined,
    mentions: [],
    createdAt: 1,
  })
  expect(await found(1, 'team')).toEqual([posted.message.id, team])
  expect(await found(3)).toEqual([other, lobby])
}

sqliteTest('SQLite: messages stored before migration 0010 are searchable by their readers only after it', async () => {
  using old = oldSqliteFile(BEFORE_SPLIT, (client) => {
    client.exec(ROOMS)
    client.exec(MEMBERS)
    const insert = client.query<{ id: number }, { room: string; text: string }>(
      `INSERT INTO messages (room, user_id, username, text, created_at) VALUES ($room, 1, 'alice', $text, 0) RETURNING id`,
    )
    const index = client.query(`INSERT INTO messages_fts (rowid, text) VALUES ($id, $text)`)
    return POSTED.map(([room, text]) => {
      const { id } = insert.get({ room, text })!
      index.run({ id, text })
      return id
    })
  })
  const store = openSqliteStore(old.file)
  try {
    await expectSearches(store, old.filled)
  } finally {
    await store.close()
  }
})

sqliteTest('SQLite: after migration 0018 the public index answers newest first, and what the indexer had not reached is indexed once', async () => {
  using old = oldSqliteFile(18, (client) => {
    client.exec(ROOMS)
    client.exec(MEMBERS)
    const insert = client.query<{ id: number }, { room: string; text: string; private: number }>(
      `INSERT INTO messages (room, user_id, username, text, created_at, private) VALUES ($room, 1, 'alice', $text, 0, $private) RETURNING id`,
    )
    // As 0013–0017 indexed: a public message by its id, with its room's scope; a private one in its room's stretch.
    const indexPublic = client.query(`INSERT INTO messages_public_fts (rowid, text, scope) VALUES ($id, $text, $scope)`)
    const indexPrivate = client.query(`INSERT INTO messages_private_fts (rowid, text) VALUES ($rowid, $text)`)
    const ids = POSTED.map(([room, text], i) => {
      const inPrivate = room === 'team' || room === 'dm.1.2'
      const { id } = insert.get({ room, text, private: Number(inPrivate) })!
      // The last one was committed but not indexed yet when the server stopped.
      if (i < POSTED.length - 1) {
        if (inPrivate) indexPrivate.run({ rowid: privateRowid(room, id), text })
        else indexPublic.run({ id, text, scope: searchScope(room) })
      }
      return id
    })
    client.query(`UPDATE settings SET value = $through WHERE key = 'search_indexed_through'`).run({ through: String(ids.at(-2)) })
    return ids
  })
  const store = openSqliteStore(old.file)
  try {
    await expectSearches(store, old.filled)
  } finally {
    await store.close()
  }
  // Each public message once: 'lobby', 'Lobby' and nothing twice.
  const after = new Database(old.file, { readonly: true })
  expect(after.query<{ n: number }, []>(`SELECT count(*) AS n FROM messages_public_fts WHERE messages_public_fts MATCH 'launch'`).get()!.n).toBe(2)
  after.close()
})

pgTest(
  'PostgreSQL: messages stored before migration 0010 are searchable by their readers only after it',
  async () => {
    await using pg = await startPostgres()
    const client = new SQL(pg.url)
    const ids: number[] = []
    try {
      await migratePostgresTo(client, BEFORE_SPLIT)
      await client.unsafe(ROOMS)
      await client.unsafe(MEMBERS)

      for (const [room, text] of POSTED) {
        const [row] = await client`INSERT INTO messages (room, user_id, username, text, created_at) VALUES (${room}, 1, 'alice', ${text}, 0) RETURNING id`
        ids.push(Number(row.id))
      }
    } finally {
      await client.close()
    }
    const store = await openPostgresStore(pg.url)
    try {
      await expectSearches(store, ids)
    } finally {
      await store.close()
    }
  },
  60_000,
)
