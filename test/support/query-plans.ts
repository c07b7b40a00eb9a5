/**
 * The query plans of what the store runs for each request (issue 16: "nothing on a request path may
 * scan a table"), read from the statements it really executes rather than from a list kept by hand:
 *
 * - SQLite: every statement the store prepares is wrapped, so each execution is recorded with its
 *   values bound (bun:sqlite's `toString()`), then `EXPLAIN QUERY PLAN` of each on a second connection;
 * - PostgreSQL: `auto_explain` logs the plan of every statement the store's connections execute
 *   (set on the database, so only connections opened afterwards have it), read back from the server's log.
 *
 * A step is one store call as a request makes it (a login's look-up, a welcome's history, …), run on a
 * database bench/generate-data.ts made. `scansOf` lists what in a step's plans reads a whole table (or
 * a whole index of one): a full scan of a table other than a tiny constant one, and for PostgreSQL an
 * index walked from end to end with no condition (`enable_seqscan = off` turns a sequential scan that
 * an index could replace into that index's use, so what is left is what no index serves).
 */
import { Database, type Statement } from 'bun:sqlite'
import { SQL } from 'bun'
import { existsSync, readFileSync } from 'node:fs'
import { usernameKey } from '../../src/chat/usernames.ts'
import type { Store } from '../../src/store/store.ts'

/** Who may run it: a user's request, an admin's request, or the server itself (start-up, periodic jobs). */
export type StepPath = 'request' | 'admin' | 'background'

export interface Step {
  name: string
  path: StepPath
  /** Changes the database (never run on a database kept for the benchmark). */
  writes: boolean
  run(store: Store): Promise<unknown>
}

/** What the workload works on: picked from the generated data. */
export interface Targets {
  /** A public room with messages, a private room and a DM, each with a member. */
  room: string
  roomMember: number
  privateRoom: string
  privateMember: number
  dm: string
  dmMember: number
  /** A message of `room` and the room's newest message. */
  messageId: number
  newestId: number
  /** Another user (not in `privateRoom`), and an admin. */
  stranger: number
  admin: number
  /** A bot, an incoming webhook's token hash, an outgoing webhook, an attachment in use. */
  bot: number
  tokenHash: string
  outgoingWebhook: number
  attachmentId: string
}

type Raw = (query: string) => Promise<Record<string, unknown>[]>

/** Picks the targets from a generated database (bench/generate-data.ts). */
export async function pickTargets(raw: Raw): Promise<Targets> {
  const one = async (query: string) => {
    const [row] = await raw(query)
    if (!row) throw new Error(`no row for ${query}`)
    return row
  }
  // A room of a typical size (a page and more, a small share of all messages), not the busiest.
  const room = await one(`SELECT name, last_message_id FROM rooms WHERE visibility = 'public' AND message_count > 60 ORDER BY message_count, name LIMIT 1`)
  const privateRoom = await one(`SELECT name FROM rooms WHERE visibility = 'private' AND name NOT LIKE 'dm.%' AND message_count > 10 ORDER BY name LIMIT 1`)
  const dm = await one(`SELECT name FROM rooms WHERE name LIKE 'dm.%' AND message_count > 0 ORDER BY name LIMIT 1`)
  const member = async (name: unknown) => Number((await one(`SELECT user_id FROM room_members WHERE room = '${name}' ORDER BY user_id LIMIT 1`)).user_id)
  const privateMember = await member(privateRoom.name)
  const message = await one(`SELECT id FROM messages WHERE room = '${room.name}' AND kind = 'message' ORDER BY id LIMIT 1 OFFSET 10`)
  const stranger = await one(
    `SELECT id FROM users WHERE NOT bot AND id NOT IN (SELECT user_id FROM room_members WHERE room = '${privateRoom.name}') ORDER BY id DESC LIMIT 1`,
  )
  return {
    room: String(room.name),
    roomMember: await member(room.name),
    privateRoom: String(privateRoom.name),
    privateMember,
    dm: String(dm.name),
    dmMember: await member(dm.name),
    messageId: Number(message.id),
    newestId: Number(room.last_message_id),
    stranger: Number(stranger.id),
    admin: Number((await one(`SELECT id FROM users WHERE role = 'admin' ORDER BY id LIMIT 1`)).id),
    bot: Number((await one(`SELECT id FROM users WHERE bot ORDER BY id LIMIT 1`)).id),
    tokenHash: String((await one(`SELECT token_hash FROM incoming_webhooks ORDER BY id LIMIT 1`)).token_hash),
    outgoingWebhook: Number((await one(`SELECT id FROM outgoing_webhooks ORDER BY id LIMIT 1`)).id),
    attachmentId: String((await one(`SELECT id FROM attachments WHERE message_id IS NOT NULL ORDER BY id LIMIT 1`)).id),
  }
}

