/**
 * Fuzzing the accounts and moderation endpoints (spec §5) with fast-check: random methods on the
 * admin, self-service, logout and sign-up paths, user ids and invite codes that are numbers, huge
 * numbers, words or percent-escapes, bodies that are any JSON, objects with the right field names and
 * wrong values, or not JSON at all, query strings for the paged lists, and the admin's, a member's,
 * no token or a garbage one. For every input the answer is a 204 with no body or the envelope with a
 * 2xx/4xx status and an error type the spec lists for that endpoint, never a 5xx; afterwards the
 * admin is still admin and served, so the rules (never zero admins) held throughout.
 *
 * FUZZ_RUNS sets the runs per property (default 200); FUZZ_SEED replays a failure.
 */
import { afterAll, beforeAll, expect, test } from 'bun:test'
import fc from 'fast-check'
import { call } from '../support/accounts.ts'
import { register, type Account } from '../support/http.ts'
import { startTestServer, type TestServer } from '../support/server.ts'

const RUNS = Number(process.env.FUZZ_RUNS ?? 200)
const SEED = process.env.FUZZ_SEED === undefined ? undefined : Number(process.env.FUZZ_SEED)
const FC_OPTIONS = { numRuns: RUNS, seed: SEED, endOnFailure: false }
const TEST_TIMEOUT_MS = Math.max(60_000, RUNS * 100)
const JSON_TYPE = 'application/json; charset=utf-8'

const CATCH_ALL = ['NOT_FOUND', 'METHOD_NOT_ALLOWED', 'PAYLOAD_TOO_LARGE', 'TOKEN_INVALID', 'USER_BANNED']
const ADMIN = ['FORBIDDEN', 'BAD_BINDING', 'BAD_QUERY', 'BAD_PASSWORD', 'USER_NOT_FOUND', 'LAST_ADMIN']
const SELF = ['BAD_BINDING', 'BAD_PASSWORD', 'PASSWORD_MATCH_FAILED', 'RATE_LIMITED', 'LAST_ADMIN']
const SIGN_UP = ['BAD_BINDING', 'BAD_USERNAME', 'BAD_PASSWORD', 'USER_EXISTS', 'INVITE_INVALID', 'REGISTRATION_CLOSED', 'RATE_LIMITED']

let server: TestServer
let admin: Account
let member: Account
/** Accounts the fuzzer may ban, demote, reset or delete. */
const victims: Account[] = []

beforeAll(async () => {
  server = await startTestServer({ config: { loginLimitPerUser: 1_000_000, loginLimitPerAddress: 1_000_000 } })
  admin = await register(server.url, 'admin')
  member = await register(server.url, 'member')
  for (let i = 0; i < 5; i++) victims.push(await register(server.url, `victim${i}`))
})

afterAll(async () => {
  await server?.stop()
})

const anyJson = fc.jsonValue({ maxDepth: 3, stringUnit: 'binary' })
const fieldNames = fc.constantFrom('role', 'reason', 'newSecret', 'secret', 'uses', 'expiresIn', 'registration', 'invite', 'username', '__proto__')
const fieldValues = fc.oneof(
  anyJson,
  fc.constantFrom('admin', 'member', 'open', 'invite', 'closed', '', 'x'.repeat(2000), '\ud800', 0, -1, 1.5, 1e308, 2 ** 53, null, true),
  fc.integer(),
)
/** A body as text: an object of the endpoints' own field names with any values, any JSON, or not JSON. */
const bodyText = fc.option(
  fc.oneof(
    { weight: 5, arbitrary: fc.dictionary(fieldNames, fieldValues, { maxKeys: 4 }).map((o) => JSON.stringify(o)) },
    { weight: 2, arbitrary: anyJson.map((v) => JSON.stringify(v)) },
    { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 60 }) },
  ),
)
/** Path segments; whole numbers start past the accounts made here, so the admin's id comes up only through `victimN` (never the admin). */
const segment = fc.oneof(
  fc.nat().map((n) => String(n + 100)),
  fc.constantFrom('0', '-1', '1.5', '1e3', '99999999999999999999', '%00', '%ZZ', 'abc', ''),
  fc.string({ unit: 'binary', maxLength: 12 }).map(encodeURIComponent),
)
const queryValue = fc.oneof(
  fc.nat().map(String),
  fc.constantFrom('', '-1', '0', '200', '201', '1.5', 'x', '%ZZ'),
  fc.string({ unit: 'binary', maxLength: 10 }).map(encodeURIComponent),
)
const query = fc.dictionary(fc.constantFrom('q', 'after', 'limit', 'before'), queryValue, { maxKeys: 3 }).map((q) =>
  Object.keys(q).length === 0
    ? ''
    : '?' +
      Object.entries(q)
        .map(([k, v]) => `${k}=${v}`)
        .join('&'),
)

