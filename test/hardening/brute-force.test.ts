/**
 * Brute force and enumeration (spec §2, §3). Failed logins, and only those, are limited per username
 * (10 a minute) and per client address (30 a minute) with the real default limits; past a limit the
 * answer is 429 RATE_LIMITED with a Retry-After in whole seconds (RFC 9110 §10.2.3), whatever the
 * password. An attempt counts from the moment it starts, so 200 guesses sent at once get no more
 * password checks than 200 sent one by one. The client address is the TCP peer, or with
 * TRUST_PROXY the first X-Forwarded-For entry (RFC 7239 §5.2 order: client first), so clients behind
 * one proxy keep separate budgets and a client without a proxy can't buy a fresh budget by sending
 * the header.
 *
 * With HIDE_USER_NOT_FOUND an unknown username costs the same argon2 work as a wrong password, so
 * timing does not tell which names exist; so does a secret that is not well-formed Unicode, and,
 * once its owner has logged in after the argon2 settings changed, a known name's hash. That is
 * measured with the real default cost (argon2id, 19456 KiB, 2 iterations): the median time of
 * unknown-user logins must be within 0.5-2x the median of known-user ones. Without the setting,
 * USER_NOT_FOUND is answered without hashing.
 */
import { describe, expect, test } from 'bun:test'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { request, type ApiResponse } from '../support/http.ts'
import { startTestServer } from '../support/server.ts'

const JSON_TYPE = 'application/json; charset=utf-8'
const SECRET = 'correct horse battery staple'

function logIn(baseUrl: string, username: string, secret: string, headers?: Record<string, string>): Promise<ApiResponse> {
  return request(`${baseUrl}/api/v1/login`, { json: { username, secret }, headers, signal: AbortSignal.timeout(10_000) })
}

async function signUp(baseUrl: string, username: string): Promise<void> {
  const res = await request(`${baseUrl}/api/v1/users`, { json: { username, secret: SECRET } })
  expect(res.status).toBe(201)
}

function expectError(res: ApiResponse, status: number, type: string): void {
  expect({ status: res.status, contentType: res.headers.get('content-type'), body: res.body }).toEqual({
    status,
    contentType: JSON_TYPE,
    body: { error: { type, message: expect.any(String) }, data: null },
  })
}

/** 429 RATE_LIMITED with a Retry-After of whole seconds within the one-minute window. */
function expectRateLimited(res: ApiResponse): void {
  expectError(res, 429, 'RATE_LIMITED')
  expect(res.headers.get('retry-after')).toMatch(/^\d+$/)
  const seconds = Number(res.headers.get('retry-after'))
  expect(seconds).toBeGreaterThanOrEqual(1)
  expect(seconds).toBeLessThanOrEqual(60)
}

/** `count` failed logins with unknown names `prefix-0…`, each answered 400 USER_NOT_FOUND. */
async function failUnknown(baseUrl: string, prefix: string, count: number, headers?: Record<string, string>): Promise<void> {
  for (let i = 0; i < count; i++) expectError(await logIn(baseUrl, `${prefix}-${i}`, 'guess', headers), 400, 'USER_NOT_FOUND')
}

describe('login limits, real defaults (10 a minute per username, 30 per address)', () => {
  test('the 11th failed login for a username is 429 with Retry-After, even with the right password; other names are not blocked', async () => {
    await using server = await startTestServer()
    expect({ perUser: server.config.loginLimitPerUser, perAddress: server.config.loginLimitPerAddress }).toEqual({ perUser: 10, perAddress: 30 })
    await signUp(server.url, 'alice')
    await signUp(server.url, 'bob')
    for (let i = 0; i < 10; i++) expectError(await logIn(server.url, 'alice', `guess ${i}`), 401, 'PASSWORD_MATCH_FAILED')
    expectRateLimited(await logIn(server.url, 'alice', 'guess 10'))
    expectRateLimited(await logIn(server.url, 'alice', SECRET))
    // The username is the key whatever its case: "ALICE" is the same account.
    expectRateLimited(await logIn(server.url, 'ALICE', SECRET))
    // The address has 10 failures of its 30: another account is unaffected.
    expect((await logIn(server.url, 'bob', SECRET)).status).toBe(200)
    expectError(await logIn(server.url, 'bob', 'guess'), 401, 'PASSWORD_MATCH_FAILED')
  })

  test('the 31st failed login from one address is 429 whatever the username, the right password included', async () => {
    await using server = await startTestServer()
    await signUp(server.url, 'alice')
    await failUnknown(server.url, 'nobody', 30)
    expectRateLimited(await logIn(server.url, 'nobody-else', 'guess'))
    expectRateLimited(await logIn(server.url, 'alice', SECRET))
  })

  test('successful logins do not count against either limit', async () => {
    await using server = await startTestServer()
    await signUp(server.url, 'alice')
    for (let i = 0; i < 40; i++) expect((await logIn(server.url, 'alice', SECRET)).status).toBe(200)
    for (let i = 0; i < 10; i++) expectError(await logIn(server.url, 'alice', 'guess'), 401, 'PASSWORD_MATCH_FAILED')
    expectRateLimited(await logIn(server.url, 'alice', 'guess'))
  })
})

