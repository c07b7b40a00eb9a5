/**
 * POST /api/v1/users (spec §2): sign-up. The body is `{"username","secret"}` as JSON, whatever the
 * Content-Type says. A username is checked after Unicode NFC normalisation: 1-32 code points (not
 * UTF-16 units), no leading or trailing whitespace, no control characters; it is stored NFC and
 * unique ignoring case. A secret is 1-1024 bytes of UTF-8 with no other rules, and is stored only
 * as an argon2id hash.
 */
import { Database } from 'bun:sqlite'
import { expect, test } from 'bun:test'
import { defineConfig } from '../../src/config.ts'
import { request, type ApiResponse } from '../support/http.ts'
import { startTestServer } from '../support/server.ts'

const JSON_TYPE = 'application/json; charset=utf-8'

function signUp(baseUrl: string, body: unknown, headers?: HeadersInit): Promise<ApiResponse> {
  return request(`${baseUrl}/api/v1/users`, { json: body, headers })
}

function logIn(baseUrl: string, username: string, secret: string): Promise<ApiResponse> {
  return request(`${baseUrl}/api/v1/login`, { json: { username, secret } })
}

function expectCreated(res: ApiResponse, username: string): void {
  expect({ status: res.status, contentType: res.headers.get('content-type'), body: res.body }).toEqual({
    status: 201,
    contentType: JSON_TYPE,
    body: { error: null, data: { id: expect.any(Number), username } },
  })
}

function expectError(res: ApiResponse, status: number, type: string): void {
  expect({ status: res.status, contentType: res.headers.get('content-type'), body: res.body }).toEqual({
    status,
    contentType: JSON_TYPE,
    body: { error: { type, message: expect.any(String) }, data: null },
  })
}

function readUsers(database: string): { id: number; username: string; password_hash: string }[] {
  const db = new Database(database, { readonly: true })
  try {
    return db.query<{ id: number; username: string; password_hash: string }, []>('SELECT id, username, password_hash FROM users ORDER BY id').all()
  } finally {
    db.close()
  }
}

test('sign-up answers 201 with the new id and username', async () => {
  await using server = await startTestServer()
  const res = await signUp(server.url, { username: 'alice', secret: 'pw' })
  expectCreated(res, 'alice')
  expect(Number.isSafeInteger(res.body.data.id)).toBe(true)
})

test('each user gets a different id', async () => {
  await using server = await startTestServer()
  const a = await signUp(server.url, { username: 'alice', secret: 'pw' })
  const b = await signUp(server.url, { username: 'bob', secret: 'pw' })
  expectCreated(a, 'alice')
  expectCreated(b, 'bob')
  expect(a.body.data.id).not.toBe(b.body.data.id)
})

test('a signed-up user can log in with the same secret', async () => {
  await using server = await startTestServer()
  const created = await signUp(server.url, { username: 'alice', secret: 'pw' })
  const login = await logIn(server.url, 'alice', 'pw')
  expect(login.status).toBe(200)
  expect(login.body.data.user).toEqual(created.body.data)
})

// spec §2: usernames are shown as given (apart from NFC) and unique case-insensitively.
test('the username keeps its case as given', async () => {
  await using server = await startTestServer()
  expectCreated(await signUp(server.url, { username: 'AlIcE', secret: 'pw' }), 'AlIcE')
})

test('"Alice" blocks "alice" with 409 USER_EXISTS', async () => {
  await using server = await startTestServer()
  expectCreated(await signUp(server.url, { username: 'Alice', secret: 'pw' }), 'Alice')
  expectError(await signUp(server.url, { username: 'alice', secret: 'other' }), 409, 'USER_EXISTS')
  expectError(await signUp(server.url, { username: 'ALICE', secret: 'other' }), 409, 'USER_EXISTS')
  expectError(await signUp(server.url, { username: 'Alice', secret: 'pw' }), 409, 'USER_EXISTS')
})

