/**
 * Fuzzing the HTTP API (spec §1, §2) with fast-check: random and malformed bodies (bytes that are
 * not UTF-8, JSON that is not an object, 100 000 levels of nesting, numbers past float range,
 * `__proto__`/`constructor`/`prototype` keys, wrong types, strings up to and over the 16 KiB body
 * limit, sent with a Content-Length or streamed chunked), odd Content-Type and Authorization headers,
 * random methods and paths, and random query strings on the history endpoint. For every input:
 *
 * - the answer is the envelope (`{"error","data"}`, `application/json; charset=utf-8`) with a 2xx or
 *   4xx status and an error type the spec lists for that endpoint, never a 5xx, and it arrives
 *   within REQUEST_TIMEOUT_MS (each request carries an AbortSignal.timeout);
 * - a healthy client is served right after (healthz, login, history);
 * - the `users` and `messages` tables, read back read-only with bun:sqlite, change only by the
 *   sign-ups the server answered 201.
 *
 * FUZZ_RUNS sets the runs per property (default 200, a few seconds in all): for a long local run,
 * `FUZZ_RUNS=20000 bun test test/hardening/fuzz-http.test.ts`. A failure prints its seed and path;
 * replay it with FUZZ_SEED=<seed> (fast-check then shrinks from the same start).
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import fc from 'fast-check'
import { SignJWT } from 'jose'
import { usernameKey } from '../../src/chat/usernames.ts'
import { LIMITS } from '../../src/protocol.ts'
import { openDbReader, type DbReader, type Snapshot } from '../support/db-snapshot.ts'
import { register, type Account } from '../support/http.ts'
import { startTestServer, type TestServer } from '../support/server.ts'
import { openSocket } from '../support/socket.ts'
import { frameWhere } from '../support/wait.ts'

const RUNS = Number(process.env.FUZZ_RUNS ?? 200)
const SEED = process.env.FUZZ_SEED === undefined ? undefined : Number(process.env.FUZZ_SEED)
/** Per property: a run takes about 3 ms here, 50 ms allowed. */
const TEST_TIMEOUT_MS = Math.max(60_000, RUNS * 50)
const FC_OPTIONS = { numRuns: RUNS, seed: SEED, endOnFailure: false }

const REQUEST_TIMEOUT_MS = 5_000
const { BODY_MAX_BYTES } = LIMITS
const JSON_TYPE = 'application/json; charset=utf-8'
const HEALTHY_SECRET = 'healthy client secret'
const ROOM = 'fuzz'
const SEEDED_MESSAGES = 30

/** Error types each endpoint may answer with (spec §2), besides the catch-all rows. */
const CATCH_ALL = ['NOT_FOUND', 'METHOD_NOT_ALLOWED', 'PAYLOAD_TOO_LARGE']
const ERRORS_OF: Record<string, string[]> = {
  '/api/v1/users': ['BAD_BINDING', 'BAD_USERNAME', 'BAD_PASSWORD', 'USER_EXISTS'],
  '/api/v1/login': ['BAD_BINDING', 'USER_NOT_FOUND', 'PASSWORD_MATCH_FAILED', 'RATE_LIMITED'],
  '/api/v1/users/me': ['TOKEN_INVALID'],
  '/api/v1/token': ['TOKEN_INVALID'],
}

let server: TestServer
let db: DbReader
let healthy: Account

beforeAll(async () => {
  // Limits raised so the healthy client's login is never refused because fuzzed logins failed first,
  // and so the seeded messages go out in one burst.
  server = await startTestServer({
    config: { loginLimitPerUser: 1_000_000, loginLimitPerAddress: 1_000_000, messageRate: 1_000_000, messageBurst: 1_000_000 },
  })
  healthy = await register(server.url, 'healthy', HEALTHY_SECRET)
  // Messages to prove the fuzzing leaves them alone, and for the history oracle to page through.
  using socket = await openSocket(`${server.wsUrl}/api/v1/rooms/${ROOM}/messages/ws`, [healthy.token])
  await socket.next('welcome')
  for (let i = 0; i < SEEDED_MESSAGES; i++) socket.send({ type: 'message', text: `seed ${i}`, nonce: `seed-${i}` })
  await frameWhere(socket, (f) => f.type === 'message' && f.data.nonce === `seed-${SEEDED_MESSAGES - 1}`, 5_000, 'the last seeded message')
  db = openDbReader(server.config.database)
})

