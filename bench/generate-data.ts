/**
 * A chat database of a given size, written straight into either store (issue 16: "a database with
 * 10 M messages in 50 000 rooms and 100 000 users"), with every derived table as the server itself
 * would have left it: the rooms' activity columns and counters, members' read markers with their
 * `read_count` and `mentions`, the mentions table, reactions as rows and as `reacted` events, edits
 * and deletions as events, replies, attachments, bots with webhooks and a delivery log, and the search
 * index (SQLite's two FTS5 tables with each room's scope token; PostgreSQL's trigram indexes, built
 * after the load). Posting that many messages through the API would measure the writer, so rows are
 * bulk-loaded: SQLite by prepared INSERTs in large transactions with the secondary indexes built
 * after the load, PostgreSQL by COPY through psql, indexes likewise (their definitions are read from
 * the migrated database, so they stay those of the migrations).
 *
 *   bun bench/generate-data.ts --store sqlite --out /tmp/chat.db [--messages N --rooms R --users U] [--check]
 *   bun bench/generate-data.ts --store postgres --url postgres://… [sizes] [--check]
 *   bun bench/generate-data.ts --smoke …      (20 000 messages in 100 rooms by 200 users)
 *
 * The data is a function of the sizes (a seeded PRNG), the same in both stores, its timestamps a year
 * ending at the hour it was generated:
 *
 * - users `user<id>`, all with the password GROWTH_SECRET hashed with the bench's cheap argon2id
 *   settings (CHEAP_ARGON2_ENV, so a login never rehashes); user 1 is the admin; the last 20 are bots;
 * - rooms: 1 % busy public rooms (50–200 members), then by index 20 % DMs (`dm.<a>.<b>`), 10 % private
 *   rooms (3–40 members), the rest public (2–40 members who joined; half registered with an owner and
 *   a topic). Members are drawn uniformly, so each user is in about as many rooms at any size;
 * - messages: half of them in a uniformly drawn room, half skewed towards the low indexes (the busiest
 *   room holds ~0.2 % of everything); by a member (in public rooms, 1 in 10 by anyone); texts of 1–60
 *   words (1 % of 80–250) from a Zipf-like vocabulary, some with an emoji, CJK, a URL; 70 % carry a
 *   client nonce; 5 % mention a member, 5 % reply to the room's previous message, 0.1 % carry an
 *   attachment; 4 % are followed by a reaction event, 1 % by an edit, 0.5 % by a deletion;
 *   GROWTH_COMMON_WORD in 5 % of them, GROWTH_RARE_WORD in one of every 20 000;
 * - read markers: half of the members have read everything, a third are 1–20 messages behind, the
 *   rest somewhere in the room's history or never read it.
 *
 * `checkGenerated` opens the result with the server's own store and checks what a client would see
 * (counters against a recount, the index against the rows, history heads against the rooms' columns).
 */
import { hash } from '@node-rs/argon2'
import { SQL } from 'bun'
import { Database } from 'bun:sqlite'
import { createHash } from 'node:crypto'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { usernameKey } from '../src/chat/usernames.ts'
import { dmName } from '../src/protocol-rooms.ts'
import { openPostgresStore } from '../src/store/postgres.ts'
import { INDEX_PRIVATE_SQL, INDEX_PUBLIC_SQL, searchScope } from '../src/store/sqlite-search.ts'
import { FILED_THROUGH } from '../src/store/sqlite-history.ts'
import { ALL_INDEXED_SQL, sortedForIndex } from '../src/store/sqlite-search-indexer.ts'
import { openSqliteStore } from '../src/store/sqlite.ts'
import type { Store } from '../src/store/store.ts'
import { findPostgresBin } from '../test/support/require-services.ts'
import { CHEAP_ARGON2_ENV } from './servers.ts'

export interface DataSizes {
  messages: number
  rooms: number
  users: number
}

/** The issue's size. */
export const DATA_FULL: DataSizes = { messages: 10_000_000, rooms: 50_000, users: 100_000 }
export const DATA_SMOKE: DataSizes = { messages: 20_000, rooms: 100, users: 200 }

/** Raised whenever what is generated changes, so a cached database of an older version is not reused. */
export const GENERATOR_VERSION = 1

/** Every generated user's password. */
export const GROWTH_SECRET = 'growth-secret'
/** In about 5 % of the messages. */
export const GROWTH_COMMON_WORD = 'quarterly'
/** In one message of every 20 000 (message index ≡ 7 mod 20 000). */
export const GROWTH_RARE_WORD = 'zyxwvut'
export const RARE_EVERY = 20_000
export const BOTS = 20