test('a case-insensitive match on non-Latin letters also conflicts', async () => {
  await using server = await startTestServer()
  expectCreated(await signUp(server.url, { username: 'Ωμέγα', secret: 'pw' }), 'Ωμέγα')
  expectError(await signUp(server.url, { username: 'ΩΜΈΓΑ', secret: 'pw' }), 409, 'USER_EXISTS')
})

test('a failed duplicate sign-up leaves the first account and its secret unchanged', async () => {
  await using server = await startTestServer()
  const first = await signUp(server.url, { username: 'Alice', secret: 'first' })
  await signUp(server.url, { username: 'alice', secret: 'second' })
  expect((await logIn(server.url, 'alice', 'second')).status).toBe(401)
  const login = await logIn(server.url, 'alice', 'first')
  expect(login.body.data.user).toEqual(first.body.data)
  expect(readUsers(server.config.database)).toHaveLength(1)
})

test('concurrent sign-ups of one name create exactly one user', async () => {
  await using server = await startTestServer()
  const results = await Promise.all(['race', 'Race', 'RACE', 'race', 'rAcE'].map((username) => signUp(server.url, { username, secret: 'pw' })))
  expect(results.map((r) => r.status).sort()).toEqual([201, 409, 409, 409, 409])
  expect(readUsers(server.config.database)).toHaveLength(1)
})

// spec §2: NFC normalisation. "é" decomposed is U+0065 U+0301; composed it is U+00E9.
test('a decomposed name is stored and returned in NFC', async () => {
  await using server = await startTestServer()
  const decomposed = 'Ame\u0301lie'
  const composed = 'Am\u00e9lie'
  expect(decomposed).not.toBe(composed)
  const res = await signUp(server.url, { username: decomposed, secret: 'pw' })
  expectCreated(res, composed)
  expect(readUsers(server.config.database).map((u) => u.username)).toEqual([composed])
})

test('the composed form of a decomposed name conflicts as USER_EXISTS', async () => {
  await using server = await startTestServer()
  expectCreated(await signUp(server.url, { username: 'Ame\u0301lie', secret: 'pw' }), 'Am\u00e9lie')
  expectError(await signUp(server.url, { username: 'Am\u00e9lie', secret: 'pw' }), 409, 'USER_EXISTS')
  expectError(await signUp(server.url, { username: 'AM\u00c9LIE', secret: 'pw' }), 409, 'USER_EXISTS')
})

test('either normal form logs in to the same account', async () => {
  await using server = await startTestServer()
  const created = await signUp(server.url, { username: 'Am\u00e9lie', secret: 'pw' })
  expect((await logIn(server.url, 'Ame\u0301lie', 'pw')).body.data.user).toEqual(created.body.data)
  expect((await logIn(server.url, 'Am\u00e9lie', 'pw')).body.data.user).toEqual(created.body.data)
})

test('a Unicode username round-trips through sign-up, login and /users/me', async () => {
  await using server = await startTestServer()
  const name = '日本語 ユーザー 🎉 Ñandú'
  expectCreated(await signUp(server.url, { username: name, secret: 'pässwörd 🔑' }), name)
  const login = await logIn(server.url, name, 'pässwörd 🔑')
  expect(login.body.data.user.username).toBe(name)
  const me = await request(`${server.url}/api/v1/users/me`, { headers: { Authorization: `Bearer ${login.body.data.token}` } })
  expect(me.body).toEqual({ error: null, data: login.body.data.user })
  expect(readUsers(server.config.database).map((u) => u.username)).toEqual([name])
})

test('a space inside a username is allowed', async () => {
  await using server = await startTestServer()
  expectCreated(await signUp(server.url, { username: 'Alice Smith', secret: 'pw' }), 'Alice Smith')
})

// spec §2: the length limit counts code points. An emoji is 2 UTF-16 units but 1 code point.
test('a username of 32 code points is accepted', async () => {
  await using server = await startTestServer()
  expectCreated(await signUp(server.url, { username: 'a'.repeat(32), secret: 'pw' }), 'a'.repeat(32))
})