afterAll(async () => {
  db?.close()
  await server?.stop()
})

interface Answer {
  status: number
  headers: Headers
  text: string
}

/** One request, bounded in time: a hang fails the property with a TimeoutError. */
async function send(path: string, init: RequestInit = {}): Promise<Answer> {
  const res = await fetch(server.url + path, { ...init, signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) })
  return { status: res.status, headers: res.headers, text: await res.text() }
}

/** The envelope with a 2xx/4xx status; returns the parsed body. `allowed` lists the error types accepted. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
function expectEnvelope(res: Answer, allowed?: string[]): any {
  expect(res.status === 200 || res.status === 201 || (res.status >= 400 && res.status < 500)).toBe(true)
  expect(res.headers.get('content-type')).toBe(JSON_TYPE)
  const body = JSON.parse(res.text)
  if (res.status < 300) {
    expect(Object.keys(body).sort()).toEqual(['data', 'error'])
    expect(body.error).toBeNull()
  } else {
    expect(body).toEqual({ error: { type: expect.stringMatching(/^[A-Z]+(_[A-Z]+)*$/), message: expect.any(String) }, data: null })
    if (allowed) expect([...allowed, ...CATCH_ALL]).toContain(body.error.type)
  }
  return body
}

/** A healthy client is still served: health, a login, and the room's history. */
async function expectHealthy(): Promise<void> {
  const [health, login, history] = await Promise.all([
    send('/healthz'),
    send('/api/v1/login', { method: 'POST', body: JSON.stringify({ username: 'healthy', secret: HEALTHY_SECRET }) }),
    send(`/api/v1/rooms/${ROOM}/messages?limit=200`),
  ])
  expect({ status: health.status, body: JSON.parse(health.text) }).toEqual({ status: 200, body: { error: null, data: { status: 'ok' } } })
  expect(login.status).toBe(200)
  expect(JSON.parse(login.text).data.user).toEqual(healthy.user)
  expect(history.status).toBe(200)
  expect(JSON.parse(history.text).data.messages).toHaveLength(SEEDED_MESSAGES)
}

/** The tables after = before plus exactly the users the server said it created. */
function expectOnlyAccepted(before: Snapshot, after: Snapshot, created: { id: number; username: string }[]): void {
  expect(after.messages).toEqual(before.messages)
  const known = new Set(before.users.map((u) => u.id))
  expect(after.users.filter((u) => known.has(u.id))).toEqual(before.users)
  const added = after.users.filter((u) => !known.has(u.id)).map((u) => ({ id: u.id, username: u.username }))
  expect(added).toEqual(created)
}

/** Runs one fuzz case between two snapshots and a health check; `created` collects 201 sign-ups. */
async function checked(run: (created: { id: number; username: string }[]) => Promise<void>): Promise<void> {
  const before = db.snapshot()
  const created: { id: number; username: string }[] = []
  await run(created)
  await expectHealthy()
  expectOnlyAccepted(before, db.snapshot(), created)
}

// ---- generators -------------------------------------------------------------------------------

const utf8 = new TextEncoder()
const strictUtf8 = new TextDecoder('utf-8', { fatal: true })

const hostileKey = fc.constantFrom('__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', 'valueOf', '__defineGetter__')
const anyJson = fc.jsonValue({ maxDepth: 3, stringUnit: 'binary' })
const nastyString = fc.constantFrom(
  '',
  ' ',
  'healthy',
  'HEALTHY',
  ' healthy',
  'heal\u0000thy',
  'a\u0007b',
  '\u202e',
  '\ud800',
  'x\udc00y',
  'x'.repeat(32),
  'x'.repeat(33),
  'é'.repeat(32),
  'e\u0301'.repeat(20),
  'x'.repeat(1024),
  'x'.repeat(1025),
  'é'.repeat(513),
  HEALTHY_SECRET,
)
/** A value for `username` or `secret`: mostly strings (so the account rules run), sometimes any JSON. */
const fieldValue = fc.oneof(
  { weight: 5, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }) },
  { weight: 2, arbitrary: fc.string({ unit: 'grapheme', maxLength: 40 }) },
  { weight: 3, arbitrary: nastyString },
  { weight: 2, arbitrary: anyJson },
)
const hugeNumber = fc.constantFrom('1e999999', '-1e400', '1e-999999', '9'.repeat(400), '0.' + '0'.repeat(3000) + '1', '-0', '123456789012345678901234567890')

