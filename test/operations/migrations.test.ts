/**
 * Upgrades (docs/OPERATIONS.md): migrations are forward-only and run when a server starts, so a
 * database made by any earlier release must open at `main` with its data intact and usable. For each
 * store and each prefix of its journal (the schema of some past release), a database is made by the
 * first release's migration alone and filled through SQL valid for that schema (users, messages in
 * two rooms, the signing secret), then taken one migration at a time through the prefix by the same
 * migrator the server uses, each release adding the rows it wrote (roles, a ban and an invitation,
 * an edit, a private room, a reaction and a reply). The server at `main` then starts on it: people log
 * in, the history is there as it was written, the room list, search and private rooms see the old
 * rows, and new messages follow. The prefixes are read from the journals, so a new migration is
 * covered without touching this file.
 */
import { SQL } from 'bun'
import { Database } from 'bun:sqlite'
import { expect, test } from 'bun:test'
import { drizzle as drizzlePostgres } from 'drizzle-orm/bun-sql'
import { migrate as migratePostgres } from 'drizzle-orm/bun-sql/migrator'
import { drizzle as drizzleSqlite } from 'drizzle-orm/bun-sqlite'
import { migrate as migrateSqlite } from 'drizzle-orm/bun-sqlite/migrator'
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Message } from '../../src/protocol.ts'
import { REPO_ROOT } from '../support/child-server.ts'
import { request } from '../support/http.ts'
import { requireServices } from '../support/require-services.ts'
import { startTestServer, type TestServer } from '../support/server.ts'
import { startPostgres, type Service } from '../support/services.ts'
import { openSocket } from '../support/socket.ts'
import { withTimeout } from '../support/wait.ts'

interface Journal {
  entries: { idx: number; tag: string }[]
}

const FOLDERS = { sqlite: join(REPO_ROOT, 'db', 'migrations'), postgres: join(REPO_ROOT, 'db', 'migrations-pg') }
const journalOf = (folder: string): Journal => JSON.parse(readFileSync(join(folder, 'meta', '_journal.json'), 'utf8'))

/** A migrations folder `into`, like `folder` but whose journal holds only its first `count` entries: the schema of a past release. */
function releaseFolder(folder: string, count: number, into: string): string {
  mkdirSync(join(into, 'meta'), { recursive: true })
  const journal = journalOf(folder)
  const entries = journal.entries.slice(0, count)
  writeFileSync(join(into, 'meta', '_journal.json'), JSON.stringify({ ...journal, entries }))
  for (const { tag } of entries) copyFileSync(join(folder, `${tag}.sql`), join(into, `${tag}.sql`))
  return into
}

const SECRET = 'correct horse battery staple'
const JWT_SECRET = 'a-signing-secret-kept-since-the-first-release-0123456789'
const T0 = Date.UTC(2026, 0, 2, 3, 4, 5, 678)
const at = (seconds: number) => T0 + seconds * 1000
const iso = (seconds: number) => new Date(at(seconds)).toISOString()

/** The first release's messages: [room, author (a USERS index), text, nonce]; ids 1 to 5. */
const USERS = ['alice', 'Bob']
const MESSAGES: [string, number, string, string | null][] = [
  ['lobby', 0, 'hello from the first release', 'n-1'],
  ['lobby', 1, 'héllo 你好 🎉', null],
  ['dev', 0, 'a second room', 'n-2'],
  ['lobby', 0, 'the newest in the lobby', null],
  ['dev', 1, 'zebra crossing', null],
]
const EDITED = 'hello, edited once edits existed'
const PRIVATE = 'only members read this'
const REPLY = 'a reply, once replies existed'

type Statement = [sql: string, values: (string | number | null)[]]

/**
 * What servers of past releases wrote, by the journal index of the migration that release added, as
 * SQL valid for that schema (`?` placeholders, values both stores take), kept consistent the way that
 * release's server kept it (room heads and counters). Applied right after that migration, so later
 * migrations meet them as they met real data. Ids: messages 1-5, then the edit 6, the private room's
 * message 7, the reaction 8 and the reply 9.
 */