export type RoomKind = 'public' | 'registered' | 'private' | 'dm'

/** mulberry32: the same data on every run and in both stores (bench/search.ts uses it too). */
export function prng(seed: number) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

const COMMON =
  'the a to and I you it is of that in for on this be with we just have not but so can do my at are what if was ok yes no like get think will all me know one up now about go here there good new see would out your some more time need then got how when make they sure thanks right well really also still let today back too something'.split(
    ' ',
  )
const SYLLABLES = 'ka ri to me lo na su ve de pa chi mo ra ne ku ba li so ta fe gu ni ro ze ma vo sa ti ke lu po da hi mi no be ru ga se wo ya'.split(' ')
const EMOJI = ['🎉', '👍', '😂', '🙂', '🚀', '❤️', '🔥', '👀', '✅', '🤔']
const CJK = ['東京都', '大阪府', '你好吗', '謝謝你', '안녕하세요', 'ありがとう']
const REACTIONS = ['👍', '❤️', '😂', '🎉', '👀']
const DAY = 86_400_000
const SPAN = 365 * DAY

/** A vocabulary of pseudo-words, the first ones the most used (picked with an index skewed to 0). */
function vocabulary(random: () => number): string[] {
  const words = new Set<string>()
  while (words.size < 3000) {
    let w = ''
    for (let n = 2 + Math.floor(random() * 3); n > 0; n--) w += SYLLABLES[Math.floor(random() * SYLLABLES.length)]
    words.add(w)
  }
  return [...words]
}

/** Who is in which room, and what kind each room is: decided before any message. */
export class RoomPlan {
  readonly kind: Uint8Array
  /** Members of room r: members[offsets[r] .. offsets[r + 1]); the first is the owner of a registered room. */
  readonly offsets: Int32Array
  readonly members: Int32Array
  readonly names: string[]

  constructor(readonly sizes: DataSizes) {
    const { rooms, users } = sizes
    const random = prng(16_4)
    const kinds = new Uint8Array(rooms)
    const lists: number[][] = []
    const pairs = new Set<string>()
    const people = users - BOTS
    const drawMembers = (n: number) => {
      const set = new Set<number>()
      while (set.size < Math.min(n, people)) set.add(1 + Math.floor(random() * people))
      return [...set]
    }
    this.names = []
    for (let r = 0; r < rooms; r++) {
      const slot = r % 10
      const busy = r < Math.max(1, Math.floor(rooms / 100))
      const kind: RoomKind = busy ? 'registered' : slot < 2 ? 'dm' : slot === 2 ? 'private' : slot < 6 ? 'registered' : 'public'
      kinds[r] = KINDS.indexOf(kind)
      if (kind === 'dm') {
        let a: number, b: number
        do {
          ;[a, b] = drawMembers(2) as [number, number]
        } while (pairs.has(dmName(a, b)))
        pairs.add(dmName(a, b))
        lists.push([a, b])
        this.names.push(dmName(a, b))
      } else {
        const n = busy ? 50 + Math.floor(random() * 151) : kind === 'private' ? 3 + Math.floor(random() * 38) : 2 + Math.floor(random() * 39)
        lists.push(drawMembers(n))
        this.names.push(kind === 'private' ? `team-${r}` : `room-${r}`)
      }
    }
    this.kind = kinds
    this.offsets = new Int32Array(rooms + 1)
    for (let r = 0; r < rooms; r++) this.offsets[r + 1] = this.offsets[r]! + lists[r]!.length
    this.members = new Int32Array(this.offsets[rooms]!)
    lists.forEach((list, r) => this.members.set(list, this.offsets[r]!))
  }

  kindOf(r: number): RoomKind {
    return KINDS[this.kind[r]!]!
  }
  isPrivate(r: number): boolean {
    return this.kind[r]! >= 2
  }
  membersOf(r: number): Int32Array {
    return this.members.subarray(this.offsets[r]!, this.offsets[r + 1]!)
  }
  /** Rooms of each user: the inverse of membersOf. */
  roomsOfUsers(): { offsets: Int32Array; rooms: Int32Array } {
    const counts = new Int32Array(this.sizes.users + 2)
    for (const u of this.members) counts[u + 1]!++
    for (let u = 1; u < counts.length; u++) counts[u]! += counts[u - 1]!
    const rooms = new Int32Array(this.members.length)
    const at = counts.slice()
    for (let r = 0; r < this.sizes.rooms; r++) for (const u of this.membersOf(r)) rooms[at[u]!++] = r
    return { offsets: counts, rooms }
  }
}
const KINDS: RoomKind[] = ['public', 'registered', 'private', 'dm']