/** JSON object text built by hand, so `__proto__` is an own key and duplicate keys survive. */
function objectText(entries: [string, string][]): string {
  return '{' + entries.map(([k, v]) => `${JSON.stringify(k)}:${v}`).join(',') + '}'
}
/** A field's JSON text: mostly a `fieldValue`, sometimes a number JSON.parse cannot hold. */
const fieldText = fc.oneof({ weight: 9, arbitrary: fieldValue.map((v) => JSON.stringify(v)) }, { weight: 1, arbitrary: hugeNumber })
const entry = fc.tuple(fc.oneof(fc.constantFrom('username', 'secret'), hostileKey, fc.string({ maxLength: 8 })), fieldText)
/** `{"username","secret"}` present (often as strings), plus hostile or duplicate extra keys in any order. */
const credentialsText = fc
  .tuple(
    fieldText,
    fieldText,
    fc.array(entry, { maxLength: 4 }),
    fc.option(
      fc.tuple(
        hostileKey,
        fc.oneof(
          anyJson.map((v) => JSON.stringify(v)),
          fc.constant('{"username":"healthy","secret":"x"}'),
        ),
      ),
    ),
    fc.boolean(),
  )
  .map(([username, secret, extra, hostile, extraFirst]) => {
    const own: [string, string][] = [
      ['username', username],
      ['secret', secret],
    ]
    if (hostile) extra.push(hostile)
    return objectText(extraFirst ? [...extra, ...own] : [...own, ...extra])
  })
const deepNesting = fc
  .tuple(fc.integer({ min: 1, max: 20_000 }), fc.constantFrom('[', '{"a":', '[{"username":'), fc.boolean())
  .map(
    ([depth, open, closed]) =>
      open.repeat(depth) + (closed ? (open === '[' ? '1' + ']'.repeat(depth) : '1' + (open === '{"a":' ? '}' : '}]').repeat(depth)) : ''),
  )
/**
 * A JSON object of exactly BODY_MAX_BYTES + delta bytes, the length in an extra field, the username (too
 * long for a name) or the secret (too long for a password); multi-byte padding sometimes, so bytes ≠ chars.
 */
const nearLimit = fc.tuple(fc.integer({ min: -48, max: 48 }), fc.boolean(), fc.constantFrom('pad', 'username', 'secret')).map(([delta, wide, field]) => {
  const fields: Record<string, string> = { username: 'padded', secret: 'pw', pad: '' }
  fields[field] = ''
  const free = BODY_MAX_BYTES + delta - JSON.stringify(fields).length
  let padding = wide ? 'é'.repeat(Math.floor(free / 2)) : ''
  padding += 'p'.repeat(free - utf8.encode(padding).length)
  fields[field] = padding
  return JSON.stringify(fields)
})
const invalidUtf8 = fc.constantFrom(
  [0xff],
  [0xc3, 0x28],
  [0xed, 0xa0, 0x80],
  [0xf8, 0x88, 0x80, 0x80, 0x80],
  [0xc0, 0xaf],
  [0xe2, 0x82],
  [0xf4, 0x90, 0x80, 0x80],
)

/** A request body; prints as a short summary so a counterexample of 100 000 bytes stays readable. */
interface Body {
  bytes: Uint8Array<ArrayBuffer>
}
function asBody(bytes: Uint8Array<ArrayBuffer>): Body {
  const preview = new TextDecoder().decode(bytes.subarray(0, 120))
  const summary = `<${bytes.byteLength} bytes: ${JSON.stringify(preview)}${bytes.byteLength > 120 ? '…' : ''}>`
  return Object.assign({ bytes }, { [fc.toStringMethod]: () => summary })
}