describe('TRUST_PROXY', () => {
  test('with it, the first X-Forwarded-For entry is the address: each client behind the proxy has its own budget', async () => {
    await using server = await startTestServer({ config: { trustProxy: true } })
    const from = (chain: string) => ({ 'X-Forwarded-For': chain })
    await failUnknown(server.url, 'a', 30, from('203.0.113.7'))
    expectRateLimited(await logIn(server.url, 'a-more', 'guess', from('203.0.113.7')))
    // The first entry is the client; later ones are proxies and don't matter.
    expectRateLimited(await logIn(server.url, 'a-more', 'guess', from('203.0.113.7, 198.51.100.1')))
    expectError(await logIn(server.url, 'b-0', 'guess', from('203.0.113.8')), 400, 'USER_NOT_FOUND')
    expectError(await logIn(server.url, 'b-1', 'guess', from('203.0.113.8, 203.0.113.7')), 400, 'USER_NOT_FOUND')
    // Without the header the TCP peer is the address, with a budget of its own.
    expectError(await logIn(server.url, 'c-0', 'guess'), 400, 'USER_NOT_FOUND')
  })

  test('without it, X-Forwarded-For is ignored: a new header value buys no new budget', async () => {
    await using server = await startTestServer()
    expect(server.config.trustProxy).toBe(false)
    for (let i = 0; i < 30; i++) expectError(await logIn(server.url, `n-${i}`, 'guess', { 'X-Forwarded-For': `203.0.113.${i}` }), 400, 'USER_NOT_FOUND')
    expectRateLimited(await logIn(server.url, 'n-30', 'guess', { 'X-Forwarded-For': '198.51.100.30' }))
    expectRateLimited(await logIn(server.url, 'n-31', 'guess'))
  })
})

