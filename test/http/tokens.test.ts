/**
 * Tokens (spec §2): a JWT signed with HS256 carrying `sub` (the user id as a string), `name`,
 * `iat` and `exp` (24 h by default). GET /api/v1/users/me and POST /api/v1/token take it as
 * `Authorization: Bearer <jwt>` (RFC 6750 §2.1) and answer 401 TOKEN_INVALID when it is missing,
 * malformed, signed with another key or algorithm (RFC 8725 §3.1: `alg: none` and algorithm
 * substitution must fail), expired, or names a user who no longer exists. The signing secret is
 * JWT_SECRET, or one generated on first start and kept in the database so tokens survive restarts.
 */
import { Database } from 'bun:sqlite'
import { expect, test } from 'bun:test'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { decodeJwt, decodeProtectedHeader, jwtVerify, SignJWT } from 'jose'
import { CLOSE } from '../../src/protocol.ts'
import { register, request, type ApiResponse } from '../support/http.ts'
import { OFF_DOCUMENT } from '../support/openapi-proxy.ts'
import { startTestServer } from '../support/server.ts'
import { openSocket } from '../support/socket.ts'

const JSON_TYPE = 'application/json; charset=utf-8'
const SECRET = 'x'.repeat(32)
const DAY = 86_400

function me(baseUrl: string, authorization?: string): Promise<ApiResponse> {
  return request(`${baseUrl}/api/v1/users/me`, { headers: authorization === undefined ? {} : { Authorization: authorization } })
}

function refresh(baseUrl: string, authorization?: string): Promise<ApiResponse> {
  return request(`${baseUrl}/api/v1/token`, { method: 'POST', headers: authorization === undefined ? {} : { Authorization: authorization } })
}

function expectTokenInvalid(res: ApiResponse): void {
  expect({ status: res.status, contentType: res.headers.get('content-type'), body: res.body }).toEqual({
    status: 401,
    contentType: JSON_TYPE,
    body: { error: { type: 'TOKEN_INVALID', message: expect.any(String) }, data: null },
  })
}

/** Both token endpoints refuse `token` with 401 TOKEN_INVALID. */
async function expectRefusedEverywhere(baseUrl: string, authorization: string): Promise<void> {
  expectTokenInvalid(await me(baseUrl, authorization))
  expectTokenInvalid(await refresh(baseUrl, authorization))
}

function sign(claims: Record<string, unknown>, opts: { secret?: string; alg?: string; iat?: number; exp?: number | null } = {}): Promise<string> {
  const now = Math.floor(Date.now() / 1000)
  const jwt = new SignJWT(claims).setProtectedHeader({ alg: opts.alg ?? 'HS256', typ: 'JWT' }).setIssuedAt(opts.iat ?? now)
  if (opts.exp !== null) jwt.setExpirationTime(opts.exp ?? now + 3600)
  return jwt.sign(new TextEncoder().encode(opts.secret ?? SECRET))
}

const base64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url')

test('GET /users/me with a valid token answers 200 with the id, username and role', async () => {
  await using server = await startTestServer()
  const alice = await register(server.url, 'Alice')
  const res = await me(server.url, `Bearer ${alice.token}`)
  expect({ status: res.status, contentType: res.headers.get('content-type'), body: res.body }).toEqual({
    status: 200,
    contentType: JSON_TYPE,
    body: { error: null, data: { id: alice.user.id, username: 'Alice', role: 'admin' } },
  })
})

test('each user sees their own account on /users/me', async () => {
  await using server = await startTestServer()
  const alice = await register(server.url, 'alice')
  const bob = await register(server.url, 'bob')
  expect((await me(server.url, `Bearer ${alice.token}`)).body.data).toEqual({ ...alice.user, role: 'admin' })
  expect((await me(server.url, `Bearer ${bob.token}`)).body.data).toEqual({ ...bob.user, role: 'member' })
})

