/**
 * POST /api/v1/login (spec §2). An unknown username is 400 USER_NOT_FOUND by default (the seed's
 * documented behaviour) and 401 PASSWORD_MATCH_FAILED with HIDE_USER_NOT_FOUND, so no one can tell
 * which names exist. Failed attempts, and only those, are limited per username and per client
 * address in a one-minute sliding window; past a limit the answer is 429 RATE_LIMITED with a
 * Retry-After header in whole seconds (RFC 9110 §10.2.3).
 */
import { Database } from 'bun:sqlite'
import { expect, test } from 'bun:test'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { decodeJwt } from 'jose'
import { defineConfig } from '../../src/config.ts'
import { request, type ApiResponse } from '../support/http.ts'
import { startTestServer } from '../support/server.ts'

const JSON_TYPE = 'application/json; charset=utf-8'

function logIn(baseUrl: string, body: unknown, headers?: HeadersInit): Promise<ApiResponse> {
  return request(`${baseUrl}/api/v1/login`, { json: body, headers })
}

async function signUp(baseUrl: string, username: string, secret: string): Promise<{ id: number; username: string }> {
  const res = await request(`${baseUrl}/api/v1/users`, { json: { username, secret } })
  if (res.status !== 201) throw new Error(`sign-up failed: ${res.status} ${JSON.stringify(res.body)}`)
  return res.body.data
}

function expectError(res: ApiResponse, status: number, type: string): void {
  expect({ status: res.status, contentType: res.headers.get('content-type'), body: res.body }).toEqual({
    status,
    contentType: JSON_TYPE,
    body: { error: { type, message: expect.any(String) }, data: null },
  })
}

function headerNames(headers: Headers): string[] {
  const names: string[] = []
  headers.forEach((_value, name) => names.push(name))
  return names.sort()
}

/** 429 RATE_LIMITED with a Retry-After of whole seconds in 1..60 (the window is a minute); returns it. */
function expectRateLimited(res: ApiResponse): number {
  expectError(res, 429, 'RATE_LIMITED')
  const retryAfter = res.headers.get('retry-after')
  expect(retryAfter).toMatch(/^[1-9]\d*$/)
  const seconds = Number(retryAfter)
  expect(seconds).toBeLessThanOrEqual(60)
  return seconds
}

test('login answers 200 with a token and the user', async () => {
  await using server = await startTestServer()
  const user = await signUp(server.url, 'alice', 'pw')
  const res = await logIn(server.url, { username: 'alice', secret: 'pw' })
  expect({ status: res.status, contentType: res.headers.get('content-type'), body: res.body }).toEqual({
    status: 200,
    contentType: JSON_TYPE,
    body: { error: null, data: { token: expect.any(String), user } },
  })
  expect(res.body.data.token.split('.')).toHaveLength(3)
})

test('the login token is accepted by /users/me', async () => {
  await using server = await startTestServer()
  const user = await signUp(server.url, 'alice', 'pw')
  const { token } = (await logIn(server.url, { username: 'alice', secret: 'pw' })).body.data
  const me = await request(`${server.url}/api/v1/users/me`, { headers: { Authorization: `Bearer ${token}` } })
  expect(me.status).toBe(200)
  expect(me.body).toEqual({ error: null, data: { ...user, role: 'admin' } })
})

test('login ignores case and returns the username as it was signed up', async () => {
  await using server = await startTestServer()
  const user = await signUp(server.url, 'Alice', 'pw')
  for (const username of ['alice', 'ALICE', 'aLiCe']) {
    const res = await logIn(server.url, { username, secret: 'pw' })
    expect(res.body).toEqual({ error: null, data: { token: expect.any(String), user: { id: user.id, username: 'Alice' } } })
  }
})

test('the secret is compared exactly: case, whitespace and normal form matter', async () => {
  await using server = await startTestServer()
  await signUp(server.url, 'alice', 'Secret é')
  for (const secret of ['secret é', 'Secret é ', ' Secret é', 'Secret e\u0301', 'Secret']) {
    expectError(await logIn(server.url, { username: 'alice', secret }), 401, 'PASSWORD_MATCH_FAILED')
  }
  expect((await logIn(server.url, { username: 'alice', secret: 'Secret é' })).status).toBe(200)
})

test('an unknown username is 400 USER_NOT_FOUND by default', async () => {
  await using server = await startTestServer()
  await signUp(server.url, 'alice', 'pw')
  expectError(await logIn(server.url, { username: 'bob', secret: 'pw' }), 400, 'USER_NOT_FOUND')
})

