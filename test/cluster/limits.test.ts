/**
 * Login and sign-up limits with Redis (spec §2, §4, §5): instances sharing one Redis share each
 * budget. An attempt is checked and counted by one Lua script, so guesses sent to several instances
 * at the same time get no more password checks than the limit allows; while Redis is unreachable
 * each instance counts alone, in the same single step, starting from what it counted itself before.
 * The servers run in-process, each with its own SQLite file; the guesses use unknown names with
 * HIDE_USER_NOT_FOUND, so each costs a real argon2 verify without needing a shared user table.
 */
import { expect } from 'bun:test'
import { request, type ApiResponse } from '../support/http.ts'
import { requireServices } from '../support/require-services.ts'
import { startTestServer, type TestServer } from '../support/server.ts'
import { startRedis, type Service } from '../support/services.ts'

// Skipped, with one line, where redis-server is not installed.
const { test, beforeAll, afterAll } = requireServices('redis-server')

let redis: Service
beforeAll(async () => {
  redis = await startRedis()
})
afterAll(async () => {
  await redis?.[Symbol.asyncDispose]()
})

function logIn(server: TestServer, username: string, secret: string): Promise<ApiResponse> {
  return request(`${server.url}/api/v1/login`, { json: { username, secret } })
}

/** Counts the answers by status, checking that every refusal is 429 RATE_LIMITED with Retry-After. */
function tally(answers: ApiResponse[]): Record<number, number> {
  const counts: Record<number, number> = {}
  for (const res of answers) {
    counts[res.status] = (counts[res.status] ?? 0) + 1
    if (res.status !== 429) continue
    expect(res.body).toEqual({ error: { type: 'RATE_LIMITED', message: expect.any(String) }, data: null })
    expect(res.headers.get('retry-after')).toMatch(/^[1-9]\d*$/)
  }
  return counts
}

test('200 guesses for one name sent at once to two instances get exactly 10 password checks', async () => {
  const config = { redisUrl: redis.url, hideUserNotFound: true }
  await using a = await startTestServer({ config })
  await using b = await startTestServer({ config })
  const answers = await Promise.all(Array.from({ length: 200 }, (_, i) => logIn(i % 2 ? a : b, 'ghost-split', `guess ${i}`)))
  expect(tally(answers)).toEqual({ 401: 10, 429: 190 })
})

test('60 sign-ups from one address sent at once to two instances create exactly 10 accounts', async () => {
  const config = { redisUrl: redis.url, trustProxy: true, signupLimitPerAddress: 10 }
  await using a = await startTestServer({ config })
  await using b = await startTestServer({ config })
  const answers = await Promise.all(
    Array.from({ length: 60 }, (_, i) =>
      request(`${(i % 2 ? a : b).url}/api/v1/users`, { json: { username: `burst${i}`, secret: 'pw' }, headers: { 'X-Forwarded-For': '203.0.113.60' } }),
    ),
  )
  expect(tally(answers)).toEqual({ 201: 10, 429: 50 })
  // Another address has a budget of its own.
  const other = await request(`${a.url}/api/v1/users`, { json: { username: 'elsewhere', secret: 'pw' }, headers: { 'X-Forwarded-For': '198.51.100.60' } })
  expect(other.status).toBe(201)
})

test('with Redis unreachable an instance counts alone, from what it counted before, still one guess at a time', async () => {
  await using own = await startRedis()
  const logs: string[] = []
  await using server = await startTestServer({ config: { redisUrl: own.url, hideUserNotFound: true }, onLog: (line) => logs.push(line) })
  for (let i = 0; i < 4; i++) expect((await logIn(server, 'ghost-outage', `before ${i}`)).status).toBe(401)
  await own.stop()
  const answers = await Promise.all(Array.from({ length: 100 }, (_, i) => logIn(server, 'ghost-outage', `during ${i}`)))
  expect(tally(answers)).toEqual({ 401: 6, 429: 94 })
  expect(logs.some((line) => line.includes('login-user limiter: Redis unreachable'))).toBe(true)
})