function releaseRows(hash: string): Map<number, Statement[]> {
  const lobbyHead = (id: number): Statement => ["UPDATE rooms SET last_event_id = ? WHERE name = 'lobby'", [id]]
  return new Map([
    [
      0,
      [
        ...USERS.map((name, i): Statement => [
          'INSERT INTO users (username, username_key, password_hash, created_at) VALUES (?, ?, ?, ?)',
          [name, name.toLowerCase(), hash, at(i)],
        ]),
        ...MESSAGES.map(([room, author, text, nonce], i): Statement => [
          'INSERT INTO messages (room, user_id, username, text, nonce, created_at) VALUES (?, ?, ?, ?, ?, ?)',
          [room, author + 1, USERS[author]!, text, nonce, at(10 + i)],
        ]),
        ['INSERT INTO settings (key, value) VALUES (?, ?)', ['jwt_secret', JWT_SECRET]],
      ],
    ],
    [
      // Moderation: roles, bans, invitation codes, the audit log.
      3,
      [
        ["UPDATE users SET role = 'admin' WHERE id = 1", []],
        [
          'INSERT INTO users (username, username_key, password_hash, created_at, role, token_version, banned_at, ban_reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
          ['mallory', 'mallory', hash, at(20), 'member', 1, at(21), 'spam'],
        ],
        ['INSERT INTO invites (code, uses, used, created_by, created_at) VALUES (?, ?, ?, ?, ?)', ['from-an-old-release', 2, 0, 1, at(22)]],
        ['INSERT INTO audit (at, actor_id, actor_name, action, target) VALUES (?, ?, ?, ?, ?)', [at(21), 1, 'alice', 'user.ban', '{"user":3}']],
      ],
    ],
    [
      // Edits are events of the room's stream (0004 moved every room's head to its newest message).
      4,
      [
        ["INSERT INTO messages (room, user_id, username, text, created_at, kind, target_id) VALUES ('lobby', 1, 'alice', ?, ?, 'edited', 1)", [EDITED, at(30)]],
        ['UPDATE messages SET text = ?, edited_at = ? WHERE id = 1', [EDITED, at(30)]],
        lobbyHead(6),
      ],
    ],
    [
      // A private room with its owner as member, and a message in it counted as read by its sender.
      6,
      [
        [
          "INSERT INTO rooms (name, last_message_id, last_active_at, last_event_id, visibility, topic, owner_id, registered_at, message_count) VALUES ('secret', 7, ?, 7, 'private', 'plans', 1, ?, 1)",
          [at(41), at(40)],
        ],
        ["INSERT INTO room_members (room, user_id, joined_at, read_count) VALUES ('secret', 1, ?, 1)", [at(40)]],
        ["INSERT INTO messages (room, user_id, username, text, created_at) VALUES ('secret', 1, 'alice', ?, ?)", [PRIVATE, at(41)]],
      ],
    ],
    [
      // Conversation: a reaction (an event and its standing row) and a reply.
      8,
      [
        ["INSERT INTO messages (room, user_id, username, text, created_at, kind, target_id) VALUES ('lobby', 2, 'Bob', '👍', ?, 'reacted', 2)", [at(50)]],
        ["INSERT INTO reactions (message_id, emoji, user_id, created_at) VALUES (2, '👍', 2, ?)", [at(50)]],
        ["INSERT INTO messages (room, user_id, username, text, created_at, reply_to) VALUES ('lobby', 2, 'Bob', ?, ?, 1)", [REPLY, at(51)]],
        ["UPDATE rooms SET last_message_id = 9, last_event_id = 9, last_active_at = ?, message_count = message_count + 1 WHERE name = 'lobby'", [at(51)]],
      ],
    ],
  ])
}

/**
 * Builds the database of a server that ran every release up to the journal's `count`th migration:
 * each migration applied by `migrateTo` (a prefix of the journal), then the rows its release wrote.
 */