test('a wrong secret for a known username is 401 PASSWORD_MATCH_FAILED', async () => {
  await using server = await startTestServer()
  await signUp(server.url, 'alice', 'pw')
  expectError(await logIn(server.url, { username: 'alice', secret: 'wrong' }), 401, 'PASSWORD_MATCH_FAILED')
  expectError(await logIn(server.url, { username: 'alice', secret: 'x' }), 401, 'PASSWORD_MATCH_FAILED')
})

test('with hideUserNotFound an unknown username answers exactly like a wrong secret', async () => {
  await using server = await startTestServer({ config: { hideUserNotFound: true } })
  await signUp(server.url, 'alice', 'pw')
  const unknown = await logIn(server.url, { username: 'bob', secret: 'pw' })
  const wrong = await logIn(server.url, { username: 'alice', secret: 'wrong' })
  expectError(unknown, 401, 'PASSWORD_MATCH_FAILED')
  expect(unknown.body).toEqual(wrong.body)
  expect(headerNames(unknown.headers)).toEqual(headerNames(wrong.headers))
  expect((await logIn(server.url, { username: 'alice', secret: 'pw' })).status).toBe(200)
})

test('with hideUserNotFound an unknown username costs as much time as a wrong secret', async () => {
  // Real OWASP cost, so a skipped hash (about 1 ms) is far from a verify (tens of ms); medians absorb noise.
  const defaults = defineConfig()
  await using server = await startTestServer({
    config: { hideUserNotFound: true, argon2MemoryKib: defaults.argon2MemoryKib, argon2Iterations: defaults.argon2Iterations },
  })
  await signUp(server.url, 'alice', 'pw')
  const median = async (body: unknown) => {
    const times: number[] = []
    for (let i = 0; i < 5; i++) {
      const started = performance.now()
      expect((await logIn(server.url, body)).status).toBe(401)
      times.push(performance.now() - started)
    }
    return times.sort((a, b) => a - b)[2]!
  }
  await median({ username: 'warm-up', secret: 'pw' })
  const wrong = await median({ username: 'alice', secret: 'wrong' })
  const unknown = await median({ username: 'nobody', secret: 'pw' })
  expect(unknown).toBeGreaterThan(wrong * 0.5)
})

test('login with a body that is not a JSON object is refused with BAD_BINDING', async () => {
  await using server = await startTestServer()
  for (const body of [[], null, 'alice', 1]) {
    expectError(await logIn(server.url, body), 400, 'BAD_BINDING')
  }
  for (const raw of ['not json', '', '{"username":"alice"']) {
    expectError(await request(`${server.url}/api/v1/login`, { method: 'POST', body: raw }), 400, 'BAD_BINDING')
  }
  const badUtf8 = new Uint8Array([...new TextEncoder().encode('{"username":"a'), 0xff, ...new TextEncoder().encode('","secret":"pw"}')])
  expectError(await request(`${server.url}/api/v1/login`, { method: 'POST', body: badUtf8 }), 400, 'BAD_BINDING')
})

test('login with a missing or non-string username or secret is refused with BAD_BINDING', async () => {
  await using server = await startTestServer()
  await signUp(server.url, 'alice', 'pw')
  for (const body of [
    {},
    { username: 'alice' },
    { secret: 'pw' },
    { username: 1, secret: 'pw' },
    { username: 'alice', secret: null },
    { username: ['alice'], secret: 'pw' },
  ]) {
    expectError(await logIn(server.url, body), 400, 'BAD_BINDING')
  }
})

test('login ignores unknown fields and needs no Content-Type', async () => {
  await using server = await startTestServer()
  const user = await signUp(server.url, 'alice', 'pw')
  const extra = await logIn(server.url, { username: 'alice', secret: 'pw', remember: true, token: 'x' })
  expect(extra.body.data.user).toEqual(user)
  const form = await logIn(server.url, { username: 'alice', secret: 'pw' }, { 'Content-Type': 'application/x-www-form-urlencoded' })
  expect(form.body.data.user).toEqual(user)
  const bytes = new TextEncoder().encode(JSON.stringify({ username: 'alice', secret: 'pw' }))
  const bare = await request(`${server.url}/api/v1/login`, { method: 'POST', body: bytes })
  expect(bare.body.data.user).toEqual(user)
})

