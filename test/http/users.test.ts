/**
 * POST /api/v1/users (spec §2): sign-up. The body is `{"username","secret"}` as JSON, whatever the
 * Content-Type says. A username is checked after Unicode NFC normalisation: 1-32 code points (not
 * UTF-16 units), no leading or trailing whitespace, no control characters, and nothing that lets it
 * pass for another name (invisible and format characters, whitespace other than U+0020, a leading
 * combining mark); it is stored NFC and unique under full case folding and compatibility mapping
 * ("STRAẞE" blocks "straße", "ａｌｉｃｅ" blocks "alice"), keys stored by the older rule being
 * rewritten at start-up. A secret is 1-1024 bytes of UTF-8 with no other rules, and is stored only
 * as an argon2id hash.
 */
import { Database } from 'bun:sqlite'
import { expect, test } from 'bun:test'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { KEY_RULE, KEYS_CHECKED_SETTING } from '../../src/chat/usernames.ts'
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
  expect(me.body).toEqual({ error: null, data: { ...login.body.data.user, role: 'admin' } })
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

// spec §2: names that could pass for someone else are refused (RFC 8265 UsernameCasePreserved is the model).
test('look-alike usernames are refused with BAD_USERNAME, saying which rule; emoji ZWJ sequences pass', async () => {
  await using server = await startTestServer()
  const cases: [string, RegExp][] = [
    ['ali\u200bce', /invisible/], // zero width space
    ['\u200b', /invisible/],
    ['ali\u200dce', /invisible/], // zero width joiner between letters
    ['\u202eecila', /invisible/], // RIGHT-TO-LEFT OVERRIDE
    ['ali\u2066ce\u2069', /invisible/], // bidi isolate
    ['alice\ufe0f', /invisible/], // variation selector
    ['\u3164', /invisible/], // HANGUL FILLER
    ['ali\u3164ce', /invisible/],
    ['\u115f\u1160', /invisible/], // Hangul choseong and jungseong fillers
    ['ali\uffa0ce', /invisible/], // HALFWIDTH HANGUL FILLER
    ['ali\u2800ce', /invisible/], // BRAILLE PATTERN BLANK
    ['ali\u00a0ce', /U\+0020/], // no-break space inside
    ['ali\u2003ce', /U\+0020/], // em space inside
    ['\u0301', /combining mark/], // a lone combining mark
    ['\u0301\u0308', /combining mark/],
    ['\u0301alice', /combining mark/],
    ['ali\ue000ce', /private-use/],
  ]
  for (const [username, reason] of cases) {
    const res = await signUp(server.url, { username, secret: 'pw' })
    expectError(res, 400, 'BAD_USERNAME')
    expect(`${JSON.stringify(username)}: ${res.body.error.message}`).toMatch(new RegExp(`: .*${reason.source}`))
  }
  expect(readUsers(server.config.database)).toEqual([])
  // A zero width joiner inside an emoji ZWJ sequence is part of one picture, not invisible.
  expectCreated(await signUp(server.url, { username: 'dev 👩‍💻', secret: 'pw' }), 'dev 👩‍💻')
})

// spec §2: unique under full case folding, "STRAẞE" blocks "straße".
test('"STRAẞE" blocks "straße" and "STRASSE" with 409 USER_EXISTS, and each logs in to it', async () => {
  await using server = await startTestServer()
  const created = await signUp(server.url, { username: 'STRAẞE', secret: 'pw' })
  expectCreated(created, 'STRAẞE')
  expectError(await signUp(server.url, { username: 'straße', secret: 'pw' }), 409, 'USER_EXISTS')
  expectError(await signUp(server.url, { username: 'STRASSE', secret: 'pw' }), 409, 'USER_EXISTS')
  for (const name of ['straße', 'Strasse', 'STRAẞE']) expect((await logIn(server.url, name, 'pw')).body.data.user).toEqual(created.body.data)
})

test('"straße" first blocks "STRAẞE"', async () => {
  await using server = await startTestServer()
  expectCreated(await signUp(server.url, { username: 'straße', secret: 'pw' }), 'straße')
  expectError(await signUp(server.url, { username: 'STRAẞE', secret: 'pw' }), 409, 'USER_EXISTS')
})

