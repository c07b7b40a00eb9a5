/**
 * Fuzzing the WebSocket protocol (spec §3) with fast-check: random text frames, random JSON, frames
 * shaped like `message`/`ping`/other types with random `text` and `nonce` values (wrong types, empty,
 * whitespace, lone surrogates, around the 4000 and 64 code point limits), binary frames
 * and frames over 64 KiB, sent to a room by a logged-in socket and by a read-only one. The oracle is
 * the spec's rule list:
 *
 * - logged in: every text frame gets exactly one answer, a `pong` for a ping, the sender's copy of
 *   a valid message (same text and nonce), or an `error` frame MESSAGE_INVALID, and the socket
 *   stays open; a binary frame closes it with 1003 and a frame over 64 KiB with 1009;
 * - read-only: a ping gets `pong`, any other text frame closes it with 1008 READ_ONLY;
 * - the `messages` table (read back read-only with bun:sqlite) gains exactly the acknowledged
 *   messages, each stored as its copy was sent (text and nonce), and nothing else;
 * - afterwards a healthy client's message still reaches itself and a read-only observer;
 * - edit and delete frames (spec §5) with random ids (the fuzzer's live, deleted and event ids, other
 *   users' messages, random JSON) and texts: each gets exactly the answer a model of the stored rows
 *   predicts (`edited`/`deleted`, or `error` MESSAGE_INVALID / MESSAGE_NOT_FOUND / FORBIDDEN), and
 *   the rows change exactly as the accepted ones say; a read-only socket sending one is closed 1008.
 *
 * FUZZ_RUNS sets the runs per property (default 100, a few seconds in all); FUZZ_SEED=<n> replays
 * a failure reported with that seed.
 */
import { Database } from 'bun:sqlite'
import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'bun:test'
import fc from 'fast-check'
import { CLOSE, isRoomName, LIMITS, ROOM_NAME } from '../../src/protocol.ts'
import { openDbReader, type DbReader } from '../support/db-snapshot.ts'
import { register, type Account } from '../support/http.ts'
import { rawUpgrade, readJson } from '../support/raw-ws.ts'
import { startTestServer, type TestServer } from '../support/server.ts'
import { openSocket, type Frame, type TestSocket } from '../support/socket.ts'
import { frameWhere, until, withTimeout } from '../support/wait.ts'

const RUNS = Number(process.env.FUZZ_RUNS ?? 100)
const SEED = process.env.FUZZ_SEED === undefined ? undefined : Number(process.env.FUZZ_SEED)
/** Per property: a run takes a few ms here, 100 ms allowed. */
const TEST_TIMEOUT_MS = Math.max(60_000, RUNS * 100)
const FC_OPTIONS = { numRuns: RUNS, seed: SEED }

const WAIT_MS = 5_000
const ROOM = 'fuzz'
const { TEXT_MAX_LENGTH, NONCE_MAX_LENGTH, FRAME_MAX_BYTES } = LIMITS
const ISO_MS = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/

let server: TestServer
let db: DbReader
let fuzzer: Account
let healthy: Account
let healthySocket: TestSocket
let observer: TestSocket
let healthChecks = 0

const roomUrl = () => `${server.wsUrl}/api/v1/rooms/${ROOM}/messages/ws`

beforeAll(async () => {
  // The message rate limit is lifted so every valid frame is stored: the oracle then knows each answer.
  server = await startTestServer({ config: { messageRate: 1_000_000, messageBurst: 1_000_000 } })
  // The first account becomes admin (spec §5); the fuzzer must be a plain member, as the edit/delete oracle assumes.
  await register(server.url, 'root')
  fuzzer = await register(server.url, 'fuzzer')
  healthy = await register(server.url, 'healthy')
  healthySocket = await openSocket(roomUrl(), [healthy.token])
  observer = await openSocket(roomUrl())
  await Promise.all([healthySocket.next('welcome'), observer.next('welcome')])
  db = openDbReader(server.config.database)
})

afterAll(async () => {
  healthySocket?.close()
  observer?.close()
  db?.close()
  await server?.stop()
})

/** A frame to send: text as the client's WebSocket would put it on the wire, or binary. */
type Outgoing = { kind: 'text'; raw: string } | { kind: 'binary'; bytes: Uint8Array }