test('each login issues a token for the same user', async () => {
  const start = Date.UTC(2026, 10, 28, 12)
  let clock = start
  await using server = await startTestServer({ now: () => clock })
  const user = await signUp(server.url, 'alice', 'pw')
  const first = (await logIn(server.url, { username: 'alice', secret: 'pw' })).body.data.token
  clock += 5000
  const second = (await logIn(server.url, { username: 'alice', secret: 'pw' })).body.data.token
  expect(second).not.toBe(first)
  expect(decodeJwt(first)).toMatchObject({ sub: String(user.id), iat: start / 1000 })
  expect(decodeJwt(second)).toMatchObject({ sub: String(user.id), iat: start / 1000 + 5 })
})

// spec §2: failed attempts only, per username and per client address; 429 with Retry-After.
test('past the per-username limit of failed logins the answer is 429 RATE_LIMITED with Retry-After', async () => {
  await using server = await startTestServer({ config: { loginLimitPerUser: 3, loginLimitPerAddress: 100 } })
  await signUp(server.url, 'alice', 'pw')
  for (let i = 0; i < 3; i++) expectError(await logIn(server.url, { username: 'alice', secret: 'wrong' }), 401, 'PASSWORD_MATCH_FAILED')
  expectRateLimited(await logIn(server.url, { username: 'alice', secret: 'wrong' }))
})

test('a rate-limited username is refused even with the right secret', async () => {
  await using server = await startTestServer({ config: { loginLimitPerUser: 3, loginLimitPerAddress: 100 } })
  await signUp(server.url, 'alice', 'pw')
  for (let i = 0; i < 3; i++) await logIn(server.url, { username: 'alice', secret: 'wrong' })
  expectRateLimited(await logIn(server.url, { username: 'alice', secret: 'pw' }))
})

test('the per-username limit counts "Alice" and "alice" as one name', async () => {
  await using server = await startTestServer({ config: { loginLimitPerUser: 3, loginLimitPerAddress: 100 } })
  await signUp(server.url, 'Alice', 'pw')
  for (const username of ['Alice', 'alice', 'ALICE']) await logIn(server.url, { username, secret: 'wrong' })
  expectRateLimited(await logIn(server.url, { username: 'aLiCe', secret: 'pw' }))
})

test('lone surrogates in the username do not open new per-username budgets for an account with U+FFFD', async () => {
  // The database reads "a\ud800" as "a\ufffd" (a lone surrogate has no UTF-8 form), so both reach the
  // same account and must count as one name; else each of 2 048 surrogates would be a fresh budget.
  await using server = await startTestServer({ config: { loginLimitPerUser: 3, loginLimitPerAddress: 100 } })
  await signUp(server.url, 'a\ufffd', 'pw')
  for (const username of ['a\ud800', 'a\udbff', 'a\udfff']) await logIn(server.url, { username, secret: 'wrong' })
  expectRateLimited(await logIn(server.url, { username: 'a\udc00', secret: 'wrong' }))
  expectRateLimited(await logIn(server.url, { username: 'a\ufffd', secret: 'pw' }))
})

test('the per-username limit leaves other usernames alone', async () => {
  await using server = await startTestServer({ config: { loginLimitPerUser: 3, loginLimitPerAddress: 100 } })
  await signUp(server.url, 'alice', 'pw')
  const bob = await signUp(server.url, 'bob', 'pw')
  for (let i = 0; i < 3; i++) await logIn(server.url, { username: 'alice', secret: 'wrong' })
  expectRateLimited(await logIn(server.url, { username: 'alice', secret: 'pw' }))
  expect((await logIn(server.url, { username: 'bob', secret: 'pw' })).body.data.user).toEqual(bob)
})

test('unknown usernames are rate limited too', async () => {
  await using server = await startTestServer({ config: { loginLimitPerUser: 3, loginLimitPerAddress: 100 } })
  for (let i = 0; i < 3; i++) expectError(await logIn(server.url, { username: 'ghost', secret: 'pw' }), 400, 'USER_NOT_FOUND')
  expectRateLimited(await logIn(server.url, { username: 'ghost', secret: 'pw' }))
})