test('a username of 33 code points is refused with BAD_USERNAME', async () => {
  await using server = await startTestServer()
  expectError(await signUp(server.url, { username: 'a'.repeat(33), secret: 'pw' }), 400, 'BAD_USERNAME')
})

test('32 astral characters (64 UTF-16 units) are accepted as 32 code points', async () => {
  await using server = await startTestServer()
  const name = '😀'.repeat(32)
  expect(name.length).toBe(64)
  expectCreated(await signUp(server.url, { username: name, secret: 'pw' }), name)
})

test('33 astral characters are refused with BAD_USERNAME', async () => {
  await using server = await startTestServer()
  expectError(await signUp(server.url, { username: '😀'.repeat(33), secret: 'pw' }), 400, 'BAD_USERNAME')
  expectError(await signUp(server.url, { username: '𝒜'.repeat(31) + 'ab', secret: 'pw' }), 400, 'BAD_USERNAME')
})

test('the length is counted after NFC: 33 code points that compose to 32 are accepted', async () => {
  await using server = await startTestServer()
  const raw = 'a'.repeat(31) + 'e\u0301'
  expect([...raw]).toHaveLength(33)
  expectCreated(await signUp(server.url, { username: raw, secret: 'pw' }), 'a'.repeat(31) + '\u00e9')
})

test('an empty username is refused with BAD_USERNAME', async () => {
  await using server = await startTestServer()
  expectError(await signUp(server.url, { username: '', secret: 'pw' }), 400, 'BAD_USERNAME')
})

test('a username with leading or trailing whitespace is refused with BAD_USERNAME', async () => {
  await using server = await startTestServer()
  for (const username of [' alice', 'alice ', '  ', '\u00a0alice', 'alice\u3000', '\u2003alice']) {
    expectError(await signUp(server.url, { username, secret: 'pw' }), 400, 'BAD_USERNAME')
  }
  expect(readUsers(server.config.database)).toEqual([])
})

test('a username with a control character is refused with BAD_USERNAME', async () => {
  await using server = await startTestServer()
  for (const username of ['ali\u0000ce', 'ali\nce', 'ali\tce', 'alice\r', 'ali\u001bce', 'ali\u007fce', 'ali\u0085ce', 'ali\u009fce']) {
    expectError(await signUp(server.url, { username, secret: 'pw' }), 400, 'BAD_USERNAME')
  }
  expect(readUsers(server.config.database)).toEqual([])
})

test('a username with a lone surrogate is refused with BAD_USERNAME', async () => {
  await using server = await startTestServer()
  // Sent as the JSON escape, which is valid UTF-8 on the wire but not a Unicode string.
  const res = await request(`${server.url}/api/v1/users`, { method: 'POST', body: '{"username":"ali\\ud800ce","secret":"pw"}' })
  expectError(res, 400, 'BAD_USERNAME')
})

// spec §2: BAD_PASSWORD only for empty or more than 1024 bytes of UTF-8.
test('an empty secret is refused with BAD_PASSWORD', async () => {
  await using server = await startTestServer()
  expectError(await signUp(server.url, { username: 'alice', secret: '' }), 400, 'BAD_PASSWORD')
  expect(readUsers(server.config.database)).toEqual([])
})

test('a secret of 1024 UTF-8 bytes is accepted and logs in', async () => {
  await using server = await startTestServer()
  const secrets = { two: 'é'.repeat(512), three: '€'.repeat(341) + 'a', four: '🔑'.repeat(256) }
  for (const [name, secret] of Object.entries(secrets)) {
    expect(Buffer.byteLength(secret)).toBe(1024)
    expectCreated(await signUp(server.url, { username: name, secret }), name)
    expect((await logIn(server.url, name, secret)).status).toBe(200)
  }
})