/** A path with the error types its endpoint may answer with. */
const target = fc.oneof(
  fc
    .tuple(
      fc.constantFrom('role', 'ban', 'password'),
      fc.oneof(
        segment,
        fc.nat({ max: 4 }).map((i) => 'victim' + i),
      ),
    )
    .map(([what, id]) => ({ path: `/api/v1/admin/users/${id}/${what}`, errors: ADMIN })),
  fc.tuple(fc.constantFrom('users', 'audit', 'invites', 'settings'), query).map(([what, q]) => ({ path: `/api/v1/admin/${what}${q}`, errors: ADMIN })),
  segment.map((code) => ({ path: `/api/v1/admin/invites/${code}`, errors: ADMIN })),
  fc.constantFrom('/api/v1/users/me', '/api/v1/users/me/password').map((path) => ({ path, errors: SELF })),
  fc.constant({ path: '/api/v1/logout', errors: [] as string[] }),
  fc.constant({ path: '/api/v1/users', errors: SIGN_UP }),
)
const method = fc.constantFrom('GET', 'PUT', 'POST', 'DELETE', 'PATCH')
/** Whose token: the admin's only on admin paths (self-service with it could log the admin out), else a victim's, a member's, none or garbage. */
const who = fc.constantFrom('admin', 'member', 'victim', 'none', 'garbage')

function tokenOf(kind: string, path: string, victim: number): string | undefined {
  if (kind === 'admin') return path.startsWith('/api/v1/admin/') ? admin.token : victims[victim]!.token
  if (kind === 'member') return member.token
  if (kind === 'victim') return victims[victim]!.token
  return kind === 'garbage' ? 'eyJhbGciOiJub25lIn0.e30.' : undefined
}

test(
  'the new endpoints never answer 5xx, always the envelope (or a bare 204), with an error type of their own',
  async () => {
    await fc.assert(
      fc.asyncProperty(method, target, bodyText, who, fc.nat({ max: 4 }), async (m, { path, errors }, body, kind, victim) => {
        // A victim's id stands in for `victimN` so that changes reach real accounts (never the admin's).
        const real = path.replace(/victim(\d)/, (_, i: string) => String(victims[Number(i)]!.user.id))
        const res = await fetch(server.url + real, {
          method: m,
          headers: tokenOf(kind, path, victim) === undefined ? {} : { Authorization: `Bearer ${tokenOf(kind, path, victim)}` },
          body: m === 'GET' || body === null ? undefined : body,
          signal: AbortSignal.timeout(5000),
        })
        const text = await res.text()
        expect(res.status).toBeLessThan(500)
        if (res.status === 204) return void expect(text).toBe('')
        expect(res.headers.get('content-type')).toBe(JSON_TYPE)
        const parsed = JSON.parse(text)
        if (res.status < 300) return void expect(parsed.error).toBeNull()
        expect(parsed).toEqual({ error: { type: expect.any(String), message: expect.any(String) }, data: null })
        expect([...errors, ...CATCH_ALL]).toContain(parsed.error.type)
      }),
      FC_OPTIONS,
    )
    // The admin was never demoted, banned or logged out, and the server still answers it.
    const users = await call(server.url, 'GET', '/api/v1/admin/users?limit=1', admin.token)
    expect(users.status).toBe(200)
    expect(users.body.data.users[0]).toMatchObject({ id: admin.user.id, role: 'admin', banned: false })
    expect(await server.app.store.countAdmins()).toBeGreaterThanOrEqual(1)
  },
  TEST_TIMEOUT_MS,
)