type Value = string | number | boolean | null
type Row = Value[]

/** Tables and the columns generated for each, in the order rows list them. */
export const TABLES = {
  users: ['id', 'username', 'username_key', 'password_hash', 'created_at', 'role', 'token_version', 'bot', 'api_token_hash'],
  messages: [
    'id',
    'room',
    'user_id',
    'username',
    'text',
    'nonce',
    'created_at',
    'kind',
    'target_id',
    'edited_at',
    'deleted',
    'mentions',
    'reply_to',
    'attachments',
    'private',
  ],
  rooms: ['name', 'last_message_id', 'last_active_at', 'last_event_id', 'visibility', 'topic', 'owner_id', 'registered_at', 'message_count'],
  room_members: ['room', 'user_id', 'joined_at', 'last_read_id', 'read_count', 'mentions'],
  mentions: ['message_id', 'user_id', 'room'],
  reactions: ['message_id', 'emoji', 'user_id', 'created_at'],
  attachments: ['id', 'room', 'user_id', 'name', 'type', 'size', 'width', 'height', 'created_at', 'message_id'],
  incoming_webhooks: ['id', 'name', 'room', 'bot_id', 'token_hash', 'created_by', 'created_at'],
  outgoing_webhooks: ['id', 'name', 'url', 'secret', 'bot_id', 'created_by', 'created_at'],
  outgoing_webhook_rooms: ['webhook_id', 'room'],
  webhook_deliveries: [
    'id',
    'webhook_id',
    'event',
    'room',
    'message_id',
    'payload',
    'status',
    'attempts',
    'next_attempt_at',
    'response_status',
    'error',
    'created_at',
    'updated_at',
  ],
  audit: ['id', 'at', 'actor_id', 'actor_name', 'action', 'target'],
} as const
export type Table = keyof typeof TABLES

/** Where rows go: one store's bulk writer. */
interface Sink {
  add(table: Table, row: Row): void | Promise<void>
}

const hex = (random: () => number, chars: number) => {
  let s = ''
  while (s.length < chars)
    s += Math.floor(random() * 0x100000000)
      .toString(16)
      .padStart(8, '0')
  return s.slice(0, chars)
}
const sha256 = (s: string) => createHash('sha256').update(s).digest('hex')

/** What the generation leaves behind for the checks and the benchmark to pick from. */
export interface Generated {
  sizes: DataSizes
  /** Rows of `messages` (messages and events). */
  rows: number
  seconds: number
}

/**
 * Generates everything into `sink`: users, then messages (and their events, mentions, reactions,
 * attachments) in id order, then rooms and memberships with their counters, then bots' webhooks.
 */