test('successful logins do not count toward the limit', async () => {
  await using server = await startTestServer({ config: { loginLimitPerUser: 3, loginLimitPerAddress: 3 } })
  await signUp(server.url, 'alice', 'pw')
  for (let i = 0; i < 10; i++) expect((await logIn(server.url, { username: 'alice', secret: 'pw' })).status).toBe(200)
  expectError(await logIn(server.url, { username: 'alice', secret: 'wrong' }), 401, 'PASSWORD_MATCH_FAILED')
  expectError(await logIn(server.url, { username: 'alice', secret: 'wrong' }), 401, 'PASSWORD_MATCH_FAILED')
  expect((await logIn(server.url, { username: 'alice', secret: 'pw' })).status).toBe(200)
  expectError(await logIn(server.url, { username: 'alice', secret: 'wrong' }), 401, 'PASSWORD_MATCH_FAILED')
  expectRateLimited(await logIn(server.url, { username: 'alice', secret: 'wrong' }))
})

test('a success does not reset the failures already counted', async () => {
  await using server = await startTestServer({ config: { loginLimitPerUser: 3, loginLimitPerAddress: 100 } })
  await signUp(server.url, 'alice', 'pw')
  await logIn(server.url, { username: 'alice', secret: 'wrong' })
  await logIn(server.url, { username: 'alice', secret: 'wrong' })
  expect((await logIn(server.url, { username: 'alice', secret: 'pw' })).status).toBe(200)
  await logIn(server.url, { username: 'alice', secret: 'wrong' })
  expectRateLimited(await logIn(server.url, { username: 'alice', secret: 'pw' }))
})

test('requests refused as BAD_BINDING do not count toward the limit', async () => {
  await using server = await startTestServer({ config: { loginLimitPerUser: 3, loginLimitPerAddress: 3 } })
  await signUp(server.url, 'alice', 'pw')
  for (let i = 0; i < 5; i++) expectError(await logIn(server.url, { username: 'alice' }), 400, 'BAD_BINDING')
  expect((await logIn(server.url, { username: 'alice', secret: 'pw' })).status).toBe(200)
})

test('past the per-address limit failures across different usernames are refused with 429', async () => {
  await using server = await startTestServer({ config: { loginLimitPerUser: 100, loginLimitPerAddress: 3 } })
  await signUp(server.url, 'alice', 'pw')
  await signUp(server.url, 'bob', 'pw')
  expectError(await logIn(server.url, { username: 'alice', secret: 'wrong' }), 401, 'PASSWORD_MATCH_FAILED')
  expectError(await logIn(server.url, { username: 'bob', secret: 'wrong' }), 401, 'PASSWORD_MATCH_FAILED')
  expectError(await logIn(server.url, { username: 'carol', secret: 'wrong' }), 400, 'USER_NOT_FOUND')
  expectRateLimited(await logIn(server.url, { username: 'dave', secret: 'pw' }))
  expectRateLimited(await logIn(server.url, { username: 'alice', secret: 'pw' }))
})

test('without TRUST_PROXY a spoofed X-Forwarded-For does not escape the per-address limit', async () => {
  await using server = await startTestServer({ config: { loginLimitPerUser: 100, loginLimitPerAddress: 3 } })
  await signUp(server.url, 'alice', 'pw')
  for (let i = 0; i < 3; i++) await logIn(server.url, { username: `u${i}`, secret: 'pw' }, { 'X-Forwarded-For': `10.0.0.${i}` })
  expectRateLimited(await logIn(server.url, { username: 'alice', secret: 'pw' }, { 'X-Forwarded-For': '10.0.0.99' }))
})

test('with TRUST_PROXY the per-address limit uses the first X-Forwarded-For entry', async () => {
  await using server = await startTestServer({ config: { trustProxy: true, loginLimitPerUser: 100, loginLimitPerAddress: 3 } })
  const alice = await signUp(server.url, 'alice', 'pw')
  const from = (address: string) => ({ 'X-Forwarded-For': `${address}, 10.9.9.9` })
  for (let i = 0; i < 3; i++) await logIn(server.url, { username: `u${i}`, secret: 'pw' }, from('203.0.113.7'))
  expectRateLimited(await logIn(server.url, { username: 'alice', secret: 'pw' }, from('203.0.113.7')))
  expect((await logIn(server.url, { username: 'alice', secret: 'pw' }, from('198.51.100.1'))).body.data.user).toEqual(alice)
})