// docs/API.md: compatibility forms are accepted as typed and compared by their NFKC form.
test('a fullwidth name is kept as typed but is the same name as its ASCII form', async () => {
  await using server = await startTestServer()
  expectCreated(await signUp(server.url, { username: 'alice', secret: 'pw' }), 'alice')
  expectError(await signUp(server.url, { username: 'ａｌｉｃｅ', secret: 'pw' }), 409, 'USER_EXISTS')
  expectError(await signUp(server.url, { username: 'ＡＬＩＣＥ', secret: 'pw' }), 409, 'USER_EXISTS')
  expectError(await signUp(server.url, { username: '𝐚𝐥𝐢𝐜𝐞', secret: 'pw' }), 409, 'USER_EXISTS')
  const wide = await signUp(server.url, { username: 'ｂｏｂ', secret: 'pw' })
  expectCreated(wide, 'ｂｏｂ')
  expectError(await signUp(server.url, { username: 'Bob', secret: 'pw' }), 409, 'USER_EXISTS')
  expect((await logIn(server.url, 'bob', 'pw')).body.data.user).toEqual(wide.body.data)
})

test('the Turkish dotless ı is a different letter from i', async () => {
  await using server = await startTestServer()
  expectCreated(await signUp(server.url, { username: 'alice', secret: 'pw' }), 'alice')
  expectCreated(await signUp(server.url, { username: 'alıce', secret: 'pw' }), 'alıce')
})

/** The key of the rule before look-alikes were folded: NFC, then toUpperCase().toLowerCase(). */
function oldUsernameKey(name: string): string {
  return name.normalize('NFC').toUpperCase().toLowerCase().normalize('NFC')
}

/** Rewrites every stored key as the old rule made it, as in a database from before the upgrade. */
/** Puts back the keys of a version before the current rule, which kept no record of a check. */
function restoreOldKeys(database: string): void {
  const db = new Database(database)
  try {
    db.query('DELETE FROM settings WHERE key = ?1').run(KEYS_CHECKED_SETTING)
    for (const { id, username } of db.query<{ id: number; username: string }, []>('SELECT id, username FROM users').all()) {
      db.query('UPDATE users SET username_key = ?1 WHERE id = ?2').run(oldUsernameKey(username), id)
    }
  } finally {
    db.close()
  }
}

function readKeys(database: string): Record<string, string> {
  const db = new Database(database, { readonly: true })
  try {
    return Object.fromEntries(
      db
        .query<{ username: string; username_key: string }, []>('SELECT username, username_key FROM users')
        .all()
        .map((r) => [r.username, r.username_key]),
    )
  } finally {
    db.close()
  }
}