async function buildDatabase(count: number, migrateTo: (prefix: number) => Promise<void>, run: (statement: Statement) => Promise<void>): Promise<void> {
  const rows = releaseRows(await Bun.password.hash(SECRET, { algorithm: 'argon2id', memoryCost: 64, timeCost: 1 }))
  for (let prefix = 1; prefix <= count; prefix++) {
    await migrateTo(prefix)
    for (const statement of rows.get(prefix - 1) ?? []) await run(statement)
  }
}

/** What the upgraded server must show: the data of every release the database went through, usable. */
async function expectIntact(server: TestServer, count: number, storedSecret: () => Promise<string>): Promise<void> {
  const had = (idx: number) => count > idx
  const logIn = (username: string) => request(`${server.url}/api/v1/login`, { json: { username, secret: SECRET } })
  const alice = await logIn('ALICE')
  expect(alice.status).toBe(200)
  const bob = await logIn('bob')
  expect(bob.status).toBe(200)
  const as = (res: typeof alice) => ({ headers: { Authorization: `Bearer ${res.body.data.token}` } })
  const history = async (room: string, reader?: typeof alice) => (await request(`${server.url}/api/v1/rooms/${room}/messages`, reader && as(reader))).body

  const user = (author: number) => ({ id: author + 1, username: USERS[author] })
  const first = (i: number) => {
    const [room, author, text] = MESSAGES[i]!
    return { id: i + 1, room, user: user(author), text, ts: iso(10 + i) }
  }
  const firstText = had(4) ? EDITED : MESSAGES[0]![2]
  const lobby = [
    { ...first(0), text: firstText, ...(had(4) && { editedAt: iso(30) }) },
    { ...first(1), ...(had(8) && { reactions: [{ emoji: '👍', count: 1, me: false }] }) },
    first(3),
    ...(had(8) ? [{ id: 9, user: user(1), text: REPLY, replyTo: { id: 1, user: user(0), text: firstText } }] : []),
  ]
  expect((await history('lobby')).data.messages).toMatchObject(lobby)
  expect((await history('dev')).data.messages).toMatchObject([first(2), first(4)])
  const rooms = (await request(`${server.url}/api/v1/rooms`)).body.data.rooms.map((r: { name: string; lastMessageId: number }) => [r.name, r.lastMessageId])
  expect(rooms).toEqual(
    had(8)
      ? [
          ['lobby', 9],
          ['dev', 5],
        ]
      : [
          ['dev', 5],
          ['lobby', 4],
        ],
  )
  const search = async (q: string, reader: typeof alice) =>
    (await request(`${server.url}/api/v1/search?q=${encodeURIComponent(q)}`, as(reader))).body.data.messages.map((m: Message) => m.id)
  expect(await search('llo 你好', bob)).toEqual([2])

  const me = (await request(`${server.url}/api/v1/users/me`, as(alice))).body.data
  // Before roles existed nobody was admin, and an upgrade makes no one admin by itself.
  expect(me.role).toBe(had(3) ? 'admin' : 'member')
  if (had(3)) {
    expect((await logIn('mallory')).body.error.type).toBe('USER_BANNED')
    const invites = (await request(`${server.url}/api/v1/admin/invites`, as(alice))).body.data.invites
    expect(invites).toMatchObject([{ code: 'from-an-old-release', uses: 2, used: 0 }])
  }
  if (had(6)) {
    expect((await history('secret')).error.type).toBe('ROOM_NOT_FOUND')
    expect((await history('secret', bob)).error.type).toBe('ROOM_NOT_FOUND')
    expect((await history('secret', alice)).data.messages).toMatchObject([{ id: 7, text: PRIVATE }])
    expect(await search('members read', alice)).toEqual([7])
    expect(await search('members read', bob)).toEqual([])
    const mine = (await request(`${server.url}/api/v1/users/me/rooms`, as(alice))).body.data.rooms
    expect(mine).toMatchObject([{ name: 'secret', unread: 0 }])
  }

  using socket = await openSocket(`${server.wsUrl}/api/v1/rooms/lobby/messages/ws`, [alice.body.data.token])
  const welcome = await withTimeout(socket.next('welcome'), 5000, 'welcome')
  expect(welcome.data.history.map((m: Message) => m.id)).toEqual(lobby.map((m) => m.id))
  socket.send({ type: 'message', text: 'posted after the upgrade', nonce: 'up' })
  const posted = await withTimeout(socket.next('message'), 5000, 'the new message')
  expect(posted.data).toMatchObject({ text: 'posted after the upgrade', user: { username: 'alice' } })
  expect(posted.data.id).toBeGreaterThan(had(8) ? 9 : had(6) ? 7 : had(4) ? 6 : 5)
  expect((await history('lobby')).data.messages.at(-1).text).toBe('posted after the upgrade')
  expect(await storedSecret()).toBe(JWT_SECRET)
}