test('the token is HS256 with sub (the id as a string), name, iat and exp = iat + 24 h', async () => {
  const clock = Date.UTC(2026, 10, 28, 23, 0, 0, 750)
  await using server = await startTestServer({ now: () => clock, config: { jwtSecret: SECRET } })
  const alice = await register(server.url, 'Alice')
  expect(decodeProtectedHeader(alice.token)).toEqual({ alg: 'HS256', typ: 'JWT' })
  const iat = Math.floor(clock / 1000)
  expect(decodeJwt(alice.token)).toEqual({ sub: String(alice.user.id), name: 'Alice', iat, exp: iat + DAY, ver: 0 })
  // The signature is HMAC-SHA-256 with the configured secret.
  const { payload } = await jwtVerify(alice.token, new TextEncoder().encode(SECRET), { algorithms: ['HS256'], currentDate: new Date(clock) })
  expect(payload.sub).toBe(String(alice.user.id))
})

test('the token lifetime follows tokenTtlSeconds', async () => {
  await using server = await startTestServer({ config: { tokenTtlSeconds: 90 * 60 } })
  const alice = await register(server.url, 'alice')
  const { iat, exp } = decodeJwt(alice.token)
  expect(exp! - iat!).toBe(5400)
})

test('the token name claim is the NFC username as stored', async () => {
  await using server = await startTestServer()
  const alice = await register(server.url, 'Ame\u0301lie 🎉')
  expect(decodeJwt(alice.token).name).toBe('Am\u00e9lie 🎉')
})

test('a token signed by jose with the configured JWT secret is accepted', async () => {
  await using server = await startTestServer({ config: { jwtSecret: SECRET } })
  const alice = await register(server.url, 'alice')
  const token = await sign({ sub: String(alice.user.id), name: 'alice' })
  expect((await me(server.url, `Bearer ${token}`)).body).toEqual({ error: null, data: { ...alice.user, role: 'admin' } })
})

test('without JWT_SECRET tokens are signed with the secret generated into the settings table', async () => {
  await using server = await startTestServer()
  const alice = await register(server.url, 'alice')
  const db = new Database(server.config.database, { readonly: true })
  const row = db.query<{ value: string }, []>("SELECT value FROM settings WHERE key = 'jwt_secret'").get()
  db.close()
  expect(row).not.toBeNull()
  expect(Buffer.byteLength(row!.value)).toBeGreaterThanOrEqual(32)
  await jwtVerify(alice.token, new TextEncoder().encode(row!.value), { algorithms: ['HS256'] })
  const token = await sign({ sub: String(alice.user.id) }, { secret: row!.value })
  expect((await me(server.url, `Bearer ${token}`)).body.data).toEqual({ ...alice.user, role: 'admin' })
})

test('two servers without JWT_SECRET generate different secrets', async () => {
  await using one = await startTestServer()
  await using two = await startTestServer()
  const alice = await register(one.url, 'alice')
  await register(two.url, 'alice')
  await expectRefusedEverywhere(two.url, `Bearer ${alice.token}`)
})

test('the user of a token comes from the database, not from the name claim', async () => {
  await using server = await startTestServer({ config: { jwtSecret: SECRET } })
  const alice = await register(server.url, 'alice')
  const token = await sign({ sub: String(alice.user.id), name: 'mallory' })
  expect((await me(server.url, `Bearer ${token}`)).body.data).toEqual({ ...alice.user, role: 'admin' })
})

// RFC 6750 §2.1: credentials = "Bearer" 1*SP b64token; the scheme is case-insensitive (RFC 9110 §11.1).
test('the Bearer scheme is matched case-insensitively', async () => {
  await using server = await startTestServer()
  const alice = await register(server.url, 'alice')
  for (const scheme of ['bearer', 'BEARER', 'Bearer']) {
    expect((await me(server.url, `${scheme} ${alice.token}`)).body.data).toEqual({ ...alice.user, role: 'admin' })
  }
})