async function generate(sizes: DataSizes, sink: Sink, log: (line: string) => void): Promise<number> {
  const { messages: M, rooms: R, users: U } = sizes
  // The year of messages ends at the hour of generation, so the webhook delivery log is recent enough
  // for the server to keep it (it prunes deliveries older than 7 days).
  const END = Math.floor(Date.now() / 3_600_000) * 3_600_000
  const T0 = END - SPAN
  const plan = new RoomPlan(sizes)
  const random = prng(2026)
  const words = vocabulary(prng(7))
  const pick = <T>(xs: readonly T[], skew = 1) => xs[Math.floor(xs.length * random() ** skew)]!
  const username = (id: number) => `user${id}`

  // Users: one hash for all (each verify costs the same whatever the salt), made with the bench's settings.
  const passwordHash = await hash(GROWTH_SECRET, {
    memoryCost: Number(CHEAP_ARGON2_ENV.ARGON2_MEMORY_KIB),
    timeCost: Number(CHEAP_ARGON2_ENV.ARGON2_ITERATIONS),
    parallelism: 1,
  })
  for (let id = 1; id <= U; id++) {
    const bot = id > U - BOTS
    const name = username(id)
    await sink.add('users', [
      id,
      name,
      usernameKey(name),
      passwordHash,
      T0 - DAY + id,
      id === 1 ? 'admin' : 'member',
      0,
      bot,
      bot ? sha256(`bot-token-${id}`) : null,
    ])
  }

  // Messages, in id order; what the counters need is kept per message (kind 'message' only).
  const msgRoom = new Int32Array(M)
  const msgUser = new Int32Array(M)
  const msgId = new Int32Array(M)
  const msgDeleted = new Uint8Array(M)
  const roomLast = new Int32Array(R).fill(-1) // index of the room's newest message
  const roomHead = new Int32Array(R) // id of the room's newest row, message or event
  const mentionMsg: number[] = []
  const mentionUser: number[] = []
  let id = 0
  let attachmentNo = 0
  const text = () => {
    const long = random() < 0.01
    const n = long ? 80 + Math.floor(random() * 171) : Math.min(60, 1 + Math.floor(-Math.log(1 - random()) * 9))
    const out: string[] = []
    for (let k = 0; k < n; k++) out.push(random() < 0.55 ? pick(COMMON, 2) : pick(words, 3))
    if (random() < 0.03) out.push(pick(EMOJI))
    if (random() < 0.01) out.splice(Math.floor(random() * out.length), 0, pick(CJK))
    if (random() < 0.02) out.push(`https://example.com/${pick(words)}/${Math.floor(random() * 1e6)}`)
    if (random() < 0.05) out.splice(Math.floor(random() * out.length), 0, GROWTH_COMMON_WORD)
    return out.join(' ')
  }
  const started = performance.now()
  for (let i = 0; i < M; i++) {
    const r = random() < 0.5 ? Math.floor(R * random()) : Math.floor(R * random() ** 2)
    const members = plan.membersOf(r)
    const privateRoom = plan.isPrivate(r)
    const user = !privateRoom && random() < 0.1 ? 1 + Math.floor(random() * (U - BOTS)) : members[Math.floor(random() * members.length)]!
    const room = plan.names[r]!
    const at = T0 + Math.floor((i * SPAN) / M)
    const fate = random()
    const deleted = fate < 0.005
    const edited = !deleted && fate < 0.015
    const reacted = !deleted && !edited && fate < 0.055
    let body = text()
    if (i % RARE_EVERY === 7) body += ` ${GROWTH_RARE_WORD}`
    let mentions: string | null = null
    let mentioned = 0
    if (!deleted && !edited && random() < 0.05 && members.length > 1) {
      do mentioned = members[Math.floor(random() * members.length)]!
      while (mentioned === user)
      body = `@${username(mentioned)} ${body}`
      mentions = JSON.stringify([{ id: mentioned, username: username(mentioned) }])
    }
    const replyTo = roomLast[r]! >= 0 && random() < 0.05 ? msgId[roomLast[r]!]! : null
    const nonce = random() < 0.7 ? hex(random, 32) : null
    let attachments: string | null = null
    const messageId = ++id
    if (!deleted && random() < 0.001) {
      const a = { id: `gen${(++attachmentNo).toString(36).padStart(19, '0')}`, name: `photo-${attachmentNo}.jpg`, type: 'image/jpeg' }
      const size = 50_000 + Math.floor(random() * 3_000_000)
      const [width, height] = [640 + Math.floor(random() * 3000), 480 + Math.floor(random() * 2000)]
      attachments = JSON.stringify([{ ...a, size, width, height }])
      await sink.add('attachments', [a.id, room, user, a.name, a.type, size, width, height, at - 5000, messageId])
    }
    const editedText = edited ? `${text()} (edited)` : undefined
    await sink.add('messages', [
      messageId,
      room,
      user,
      username(user),
      deleted ? '' : (editedText ?? body),
      deleted ? null : nonce,
      at,
      'message',
      null,
      edited ? at + 60_000 : null,
      deleted,
      deleted ? null : mentions,
      replyTo,
      deleted ? null : attachments,
      privateRoom,
    ])
    if (mentioned) {
      mentionMsg.push(messageId)
      mentionUser.push(mentioned)
      await sink.add('mentions', [messageId, mentioned, room])
    }
    msgRoom[i] = r
    msgUser[i] = user
    msgId[i] = messageId
    msgDeleted[i] = deleted ? 1 : 0
    roomLast[r] = i
    roomHead[r] = messageId
    // The change that follows it (the next id in the whole stream, as when it comes right after).
    if (edited || deleted || reacted) {
      const eventId = ++id
      const by = reacted ? members[Math.floor(random() * members.length)]! : user
      const kind = edited ? 'edited' : deleted ? 'deleted' : 'reacted'
      const eventText = edited ? editedText! : reacted ? pick(REACTIONS) : ''
      await sink.add('messages', [eventId, room, by, username(by), eventText, null, at + 60_000, kind, messageId, null, false, null, null, null, false])
      if (reacted) await sink.add('reactions', [messageId, eventText, by, at + 60_000])
      roomHead[r] = eventId
    }
    if (i % 1_000_000 === 999_999) log(`generate: ${i + 1} messages (${Math.round((performance.now() - started) / 1000)} s)`)
  }

  // Rooms, with the activity columns and counters the message writer keeps.
  const counts = new Int32Array(R + 1)
  for (let i = 0; i < M; i++) counts[msgRoom[i]! + 1]!++
  for (let r = 0; r < R; r++) counts[r + 1]! += counts[r]!
  const order = new Int32Array(M)
  const at = counts.slice(0, R)
  for (let i = 0; i < M; i++) order[at[msgRoom[i]!]!++] = i
  for (let r = 0; r < R; r++) {
    const kind = plan.kindOf(r)
    const last = roomLast[r]!
    const registered = kind !== 'public'
    const owner = kind === 'registered' || kind === 'private' ? plan.membersOf(r)[0]! : null
    await sink.add('rooms', [
      plan.names[r]!,
      last >= 0 ? msgId[last]! : 0,
      last >= 0 ? T0 + Math.floor((last * SPAN) / M) : 0,
      roomHead[r]!,
      kind === 'private' || kind === 'dm' ? 'private' : 'public',
      kind === 'registered' || kind === 'private' ? `Topic of ${plan.names[r]}` : null,
      owner,
      registered ? T0 - DAY : null,
      counts[r + 1]! - counts[r]!,
    ])
  }

  // Mentions after a marker, per (room, user): the members' `mentions` counter.
  const mentionsOf = new Map<string, number[]>()
  for (let k = 0; k < mentionMsg.length; k++) {
    // Message ids grow with the index, so the room of a mention is found by its message's position.
    const key = `${mentionRoom(mentionMsg[k]!)}:${mentionUser[k]}`
    const list = mentionsOf.get(key)
    if (list) list.push(mentionMsg[k]!)
    else mentionsOf.set(key, [mentionMsg[k]!])
  }
  function mentionRoom(messageId: number): number {
    // Binary search of msgId (increasing).
    let lo = 0
    let hi = M - 1
    while (lo < hi) {
      const mid = (lo + hi) >> 1
      if (msgId[mid]! < messageId) lo = mid + 1
      else hi = mid
    }
    return msgRoom[lo]!
  }

  // Memberships: a marker, and the counters as the writer and markRead would have left them.
  for (let r = 0; r < R; r++) {
    const list = order.subarray(counts[r]!, counts[r + 1]!)
    const total = list.length
    for (const u of plan.membersOf(r)) {
      // The position of the member's marker in the room's messages (-1: before the first).
      const draw = random()
      const wanted = draw < 0.5 ? total - 1 : draw < 0.85 ? total - 2 - Math.floor(random() * 20) : Math.floor(random() * (total + 1)) - 1
      const position = Math.max(-1, Math.min(wanted, total - 1))
      const marker = position >= 0 ? msgId[list[position]!]! : 0
      // What markRead would count after it: others' messages not deleted.
      let unread = 0
      for (let k = position + 1; k < total; k++) {
        const i = list[k]!
        if (msgUser[i] !== u && !msgDeleted[i]) unread++
      }
      const mentioned = (mentionsOf.get(`${r}:${u}`) ?? []).filter((m) => m > marker).length
      await sink.add('room_members', [plan.names[r]!, u, T0 - DAY, marker, total - unread, mentioned])
    }
  }

  // Bots' webhooks and a delivery log (all settled: nothing for the worker to send during a benchmark).
  const bots = Array.from({ length: BOTS }, (_, k) => U - BOTS + 1 + k)
  const publicRooms = plan.names.filter((_, r) => !plan.isPrivate(r))
  for (let k = 1; k <= 50; k++) await sink.add('incoming_webhooks', [k, `hook-${k}`, pick(publicRooms), pick(bots), sha256(`incoming-${k}`), 1, T0 - DAY + k])
  for (let k = 1; k <= 10; k++) {
    await sink.add('outgoing_webhooks', [k, `out-${k}`, `http://127.0.0.1:9/hook-${k}`, `whsec_${hex(random, 32)}`, pick(bots), 1, T0 - DAY + k])
    for (const room of new Set(Array.from({ length: 1 + (k % 3) }, () => pick(publicRooms)))) {
      await sink.add('outgoing_webhook_rooms', [k, room])
    }
  }
  for (let k = 1; k <= Math.max(10, Math.floor(M / 1000)); k++) {
    const i = Math.floor(random() * M)
    const failed = random() < 0.02
    await sink.add('webhook_deliveries', [
      k,
      1 + (k % 10),
      'message',
      plan.names[msgRoom[i]!]!,
      msgId[i]!,
      `{"event":"message","id":${msgId[i]}}`,
      failed ? 'failed' : 'delivered',
      failed ? 8 : 1,
      null,
      failed ? 500 : 200,
      failed ? 'HTTP 500' : null,
      END - Math.floor(random() * 6 * DAY),
      END,
    ])
  }
  for (let k = 1; k <= 100; k++) {
    const target = username(2 + Math.floor(random() * (U - BOTS - 1)))
    await sink.add('audit', [k, T0 + k * DAY, 1, 'user1', 'user.role', JSON.stringify({ user: { username: target } })])
  }
  return id
}