test('the limit lifts once the failures are a minute old, and Retry-After says when', async () => {
  let clock = Date.UTC(2026, 10, 28, 12)
  await using server = await startTestServer({ now: () => clock, config: { loginLimitPerUser: 3, loginLimitPerAddress: 100 } })
  const alice = await signUp(server.url, 'alice', 'pw')
  for (let i = 0; i < 3; i++) await logIn(server.url, { username: 'alice', secret: 'wrong' })
  expect(expectRateLimited(await logIn(server.url, { username: 'alice', secret: 'pw' }))).toBe(60)
  clock += 45_000
  expect(expectRateLimited(await logIn(server.url, { username: 'alice', secret: 'pw' }))).toBe(15)
  clock += 14_500
  expect(expectRateLimited(await logIn(server.url, { username: 'alice', secret: 'pw' }))).toBe(1)
  clock += 500
  expect((await logIn(server.url, { username: 'alice', secret: 'pw' })).body.data.user).toEqual(alice)
})

test('the window slides: only failures within the last minute count', async () => {
  let clock = Date.UTC(2026, 10, 28, 12)
  await using server = await startTestServer({ now: () => clock, config: { loginLimitPerUser: 3, loginLimitPerAddress: 100 } })
  await signUp(server.url, 'alice', 'pw')
  for (let i = 0; i < 3; i++) {
    await logIn(server.url, { username: 'alice', secret: 'wrong' })
    clock += 20_000
  }
  // Failures at 0 s, 20 s and 40 s; now it is 60 s, so the first has aged out.
  expectError(await logIn(server.url, { username: 'alice', secret: 'wrong' }), 401, 'PASSWORD_MATCH_FAILED')
  expect(expectRateLimited(await logIn(server.url, { username: 'alice', secret: 'pw' }))).toBe(20)
})

test('the default limits are 10 failures per username and 30 per address', async () => {
  await using server = await startTestServer()
  await signUp(server.url, 'alice', 'pw')
  for (let i = 0; i < 10; i++) expectError(await logIn(server.url, { username: 'alice', secret: 'wrong' }), 401, 'PASSWORD_MATCH_FAILED')
  expectRateLimited(await logIn(server.url, { username: 'alice', secret: 'pw' }))
  for (let i = 10; i < 30; i++) expectError(await logIn(server.url, { username: `ghost${i}`, secret: 'pw' }), 400, 'USER_NOT_FOUND')
  expectRateLimited(await logIn(server.url, { username: 'someone-else', secret: 'pw' }))
})

test('hideUserNotFound still rate limits unknown usernames', async () => {
  await using server = await startTestServer({ config: { hideUserNotFound: true, loginLimitPerUser: 3, loginLimitPerAddress: 100 } })
  for (let i = 0; i < 3; i++) expectError(await logIn(server.url, { username: 'ghost', secret: 'pw' }), 401, 'PASSWORD_MATCH_FAILED')
  expectRateLimited(await logIn(server.url, { username: 'ghost', secret: 'pw' }))
})

/** The stored PHC string of `username`, read from the server's SQLite file. */
function storedHash(dir: string, username: string): string {
  const db = new Database(join(dir, 'chat.db'), { readonly: true })
  try {
    return db.query<{ password_hash: string }, [string]>('SELECT password_hash FROM users WHERE username = ?').get(username)!.password_hash
  } finally {
    db.close()
  }
}

// spec §2 (HIDE_USER_NOT_FOUND costs what a wrong password does): a hash made with old argon2
// settings costs its own time to verify, so hashes converge on the current settings as users log in.
test('after the argon2 settings change, the next successful login rehashes with the new ones, and the secret still works', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'chat-rehash-'))
  try {
    {
      await using before = await startTestServer({ dir, config: { argon2MemoryKib: 64, argon2Iterations: 1 } })
      await signUp(before.url, 'alice', 'pw')
    }
    const old = storedHash(dir, 'alice')
    expect(old).toStartWith('$argon2id$v=19$m=64,t=1,p=1$')
    await using server = await startTestServer({ dir, config: { argon2MemoryKib: 128, argon2Iterations: 2 } })
    expectError(await logIn(server.url, { username: 'alice', secret: 'wrong' }), 401, 'PASSWORD_MATCH_FAILED')
    expect(storedHash(dir, 'alice')).toBe(old)
    expect((await logIn(server.url, { username: 'alice', secret: 'pw' })).status).toBe(200)
    const rehashed = storedHash(dir, 'alice')
    expect(rehashed).toStartWith('$argon2id$v=19$m=128,t=2,p=1$')
    // Current now: further logins leave it alone.
    expect((await logIn(server.url, { username: 'alice', secret: 'pw' })).status).toBe(200)
    expect(storedHash(dir, 'alice')).toBe(rehashed)
    expectError(await logIn(server.url, { username: 'alice', secret: 'wrong' }), 401, 'PASSWORD_MATCH_FAILED')
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})