/** Bodies: every kind of malformed, and well-formed ones that reach the account rules. */
const body: fc.Arbitrary<Body> = fc
  .oneof(
    { weight: 6, arbitrary: credentialsText.map((t) => utf8.encode(t)) },
    { weight: 2, arbitrary: fc.array(entry, { maxLength: 5 }).map((es) => utf8.encode(objectText(es))) },
    { weight: 2, arbitrary: fc.uint8Array({ maxLength: 300 }) },
    { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 100 }).map((t) => utf8.encode(t)) },
    { weight: 2, arbitrary: fc.json({ stringUnit: 'binary', maxDepth: 4 }).map((t) => utf8.encode(t)) },
    {
      weight: 2,
      arbitrary: fc.tuple(credentialsText, invalidUtf8, fc.nat()).map(([text, bad, at]) => {
        const bytes = utf8.encode(text)
        const i = at % (bytes.length + 1)
        return new Uint8Array([...bytes.subarray(0, i), ...bad, ...bytes.subarray(i)])
      }),
    },
    { weight: 1, arbitrary: deepNesting.map((t) => utf8.encode(t)) },
    { weight: 1, arbitrary: fc.constant(utf8.encode('['.repeat(100_000))) },
    { weight: 1, arbitrary: hugeNumber.map((n) => utf8.encode(n)) },
    { weight: 2, arbitrary: nearLimit.map((t) => utf8.encode(t)) },
    {
      weight: 1,
      arbitrary: fc.constantFrom('', 'null', '[]', '"x"', '{}', '\ufeff{"username":"bom","secret":"x"}', 'username=a&secret=b').map((t) => utf8.encode(t)),
    },
  )
  .map(asBody)

/** Header values fetch accepts (ByteString, no CR/LF/NUL). */
const headerValue = fc.string({
  unit: fc
    .integer({ min: 0x20, max: 0xff })
    .filter((c) => c !== 0x7f)
    .map((c) => String.fromCharCode(c)),
  maxLength: 120,
})
const contentType = fc.option(
  fc.oneof(
    fc.constantFrom(
      'application/json',
      'application/json; charset=utf-8',
      'application/json; charset=latin1',
      'text/plain',
      'application/x-www-form-urlencoded',
      'multipart/form-data; boundary=----x',
      'application/octet-stream',
      '*/*',
      '',
    ),
    headerValue,
  ),
  { nil: undefined },
)

/** What the spec says about a body: too large, not a JSON object of two strings, or credentials. */
function classify(bytes: Uint8Array<ArrayBuffer>): 'TOO_LARGE' | 'BAD_BINDING' | { username: string; secret: string } {
  if (bytes.byteLength > BODY_MAX_BYTES) return 'TOO_LARGE'
  let value: unknown
  try {
    value = JSON.parse(strictUtf8.decode(bytes))
  } catch {
    return 'BAD_BINDING'
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'BAD_BINDING'
  const { username, secret } = value as Record<string, unknown>
  if (typeof username !== 'string' || typeof secret !== 'string') return 'BAD_BINDING'
  return { username, secret }
}

/** The body sent with a Content-Length, or streamed chunked in one to three pieces. */
function asRequestBody(bytes: Uint8Array<ArrayBuffer>, streamed: boolean, cuts: number[]): BodyInit {
  if (!streamed) return bytes
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b)
  const pieces: Uint8Array[] = []
  let from = 0
  for (const p of [...points, bytes.length]) {
    pieces.push(bytes.subarray(from, p))
    from = p
  }
  return new ReadableStream<Uint8Array>({
    start(controller) {
      for (const piece of pieces) if (piece.length > 0) controller.enqueue(piece)
      controller.close()
    },
  })
}

// ---- properties -------------------------------------------------------------------------------