test('a missing Authorization header is 401 TOKEN_INVALID', async () => {
  await using server = await startTestServer()
  await expectRefusedEverywhere(server.url, '')
  expectTokenInvalid(await me(server.url))
  expectTokenInvalid(await refresh(server.url))
})

test('a malformed Authorization header is 401 TOKEN_INVALID', async () => {
  await using server = await startTestServer()
  const alice = await register(server.url, 'alice')
  const headers = [
    alice.token,
    `Basic ${Buffer.from('alice:pw').toString('base64')}`,
    'Bearer',
    'Bearer ',
    `Token ${alice.token}`,
    `Bearer ${alice.token} extra`,
    `Bearer ${alice.token},${alice.token}`,
    `Bearer${alice.token}`,
    'Bearer not-a-jwt',
    'Bearer a.b.c',
    'Bearer ...',
    `Bearer ${alice.token.split('.').slice(0, 2).join('.')}`,
    `Bearer ${alice.token}x`,
  ]
  for (const header of headers) await expectRefusedEverywhere(server.url, header)
})

test('a token with a tampered payload is rejected', async () => {
  await using server = await startTestServer()
  const alice = await register(server.url, 'alice')
  const bob = await register(server.url, 'bob')
  const [header, , signature] = alice.token.split('.')
  const forged = `${header}.${base64url({ ...decodeJwt(alice.token), sub: String(bob.user.id) })}.${signature}`
  await expectRefusedEverywhere(server.url, `Bearer ${forged}`)
})

test('an unsigned token (alg: none) is rejected', async () => {
  await using server = await startTestServer()
  const alice = await register(server.url, 'alice')
  const claims = decodeJwt(alice.token)
  for (const alg of ['none', 'None', 'NONE']) {
    const unsigned = `${base64url({ alg, typ: 'JWT' })}.${base64url(claims)}.`
    await expectRefusedEverywhere(server.url, `Bearer ${unsigned}`)
  }
  // Also with the real signature left in place.
  const withSignature = `${base64url({ alg: 'none', typ: 'JWT' })}.${alice.token.split('.')[1]}.${alice.token.split('.')[2]}`
  await expectRefusedEverywhere(server.url, `Bearer ${withSignature}`)
})

test('a token signed with another key is rejected', async () => {
  await using server = await startTestServer({ config: { jwtSecret: SECRET } })
  const alice = await register(server.url, 'alice')
  const token = await sign({ sub: String(alice.user.id), name: 'alice' }, { secret: 'y'.repeat(32) })
  await expectRefusedEverywhere(server.url, `Bearer ${token}`)
})

test('a token signed with the right secret but another algorithm (HS384, HS512) is rejected', async () => {
  await using server = await startTestServer({ config: { jwtSecret: SECRET } })
  const alice = await register(server.url, 'alice')
  for (const alg of ['HS384', 'HS512']) {
    const token = await sign({ sub: String(alice.user.id), name: 'alice' }, { alg })
    expect(decodeProtectedHeader(token).alg).toBe(alg)
    await expectRefusedEverywhere(server.url, `Bearer ${token}`)
  }
})

test('a token with an exp in the past is rejected', async () => {
  await using server = await startTestServer({ config: { jwtSecret: SECRET } })
  const alice = await register(server.url, 'alice')
  const now = Math.floor(Date.now() / 1000)
  const token = await sign({ sub: String(alice.user.id), name: 'alice' }, { iat: now - 7200, exp: now - 60 })
  await expectRefusedEverywhere(server.url, `Bearer ${token}`)
})