/** Tables whose indexes are dropped for the load and built after it from their own definitions. */
const INDEXED = ['messages', 'mentions', 'room_members', 'reactions', 'attachments', 'webhook_deliveries']

/** Fills an empty SQLite file (created and migrated by the store itself) with `sizes`. */
export async function generateSqlite(file: string, sizes: DataSizes, log: (line: string) => void = () => {}): Promise<Generated> {
  const started = performance.now()
  if (existsSync(file)) throw new Error(`${file} exists: generate into a new file`)
  await openSqliteStore(file).close()
  const db = new Database(file, { strict: true })
  db.exec('PRAGMA journal_mode = OFF')
  db.exec('PRAGMA synchronous = OFF')
  db.exec('PRAGMA cache_size = -262144')
  const indexes = db
    .query<{ sql: string; name: string }, []>(
      `SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL AND tbl_name IN (${INDEXED.map((t) => `'${t}'`).join(', ')})`,
    )
    .all()
  for (const { name } of indexes) db.exec(`DROP INDEX "${name}"`)
  // Messages filed as the store's worker leaves them after a quiet spell (src/store/sqlite-history.ts).
  const withFiled = (table: string, columns: readonly string[]) => (table === 'messages' ? [...columns, 'filed'] : columns)
  const inserts = new Map(
    Object.entries(TABLES).map(([table, columns]) => [
      table,
      db.prepare(
        `INSERT INTO ${table} (${withFiled(table, columns).join(', ')}) VALUES (${withFiled(table, columns)
          .map(() => '?')
          .join(', ')})`,
      ),
    ]),
  )
  const indexPublic = db.prepare<unknown, [{ rowid: number; text: string; scope: string }]>(INDEX_PUBLIC_SQL)
  const indexPrivate = db.prepare<unknown, [{ rowid: number; text: string }]>(INDEX_PRIVATE_SQL)
  const scopes = new Map<string, string>()
  // Each transaction's index entries, added in ascending rowids before it commits (sortedForIndex).
  let entries: { id: number; room: string; text: string; private: boolean }[] = []
  const commit = () => {
    const sorted = sortedForIndex(entries)
    for (const { rowid, room, text } of sorted.public) {
      let scope = scopes.get(room)
      if (scope === undefined) scopes.set(room, (scope = searchScope(room)))
      indexPublic.run({ rowid, text, scope })
    }
    for (const { rowid, text } of sorted.private) indexPrivate.run({ rowid, text })
    entries = []
    db.exec('COMMIT')
  }
  let pending = 0
  db.exec('BEGIN')
  const sink: Sink = {
    add(table, row) {
      const values = row.map((v) => (typeof v === 'boolean' ? Number(v) : v))
      if (table === 'messages') values.push(row[7] === 'message' ? 1 : 0)
      inserts.get(table)!.run(...(values as (string | number | null)[]))
      if (table === 'messages' && row[7] === 'message' && row[10] === false)
        entries.push({ id: row[0] as number, room: row[1] as string, text: row[4] as string, private: row[14] === true })
      if (++pending === 100_000) {
        commit()
        db.exec('BEGIN')
        pending = 0
      }
    },
  }
  const rows = await generate(sizes, sink, log)
  commit()
  log(`generate: rows written in ${Math.round(performance.now() - started) / 1000} s; building indexes`)
  for (const { sql } of indexes) db.exec(sql)
  // The search index was written above, beside each message, as the store's indexer would have.
  db.exec(ALL_INDEXED_SQL)
  db.query(
    `INSERT INTO settings (key, value) SELECT ?, CAST(coalesce(max(id), 0) AS TEXT) FROM messages WHERE true
    ON CONFLICT (key) DO UPDATE SET value = excluded.value`,
  ).run(FILED_THROUGH)
  db.exec('PRAGMA journal_mode = WAL')
  db.close()
  // Opened once by the store: the file is as the server leaves it (migrations checked, WAL folded back).
  await openSqliteStore(file).close()
  return { sizes, rows, seconds: Math.round(performance.now() - started) / 1000 }
}