describe('HTTP fuzzing', () => {
  // spec §2: BAD_BINDING for anything but a JSON object with string username/secret; 413 past 16 KiB.
  test(
    'sign-up and login answer every body with the envelope, and only accepted sign-ups add rows',
    async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.constantFrom('/api/v1/users', '/api/v1/login'),
          body,
          contentType,
          fc.boolean(),
          fc.array(fc.nat(), { maxLength: 2 }),
          async (path, { bytes }, type, streamed, cuts) =>
            checked(async (created) => {
              const headers: Record<string, string> = {}
              if (type !== undefined) headers['content-type'] = type
              const res = await send(path, { method: 'POST', headers, body: asRequestBody(bytes, streamed, cuts) })
              const answer = expectEnvelope(res, ERRORS_OF[path])
              const expected = classify(bytes)
              if (expected === 'TOO_LARGE') expect(res.status).toBe(413)
              else if (expected === 'BAD_BINDING') expect(answer.error?.type).toBe('BAD_BINDING')
              else if (path === '/api/v1/users') {
                expect([201, 400, 409]).toContain(res.status)
                if (res.status === 400) expect(['BAD_USERNAME', 'BAD_PASSWORD']).toContain(answer.error.type)
                if (res.status === 201) {
                  expect(answer.data.username).toBe(expected.username.normalize('NFC'))
                  created.push(answer.data)
                }
              } else {
                expect([200, 400, 401]).toContain(res.status)
                // The account whose name folds to the same key (unit-tested in test/unit/users.test.ts).
                if (res.status === 200) expect(usernameKey(answer.data.user.username)).toBe(usernameKey(expected.username))
              }
            }),
        ),
        FC_OPTIONS,
      )
    },
    TEST_TIMEOUT_MS,
  )

  const segment = fc.oneof(
    fc.constantFrom(
      'api',
      'v1',
      'users',
      'me',
      'login',
      'token',
      'rooms',
      'messages',
      'ws',
      'healthz',
      'metrics',
      ROOM,
      '..',
      '.',
      '%2e%2e',
      '%ZZ',
      '%00',
      '%2F',
      '',
    ),
    fc.string({ unit: 'binary', maxLength: 12 }).map(encodeURIComponent),
    fc.string({ unit: 'grapheme-ascii', maxLength: 12 }),
  )
  const apiPrefix = fc.constantFrom('', '/api/v1', '/api/v1/rooms', `/api/v1/rooms/${ROOM}`, '/api/v1/users')
  const path = fc
    .tuple(apiPrefix, fc.array(segment, { maxLength: 5 }), fc.option(fc.string({ unit: 'grapheme-ascii', maxLength: 20 })))
    .map(([prefix, segments, query]) => `${prefix}/${segments.join('/')}${query === null ? '' : `?${query}`}`)
    .filter((p) => URL.canParse(p, 'http://127.0.0.1') && !p.includes('#'))
  // The methods Bun's fetch sends as given (it turns names it does not know into GET); not CONNECT or TRACE.
  const method = fc.constantFrom(
    ...['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'QUERY', 'PROPFIND', 'PROPPATCH', 'MKCOL', 'COPY', 'MOVE', 'LOCK'],
    ...['UNLOCK', 'SEARCH', 'REPORT', 'PURGE', 'M-SEARCH', 'NOTIFY', 'SUBSCRIBE', 'UNSUBSCRIBE', 'LINK', 'UNLINK', 'ACL', 'MERGE', 'SOURCE'],
  )
  const headers = fc.record(
    {
      authorization: fc.oneof(
        headerValue,
        headerValue.map((v) => `Bearer ${v}`),
      ),
      'content-type': contentType.map((v) => v ?? 'application/json'),
      accept: fc.oneof(headerValue, fc.constantFrom('text/html', 'application/json', '*/*')),
      'x-forwarded-for': fc.oneof(headerValue, fc.ipV4(), fc.ipV6()),
      origin: headerValue,
      cookie: headerValue,
    },
    { requiredKeys: [] },
  )

  // spec §2 "anything else": 404 / 405 with Allow / 413, in the envelope, on any method and path.
  test(
    'any method, path and headers gets the envelope with a 2xx or 4xx',
    async () => {
      await fc.assert(
        fc.asyncProperty(method, path, headers, fc.option(body, { nil: undefined }), async (m, p, h, b) =>
          checked(async (created) => {
            const res = await send(p, { method: m, headers: h, body: m === 'GET' || m === 'HEAD' ? undefined : b?.bytes })
            const { pathname } = new URL(p, 'http://127.0.0.1')
            if (m === 'HEAD' || (m === 'GET' && res.status === 200 && !pathname.startsWith('/api/') && pathname !== '/healthz')) {
              // No body by definition (HEAD), or a document outside the API (/metrics, the web client).
              expect(res.status).toBeLessThan(500)
              return
            }
            const answer = expectEnvelope(res)
            if (res.status === 405) expect(res.headers.get('allow')).toMatch(/^[A-Z]+(, [A-Z]+)*$/)
            if (res.status === 201 && pathname === '/api/v1/users') created.push(answer.data)
          }),
        ),
        FC_OPTIONS,
      )
    },
    TEST_TIMEOUT_MS,
  )

  const b64url = fc.base64String({ maxLength: 60 }).map((s) => s.replace(/=+$/, '').replace(/\+/g, '-').replace(/\//g, '_'))
  const encodeSegment = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url')
  /** Tokens that must never authenticate: random, unsigned, re-signed with another key, or with a swapped subject. */
  const forged = fc.oneof(
    fc.tuple(b64url, b64url, b64url).map((parts) => parts.join('.')),
    fc
      .record({ sub: fc.oneof(fc.nat({ max: 5 }).map(String), fc.string()), exp: fc.nat() })
      .map((claims) => `${encodeSegment({ alg: 'none', typ: 'JWT' })}.${encodeSegment(claims)}.`),
    fc
      .uint8Array({ minLength: 32, maxLength: 32 })
      .map(async (key) =>
        new SignJWT({ name: 'healthy' }).setProtectedHeader({ alg: 'HS256' }).setSubject(String(healthy.user.id)).setExpirationTime('1h').sign(key),
      ),
    fc.nat({ max: 5 }).map((sub) => {
      const [head, payload, signature] = healthy.token.split('.')
      const claims = JSON.parse(Buffer.from(payload!, 'base64url').toString())
      const swapped = sub === healthy.user.id ? sub + 1 : sub
      return `${head}.${encodeSegment({ ...claims, sub: String(swapped) })}.${signature}`
    }),
  )
  const authorization = fc.oneof(
    headerValue,
    headerValue.map((v) => `Bearer ${v}`),
    forged.map(async (t) => `Bearer ${await t}`),
    fc.constantFrom('Bearer', 'Bearer ', 'bearer x', 'Basic aGVhbHRoeTpzZWNyZXQ=', `Bearer ${'a'.repeat(8000)}`),
    fc.constant(null).map(() => `Bearer ${healthy.token}`),
    fc.constantFrom(' ', '\t').map((ws) => `bEaReR${ws}${healthy.token}${ws}`),
  )

  // spec §2: 401 TOKEN_INVALID for anything but a valid token; a 200 is always the token's own user.
  test(
    'random and forged Authorization headers get 401 TOKEN_INVALID; a 200 is only ever the real user',
    async () => {
      await fc.assert(
        fc.asyncProperty(fc.constantFrom(['GET', '/api/v1/users/me'], ['POST', '/api/v1/token']), authorization, async ([m, p], header) =>
          checked(async () => {
            const value = await header
            const res = await send(p, { method: m, headers: { authorization: value } })
            const answer = expectEnvelope(res, ERRORS_OF[p])
            if (res.status === 200) {
              expect(value.slice(7).trim()).toBe(healthy.token)
              // spec §5: /users/me carries the role (the healthy client signed up first, so it is the admin).
              expect(p === '/api/v1/users/me' ? answer.data : answer.data.user).toEqual(
                p === '/api/v1/users/me' ? { ...healthy.user, role: 'admin' } : healthy.user,
              )
            } else {
              expect(res.status).toBe(401)
              expect(answer.error.type).toBe('TOKEN_INVALID')
            }
          }),
        ),
        FC_OPTIONS,
      )
    },
    TEST_TIMEOUT_MS,
  )

  const queryKey = fc.oneof(fc.constantFrom('before', 'limit', 'since', 'Before', 'limit[]', 'x', ''), fc.string({ unit: 'grapheme-ascii', maxLength: 6 }))
  const queryValue = fc.oneof(
    fc.integer({ min: -5, max: 260 }).map(String),
    fc.nat().map(String),
    fc.constantFrom('', '0', '1', '200', '201', '1e2', '0x10', '+1', '-0', ' 1', '1 ', '01', '1.0', 'NaN', 'Infinity', 'null'),
    fc.constantFrom('9007199254740991', '9007199254740992', '99999999999999999', '0000000000000001', '00000000000000001'),
    fc.constantFrom('%ZZ', '%31', '%00', '%20%31', '%2B1'),
    fc.string({ unit: 'binary', maxLength: 10 }).map(encodeURIComponent),
  )
  const query = fc.array(fc.tuple(queryKey, queryValue), { maxLength: 4 }).map((pairs) => pairs.map(([k, v]) => `${encodeURIComponent(k)}=${v}`).join('&'))

  /** The server's reading of a cursor parameter: a whole decimal number of at most 16 digits in [min, max]. */
  function cursor(params: URLSearchParams, name: string, min: number, max: number): number | undefined | 'BAD' {
    const raw = params.get(name)
    if (raw === null) return undefined
    if (!/^\d{1,16}$/.test(raw)) return 'BAD'
    const n = Number(raw)
    return n >= min && n <= max ? n : 'BAD'
  }

  // spec §2: the newest `limit` (1-200, default 50) messages below `before`, oldest first, with hasMore.
  test(
    'random history queries get the right page or 400 BAD_QUERY',
    async () => {
      await fc.assert(
        fc.asyncProperty(fc.constantFrom(ROOM, 'x'), query, async (room, q) =>
          checked(async () => {
            const target = `/api/v1/rooms/${room}/messages?${q}`
            const params = new URL(target, 'http://127.0.0.1').searchParams
            const before = cursor(params, 'before', 1, Number.MAX_SAFE_INTEGER)
            const limit = cursor(params, 'limit', 1, 200)
            const res = await send(target)
            const answer = expectEnvelope(res, ['ROOM_INVALID', 'BAD_QUERY'])
            if (before === 'BAD' || limit === 'BAD') {
              expect({ status: res.status, type: answer.error?.type }).toEqual({ status: 400, type: 'BAD_QUERY' })
              return
            }
            const all = db
              .snapshot()
              .messages.filter((m) => m.room === room && (before === undefined || m.id < before))
              .map((m) => m.id)
            const page = all.slice(-(limit ?? 50))
            expect(res.status).toBe(200)
            expect({ ids: answer.data.messages.map((m: { id: number }) => m.id), hasMore: answer.data.hasMore }).toEqual({
              ids: page,
              hasMore: all.length > page.length,
            })
          }),
        ),
        FC_OPTIONS,
      )
    },
    TEST_TIMEOUT_MS,
  )
})

describe('HTTP hostile bodies, one by one', () => {
  test('100 000 nested brackets are refused with 413 before parsing; 16 000 with 400 BAD_BINDING', async () => {
    const deep = await send('/api/v1/users', { method: 'POST', body: '['.repeat(100_000) })
    expect({ status: deep.status, type: expectEnvelope(deep).error.type }).toEqual({ status: 413, type: 'PAYLOAD_TOO_LARGE' })
    const nested = await send('/api/v1/users', { method: 'POST', body: '['.repeat(16_000) })
    expect({ status: nested.status, type: expectEnvelope(nested).error.type }).toEqual({ status: 400, type: 'BAD_BINDING' })
  })

  test('a __proto__ key holding credentials does not count as credentials', async () => {
    const res = await send('/api/v1/login', { method: 'POST', body: '{"__proto__":{"username":"healthy","secret":"healthy client secret"}}' })
    expect({ status: res.status, type: expectEnvelope(res).error.type }).toEqual({ status: 400, type: 'BAD_BINDING' })
    expect(({} as Record<string, unknown>).username).toBeUndefined()
  })

  test('a streamed body over 16 KiB without Content-Length is 413 and the server keeps serving', async () => {
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let i = 0; i < 64; i++) controller.enqueue(utf8.encode('x'.repeat(1024)))
        controller.close()
      },
    })
    const res = await send('/api/v1/users', { method: 'POST', body: stream })
    expect({ status: res.status, type: expectEnvelope(res).error.type }).toEqual({ status: 413, type: 'PAYLOAD_TOO_LARGE' })
    await expectHealthy()
  })
})