/** An upload of a few bytes, as the HTTP route hands it to the store. */
async function* bytes(): AsyncGenerator<Uint8Array> {
  yield new Uint8Array([1, 2, 3, 4])
}

/**
 * Every store call a request makes (and those of the server's own jobs), in an order that leaves each
 * one something to find. The writes come last, after every read has run on the data as generated.
 */
export function steps(t: Targets): Step[] {
  const user = (id: number) => ({ id, username: `user${id}` })
  const at = Date.now()
  const uploadId = 'plansUpload00000000000'
  const read = (name: string, path: StepPath, run: (s: Store) => Promise<unknown>): Step => ({ name, path, writes: false, run })
  const write = (name: string, path: StepPath, run: (s: Store) => Promise<unknown>): Step => ({ name, path, writes: true, run })
  return [
    // Login, sign-up, tokens.
    read('login: user by username key', 'request', (s) => s.findUserByKey(usernameKey(`user${t.roomMember}`))),
    read('token: standing of users', 'request', (s) => s.findStandings([t.roomMember, t.privateMember])),
    read('token: user by id', 'request', (s) => s.findUserById(t.roomMember)),
    read('account: password hash', 'request', (s) => s.findPasswordHash(t.roomMember)),
    read('sign-up: invite usable', 'request', (s) => s.isInviteUsable('no-such-code', at)),
    read('sign-up: registration setting', 'request', (s) => s.getSetting('registration')),
    // A room: access, welcome, history, members.
    read('room access', 'request', (s) => s.roomAccess(t.privateRoom, t.stranger)),
    read('room: is member', 'request', (s) => s.isMember(t.privateRoom, t.privateMember)),
    read('room: info', 'request', (s) => s.findRoom(t.room)),
    read('room: members', 'request', (s) => s.listMembers(t.privateRoom)),
    read("welcome: the room's recent stream", 'request', (s) => s.listStream(t.room, { fromNewest: 50, limit: 200 })),
    read('welcome: resume after an id', 'request', (s) => s.listStream(t.room, { after: t.messageId, changesUpTo: t.messageId, limit: 1001 })),
    read('history: newest page', 'request', (s) => s.listMessages(t.room, { limit: 51 })),
    read('history: a page further back', 'request', (s) => s.listMessages(t.room, { before: t.newestId, limit: 51 })),
    read('history: reactions of a page', 'request', (s) => s.listReactions([t.messageId, t.newestId])),
    // Rooms list, my rooms, unread, mentions.
    read('rooms list: first page', 'request', (s) => s.listRoomActivity({ limit: 51 })),
    read('rooms list: next page', 'request', (s) => s.listRoomActivity({ before: t.newestId, limit: 51 })),
    read('rooms list: rooms by name', 'request', (s) => s.findRoomActivity([t.room, t.privateRoom, 'no-such-room'])),
    read('my rooms with unread counts', 'request', (s) => s.listMyRooms(t.privateMember)),
    read('my rooms: DM peers', 'request', (s) => s.findUsersByIds([t.dmMember, t.roomMember])),
    read('user stream: unread counts of a room', 'request', (s) => s.unreadOf(t.room, [t.roomMember, t.stranger])),
    read('user stream: missed mentions', 'request', (s) => s.listMentionsOf(t.privateMember, 0, 101)),
    read('mentions: users by key', 'request', (s) => s.findUsersByKeys([usernameKey(`user${t.roomMember}`), 'nobody'])),
    read('mentions: members among', 'request', (s) => s.membersAmong(t.privateRoom, [t.privateMember, t.stranger])),
    // Search.
    read('search: a common word', 'request', (s) => s.searchMessages({ q: 'the', userId: t.privateMember, limit: 21 })),
    read('search: in one room', 'request', (s) => s.searchMessages({ q: 'the', userId: t.privateMember, room: t.privateRoom, limit: 21 })),
    read('search: anonymous', 'request', (s) => s.searchMessages({ q: 'zyxwvut', userId: null, limit: 21 })),
    // Attachments.
    read('attachment: by id', 'request', (s) => s.findAttachment(t.attachmentId)),
    read('attachment: quota used', 'request', (s) => s.attachmentBytesOf(t.roomMember)),
    // Webhooks.
    read('incoming webhook: by token hash', 'request', (s) => s.findIncomingWebhook(t.tokenHash)),
    read('webhook worker: claim due deliveries', 'background', (s) => s.claimDeliveries(at, at + 30_000, 16, [t.outgoingWebhook])),
    read('webhook worker: outgoing webhooks', 'background', (s) => s.listOutgoingWebhooks()),
    read('admin: deliveries of a webhook', 'admin', (s) => s.listDeliveries(t.outgoingWebhook, { limit: 51 })),
    read('admin: incoming webhooks', 'admin', (s) => s.listIncomingWebhooks()),
    read('admin: users', 'admin', (s) => s.listUsers({ after: 0, prefix: 'user1', limit: 51 })),
    read('admin: bots', 'admin', (s) => s.listBots()),
    read('admin: invites', 'admin', (s) => s.listInvites()),
    read('admin: audit log', 'admin', (s) => s.listAudit({ limit: 51 })),
    // The server's own.
    read('standing: changes since', 'background', (s) => s.listUserChanges(0, 1000)),
    read('standing: last change', 'background', (s) => s.lastUserChangeId()),
    read('health', 'request', (s) => s.ping()),
    // Writes.
    write('post: a message with a mention and a reply', 'request', (s) =>
      s.insertMessage({
        room: t.privateRoom,
        user: user(t.privateMember),
        text: `@user${t.privateMember} hello`,
        nonce: 'n1',
        mentions: [user(t.privateMember)],
        replyTo: undefined,
        createdAt: at,
      }),
    ),
    write('post: a reply in a public room', 'request', (s) =>
      s.insertMessage({ room: t.room, user: user(t.roomMember), text: 'a reply', nonce: undefined, mentions: [], replyTo: t.messageId, createdAt: at }),
    ),
    write('upload: an attachment', 'request', (s) =>
      s.saveAttachment(
        uploadId,
        bytes(),
        () => ({ room: t.room, userId: t.roomMember, name: 'a.bin', type: 'application/octet-stream', size: 4, width: null, height: null, createdAt: at }),
        1e12,
      ),
    ),
    write('post: a message with the attachment', 'request', (s) =>
      s.insertMessage({ room: t.room, user: user(t.roomMember), text: 'see', nonce: undefined, mentions: [], attachments: [uploadId], createdAt: at }),
    ),
    write('react', 'request', (s) =>
      s.changeMessage({ type: 'reaction', room: t.room, messageId: t.messageId, user: user(t.roomMember), emoji: '🙂', on: true, at }),
    ),
    write('edit', 'request', async (s) => {
      const [m] = await s.listMessages(t.room, { limit: 1 })
      return s.changeMessage({ type: 'edited', room: t.room, messageId: m!.id, user: m!.user, text: 'edited text', mentions: [], at })
    }),
    write('delete', 'request', async (s) => {
      const [m] = await s.listMessages(t.room, { limit: 1 })
      return s.changeMessage({ type: 'deleted', room: t.room, messageId: m!.id, user: m!.user, byAdmin: false, at })
    }),
    write('mark read', 'request', (s) => s.markRead(t.room, t.roomMember, t.messageId + 1_000_000)),
    write('join a public room', 'request', (s) => s.addMember(t.room, user(t.stranger), at)),
    write('leave a room', 'request', (s) => s.removeMember(t.room, user(t.stranger), at)),
    write('open a DM', 'request', (s) =>
      s.openDm(`dm.${Math.min(t.stranger, t.roomMember)}.${Math.max(t.stranger, t.roomMember)}`, t.stranger, t.roomMember, at),
    ),
    write('register a room', 'request', (s) => s.createRoom({ name: 'plans-room', visibility: 'private', topic: null, owner: user(t.stranger), at })),
    write('sign-up', 'request', (s) => s.createUser({ username: 'plans-user', usernameKey: 'plans-user', passwordHash: 'x', at })),
    write('login: rehash', 'request', async (s) => s.updatePasswordHash(t.stranger, (await s.findPasswordHash(t.stranger))!, 'rehashed')),
    write('webhook: queue deliveries', 'request', (s) =>
      s.queueDeliveries([{ webhookId: t.outgoingWebhook, event: 'message', room: t.room, messageId: t.messageId, payload: '{}' }], at),
    ),
    write('webhook worker: claim', 'background', (s) => s.claimDeliveries(at + 1, at + 30_000, 16)),
    write('webhook worker: finish', 'background', async (s) => {
      const [d] = await s.listDeliveries(t.outgoingWebhook, { limit: 1 })
      return s.finishDelivery(d!.id, { status: 'delivered', attempts: 1, responseStatus: 200, error: null, nextAttemptAt: null, at })
    }),
    write('webhook worker: release', 'background', (s) => s.releaseDeliveries([1, 2], at)),
    write('admin: ban', 'admin', (s) => s.changeUser(t.stranger, { kind: 'ban', reason: null }, { at, audit: { actor: user(t.admin) } })),
    write('admin: delete a user', 'admin', (s) => s.deleteUser(t.stranger, { at, placeholder: 'deleted user', audit: { actor: user(t.admin) } })),
    write('admin: delete a bot’s webhooks', 'admin', (s) => s.deleteBotWebhooks(t.bot)),
    write('job: prune deliveries', 'background', (s) => s.pruneDeliveries(at - 7 * 86_400_000)),
    write('job: prune user changes', 'background', (s) => s.pruneUserChanges(at - 86_400_000)),
    write('job: unused uploads', 'background', (s) => s.removeUnusedAttachments(at - 86_400_000, 100)),
  ]
}