/** A COPY … FROM STDIN through psql, fed CSV as rows come. */
function copyInto(url: string, table: Table) {
  const bin = findPostgresBin()
  const psql = bin && existsSync(join(bin, 'psql')) ? join(bin, 'psql') : 'psql'
  const columns = TABLES[table]
  const proc = Bun.spawn([psql, url, '-v', 'ON_ERROR_STOP=1', '-q', '-c', `COPY ${table} (${columns.join(', ')}) FROM STDIN WITH (FORMAT csv)`], {
    stdin: 'pipe',
    stdout: 'ignore',
    stderr: 'pipe',
  })
  let buffered = 0
  const field = (v: Value) => {
    if (v === null) return ''
    if (typeof v === 'boolean') return v ? 't' : 'f'
    if (typeof v === 'number') return String(v)
    return `"${v.replaceAll('"', '""')}"`
  }
  return {
    async add(row: Row) {
      const line = row.map(field).join(',') + '\n'
      proc.stdin.write(line)
      buffered += line.length
      if (buffered > 1 << 20) {
        buffered = 0
        await proc.stdin.flush()
      }
    },
    async end() {
      await proc.stdin.end()
      const [code, err] = await Promise.all([proc.exited, new Response(proc.stderr).text()])
      if (code !== 0) throw new Error(`COPY ${table}: psql exited ${code}: ${err.trim()}`)
    },
  }
}

