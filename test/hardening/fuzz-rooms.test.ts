/**
 * Fuzzing spec §6 with fast-check, on a real server and SQLite file: random methods, paths (room
 * names valid, invalid, private, DM-shaped; usernames; ids), bodies (random JSON, objects shaped
 * like each endpoint's with wrong values, text that is not JSON) and tokens (an outsider's, a
 * member's, none, a bad one) against the endpoints of private rooms, DMs, members, "my rooms" and
 * read markers; random `read` / `typing` frames on a room socket; random frames on the user stream;
 * and `read` / `typing` from read-only sockets. The oracle:
 *
 * - HTTP: never a 5xx, always the envelope (`{"error","data"}`, JSON content type; a 204 has no
 *   body), `error` an UPPER_SNAKE type with a message exactly when the status is 4xx;
 * - a refused request (4xx) stores nothing: the rooms, memberships, mentions, messages, audit and
 *   users tables, read back read-only with bun:sqlite, are unchanged;
 * - room socket: a `read` with a whole-number id ≥ 1 and a `typing` get no answer, anything else an
 *   `error` MESSAGE_INVALID; the socket stays open; the read marker only moves forward and never
 *   past the room's newest message;
 * - user stream: `ping` gets `pong`, anything else MESSAGE_INVALID, and it stays open;
 * - read-only room socket: any `read` or `typing` closes it 1008 READ_ONLY;
 * - afterwards the server still serves a member's message and the outsider still gets 404.
 *
 * FUZZ_RUNS sets the runs per property (default 150); FUZZ_SEED=<n> replays a reported failure.
 */
import { Database } from 'bun:sqlite'
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import fc from 'fast-check'
import { CLOSE } from '../../src/protocol.ts'
import { dmName } from '../../src/protocol-rooms.ts'
import type { Account } from '../support/http.ts'
import { addMember, cast, connectRoom, createRoom, openUserStream, sync, WAIT_MS } from '../support/private-rooms.ts'
import { post, roomWs } from '../support/rooms.ts'
import { startTestServer, type TestServer } from '../support/server.ts'
import { openSocket, type TestSocket } from '../support/socket.ts'
import { frameWhere, withTimeout } from '../support/wait.ts'

const RUNS = Number(process.env.FUZZ_RUNS ?? 150)
const SEED = process.env.FUZZ_SEED === undefined ? undefined : Number(process.env.FUZZ_SEED)
const TEST_TIMEOUT_MS = Math.max(60_000, RUNS * 100)
const FC_OPTIONS = { numRuns: RUNS, seed: SEED, endOnFailure: false }
const REQUEST_TIMEOUT_MS = 5_000
const JSON_TYPE = 'application/json; charset=utf-8'

let server: TestServer
let db: Database
let alice: Account
let bob: Account
let fuzzer: Account
let dave: Account
let dm: string
let bobSocket: TestSocket
let aliceSocket: TestSocket

/** The tables a refused request must leave as they were. */
const TABLES = ['users', 'rooms', 'room_members', 'mentions', 'messages', 'audit']

/** Every row of each table, as a sorted list (room_members has no rowid to order by: it is WITHOUT ROWID). */
function snapshot(): string {
  return JSON.stringify(
    TABLES.map((t) =>
      db
        .query<Record<string, unknown>, []>(`SELECT * FROM ${t}`)
        .all()
        .map((row) => JSON.stringify(row))
        .sort(),
    ),
  )
}