/** One executed statement and its plan, as text lines (SQLite) or the plan's nodes flattened (PostgreSQL). */
export interface Planned {
  step: string
  sql: string
  plan: string[]
  /** What reads a whole table or index (see scansOf). */
  scans: string[]
}

/**
 * Tables an admin fills one row at a time (invites, webhooks and their rooms): reading one whole is
 * reading a handful of rows, and listing them is what the admin asked for.
 */
export const ADMIN_MADE = new Set(['invites', 'incoming_webhooks', 'outgoing_webhooks', 'outgoing_webhook_rooms'])

/**
 * Catalogs whose rows the migrations make: pg_statistic_ext holds one row per statistics object (one on
 * messages), read by name when a search reads ANALYZE's samples (src/store/postgres-search-samples.ts).
 */
export const SCHEMA_MADE = new Set(['pg_statistic_ext'])

/** Steps whose walk of a table is bounded otherwise, and what the walk looks like. */
export const BOUNDED: Record<string, RegExp> = {
  // The newest entries by id, stopped at the page: a LIMIT and no filter (SQLite shows it as a SCAN).
  'admin: audit log': /^audit: SCAN audit$/,
  // The job that keeps user_changes to a day of changes.
  'job: prune user changes': /^user_changes: /,
}

/** What reads a whole table and may not: every scan but those of ADMIN_MADE tables, SCHEMA_MADE catalogs and BOUNDED walks (and, given `tables`, of other tables than those). */
export function violations(planned: Planned[], tables?: Set<string>): { step: string; scan: string; sql: string }[] {
  return planned.flatMap((p) =>
    p.scans
      .filter((scan) => {
        const table = scan.split(':')[0]!
        return !ADMIN_MADE.has(table) && !SCHEMA_MADE.has(table) && !BOUNDED[p.step]?.test(scan) && (tables === undefined || tables.has(table))
      })
      .map((scan) => ({ step: p.step, scan, sql: p.sql })),
  )
}