/** Fills an empty PostgreSQL database (migrated by the store itself) with `sizes`. */
export async function generatePostgres(url: string, sizes: DataSizes, log: (line: string) => void = () => {}): Promise<Generated> {
  const started = performance.now()
  await (await openPostgresStore(url)).close()
  const sql = new SQL(url)
  try {
    const [{ n }] = (await sql`SELECT count(*)::int AS n FROM messages`) as [{ n: number }]
    if (n > 0) throw new Error('the database already has messages: generate into an empty one')
    // Secondary indexes (not those of constraints) are dropped for the load and made again after it, as a restore does.
    const indexes = (await sql`SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' AND tablename IN ${sql(INDEXED)}
      AND indexname NOT IN (SELECT conname FROM pg_constraint)`) as { indexname: string; indexdef: string }[]
    for (const { indexname } of indexes) await sql.unsafe(`DROP INDEX "${indexname}"`)
    const copies = new Map<Table, ReturnType<typeof copyInto>>()
    const sink: Sink = {
      add(table, row) {
        let copy = copies.get(table)
        if (!copy) copies.set(table, (copy = copyInto(url, table)))
        return copy.add(row)
      },
    }
    const rows = await generate(sizes, sink, log)
    for (const copy of copies.values()) await copy.end()
    log(`generate: rows copied in ${Math.round(performance.now() - started) / 1000} s; building indexes`)
    await sql.begin(async (tx) => {
      await tx`SET LOCAL maintenance_work_mem = '512MB'`
      for (const { indexdef } of indexes) await tx.unsafe(indexdef)
    })
    // Identity columns continue after the ids given.
    for (const table of ['users', 'messages', 'incoming_webhooks', 'outgoing_webhooks', 'webhook_deliveries', 'audit'])
      await sql.unsafe(`SELECT setval(pg_get_serial_sequence('${table}', 'id'), (SELECT max(id) FROM ${table}))`)
    // What autovacuum would have done by now: statistics, and the visibility map for index-only scans.
    await sql`VACUUM ANALYZE`
    return { sizes, rows, seconds: Math.round(performance.now() - started) / 1000 }
  } finally {
    await sql.close()
  }
}

/** A failed check: what was expected, what the store answered. */
function expectEqual(what: string, actual: unknown, expected: unknown): void {
  if (JSON.stringify(actual) !== JSON.stringify(expected))
    throw new Error(`generated data: ${what}: got ${JSON.stringify(actual)}, expected ${JSON.stringify(expected)}`)
}

/** Raw reads for the checks, independent of the store's own queries. */
export interface RawReader {
  all<T>(query: string, ...params: (string | number)[]): Promise<T[]>
  close(): Promise<void>
}

export function sqliteReader(file: string): RawReader {
  const db = new Database(file, { readonly: true })
  return {
    all: async <T>(query: string, ...params: (string | number)[]) => db.query<T, (string | number)[]>(query.replace(/\$\d+/g, '?')).all(...params),
    close: async () => db.close(),
  }
}

export function postgresReader(url: string): RawReader {
  const sql = new SQL(url, { max: 2 })
  return {
    all: async <T>(query: string, ...params: (string | number)[]) =>
      ((await sql.unsafe(query, params)) as Record<string, unknown>[]).map(
        (row) => Object.fromEntries(Object.entries(row).map(([k, v]) => [k, typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : v])) as T,
      ),
    close: () => sql.close(),
  }
}