// docs/API.md: keys stored by the old rule are rewritten at start-up, so no account is lost.
test('accounts keyed by the old rule log in after a restart, and their look-alikes are then taken', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'chat-rekey-'))
  try {
    // Names whose old key differs from the new one: ẞ, final sigma, dotless ı, fullwidth, Cherokee.
    const names = ['STRAẞE', 'ΟΔΟΣ', 'alıce', 'ｂｏｂ', 'Ꭰ']
    const created: Record<string, unknown> = {}
    {
      await using server = await startTestServer({ dir })
      for (const username of names) created[username] = (await signUp(server.url, { username, secret: `pw ${username}` })).body.data
    }
    restoreOldKeys(join(dir, 'chat.db'))
    await using server = await startTestServer({ dir })
    for (const username of names) {
      const login = await logIn(server.url, username, `pw ${username}`)
      expect({ username, status: login.status, user: login.body.data?.user }).toEqual({ username, status: 200, user: created[username] })
    }
    for (const lookAlike of ['straße', 'οδοσ', 'BOB', 'ꭰ']) expectError(await signUp(server.url, { username: lookAlike, secret: 'pw' }), 409, 'USER_EXISTS')
    expect(readKeys(join(dir, 'chat.db'))).toEqual({ STRAẞE: 'strasse', ΟΔΟΣ: 'οδοσ', alıce: 'alıce', ｂｏｂ: 'bob', Ꭰ: 'Ꭰ' })
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

function readChecked(database: string): string | undefined {
  const db = new Database(database, { readonly: true })
  try {
    return db.query<{ value: string }, [string]>('SELECT value FROM settings WHERE key = ?1').get(KEYS_CHECKED_SETTING)?.value
  } finally {
    db.close()
  }
}

// docs/OPERATIONS.md: start-up reads only the accounts made since the last check under the same rule.
test('a start re-keys the accounts made since the last check, and all of them under another rule', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'chat-rekey-'))
  const database = join(dir, 'chat.db')
  try {
    {
      await using server = await startTestServer({ dir })
      for (const username of ['STRAẞE', 'ΟΔΟΣ']) expectCreated(await signUp(server.url, { username, secret: 'pw' }), username)
    }
    // Accounts made by this version are keyed right: the next start records them as checked.
    expect(readChecked(database)).toBeUndefined()
    {
      await using _restarted = await startTestServer({ dir })
    }
    expect(readChecked(database)).toBe(`${KEY_RULE}:2`)
    // Checked up to id 5 000 under this rule: the two old-keyed accounts are before the ids read again.
    restoreOldKeys(database)
    const db = new Database(database)
    db.query('INSERT INTO settings (key, value) VALUES (?1, ?2)').run(KEYS_CHECKED_SETTING, `${KEY_RULE}:5000`)
    db.query(
      "INSERT INTO users (id, username, username_key, password_hash, created_at) SELECT 4500, 'Ꭰ', 'ꭰ', password_hash, created_at FROM users WHERE id = 1",
    ).run()
    db.close()
    {
      await using server = await startTestServer({ dir })
      expect(readKeys(database)).toEqual({ STRAẞE: 'straße', ΟΔΟΣ: 'οδος', Ꭰ: 'Ꭰ' })
      expect((await logIn(server.url, 'Ꭰ', 'pw')).status).toBe(200)
    }
    expect(readChecked(database)).toBe(`${KEY_RULE}:5000`)
    // A check under another rule (or another Unicode) counts for nothing: every account is read.
    const other = new Database(database)
    other.query('UPDATE settings SET value = ?1 WHERE key = ?2').run('1/unicode-16.0:5000', KEYS_CHECKED_SETTING)
    other.close()
    {
      await using server = await startTestServer({ dir })
      expect(readKeys(database)).toEqual({ STRAẞE: 'strasse', ΟΔΟΣ: 'οδοσ', Ꭰ: 'Ꭰ' })
      for (const username of ['straße', 'ΟΔΟΣ', 'Ꭰ']) expect((await logIn(server.url, username, 'pw')).status).toBe(200)
    }
    expect(readChecked(database)).toBe(`${KEY_RULE}:4500`)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

test('two old accounts that now fold together both stay; the holder of the key keeps it and a warning names both', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'chat-rekey-'))
  try {
    {
      await using server = await startTestServer({ dir })
      expectCreated(await signUp(server.url, { username: 'STRAẞE', secret: 'first' }), 'STRAẞE')
    }
    // The old rule let "straße" in beside "STRAẞE" (keys "straße" and "strasse"): put it there as it would have.
    restoreOldKeys(join(dir, 'chat.db'))
    const db = new Database(join(dir, 'chat.db'))
    db.query("INSERT INTO users (username, username_key, password_hash, created_at) SELECT 'straße', 'strasse', password_hash, created_at FROM users").run()
    db.close()
    const lines: string[] = []
    await using server = await startTestServer({ dir, onLog: (line) => lines.push(line) })
    const warnings = lines.filter((l) => l.includes('WARN') && l.includes('username now folds'))
    expect(warnings).toHaveLength(1)
    expect(warnings[0]).toContain('id=1 username=STRAẞE')
    expect(warnings[0]).toContain('holderId=2 holderUsername=straße')
    expect(readKeys(join(dir, 'chat.db'))).toEqual({ STRAẞE: 'straße', straße: 'strasse' })
    expect((await logIn(server.url, 'straße', 'first')).body.data.user).toEqual({ id: 2, username: 'straße' })
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
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

// spec §5: sign-ups are limited per client address (SIGNUP_LIMIT_PER_ADDRESS, default 10 an hour):
// past that 429 RATE_LIMITED with Retry-After in whole seconds (RFC 9110 §10.2.3). The test server
// lifts the limit for other tests; these set it. With TRUST_PROXY the address is the first
// X-Forwarded-For entry, so each test can speak from several addresses.
const HOUR_S = 3600

function from(address: string): HeadersInit {
  return { 'X-Forwarded-For': address }
}

function expectRateLimited(res: ApiResponse): number {
  expectError(res, 429, 'RATE_LIMITED')
  expect(res.headers.get('retry-after')).toMatch(/^[1-9]\d*$/)
  return Number(res.headers.get('retry-after'))
}

test('the 11th sign-up from one address within an hour is 429 with Retry-After; another address still can', async () => {
  let clock = Date.UTC(2026, 10, 28, 12)
  const { signupLimitPerAddress } = defineConfig()
  expect(signupLimitPerAddress).toBe(10)
  await using server = await startTestServer({ now: () => clock, config: { trustProxy: true, signupLimitPerAddress } })
  for (let i = 0; i < 10; i++) {
    expectCreated(await signUp(server.url, { username: `user${i}`, secret: 'pw' }, from('203.0.113.7')), `user${i}`)
    clock += 60_000
  }
  // The first sign-up was at 0 min, now is 10 min: it ages out in 50 min.
  expect(expectRateLimited(await signUp(server.url, { username: 'user10', secret: 'pw' }, from('203.0.113.7')))).toBe(HOUR_S - 600)
  expectError(await logIn(server.url, 'user10', 'pw'), 400, 'USER_NOT_FOUND')
  expectCreated(await signUp(server.url, { username: 'user10', secret: 'pw' }, from('198.51.100.1')), 'user10')
  clock += (HOUR_S - 600) * 1000
  expectCreated(await signUp(server.url, { username: 'user11', secret: 'pw' }, from('203.0.113.7')), 'user11')
  expect(readUsers(server.config.database)).toHaveLength(12)
})

test('a malformed name or secret does not count toward the sign-up limit; a taken name does', async () => {
  await using server = await startTestServer({ config: { signupLimitPerAddress: 2 } })
  for (let i = 0; i < 5; i++) {
    expectError(await signUp(server.url, { username: ' alice', secret: 'pw' }), 400, 'BAD_USERNAME')
    expectError(await signUp(server.url, { username: 'alice', secret: '' }), 400, 'BAD_PASSWORD')
    expectError(await signUp(server.url, { username: 'alice' }), 400, 'BAD_BINDING')
  }
  expectCreated(await signUp(server.url, { username: 'alice', secret: 'pw' }), 'alice')
  // Each 409 tells whether a name exists, so probing names uses up the budget like signing up.
  expectError(await signUp(server.url, { username: 'ALICE', secret: 'pw' }), 409, 'USER_EXISTS')
  expectRateLimited(await signUp(server.url, { username: 'bob', secret: 'pw' }))
  expectRateLimited(await signUp(server.url, { username: 'alice', secret: 'pw' }))
})

test('sign-ups sent at once from one address create no more accounts than the limit', async () => {
  await using server = await startTestServer({ config: { signupLimitPerAddress: 10 } })
  const answers = await Promise.all(Array.from({ length: 50 }, (_, i) => signUp(server.url, { username: `burst${i}`, secret: 'pw' })))
  expect(answers.filter((res) => res.status === 201)).toHaveLength(10)
  for (const res of answers.filter((r) => r.status !== 201)) expect(expectRateLimited(res)).toBeLessThanOrEqual(HOUR_S)
  expect(readUsers(server.config.database)).toHaveLength(10)
})

test('without TRUST_PROXY a new X-Forwarded-For buys no new sign-ups', async () => {
  await using server = await startTestServer({ config: { signupLimitPerAddress: 1 } })
  expectCreated(await signUp(server.url, { username: 'alice', secret: 'pw' }, from('203.0.113.7')), 'alice')
  expectRateLimited(await signUp(server.url, { username: 'bob', secret: 'pw' }, from('198.51.100.1')))
})