type Exec = 'all' | 'get' | 'run' | 'values' | 'iterate'

/**
 * Runs `steps` on the SQLite store `open` makes (the file at `file`), recording every statement it
 * executes with its values, and explains each one.
 */
export async function sqlitePlans(file: string, open: (file: string) => Store, list: Step[]): Promise<Planned[]> {
  const executed: { step: string; sql: string }[] = []
  let current = ''
  const wrapped = new WeakSet<object>()
  const wrap = (statement: Statement) => {
    if (wrapped.has(statement)) return statement
    wrapped.add(statement)
    const target = statement as unknown as Record<Exec, (...args: unknown[]) => unknown>
    for (const method of ['all', 'get', 'run', 'values', 'iterate'] as Exec[]) {
      const original = target[method]
      if (typeof original !== 'function') continue
      target[method] = function (this: Statement, ...args: unknown[]) {
        const result = original.apply(this, args)
        if (current !== '') executed.push({ step: current, sql: statement.toString() })
        return result
      }
    }
    return statement
  }
  const proto = Database.prototype as unknown as Record<'query' | 'prepare', (sql: string, ...rest: unknown[]) => Statement>
  const { query, prepare } = proto
  proto.query = function (this: Database, sql: string, ...rest: unknown[]) {
    return wrap(query.call(this, sql, ...rest))
  }
  proto.prepare = function (this: Database, sql: string, ...rest: unknown[]) {
    return wrap(prepare.call(this, sql, ...rest))
  }
  // Wrapped for as long as the store runs: Drizzle prepares a statement it was not asked to keep at each call.
  try {
    const store = open(file)
    try {
      for (const step of list) {
        current = step.name
        await step.run(store)
        current = ''
      }
    } finally {
      current = ''
      await store.close()
    }
  } finally {
    proto.query = query
    proto.prepare = prepare
  }
  const db = new Database(file, { readonly: true })
  try {
    const tables = new Set(
      db
        .query<{ name: string }, []>(`SELECT name FROM sqlite_master WHERE type = 'table'`)
        .all()
        .map((r) => r.name),
    )
    const seen = new Set<string>()
    const out: Planned[] = []
    for (const { step, sql } of executed) {
      if (!/^\s*(SELECT|INSERT|UPDATE|DELETE|WITH)\b/i.test(sql) || seen.has(`${step}\n${sql}`)) continue
      seen.add(`${step}\n${sql}`)
      const plan = db
        .query<{ detail: string }, []>(`EXPLAIN QUERY PLAN ${sql}`)
        .all()
        .map((r) => r.detail)
      out.push({ step, sql, plan, scans: sqliteScans(sql, plan, tables) })
    }
    return out
  } finally {
    db.close()
  }
}