/**
 * Checks the generated database through the store the server opens (a few rooms and members drawn at
 * random): each room's head and count against its rows, each member's unread and mention counts
 * against a recount after the marker, the newest history page against the rooms' columns, the search
 * index against the rows (the rare word found as often as it was written, where the reader may see it).
 */
export async function checkGenerated(store: Store, raw: RawReader, sizes: DataSizes, samples = 20): Promise<void> {
  const random = prng(99)
  const plan = new RoomPlan(sizes)
  for (let k = 0; k < samples; k++) {
    const r = Math.floor(random() * sizes.rooms)
    const room = plan.names[r]!
    const [row] = await raw.all<{ last: number; head: number; count: number }>(
      `SELECT last_message_id AS last, last_event_id AS head, message_count AS count FROM rooms WHERE name = $1`,
      room,
    )
    const [recount] = await raw.all<{ last: number | null; count: number }>(
      `SELECT max(id) AS last, count(*) AS count FROM messages WHERE room = $1 AND kind = 'message'`,
      room,
    )
    const [head] = await raw.all<{ head: number | null }>(`SELECT max(id) AS head FROM messages WHERE room = $1`, room)
    expectEqual(`room ${room}: last message, head, count`, [row?.last, row?.head, row?.count], [recount?.last ?? 0, head?.head ?? 0, recount?.count])
    const page = await store.listMessages(room, { limit: 50 })
    expectEqual(`room ${room}: newest history id`, page.at(-1)?.id ?? 0, row?.last)
    for (const u of plan.membersOf(r).slice(0, 5)) {
      const mine = (await store.listMyRooms(u)).find((m) => m.name === room)
      if (!mine) throw new Error(`generated data: user ${u} is not listed in ${room}`)
      const [expected] = await raw.all<{ unread: number }>(
        `SELECT count(*) AS unread FROM messages WHERE room = $1 AND kind = 'message' AND id > $2 AND user_id <> $3 AND NOT deleted`,
        room,
        mine.lastReadId,
        u,
      )
      const [mentions] = await raw.all<{ n: number }>(
        `SELECT count(*) AS n FROM mentions WHERE user_id = $1 AND room = $2 AND message_id > $3`,
        u,
        room,
        mine.lastReadId,
      )
      expectEqual(`user ${u} in ${room}: unread, mentions`, [mine.unread, mine.mentions], [expected?.unread, mentions?.n])
    }
  }
  // The rare word: written RARE_EVERY apart; anonymous search sees those in public rooms.
  const written = await raw.all<{ id: number; private: number | boolean }>(
    `SELECT id, private FROM messages WHERE kind = 'message' AND NOT deleted AND text LIKE '%${GROWTH_RARE_WORD}%' ORDER BY id DESC`,
  )
  expectEqual('rare word written', written.length > 0 || sizes.messages < RARE_EVERY, true)
  const visible = written.filter((w) => !w.private).map((w) => w.id)
  const found = await store.searchMessages({ q: GROWTH_RARE_WORD, userId: null, limit: 20 })
  expectEqual(
    'anonymous search of the rare word',
    found.map((m) => m.id),
    visible.slice(0, 20),
  )
}

if (import.meta.main) {
  const argv = process.argv.slice(2)
  const value = (name: string) => {
    const i = argv.indexOf(name)
    return i === -1 ? undefined : argv[i + 1]
  }
  const base = argv.includes('--smoke') ? DATA_SMOKE : DATA_FULL
  const sizes: DataSizes = {
    messages: Number(value('--messages') ?? base.messages),
    rooms: Number(value('--rooms') ?? base.rooms),
    users: Number(value('--users') ?? base.users),
  }
  const store = value('--store')
  const log = (line: string) => console.error(line)
  if (store === 'sqlite') {
    const out = value('--out')
    if (!out) throw new Error('--out <file> is required')
    const done = await generateSqlite(out, sizes, log)
    console.log(JSON.stringify(done))
    if (argv.includes('--check')) {
      const s = openSqliteStore(out)
      const raw = sqliteReader(out)
      await checkGenerated(s, raw, sizes)
      await raw.close()
      await s.close()
      console.error('check: ok')
    }
  } else if (store === 'postgres') {
    const url = value('--url')
    if (!url) throw new Error('--url <postgres://…> is required')
    const done = await generatePostgres(url, sizes, log)
    console.log(JSON.stringify(done))
    if (argv.includes('--check')) {
      const s = await openPostgresStore(url)
      const raw = postgresReader(url)
      await checkGenerated(s, raw, sizes)
      await raw.close()
      await s.close()
      console.error('check: ok')
    }
  } else {
    throw new Error('--store sqlite|postgres')
  }
}