test('a correctly signed token that lives longer than TOKEN_TTL (exp − iat) is refused, on HTTP and WebSocket', async () => {
  // Someone who read the signing secret could mint a token valid for years; the server only ever
  // issues TOKEN_TTL-long ones, so anything longer is not one of its own.
  await using server = await startTestServer({ config: { jwtSecret: SECRET, tokenTtlSeconds: 3600 } })
  const alice = await register(server.url, 'alice')
  const now = Math.floor(Date.now() / 1000)
  const exact = await sign({ sub: String(alice.user.id), name: 'alice' }, { iat: now, exp: now + 3600 })
  expect((await me(server.url, `Bearer ${exact}`)).status).toBe(200)
  const long = await sign({ sub: String(alice.user.id), name: 'alice' }, { iat: now, exp: now + 3601 })
  await expectRefusedEverywhere(server.url, `Bearer ${long}`)
  const years = await sign({ sub: String(alice.user.id), name: 'alice' }, { iat: now - 60, exp: now + 10 * 365 * DAY })
  await expectRefusedEverywhere(server.url, `Bearer ${years}`)
  const socket = await openSocket(`${server.wsUrl}/api/v1/rooms/lobby/messages/ws`, [years])
  expect((await socket.next('error')).error?.type).toBe('TOKEN_INVALID')
  expect((await socket.closed).code).toBe(CLOSE.TOKEN_INVALID.code)
})

test('a token without iat is refused', async () => {
  await using server = await startTestServer({ config: { jwtSecret: SECRET } })
  const alice = await register(server.url, 'alice')
  const now = Math.floor(Date.now() / 1000)
  const token = await new SignJWT({ sub: String(alice.user.id), name: 'alice' })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setExpirationTime(now + 60)
    .sign(new TextEncoder().encode(SECRET))
  await expectRefusedEverywhere(server.url, `Bearer ${token}`)
})

test('an issued token is valid until its exp and rejected from then on', async () => {
  let clock = Date.UTC(2026, 10, 28, 12)
  await using server = await startTestServer({ now: () => clock, config: { tokenTtlSeconds: 3600 } })
  const alice = await register(server.url, 'alice')
  clock += 3599_000
  expect((await me(server.url, `Bearer ${alice.token}`)).body.data).toEqual({ ...alice.user, role: 'admin' })
  clock += 1000
  await expectRefusedEverywhere(server.url, `Bearer ${alice.token}`)
})

test('a token without exp is rejected', async () => {
  await using server = await startTestServer({ config: { jwtSecret: SECRET } })
  const alice = await register(server.url, 'alice')
  const token = await sign({ sub: String(alice.user.id), name: 'alice' }, { exp: null })
  expect(decodeJwt(token).exp).toBeUndefined()
  await expectRefusedEverywhere(server.url, `Bearer ${token}`)
})

test('a token whose sub is not the decimal string of an existing user id is rejected', async () => {
  await using server = await startTestServer({ config: { jwtSecret: SECRET } })
  const alice = await register(server.url, 'alice')
  const id = alice.user.id
  const subs = [undefined, 'alice', '', '1.5', '-1', '99999', id, `${id}.0`, `0${id}`, ` ${id}`, `+${id}`, `0x${id.toString(16)}`, `${id}e0`]
  for (const sub of subs) {
    await expectRefusedEverywhere(server.url, `Bearer ${await sign(sub === undefined ? { name: 'alice' } : { sub, name: 'alice' })}`)
  }
  expect((await me(server.url, `Bearer ${await sign({ sub: String(id), name: 'alice' })}`)).status).toBe(200)
})

test('a token of a deleted user is 401 TOKEN_INVALID on /users/me and /token', async () => {
  await using server = await startTestServer()
  const alice = await register(server.url, 'alice')
  const bob = await register(server.url, 'bob')
  const db = new Database(server.config.database)
  db.exec('PRAGMA busy_timeout = 5000')
  db.query('DELETE FROM users WHERE id = ?').run(alice.user.id)
  db.close()
  await expectRefusedEverywhere(server.url, `Bearer ${alice.token}`)
  expect((await me(server.url, `Bearer ${bob.token}`)).body.data).toEqual({ ...bob.user, role: 'member' })
})

