/**
 * Search's cost control (spec §7, SEARCH_LIMIT_PER_MINUTE): a caller's searches a minute, counted per
 * user whatever address they search from, and per address for anonymous callers. Past it, 429
 * RATE_LIMITED with Retry-After; one caller's budget is not another's; it refills as the minute passes.
 */
import { expect, test } from 'bun:test'
import { expectError } from '../support/accounts.ts'
import type { Account } from '../support/http.ts'
import { cast, get } from '../support/private-rooms.ts'
import { startTestServer } from '../support/server.ts'

const LIMIT = 3

test('searches past the limit are 429 RATE_LIMITED with Retry-After, per user and per anonymous address, until the minute has passed', async () => {
  let now = Date.now()
  await using server = await startTestServer({ config: { searchLimitPerMinute: LIMIT }, now: () => now })
  const [alice, bob] = (await cast(server, 'alice', 'bob')) as [Account, Account]
  const search = (account?: Account) => get(server, '/api/v1/search?q=hello', account)

  for (let i = 0; i < LIMIT; i++) expect((await search(alice)).status).toBe(200)
  const refused = await search(alice)
  expectError(refused, 429, 'RATE_LIMITED')
  const wait = Number(refused.headers.get('retry-after'))
  expect(wait).toBeGreaterThanOrEqual(1)
  expect(wait).toBeLessThanOrEqual(60)

  // Bob's budget and the anonymous address's are their own.
  expect((await search(bob)).status).toBe(200)
  for (let i = 0; i < LIMIT; i++) expect((await search()).status).toBe(200)
  expectError(await search(), 429, 'RATE_LIMITED')
  expect((await search(bob)).status).toBe(200)

  // A refused search counted nothing: once the window has passed, the full budget is back.
  now += 60_001
  for (let i = 0; i < LIMIT; i++) expect((await search(alice)).status).toBe(200)
  expectError(await search(alice), 429, 'RATE_LIMITED')
  expect((await search()).status).toBe(200)
})