describe('HIDE_USER_NOT_FOUND with the real argon2 cost', () => {
  const REAL_ARGON2 = { argon2MemoryKib: 19456, argon2Iterations: 2 }
  /** Pairs of logins timed; the limits are lifted so the measurement is not cut short by 429s. */
  const SAMPLES = 11
  const LIFTED = { loginLimitPerUser: 1_000_000, loginLimitPerAddress: 1_000_000 }

  /** Times `SAMPLES` unknown-user and wrong-password logins with `secret`, interleaved so drift hits both alike. */
  async function measure(
    url: string,
    secret = 'a wrong guess',
  ): Promise<{ unknown: number[]; wrong: number[]; unknownAnswers: ApiResponse[]; wrongAnswers: ApiResponse[] }> {
    const unknown: number[] = []
    const wrong: number[] = []
    const unknownAnswers: ApiResponse[] = []
    const wrongAnswers: ApiResponse[] = []
    const timed = async (username: string, into: number[], answers: ApiResponse[]) => {
      const started = performance.now()
      answers.push(await logIn(url, username, secret))
      into.push(performance.now() - started)
    }
    // Warm-up, unmeasured: the first logins may wait for the stand-in hash unknown names verify against.
    await logIn(url, 'warm-up-nobody', secret)
    await logIn(url, 'victim', secret)
    for (let i = 0; i < SAMPLES; i++) {
      await timed(`nobody-${i}`, unknown, unknownAnswers)
      await timed('victim', wrong, wrongAnswers)
    }
    return { unknown, wrong, unknownAnswers, wrongAnswers }
  }

  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!

  /** Asserts the medians are within 0.5-2x of each other, and prints them. */
  function expectSameTime(what: string, m: { unknown: number[]; wrong: number[] }): void {
    const ratio = median(m.unknown) / median(m.wrong)
    console.info(`${what}: unknown ${median(m.unknown).toFixed(1)} ms, known ${median(m.wrong).toFixed(1)} ms, ratio ${ratio.toFixed(2)}`)
    expect(ratio).toBeGreaterThanOrEqual(0.5)
    expect(ratio).toBeLessThanOrEqual(2.0)
  }

  test('an unknown username answers like a wrong password and takes about as long (median within 0.5-2x)', async () => {
    await using server = await startTestServer({ config: { ...REAL_ARGON2, ...LIFTED, hideUserNotFound: true } })
    await signUp(server.url, 'victim')
    const m = await measure(server.url)
    for (const res of [...m.unknownAnswers, ...m.wrongAnswers]) expectError(res, 401, 'PASSWORD_MATCH_FAILED')
    // Same bytes too: nothing in the message or headers tells the two apart.
    expect(new Set([...m.unknownAnswers, ...m.wrongAnswers].map((r) => JSON.stringify(r.body))).size).toBe(1)
    expectSameTime('hide-user-not-found timing', m)
  })

  test('a secret that is not well-formed Unicode costs a known name as much as an unknown one', async () => {
    await using server = await startTestServer({ config: { ...REAL_ARGON2, ...LIFTED, hideUserNotFound: true } })
    await signUp(server.url, 'victim')
    const m = await measure(server.url, '\ud800')
    for (const res of [...m.unknownAnswers, ...m.wrongAnswers]) expectError(res, 401, 'PASSWORD_MATCH_FAILED')
    expectSameTime('ill-formed secret timing', m)
  })

  test('after the argon2 settings change, a known name costs what an unknown one does once its owner has logged in', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'chat-rehash-'))
    try {
      {
        // Signed up under the cheap test cost; the server then restarts with the real one.
        await using before = await startTestServer({ dir })
        await signUp(before.url, 'victim')
      }
      await using server = await startTestServer({ dir, config: { ...REAL_ARGON2, ...LIFTED, hideUserNotFound: true } })
      expect((await logIn(server.url, 'victim', SECRET)).status).toBe(200)
      const m = await measure(server.url)
      for (const res of [...m.unknownAnswers, ...m.wrongAnswers]) expectError(res, 401, 'PASSWORD_MATCH_FAILED')
      expectSameTime('timing after a settings change', m)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  test('without it, an unknown username is 400 USER_NOT_FOUND, answered without the argon2 work', async () => {
    await using server = await startTestServer({ config: { ...REAL_ARGON2, ...LIFTED } })
    await signUp(server.url, 'victim')
    const m = await measure(server.url)
    for (const res of m.unknownAnswers) expectError(res, 400, 'USER_NOT_FOUND')
    for (const res of m.wrongAnswers) expectError(res, 401, 'PASSWORD_MATCH_FAILED')
    const ratio = median(m.unknown) / median(m.wrong)
    console.info(
      `user-not-found timing: unknown ${median(m.unknown).toFixed(1)} ms, wrong password ${median(m.wrong).toFixed(1)} ms, ratio ${ratio.toFixed(2)}`,
    )
    expect(ratio).toBeLessThan(0.5)
  })
})

/**
 * Spec §2: attempts count from the moment they start, so guesses sent all at once get no more
 * password checks than the same guesses sent one by one. Each answer other than 429 is one password
 * check (or one unknown-name lookup), so counting answers counts checks.
 */
describe('concurrent guesses, real default limits', () => {
  const GUESSES = 200

  /** Sends `GUESSES` logins at once and groups the answers by status. */
  async function burst(send: (i: number) => Promise<ApiResponse>): Promise<Map<number, ApiResponse[]>> {
    const answers = await Promise.all(Array.from({ length: GUESSES }, (_, i) => send(i)))
    const byStatus = new Map<number, ApiResponse[]>()
    for (const res of answers) byStatus.set(res.status, [...(byStatus.get(res.status) ?? []), res])
    return byStatus
  }

  test('200 wrong passwords at once for one username get exactly 10 password checks; the rest are 429 with Retry-After', async () => {
    await using server = await startTestServer()
    await signUp(server.url, 'alice')
    const answers = await burst((i) => logIn(server.url, 'alice', `guess ${i}`))
    expect([...answers.keys()].sort()).toEqual([401, 429])
    expect(answers.get(401)!.length).toBe(10)
    for (const res of answers.get(401)!) expectError(res, 401, 'PASSWORD_MATCH_FAILED')
    for (const res of answers.get(429)!) expectRateLimited(res)
    expectRateLimited(await logIn(server.url, 'alice', SECRET))
  })

  test('200 guesses at once from one address under different usernames, known and unknown, get exactly 30 checks', async () => {
    // With HIDE_USER_NOT_FOUND an unknown name costs a verify too, so its attempts are in flight as long.
    await using server = await startTestServer({ config: { hideUserNotFound: true } })
    await signUp(server.url, 'alice')
    const answers = await burst((i) => logIn(server.url, i % 2 ? 'alice' : `nobody-${i}`, `guess ${i}`))
    expect([...answers.keys()].sort()).toEqual([401, 429])
    expect(answers.get(401)!.length).toBe(30)
    for (const res of answers.get(401)!) expectError(res, 401, 'PASSWORD_MATCH_FAILED')
    for (const res of answers.get(429)!) expectRateLimited(res)
  })
})