const sqliteJournal = journalOf(FOLDERS.sqlite)
for (let count = 1; count <= sqliteJournal.entries.length; count++) {
  const through = sqliteJournal.entries[count - 1]!.tag
  test(`SQLite: a database that went through the releases up to ${through}, with their data, opens at main intact and usable`, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'chat-upgrade-'))
    const path = join(dir, 'chat.db')
    try {
      const client = new Database(path, { create: true })
      try {
        await buildDatabase(
          count,
          async (prefix) =>
            migrateSqlite(drizzleSqlite({ client }), { migrationsFolder: releaseFolder(FOLDERS.sqlite, prefix, join(dir, `release-${prefix}`)) }),
          async ([sql, values]) => void client.query(sql).run(...values),
        )
      } finally {
        client.close()
      }
      const secret = async () => {
        const db = new Database(path, { readonly: true })
        try {
          return db.query<{ value: string }, []>(`SELECT value FROM settings WHERE key = 'jwt_secret'`).get()!.value
        } finally {
          db.close()
        }
      }
      await using server = await startTestServer({ dir })
      await expectIntact(server, count, secret)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
}

/** `?` placeholders as PostgreSQL's `$1`, `$2`, … */
function numbered(sql: string): string {
  let n = 0
  return sql.replace(/\?/g, () => `$${++n}`)
}

const gate = requireServices('postgresql')
let cluster: Promise<Service> | undefined
gate.afterAll(async () => {
  if (cluster) await (await cluster)[Symbol.asyncDispose]()
})

const postgresJournal = journalOf(FOLDERS.postgres)
for (let count = 1; count <= postgresJournal.entries.length; count++) {
  const through = postgresJournal.entries[count - 1]!.tag
  gate.test(
    `PostgreSQL: a database that went through the releases up to ${through}, with their data, opens at main intact and usable`,
    async () => {
      cluster ??= startPostgres()
      const pg = await cluster
      const name = `chat_upgrade_${process.pid}_${count}`
      const admin = new SQL(pg.url)
      await admin.unsafe(`CREATE DATABASE ${name}`)
      const url = pg.url.replace(/\/postgres$/, `/${name}`)
      const client = new SQL(url)
      const folders = mkdtempSync(join(tmpdir(), 'chat-upgrade-'))
      try {
        await buildDatabase(
          count,
          (prefix) =>
            migratePostgres(drizzlePostgres({ client }), { migrationsFolder: releaseFolder(FOLDERS.postgres, prefix, join(folders, `release-${prefix}`)) }),
          async ([sql, values]) => void (await client.unsafe(numbered(sql), values)),
        )
        const secret = async () => (await client`SELECT value FROM settings WHERE key = 'jwt_secret'`)[0].value
        await using server = await startTestServer({ config: { database: url } })
        await expectIntact(server, count, secret)
      } finally {
        rmSync(folders, { recursive: true, force: true })
        await client.close()
        await admin.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)
        await admin.close()
      }
    },
    60_000,
  )
}