test('a secret of 1025 UTF-8 bytes is refused with BAD_PASSWORD', async () => {
  await using server = await startTestServer()
  for (const secret of ['é'.repeat(512) + 'a', '€'.repeat(341) + 'ab', '🔑'.repeat(256) + 'a', 'a'.repeat(1025)]) {
    expect(Buffer.byteLength(secret)).toBe(1025)
    // 'é' × 512 + 'a' is 513 UTF-16 units: the limit is bytes, not characters.
    expectError(await signUp(server.url, { username: 'alice', secret }), 400, 'BAD_PASSWORD')
  }
  expect(readUsers(server.config.database)).toEqual([])
})

test('a secret has no rules beyond its size: spaces and a single character are accepted', async () => {
  await using server = await startTestServer()
  expectCreated(await signUp(server.url, { username: 'spaces', secret: '   ' }), 'spaces')
  expectCreated(await signUp(server.url, { username: 'short', secret: 'x' }), 'short')
  expect((await logIn(server.url, 'spaces', '   ')).status).toBe(200)
  expect((await logIn(server.url, 'spaces', '  ')).status).toBe(401)
})

// spec §2: argon2id (OWASP parameters or stronger); the plain secret is never stored.
test('the stored password is an argon2id PHC string, never the plain secret', async () => {
  await using server = await startTestServer()
  const secret = 'correct horse battery staple'
  await signUp(server.url, { username: 'alice', secret })
  const [row] = readUsers(server.config.database)
  expect(row!.password_hash).toMatch(/^\$argon2id\$v=19\$m=\d+,t=\d+,p=\d+\$[A-Za-z0-9+/]+\$[A-Za-z0-9+/]+$/)
  expect(row!.password_hash).not.toContain(secret)
  expect(row!.password_hash).not.toContain(Buffer.from(secret).toString('base64').replace(/=+$/, ''))
})

test('two users with the same secret get different hashes (salted)', async () => {
  await using server = await startTestServer()
  await signUp(server.url, { username: 'alice', secret: 'same' })
  await signUp(server.url, { username: 'bob', secret: 'same' })
  const [a, b] = readUsers(server.config.database)
  expect(a!.password_hash).not.toBe(b!.password_hash)
})

test('the default argon2id cost meets OWASP (m >= 19456 KiB, t >= 2)', async () => {
  const defaults = defineConfig()
  await using server = await startTestServer({ config: { argon2MemoryKib: defaults.argon2MemoryKib, argon2Iterations: defaults.argon2Iterations } })
  await signUp(server.url, { username: 'alice', secret: 'pw' })
  const [row] = readUsers(server.config.database)
  const m = /^\$argon2id\$v=19\$m=(\d+),t=(\d+),p=(\d+)\$/.exec(row!.password_hash)
  expect(m).not.toBeNull()
  expect(Number(m![1])).toBeGreaterThanOrEqual(19456)
  expect(Number(m![2])).toBeGreaterThanOrEqual(2)
  expect((await logIn(server.url, 'alice', 'pw')).status).toBe(200)
})

// spec §2: BAD_BINDING is about the shape of the body, before any field rule.
test('a body that is not JSON is refused with BAD_BINDING', async () => {
  await using server = await startTestServer()
  for (const body of ['username=alice&secret=pw', '{"username":"alice","secret":"pw"', '', 'undefined', "{'username':'alice'}"]) {
    expectError(await request(`${server.url}/api/v1/users`, { method: 'POST', body }), 400, 'BAD_BINDING')
  }
})

test('a JSON body that is not an object is refused with BAD_BINDING', async () => {
  await using server = await startTestServer()
  for (const body of [[], [{ username: 'alice', secret: 'pw' }], null, 'alice', 42, true]) {
    expectError(await signUp(server.url, body), 400, 'BAD_BINDING')
  }
})

test('a body that is not valid UTF-8 is refused with BAD_BINDING', async () => {
  await using server = await startTestServer()
  const head = new TextEncoder().encode('{"username":"al')
  const tail = new TextEncoder().encode('ice","secret":"pw"}')
  for (const bad of [[0xff], [0xc3], [0xed, 0xa0, 0x80], [0xc0, 0xaf]]) {
    const body = new Uint8Array([...head, ...bad, ...tail])
    expectError(await request(`${server.url}/api/v1/users`, { method: 'POST', body }), 400, 'BAD_BINDING')
  }
  expect(readUsers(server.config.database)).toEqual([])
})