/** `SCAN x` (with or without an index) where x is a table or an alias of one: a walk of all of it. */
function sqliteScans(sql: string, plan: string[], tables: Set<string>): string[] {
  const aliases = new Map<string, string>()
  for (const m of sql.matchAll(/\b(?:from|join|update|into)\s+["`]?(\w+)["`]?(?:\s+(?:as\s+)?["`]?(\w+)["`]?)?/gi)) {
    const [, table, alias] = m
    if (!tables.has(table!)) continue
    aliases.set(table!, table!)
    if (alias && !/^(where|on|set|left|inner|join|order|group|limit|values|select|using|indexed|cross|natural)$/i.test(alias)) aliases.set(alias, table!)
  }
  return plan.flatMap((line) => {
    const m = /^SCAN (\w+)(.*)$/.exec(line)
    if (!m || m[2]!.includes('VIRTUAL TABLE')) return []
    const table = aliases.get(m[1]!) ?? (tables.has(m[1]!) ? m[1]! : undefined)
    return table ? [`${table}: ${line}`] : []
  })
}

type PlanNode = Record<string, unknown> & { Plans?: PlanNode[] }

/**
 * What in a PostgreSQL plan reads a whole table: a sequential scan, or an index walked from one end to
 * the other with no condition and no LIMIT above it. With `strict` (sequential scans disabled, on a small
 * database) the planner walks a tiny table's whole index where it would look rows up on a big one, so
 * only such a walk that filters rows (what an index scan would not need to) counts.
 */
function pgScans(node: PlanNode, strict: boolean, parents: string[] = []): string[] {
  const type = String(node['Node Type'])
  const relation = node['Relation Name'] as string | undefined
  const own: string[] = []
  if (type === 'Seq Scan' && relation) own.push(`${relation}: Seq Scan`)
  // An index walked with no condition: bounded by a LIMIT above it only when it keeps every row it reads.
  if ((type === 'Index Scan' || type === 'Index Only Scan') && node['Index Cond'] === undefined) {
    const filtered = node.Filter !== undefined
    const limited = parents.includes('Limit')
    if (filtered || (!strict && !limited))
      own.push(
        `${relation}: ${type} using ${node['Index Name']} with no condition${filtered ? `, filter ${node.Filter}` : ''}${limited ? ', under a LIMIT' : ''}`,
      )
  }
  return [...own, ...(node.Plans ?? []).flatMap((child) => pgScans(child, strict, [...parents, type]))]
}

const flatten = (node: PlanNode, depth = 0): string[] => [
  `${'  '.repeat(depth)}${node['Node Type']}${node['Relation Name'] ? ` on ${node['Relation Name']}` : ''}${node['Index Name'] ? ` using ${node['Index Name']}` : ''}${node['Index Cond'] ? ` (${node['Index Cond']})` : ''}${node.Filter ? ` filter ${node.Filter}` : ''}`,
  ...(node.Plans ?? []).flatMap((child) => flatten(child, depth + 1)),
]

/**
 * Runs `steps` on the PostgreSQL store `open` makes, with auto_explain logging every plan to the
 * server's log (`logFile`); with `strict`, sequential scans are disabled, so only a scan no index
 * can replace is left in a plan. The database's settings are restored afterwards.
 */
export async function postgresPlans(url: string, logFile: string, open: (url: string) => Promise<Store>, list: Step[], strict: boolean): Promise<Planned[]> {
  const admin = new SQL(url, { max: 1 })
  const settings = [
    `session_preload_libraries = 'auto_explain'`,
    `auto_explain.log_min_duration = 0`,
    `auto_explain.log_format = 'json'`,
    `auto_explain.log_level = 'log'`,
    ...(strict ? [`enable_seqscan = off`] : []),
  ]
  const [{ db }] = (await admin`SELECT current_database() AS db`) as [{ db: string }]
  const out: Planned[] = []
  try {
    for (const setting of settings) await admin.unsafe(`ALTER DATABASE "${db}" SET ${setting}`)
    const store = await open(url)
    try {
      for (const step of list) {
        // A marker in the log between steps: every plan logged after it is the step's.
        const mark = `plans-step-${out.length}-${Math.random().toString(36).slice(2)}`
        await admin.unsafe(`DO $$ BEGIN RAISE LOG '${mark}'; END $$`)
        await step.run(store)
        await admin.unsafe(`DO $$ BEGIN RAISE LOG 'end-${mark}'; END $$`)
        out.push({ step: step.name, sql: mark, plan: [], scans: [] })
      }
    } finally {
      await store.close()
    }
  } finally {
    for (const setting of settings) await admin.unsafe(`ALTER DATABASE "${db}" RESET ${setting.split(' ')[0]}`)
    await admin.close()
  }
  // The log: entries start with a timestamp; a plan's entry holds its JSON after "plan:".
  const log = existsSync(logFile) ? readFileSync(logFile, 'utf8') : ''
  const entries = log.split(/\n(?=\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)/)
  const planned: Planned[] = []
  for (const marker of out) {
    const from = entries.findIndex((e) => e.includes(marker.sql) && !e.includes(`end-${marker.sql}`))
    const to = entries.findIndex((e) => e.includes(`end-${marker.sql}`))
    if (from === -1 || to === -1) throw new Error(`auto_explain: no log between the markers of ${marker.step} in ${logFile}`)
    for (const entry of entries.slice(from + 1, to)) {
      const at = entry.indexOf('plan:')
      if (at === -1) continue
      let parsed: { 'Query Text': string; Plan: PlanNode }
      try {
        parsed = JSON.parse(entry.slice(at + 'plan:'.length))
      } catch {
        continue
      }
      const sql = parsed['Query Text'].trim()
      // The markers' own DO blocks.
      if (sql.startsWith('DO ')) continue
      planned.push({ step: marker.step, sql, plan: flatten(parsed.Plan), scans: pgScans(parsed.Plan, strict) })
    }
  }
  return planned
}