test('a user id is never reused, so an old token cannot become a new user', async () => {
  await using server = await startTestServer()
  const alice = await register(server.url, 'alice')
  const db = new Database(server.config.database)
  db.exec('PRAGMA busy_timeout = 5000')
  db.query('DELETE FROM users WHERE id = ?').run(alice.user.id)
  db.close()
  const again = await register(server.url, 'alice')
  expect(again.user.id).not.toBe(alice.user.id)
  await expectRefusedEverywhere(server.url, `Bearer ${alice.token}`)
})

test('POST /token answers 200 with a fresh token and the user', async () => {
  let clock = Date.UTC(2026, 10, 28, 12)
  await using server = await startTestServer({ now: () => clock })
  const alice = await register(server.url, 'alice')
  clock += 3600_000
  const res = await refresh(server.url, `Bearer ${alice.token}`)
  expect({ status: res.status, contentType: res.headers.get('content-type'), body: res.body }).toEqual({
    status: 200,
    contentType: JSON_TYPE,
    body: { error: null, data: { token: expect.any(String), user: alice.user } },
  })
  const fresh: string = res.body.data.token
  expect(fresh).not.toBe(alice.token)
  expect(decodeProtectedHeader(fresh)).toEqual({ alg: 'HS256', typ: 'JWT' })
  const iat = Math.floor(clock / 1000)
  expect(decodeJwt(fresh)).toEqual({ sub: String(alice.user.id), name: 'alice', iat, exp: iat + DAY, ver: 0 })
  expect(decodeJwt(fresh).exp!).toBeGreaterThan(decodeJwt(alice.token).exp!)
})

test('a refreshed token outlives the one it replaced', async () => {
  let clock = Date.UTC(2026, 10, 28, 12)
  await using server = await startTestServer({ now: () => clock, config: { tokenTtlSeconds: 3600 } })
  const alice = await register(server.url, 'alice')
  clock += 3000_000
  const fresh = (await refresh(server.url, `Bearer ${alice.token}`)).body.data.token
  clock += 1000_000
  await expectRefusedEverywhere(server.url, `Bearer ${alice.token}`)
  expect((await me(server.url, `Bearer ${fresh}`)).body.data).toEqual({ ...alice.user, role: 'admin' })
  expect((await refresh(server.url, `Bearer ${fresh}`)).status).toBe(200)
})

test('POST /token ignores any request body', async () => {
  await using server = await startTestServer()
  const alice = await register(server.url, 'alice')
  const res = await request(`${server.url}/api/v1/token`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${alice.token}`, ...OFF_DOCUMENT },
    body: 'not json',
  })
  expect(res.body).toEqual({ error: null, data: { token: expect.any(String), user: alice.user } })
})

// spec §2: without JWT_SECRET the generated secret is kept in the database so tokens survive restarts.
test('after a restart on the same database, logins work and earlier tokens stay valid', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'chat-restart-'))
  try {
    let alice
    {
      await using first = await startTestServer({ dir })
      alice = await register(first.url, 'alice', 'pw')
    }
    await using second = await startTestServer({ dir })
    expect((await me(second.url, `Bearer ${alice.token}`)).body).toEqual({ error: null, data: { ...alice.user, role: 'admin' } })
    expect((await refresh(second.url, `Bearer ${alice.token}`)).status).toBe(200)
    const login = await request(`${second.url}/api/v1/login`, { json: { username: 'alice', secret: 'pw' } })
    expect(login.body).toEqual({ error: null, data: { token: expect.any(String), user: alice.user } })
    expect((await request(`${second.url}/api/v1/users`, { json: { username: 'ALICE', secret: 'pw' } })).status).toBe(409)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

test('changing JWT_SECRET invalidates tokens signed with the old one', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'chat-restart-'))
  try {
    let alice
    {
      await using first = await startTestServer({ dir, config: { jwtSecret: SECRET } })
      alice = await register(first.url, 'alice', 'pw')
    }
    await using second = await startTestServer({ dir, config: { jwtSecret: 'z'.repeat(32) } })
    await expectRefusedEverywhere(second.url, `Bearer ${alice.token}`)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})