test('a missing username or secret is refused with BAD_BINDING', async () => {
  await using server = await startTestServer()
  for (const body of [{}, { username: 'alice' }, { secret: 'pw' }, { user: 'alice', password: 'pw' }]) {
    expectError(await signUp(server.url, body), 400, 'BAD_BINDING')
  }
})

test('a username or secret that is not a string is refused with BAD_BINDING', async () => {
  await using server = await startTestServer()
  for (const value of [null, 42, true, ['alice'], { name: 'alice' }]) {
    expectError(await signUp(server.url, { username: value, secret: 'pw' }), 400, 'BAD_BINDING')
    expectError(await signUp(server.url, { username: 'alice', secret: value }), 400, 'BAD_BINDING')
  }
  expect(readUsers(server.config.database)).toEqual([])
})

test('unknown extra fields are ignored', async () => {
  await using server = await startTestServer()
  const res = await signUp(server.url, { username: 'alice', secret: 'pw', id: 999, admin: true, username_key: 'bob', extra: { nested: [1] } })
  expectCreated(res, 'alice')
  expect(res.body.data.id).not.toBe(999)
  expect(readUsers(server.config.database).map((u) => u.username)).toEqual(['alice'])
})

test('a UTF-8 byte order mark before the JSON is tolerated', async () => {
  await using server = await startTestServer()
  const body = new Uint8Array([0xef, 0xbb, 0xbf, ...new TextEncoder().encode('{"username":"alice","secret":"pw"}')])
  expectCreated(await request(`${server.url}/api/v1/users`, { method: 'POST', body }), 'alice')
})

// spec §2: the Content-Type header is not required; curl's default form type still parses as JSON.
test('a body with no Content-Type header is parsed as JSON', async () => {
  await using server = await startTestServer()
  const body = new TextEncoder().encode(JSON.stringify({ username: 'alice', secret: 'pw' }))
  const res = await request(`${server.url}/api/v1/users`, { method: 'POST', body })
  expectCreated(res, 'alice')
})

test("curl's application/x-www-form-urlencoded body is parsed as JSON", async () => {
  await using server = await startTestServer()
  const res = await signUp(server.url, { username: 'alice', secret: 'pw' }, { 'Content-Type': 'application/x-www-form-urlencoded' })
  expectCreated(res, 'alice')
})

test('application/json and text/plain bodies are parsed as JSON', async () => {
  await using server = await startTestServer()
  expectCreated(await signUp(server.url, { username: 'alice', secret: 'pw' }, { 'Content-Type': 'application/json' }), 'alice')
  expectCreated(await signUp(server.url, { username: 'bob', secret: 'pw' }, { 'Content-Type': 'text/plain;charset=UTF-8' }), 'bob')
})

// A lone surrogate has no UTF-8 form; hashed lossily it would collide with U+FFFD (SECURITY.md).
test('a secret with a lone surrogate is 400 BAD_PASSWORD, and such a secret never logs in', async () => {
  await using server = await startTestServer()
  const refused = await request(`${server.url}/api/v1/users`, { json: { username: 'lone', secret: 'ab\ud800' } })
  expect(refused.status).toBe(400)
  expect(refused.body).toEqual({ error: { type: 'BAD_PASSWORD', message: expect.any(String) }, data: null })
  expect((await request(`${server.url}/api/v1/users`, { json: { username: 'lone', secret: 'ab\ufffd' } })).status).toBe(201)
  const login = await request(`${server.url}/api/v1/login`, { json: { username: 'lone', secret: 'ab\udc00' } })
  expect(login.status).toBe(401)
  expect(login.body.error.type).toBe('PASSWORD_MATCH_FAILED')
})