type Expected = { kind: 'pong' } | { kind: 'invalid' } | { kind: 'message'; text: string; nonce: string | undefined }

const codePoints = (s: string) => [...s].length

/** spec §2: a text that shows nothing: whitespace, control, format and default-ignorable characters, blank Braille. */
const showsNothing = (s: string) => /^[\p{White_Space}\p{Cc}\p{Cf}\p{Default_Ignorable_Code_Point}\u2800]*$/u.test(s)

/** spec §3's rules for one text frame from a logged-in socket. */
function expectedAnswer(raw: string): Expected {
  let value: unknown
  try {
    value = JSON.parse(raw)
  } catch {
    return { kind: 'invalid' }
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return { kind: 'invalid' }
  const frame = value as Record<string, unknown>
  if (frame.type === 'ping') return { kind: 'pong' }
  if (frame.type !== 'message') return { kind: 'invalid' }
  const { text, nonce } = frame
  // Text and nonce come back unchanged in every copy, history included, so both must be storable
  // text: well-formed (SQLite turns a lone surrogate into U+FFFD) and free of NUL (PostgreSQL refuses it).
  const storable = (s: string) => s.isWellFormed() && !s.includes('\u0000')
  if (typeof text !== 'string' || showsNothing(text) || !storable(text) || codePoints(text) > TEXT_MAX_LENGTH) return { kind: 'invalid' }
  if (nonce !== undefined && (typeof nonce !== 'string' || codePoints(nonce) > NONCE_MAX_LENGTH || !storable(nonce))) return { kind: 'invalid' }
  return { kind: 'message', text, nonce }
}

/** The copy of a message as the sender's answers and history carry it. */
const key = (text: string, nonce: string | undefined | null) => JSON.stringify([text, nonce ?? null])

/** Adds a summary as the printed form, so a counterexample with 70 000 characters stays readable. */
function labelled<T extends object>(value: T, label: string): T {
  return Object.assign(value, { [fc.toStringMethod]: () => label })
}
const preview = (s: string) => JSON.stringify(s.length > 100 ? s.slice(0, 100) + '…' : s) + (s.length > 100 ? ` (${s.length} chars)` : '')

// ---- generators -------------------------------------------------------------------------------

const anyJson = fc.jsonValue({ maxDepth: 2, stringUnit: 'binary' })
const text = fc.oneof(
  { weight: 6, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }) },
  { weight: 3, arbitrary: fc.string({ unit: 'grapheme', maxLength: 20 }) },
  {
    weight: 2,
    arbitrary: fc.constantFrom(
      '',
      ' ',
      '\n\t ',
      '\u00a0',
      '\u3000',
      '\u200b',
      '\u3164',
      '\u2060\ufeff\ufe0f',
      'hi\u200b',
      '👨\u200d👩\u200d👧',
      '\u0000',
      'a\u0000b',
      '\ud800',
      'x\udc00',
      '\ud83d\ude00',
    ),
  },
  {
    weight: 2,
    arbitrary: fc
      .tuple(fc.integer({ min: TEXT_MAX_LENGTH - 3, max: TEXT_MAX_LENGTH + 3 }), fc.constantFrom('x', '\ud83d\ude00', 'é'))
      .map(([n, c]) => c.repeat(n)),
  },
  { weight: 2, arbitrary: anyJson },
)
const nonce = fc.option(
  fc.oneof(
    { weight: 5, arbitrary: fc.string({ unit: 'binary', maxLength: 70 }) },
    { weight: 2, arbitrary: fc.integer({ min: NONCE_MAX_LENGTH - 2, max: NONCE_MAX_LENGTH + 2 }).map((n) => 'n'.repeat(n)) },
    { weight: 1, arbitrary: fc.constantFrom('', '\ud800', 'a\udfff', '\ud83d\ude00'.repeat(32), '\ud83d\ude00'.repeat(33)) },
    { weight: 2, arbitrary: anyJson },
  ),
  { nil: undefined, freq: 3 },
)
const type = fc.oneof(
  { weight: 8, arbitrary: fc.constant('message') },
  { weight: 2, arbitrary: fc.constant('ping') },
  { weight: 2, arbitrary: fc.constantFrom('MESSAGE', 'Ping', 'pong', 'welcome', 'join', 'error', '', 'message ') },
  { weight: 1, arbitrary: anyJson },
)
/** Shaped like a protocol frame: some keys missing, hostile or extra keys beside them. */
const shaped = fc
  .record(
    {
      type,
      text,
      nonce,
      extra: fc.dictionary(fc.oneof(fc.constantFrom('__proto__', 'constructor', 'id', 'user', 'room', 'ts'), fc.string({ maxLength: 6 })), anyJson, {
        maxKeys: 2,
      }),
    },
    { requiredKeys: ['type'] },
  )
  .map(({ extra, ...frame }) => {
    // Extras first, so a duplicate key is overridden by the frame's own (as JSON.parse keeps the last).
    const entries = [...Object.entries(extra ?? {}), ...Object.entries(frame)].filter(([, v]) => v !== undefined)
    return '{' + entries.map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`).join(',') + '}'
  })

const textFrame: fc.Arbitrary<Outgoing> = fc
  .oneof(
    { weight: 12, arbitrary: shaped },
    { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 60 }) },
    { weight: 2, arbitrary: fc.json({ stringUnit: 'binary', maxDepth: 3 }) },
    { weight: 1, arbitrary: fc.constantFrom('{"type":"ping"}', '{"type":"ping","text":1}', 'null', '[]', '"message"', '{"type":"message"', '{}') },
    { weight: 1, arbitrary: fc.integer({ min: 1, max: 2000 }).map((n) => '['.repeat(n) + ']'.repeat(n)) },
  )
  // What the client's WebSocket sends: a text frame is UTF-8, so a lone surrogate goes out as U+FFFD.
  .map((raw) => labelled<Outgoing>({ kind: 'text', raw: raw.toWellFormed() }, preview(raw.toWellFormed())))
const closingFrame: fc.Arbitrary<Outgoing> = fc.oneof(
  fc.uint8Array({ maxLength: 40 }).map((bytes) => labelled<Outgoing>({ kind: 'binary', bytes }, `<binary ${bytes.length} bytes>`)),
  fc
    .integer({ min: FRAME_MAX_BYTES + 1, max: FRAME_MAX_BYTES + 1024 })
    .map((n) => labelled<Outgoing>({ kind: 'text', raw: JSON.stringify({ type: 'message', text: 'x'.repeat(n) }) }, `<text frame over 64 KiB: ${n}>`)),
)
/** One to six text frames, sometimes ending in a frame that closes the socket. */
const session = fc
  .tuple(fc.array(textFrame, { minLength: 1, maxLength: 6 }), fc.option(closingFrame, { nil: undefined, freq: 6 }))
  .map(([frames, last]) => (last ? [...frames, last] : frames))

// ---- checks -----------------------------------------------------------------------------------

function send(socket: TestSocket, frame: Outgoing): void {
  socket.sendRaw(frame.kind === 'text' ? frame.raw : frame.bytes)
}

/** The close a frame causes (spec §3), or undefined for a text frame within the size limit. */
function closeCodeOf(frame: Outgoing): number | undefined {
  if (frame.kind === 'binary') return CLOSE.BINARY_UNSUPPORTED.code
  return Buffer.byteLength(frame.raw) > FRAME_MAX_BYTES ? CLOSE.TOO_LARGE.code : undefined
}

/** The healthy client posts; the message comes back to it and reaches the read-only observer. */
async function expectHealthy(): Promise<void> {
  const nonce = `healthy-${++healthChecks}`
  healthySocket.send({ type: 'message', text: 'still here', nonce })
  const isIt = (f: Frame) => f.type === 'message' && f.data.nonce === nonce
  await Promise.all([frameWhere(healthySocket, isIt, WAIT_MS, `healthy echo ${nonce}`), frameWhere(observer, isIt, WAIT_MS, `observer copy of ${nonce}`)])
}

/** Rows present before a property, by content: compared once per property, as hashing every row is O(table). */
let digestBefore = { digest: '', lastMessageId: 0 }
beforeEach(() => {
  const { lastMessageId } = db.counts()
  digestBefore = { digest: db.digest(lastMessageId), lastMessageId }
})
/** Users, and the messages stored before the property began, are exactly as they were. */
function digestsUnchanged(): void {
  expect(db.digest(digestBefore.lastMessageId)).toBe(digestBefore.digest)
}

describe('WebSocket fuzzing', () => {
  test(
    'a logged-in socket gets one answer per frame and only valid messages are stored, as acknowledged',
    async () => {
      await fc.assert(
        fc.asyncProperty(session, async (frames) => {
          const before = db.counts()
          const socket = await openSocket(roomUrl(), [fuzzer.token])
          try {
            await socket.next('welcome')
            const expected: Expected[] = []
            let closeCode: number | undefined
            for (const frame of frames) {
              send(socket, frame)
              closeCode = closeCodeOf(frame)
              if (closeCode !== undefined) break
              expected.push(expectedAnswer((frame as { raw: string }).raw))
            }
            const isAnswer = (f: Frame) => f.type === 'pong' || f.type === 'error' || (f.type === 'message' && f.data.user.id === fuzzer.user.id)
            if (closeCode === undefined) {
              // Every frame is answered, in some order: errors and pongs at once, copies after the commit.
              let answers = 0
              await frameWhere(socket, (f) => isAnswer(f) && ++answers === expected.length, WAIT_MS, `${expected.length} answers`)
            } else {
              expect(await withTimeout(socket.closed, WAIT_MS, `close ${closeCode}`)).toMatchObject({ code: closeCode })
            }
            const answers = socket.frames.filter(isAnswer)
            const pongs = answers.filter((f) => f.type === 'pong')
            const errors = answers.filter((f) => f.type === 'error')
            const copies = answers.filter((f) => f.type === 'message')
            const wanted = expected.filter((e) => e.kind === 'message').map((e) => key(e.text, e.nonce))

            for (const f of errors) expect(f).toEqual({ type: 'error', error: { type: 'MESSAGE_INVALID', message: expect.any(String) }, data: null })
            for (const f of copies) {
              expect(Object.keys(f.data).sort()).toEqual(
                f.data.nonce === undefined ? ['id', 'room', 'text', 'ts', 'user'] : ['id', 'nonce', 'room', 'text', 'ts', 'user'],
              )
              expect(f.data).toMatchObject({ room: ROOM, user: fuzzer.user, ts: expect.stringMatching(ISO_MS) })
            }
            if (closeCode === undefined) {
              expect(pongs.length).toBe(expected.filter((e) => e.kind === 'pong').length)
              expect(errors.length).toBe(expected.filter((e) => e.kind === 'invalid').length)
              expect(copies.map((f) => key(f.data.text, f.data.nonce)).sort()).toEqual(wanted.sort())
            } else {
              // The close may overtake copies of messages stored just before it; each copy is still one of ours.
              for (const f of copies) expect(wanted).toContain(key(f.data.text, f.data.nonce))
            }

            // Storage: the acknowledged messages, as acknowledged; after a close, possibly more of the valid ones.
            const added = db.messagesAfter(before.lastMessageId)
            // Ids only grow, so equal counts mean no row was added below, or removed; `digestsUnchanged` checks contents.
            expect(db.counts()).toEqual({ ...before, messages: before.messages + added.length, lastMessageId: added.at(-1)?.id ?? before.lastMessageId })
            for (const row of added)
              expect({ room: row.room, user: row.user_id, username: row.username }).toEqual({ room: ROOM, user: fuzzer.user.id, username: 'fuzzer' })
            const stored = new Map(added.map((row) => [row.id, key(row.text, row.nonce)]))
            for (const f of copies) expect(stored.get(f.data.id)).toBe(key(f.data.text, f.data.nonce))
            if (closeCode === undefined) expect(added.length).toBe(copies.length)
            else for (const k of stored.values()) expect(wanted).toContain(k)
            if (closeCode === undefined) expect(socket.ws.readyState).toBe(WebSocket.OPEN)
          } finally {
            socket.close()
          }
          await expectHealthy()
        }),
        FC_OPTIONS,
      )
      digestsUnchanged()
    },
    TEST_TIMEOUT_MS,
  )

  test(
    'a read-only socket: ping gets pong, any other frame closes it with 1008 READ_ONLY, nothing is stored',
    async () => {
      await fc.assert(
        fc.asyncProperty(session, async (frames) => {
          const before = db.counts()
          const socket = await openSocket(roomUrl())
          try {
            await socket.next('welcome')
            let pongs = 0
            let closeCode: number | undefined
            for (const frame of frames) {
              send(socket, frame)
              closeCode = closeCodeOf(frame)
              if (closeCode === undefined && expectedAnswer((frame as { raw: string }).raw).kind !== 'pong') closeCode = CLOSE.READ_ONLY.code
              if (closeCode !== undefined) break
              pongs++
            }
            if (closeCode === undefined) {
              let seen = 0
              await frameWhere(socket, (f) => f.type === 'pong' && ++seen === pongs, WAIT_MS, `${pongs} pongs`)
            } else {
              const closed = await withTimeout(socket.closed, WAIT_MS, `close ${closeCode}`)
              // Bun sends 1009 itself, with its own reason text.
              const reason = [CLOSE.BINARY_UNSUPPORTED, CLOSE.READ_ONLY].find((c) => c.code === closeCode)?.reason ?? expect.any(String)
              expect(closed).toEqual({ code: closeCode, reason })
            }
            // Only pongs: no error frames, no copies (presence frames of other users aside).
            const answers = socket.frames.slice(1).filter((f) => f.type !== 'join' && f.type !== 'leave')
            expect(answers.map((f) => f.type)).toEqual(Array(answers.length).fill('pong'))
            expect(db.counts()).toEqual(before)
          } finally {
            socket.close()
          }
          await expectHealthy()
        }),
        FC_OPTIONS,
      )
      digestsUnchanged()
    },
    TEST_TIMEOUT_MS,
  )

  const roomSegment = fc.oneof(
    fc.stringMatching(ROOM_NAME),
    fc.string({ unit: 'binary', maxLength: 70 }).map(encodeURIComponent),
    fc.constantFrom('', '-x', '_x', 'a'.repeat(64), 'a'.repeat(65), '%ZZ', 'a%2Fb', 'lobby%00', '%41bc'),
  )
  const since = fc.option(fc.oneof(fc.nat().map(String), fc.constantFrom('', '-1', '1e3', '0x1', '9007199254740991', '9007199254740992', 'abc', '%ZZ')), {
    nil: undefined,
  })

  /** spec §3: 1-64 of A-Z a-z 0-9 . _ -, starting with a letter or digit; `since` a whole number. */
  function upgradeVerdict(segment: string, sinceParam: string | null): 'ok' | 'ROOM_INVALID' | 'BAD_QUERY' {
    let room: string
    try {
      room = decodeURIComponent(segment)
    } catch {
      return 'ROOM_INVALID'
    }
    if (!isRoomName(room)) return 'ROOM_INVALID'
    if (sinceParam === null) return 'ok'
    return /^\d{1,16}$/.test(sinceParam) && Number(sinceParam) <= Number.MAX_SAFE_INTEGER ? 'ok' : 'BAD_QUERY'
  }

  // spec §3: a bad room is 400 ROOM_INVALID before the upgrade; a bad ?since= is 400 BAD_QUERY.
  test(
    'random room names and ?since= values are upgraded with a welcome or refused with a 400 envelope',
    async () => {
      await fc.assert(
        fc.asyncProperty(roomSegment, since, async (segment, s) => {
          const url = `${server.wsUrl}/api/v1/rooms/${segment}/messages/ws${s === undefined ? '' : `?since=${s}`}`
          // Only URLs that reach the route as written ("." and ".." segments are resolved by the URL parser).
          fc.pre(URL.canParse(url) && new URL(url).pathname === `/api/v1/rooms/${segment}/messages/ws`)
          const verdict = upgradeVerdict(segment, new URL(url).searchParams.get('since'))
          const socket = await withTimeout(rawUpgrade(url), WAIT_MS, `the upgrade answer for ${url}`)
          try {
            const { status, headers, body } = socket.response
            if (verdict === 'ok') {
              expect(status).toBe(101)
              await until(() => socket.frames.length > 0, WAIT_MS, 'the welcome frame')
              expect(readJson(socket.frames[0]!)).toMatchObject({ type: 'welcome', error: null })
            } else {
              expect({ status, type: headers['content-type'], body }).toEqual({
                status: 400,
                type: 'application/json; charset=utf-8',
                body: { error: { type: verdict, message: expect.any(String) }, data: null },
              })
            }
          } finally {
            socket.destroy()
          }
        }),
        { ...FC_OPTIONS, numRuns: Math.max(1, Math.ceil(RUNS / 2)) },
      )
      await expectHealthy()
    },
    TEST_TIMEOUT_MS,
  )
})

// ---- edit and delete (spec §5) ------------------------------------------------------------------

/** A stored row of the fuzz room as the oracle models it. */
interface Row {
  id: number
  user_id: number
  kind: string
  target_id: number | null
  text: string
  nonce: string | null
  edited_at: number | null
  deleted: number
}

function readRows(): Map<number, Row> {
  const reader = new Database(server.config.database, { readonly: true })
  try {
    const rows = reader
      .query<Row, [string]>('SELECT id, user_id, kind, target_id, text, nonce, edited_at, deleted FROM messages WHERE room = ? ORDER BY id')
      .all(ROOM)
    return new Map(rows.map((r) => [r.id, r]))
  } finally {
    reader.close()
  }
}

/** Which id a change frame names: picked at run time from the stored rows, or a raw JSON value. */
const idSpec = fc.oneof(
  { weight: 4, arbitrary: fc.record({ pick: fc.constantFrom('own', 'other', 'gone', 'event'), n: fc.nat() }) },
  { weight: 2, arbitrary: fc.record({ raw: fc.oneof(fc.constantFrom(0, -1, 1.5, 999_999_999, 2 ** 53, '1', null, true), anyJson) }) },
  { weight: 1, arbitrary: fc.constant({ absent: true }) },
)
const changeSpec = fc.record(
  {
    type: fc.constantFrom('edit', 'delete', 'edit', 'delete', 'Edit', 'remove'),
    id: idSpec,
    text,
    extra: fc.dictionary(fc.constantFrom('nonce', 'room', 'user', 'messageId'), anyJson, { maxKeys: 1 }),
  },
  { requiredKeys: ['type', 'id'] },
)

type ChangeSpec = typeof changeSpec extends fc.Arbitrary<infer T> ? T : never
type Answer = { kind: 'error'; type: string } | { kind: 'edited'; messageId: number; text: string } | { kind: 'deleted'; messageId: number }

/** The frame a spec becomes against the rows stored now. */
function resolveFrame(spec: ChangeSpec, rows: Map<number, Row>): string {
  const all = [...rows.values()]
  const pool = {
    own: all.filter((r) => r.kind === 'message' && !r.deleted && r.user_id === fuzzer.user.id),
    other: all.filter((r) => r.kind === 'message' && !r.deleted && r.user_id !== fuzzer.user.id),
    gone: all.filter((r) => r.kind === 'message' && r.deleted),
    event: all.filter((r) => r.kind !== 'message'),
  }
  let id: unknown
  if ('pick' in spec.id) {
    const from = pool[spec.id.pick as keyof typeof pool]
    id = from.length === 0 ? 999_999_999 : from[spec.id.n % from.length]!.id
  } else if ('raw' in spec.id) id = spec.id.raw
  const frame: Record<string, unknown> = { ...spec.extra, type: spec.type }
  if (id !== undefined) frame.id = id
  if (spec.text !== undefined) frame.text = spec.text
  return JSON.stringify(frame).toWellFormed()
}

/** spec §3, §5: the answer to one frame, given the rows as the earlier frames of the run left them (updated here). */
function expectedChange(raw: string, rows: Map<number, Row>): Answer {
  const frame = JSON.parse(raw) as Record<string, unknown>
  const invalid = { kind: 'error', type: 'MESSAGE_INVALID' } as const
  if (frame.type !== 'edit' && frame.type !== 'delete') return invalid
  const id = frame.id
  if (typeof id !== 'number' || !Number.isSafeInteger(id) || id < 1) return invalid
  if (frame.type === 'edit') {
    const t = frame.text
    const storable = (s: string) => s.isWellFormed() && !s.includes('\u0000')
    if (typeof t !== 'string' || showsNothing(t) || !storable(t) || codePoints(t) > TEXT_MAX_LENGTH) return invalid
  }
  const row = rows.get(id)
  if (!row || row.kind !== 'message' || row.deleted) return { kind: 'error', type: 'MESSAGE_NOT_FOUND' }
  if (row.user_id !== fuzzer.user.id) return { kind: 'error', type: 'FORBIDDEN' }
  if (frame.type === 'edit') {
    rows.set(id, { ...row, text: frame.text as string, edited_at: 1 })
    return { kind: 'edited', messageId: id, text: frame.text as string }
  }
  rows.set(id, { ...row, text: '', nonce: null, edited_at: null, deleted: 1 })
  for (const r of rows.values()) if (r.kind === 'edited' && r.target_id === id) rows.set(r.id, { ...r, text: '', deleted: 1 })
  return { kind: 'deleted', messageId: id }
}

const toAnswer = (f: Frame): Answer =>
  f.type === 'error'
    ? { kind: 'error', type: f.error!.type }
    : f.type === 'edited'
      ? { kind: 'edited', messageId: f.data.messageId, text: f.data.text }
      : { kind: 'deleted', messageId: f.data.messageId }
const sortKey = (a: Answer) => JSON.stringify(a)

describe('WebSocket fuzzing: edit and delete', () => {
  test(
    'each edit or delete frame gets the answer the stored rows predict, and the rows change only as the accepted ones say',
    async () => {
      await fc.assert(
        fc.asyncProperty(fc.array(changeSpec, { minLength: 1, maxLength: 6 }), async (specs) => {
          const socket = await openSocket(roomUrl(), [fuzzer.token])
          try {
            await socket.next('welcome')
            // Something of the fuzzer's own to change in every run.
            socket.send({ type: 'message', text: 'fuzz target', nonce: 'target' })
            await frameWhere(socket, (f) => f.type === 'message' && f.data.nonce === 'target', WAIT_MS, 'the target message')
            const before = readRows()
            const model = new Map(before)
            const frames = specs.map((spec) => resolveFrame(spec, before))
            const expected = frames.map((raw) => expectedChange(raw, model))
            for (const raw of frames) socket.sendRaw(raw)
            const isAnswer = (f: Frame) => f.type === 'error' || f.type === 'edited' || f.type === 'deleted'
            let answered = 0
            await frameWhere(socket, (f) => isAnswer(f) && ++answered === frames.length, WAIT_MS, `${frames.length} answers`)
            const answers = socket.frames.filter(isAnswer).map(toAnswer)
            expect(answers.map(sortKey).sort()).toEqual(expected.map(sortKey).sort())
            // Accepted changes go out in the order they were sent (one stream, one sender).
            expect(answers.filter((a) => a.kind !== 'error')).toEqual(expected.filter((a) => a.kind !== 'error'))
            expect(socket.ws.readyState).toBe(WebSocket.OPEN)

            // The rows: the earlier ones as the model left them (edited_at only set or not), plus one event row per accepted change.
            const after = readRows()
            const comparable = (r: Row) => ({ ...r, edited_at: r.edited_at === null ? null : 'set' })
            for (const [id, row] of before) expect(comparable(after.get(id)!)).toEqual(comparable(model.get(id)!))
            const accepted = expected.filter((a) => a.kind !== 'error')
            const added = [...after.values()].filter((r) => !before.has(r.id))
            expect(added.map((r) => ({ kind: r.kind, target: r.target_id, user: r.user_id }))).toEqual(
              accepted.map((a) => ({ kind: a.kind, target: a.messageId, user: fuzzer.user.id })),
            )
          } finally {
            socket.close()
          }
          await expectHealthy()
        }),
        FC_OPTIONS,
      )
    },
    TEST_TIMEOUT_MS,
  )

  test(
    'a read-only socket sending an edit or delete frame is closed 1008 READ_ONLY, and nothing changes',
    async () => {
      await fc.assert(
        fc.asyncProperty(changeSpec, async (spec) => {
          const before = readRows()
          const socket = await openSocket(roomUrl())
          try {
            await socket.next('welcome')
            socket.sendRaw(resolveFrame(spec, before))
            expect(await withTimeout(socket.closed, WAIT_MS, 'close 1008')).toEqual({ code: CLOSE.READ_ONLY.code, reason: CLOSE.READ_ONLY.reason })
            expect(readRows()).toEqual(before)
          } finally {
            socket.close()
          }
        }),
        { ...FC_OPTIONS, numRuns: Math.max(1, Math.ceil(RUNS / 2)) },
      )
      await expectHealthy()
    },
    TEST_TIMEOUT_MS,
  )
})