beforeAll(async () => {
  server = await startTestServer({ config: { messageRate: 1_000_000, messageBurst: 1_000_000 } })
  // root is the admin (the first account); the fuzzer is a plain member and in no private room.
  ;[, alice, bob, fuzzer, dave] = (await cast(server, 'root', 'alice', 'bob', 'fuzzer', 'dave')) as [Account, Account, Account, Account, Account]
  await createRoom(server, alice, 'secret', 'private', 'plans')
  await addMember(server, alice, 'secret', 'bob')
  // dave is the member whose token the HTTP fuzz uses (he may leave); bob keeps his socket for the frame fuzz.
  await addMember(server, alice, 'secret', 'dave')
  dm = dmName(alice.user.id, bob.user.id)
  const opened = await fetch(`${server.url}/api/v1/dms`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${alice.token}` },
    body: JSON.stringify({ username: 'bob' }),
  })
  expect(opened.status).toBe(200)
  aliceSocket = await connectRoom(server, 'secret', alice)
  bobSocket = await connectRoom(server, 'secret', bob)
  for (let i = 0; i < 5; i++) await post(aliceSocket, `secret ${i} @bob`)
  // A message makes lobby public for good: the HTTP fuzz may try to register it private (409), and the
  // read-only socket test below relies on it staying public whatever the fuzz did before.
  const lobby = await connectRoom(server, 'lobby', alice)
  await post(lobby, 'lobby stays public')
  lobby.close()
  db = new Database(server.config.database, { readonly: true })
})

afterAll(async () => {
  aliceSocket?.close()
  bobSocket?.close()
  db?.close()
  await server?.stop()
})

// ---- generators -------------------------------------------------------------------------------

const validRoom = fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._-]{0,20}$/)
const room = fc.oneof(
  fc.constantFrom('secret', 'lobby', 'dm.1.2', 'dm.x', 'dm.', 'Secret', 'x'.repeat(64), 'x'.repeat(65), '-x', '.', '..', '%2e%2e', 'a%20b', '%00', '%ZZ'),
  fc.constant('<dm>'),
  validRoom,
  validRoom.map((r) => `dm.${r}`),
  fc.string({ maxLength: 10 }).map(encodeURIComponent),
)
const username = fc.oneof(
  fc.constantFrom('alice', 'bob', 'BOB', 'fuzzer', 'root', 'nobody', '%20', 'a%2Fb'),
  fc.string({ maxLength: 12 }).map(encodeURIComponent),
)
const messageId = fc.oneof(fc.integer({ min: -2, max: 100 }).map(String), fc.constantFrom('abc', '0', '007', '1e3', '99999999999999999'))
const method = fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS')
/** Each endpoint with the methods it serves (used five times in six) and its path's generator. */
const endpoints: [string[], fc.Arbitrary<string>][] = [
  [['POST', 'GET'], fc.constant('/api/v1/rooms')],
  [['POST'], fc.constant('/api/v1/dms')],
  [['GET'], fc.constant('/api/v1/users/me/rooms')],
  [['GET'], fc.constant('/api/v1/users/me/ws')],
  [['GET'], room.map((r) => `/api/v1/rooms/${r}`)],
  [['GET'], room.map((r) => `/api/v1/rooms/${r}/members`)],
  [['PUT', 'DELETE'], fc.tuple(room, username).map(([r, u]) => `/api/v1/rooms/${r}/members/${u}`)],
  [['DELETE'], fc.tuple(room, messageId).map(([r, id]) => `/api/v1/rooms/${r}/messages/${id}`)],
  [['GET'], fc.tuple(room, fc.constantFrom('', '?limit=2', '?before=3', '?limit=0', '?before=x')).map(([r, q]) => `/api/v1/rooms/${r}/messages${q}`)],
  [['PUT', 'DELETE'], room.map((r) => `/api/v1/users/me/rooms/${r}`)],
  [['PUT'], room.map((r) => `/api/v1/users/me/rooms/${r}/read`)],
  [['GET', 'PUT'], fc.tuple(room, fc.string({ maxLength: 8 })).map(([r, extra]) => `/api/v1/rooms/${r}/${encodeURIComponent(extra)}`)],
]
const request = fc.oneof(
  ...endpoints.map(([methods, path]) => fc.tuple(fc.oneof({ weight: 5, arbitrary: fc.constantFrom(...methods) }, { weight: 1, arbitrary: method }), path)),
)
const anyJson = fc.jsonValue({ maxDepth: 2 })
const body = fc.oneof(
  fc.constant(undefined),
  anyJson.map((v) => JSON.stringify(v)),
  fc
    .record(
      {
        name: fc.oneof(room, anyJson),
        visibility: fc.oneof(fc.constantFrom('public', 'private', 'PRIVATE', ''), anyJson),
        topic: fc.option(fc.oneof(fc.string({ maxLength: 300 }), anyJson)),
      },
      { requiredKeys: [] },
    )
    .map((v) => JSON.stringify(v)),
  fc
    .record({
      name: fc.oneof(validRoom, fc.constantFrom('secret', 'lobby', 'dm.x', 'dm.1.2')),
      visibility: fc.constantFrom('public', 'private'),
      topic: fc.option(fc.string({ maxLength: 260 }), { nil: undefined }),
    })
    .map((v) => JSON.stringify(v)),
  fc.record({ username: fc.oneof(username, anyJson) }, { requiredKeys: [] }).map((v) => JSON.stringify(v)),
  fc.record({ id: fc.oneof(fc.integer({ min: -5, max: 200 }), fc.double(), anyJson) }, { requiredKeys: [] }).map((v) => JSON.stringify(v)),
  fc.string({ maxLength: 40 }),
)
const who = fc.oneof(
  { weight: 3, arbitrary: fc.constant('fuzzer') },
  { weight: 3, arbitrary: fc.constant('dave') },
  { weight: 1, arbitrary: fc.constantFrom('none', 'bad') },
)

function tokenOf(w: string): string | undefined {
  return w === 'fuzzer' ? fuzzer.token : w === 'dave' ? dave.token : w === 'bad' ? 'not.a.token' : undefined
}

describe('fuzzing spec §6', () => {
  test(
    'HTTP: never a 5xx, always the envelope, and a refusal stores nothing',
    async () => {
      await fc.assert(
        fc.asyncProperty(request, body, who, async ([m, p], b, w) => {
          const target = p.replaceAll('<dm>', dm)
          const token = tokenOf(w)
          const before = snapshot()
          const res = await fetch(`${server.url}${target}`, {
            method: m,
            headers: token === undefined ? {} : { Authorization: `Bearer ${token}` },
            ...(b === undefined || m === 'GET' || m === 'HEAD' ? {} : { body: b }),
            signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
          })
          const text = await res.text()
          const what = `${m} ${target} as ${w} with ${JSON.stringify(b)} → ${res.status} ${text}`
          expect(res.status, what).toBeLessThan(500)
          if (res.status === 204 || m === 'HEAD') {
            expect(text, what).toBe('')
          } else {
            expect(res.headers.get('content-type'), what).toBe(JSON_TYPE)
            const envelope = JSON.parse(text)
            expect(Object.keys(envelope).sort(), what).toEqual(['data', 'error'])
            if (res.status >= 400) {
              expect(envelope, what).toEqual({ error: { type: expect.stringMatching(/^[A-Z][A-Z_]*$/), message: expect.any(String) }, data: null })
              expect(envelope.error.message.length, what).toBeGreaterThan(0)
            } else {
              expect(envelope.error, what).toBeNull()
              expect(envelope.data, what).not.toBeNull()
            }
          }
          if (res.status >= 400) expect(snapshot(), `${what} changed the database`).toBe(before)
          // Whatever happened, an outsider still sees no private room.
          if (w === 'fuzzer' && /^\/api\/v1\/rooms\/secret(\/messages|\/members)?$/.test(target) && m === 'GET') expect(res.status, what).toBe(404)
        }),
        FC_OPTIONS,
      )
    },
    TEST_TIMEOUT_MS,
  )

  test(
    'room socket: read and typing frames, random ids and junk: the one answer the rules predict, the marker only forward',
    async () => {
      const newest = () => (db.query(`SELECT max(id) AS id FROM messages WHERE room = 'secret'`).get() as { id: number }).id
      const marker = () => (db.query(`SELECT last_read_id AS id FROM room_members WHERE room = 'secret' AND user_id = ?`).get(bob.user.id) as { id: number }).id
      const idValue = fc.oneof(
        { weight: 4, arbitrary: fc.integer({ min: -3, max: 400 }) },
        { weight: 1, arbitrary: fc.double({ min: -1000, max: 1000, noNaN: true }) },
        { weight: 1, arbitrary: fc.oneof(fc.string({ maxLength: 5 }), fc.boolean(), fc.constant(null), fc.array(fc.integer(), { maxLength: 2 })) },
      )
      const frame = fc.oneof(
        idValue.map((id) => ({ raw: JSON.stringify({ type: 'read', id }), valid: Number.isInteger(id) && (id as number) >= 1 })),
        fc.constant({ raw: JSON.stringify({ type: 'read' }), valid: false }),
        fc.constant({ raw: JSON.stringify({ type: 'typing' }), valid: true }),
        fc.constantFrom('{"type":"read","id":', 'typing', '{"type":"TYPING"}', '{"type":"Read","id":1}', '[]', 'null').map((raw) => ({ raw, valid: false })),
      )
      await fc.assert(
        fc.asyncProperty(fc.array(frame, { minLength: 1, maxLength: 6 }), async (frames) => {
          const errorsBefore = bobSocket.frames.filter((f) => f.type === 'error').length
          const lastBefore = marker()
          for (const f of frames) bobSocket.sendRaw(f.raw)
          await sync(bobSocket)
          const errors = bobSocket.frames.filter((f) => f.type === 'error').slice(errorsBefore)
          expect(errors.map((f) => f.error!.type)).toEqual(frames.filter((f) => !f.valid).map(() => 'MESSAGE_INVALID'))
          // Markers are written after the frame is handled: wait until the highest valid read is in.
          const reads = frames.filter((f) => f.valid && f.raw.includes('"read"')).map((f) => JSON.parse(f.raw).id as number)
          const expected = Math.max(lastBefore, Math.min(newest(), Math.max(0, ...reads)))
          await withTimeout(
            (async () => {
              while (marker() !== expected) await Bun.sleep(5)
            })(),
            WAIT_MS,
            `bob's marker to reach ${expected}`,
          )
          expect(marker()).toBeLessThanOrEqual(newest())
        }),
        { ...FC_OPTIONS, numRuns: Math.ceil(RUNS / 2) },
      )
      // Still a working room.
      const m = await post(aliceSocket, 'after the fuzz')
      await frameWhere(bobSocket, (f) => f.type === 'message' && f.data.id === m.id, WAIT_MS, 'the message after the fuzz')
    },
    TEST_TIMEOUT_MS,
  )

  test(
    'user stream: ping gets pong, any other frame MESSAGE_INVALID, and it stays open',
    async () => {
      const { stream } = await openUserStream(server, bob)
      try {
        const frame = fc.oneof(
          fc.jsonValue({ maxDepth: 2 }).map((v) => JSON.stringify(v)),
          fc
            .record(
              { type: fc.constantFrom('read', 'typing', 'message', 'welcome', 'Ping', 'mention'), id: fc.integer(), text: fc.string() },
              { requiredKeys: ['type'] },
            )
            .map((v) => JSON.stringify(v)),
          fc.string({ maxLength: 20 }),
          fc.constant('{"type":"ping"}'),
        )
        await fc.assert(
          fc.asyncProperty(frame, async (raw) => {
            const from = stream.frames.length
            const isPing = raw === '{"type":"ping"}'
            stream.sendRaw(raw)
            stream.send({ type: 'ping' })
            const pongs = () => stream.frames.slice(from).filter((f) => f.type === 'pong').length
            await frameWhere(stream, () => pongs() >= (isPing ? 2 : 1), WAIT_MS, `the pong after ${JSON.stringify(raw)}`)
            const answers = stream.frames.slice(from).map((f) => (f.type === 'error' ? f.error!.type : f.type))
            expect({ raw, answers }).toEqual({ raw, answers: isPing ? ['pong', 'pong'] : ['MESSAGE_INVALID', 'pong'] })
          }),
          { ...FC_OPTIONS, numRuns: Math.ceil(RUNS / 2) },
        )
      } finally {
        stream.close()
      }
    },
    TEST_TIMEOUT_MS,
  )

  test(
    'read-only socket: any read or typing frame closes it 1008 READ_ONLY',
    async () => {
      const frame = fc.oneof(
        fc.integer({ min: -3, max: 50 }).map((id) => ({ type: 'read', id })),
        fc.constant({ type: 'typing' }),
        fc.anything({ maxDepth: 1 }).map((junk) => ({ type: 'read', id: junk })),
      )
      await fc.assert(
        fc.asyncProperty(frame, fc.constant('lobby'), async (f, r) => {
          const reader = await openSocket(roomWs(server, r))
          try {
            await reader.next('welcome')
            reader.send(f)
            expect(await withTimeout(reader.closed, WAIT_MS, 'the read-only socket to close')).toEqual(CLOSE.READ_ONLY)
          } finally {
            reader.close()
          }
        }),
        { ...FC_OPTIONS, numRuns: Math.ceil(RUNS / 5) },
      )
    },
    TEST_TIMEOUT_MS,
  )
})
