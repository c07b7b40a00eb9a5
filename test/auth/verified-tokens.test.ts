/**
 * The cache of verified tokens (src/auth/verified-tokens.ts, issue 16): a token shown again skips
 * jose's signature check, but never anything that can change. Revocation, a ban and expiry after the
 * token was cached refuse it at once; a token the cache did not verify (another signature after the
 * same prefix, a refused one) is never taken from it; it stays within its bound; callers showing one
 * token at once share one verification.
 */
import { expect, test } from 'bun:test'
import { SignJWT } from 'jose'
import { createTokenService, REVOKED_MESSAGE } from '../../src/auth/tokens.ts'
import { VerifiedTokens, type VerifiedClaims } from '../../src/auth/verified-tokens.ts'
import { AppError } from '../../src/errors.ts'
import type { Standing } from '../../src/store/store.ts'

const SECRET = 'k'.repeat(32)
const TTL = 3600
const T0 = Date.UTC(2026, 10, 30, 12)

/** A token service over an in-memory standing, a clock the test moves, and a cache the test can look into. */
function setUp(max?: number) {
  let clock = T0
  const users = new Map<number, Standing>([[7, { id: 7, username: 'alice', role: 'member', tokenVersion: 0, banned: false, apiTokenHash: null }]])
  const standing = {
    get: async (id: number) => users.get(id) ?? null,
    reload: async (id: number) => users.get(id) ?? null,
  }
  const verified = new VerifiedTokens(max)
  const tokens = createTokenService({ secret: SECRET, ttlSeconds: TTL, standing, now: () => clock, verified })
  const alice = { id: 7, username: 'alice' }
  return {
    tokens,
    verified,
    users,
    alice,
    advance: (ms: number) => void (clock += ms),
    change: (patch: Partial<Standing>) => users.set(7, { ...users.get(7)!, ...patch }),
  }
}

async function refusal(run: Promise<unknown>): Promise<{ type: string; message: string }> {
  try {
    await run
  } catch (err) {
    if (err instanceof AppError) return { type: err.type, message: err.message }
    throw err
  }
  throw new Error('the token was accepted')
}

test('a token verified once is taken from the cache afterwards, with the same answer', async () => {
  const { tokens, verified, alice } = setUp()
  const token = await tokens.issue(alice, 0)
  const first = await tokens.verify(token)
  expect(verified.size).toBe(1)
  expect(await tokens.verify(token)).toEqual(first)
  expect(first).toEqual({ user: alice, role: 'member', exp: Math.floor(T0 / 1000) + TTL, ver: 0 })
})

test('revocation after caching: a raised token version refuses the cached token at once', async () => {
  const { tokens, alice, change } = setUp()
  const token = await tokens.issue(alice, 0)
  await tokens.verify(token)
  change({ tokenVersion: 1 })
  expect(await refusal(tokens.verify(token))).toEqual({ type: 'TOKEN_INVALID', message: REVOKED_MESSAGE })
})

test('a ban after caching refuses the cached token at once; a deleted user too', async () => {
  const { tokens, users, alice, change } = setUp()
  const token = await tokens.issue(alice, 0)
  await tokens.verify(token)
  change({ banned: true })
  expect((await refusal(tokens.verify(token))).type).toBe('USER_BANNED')
  users.delete(7)
  expect(await refusal(tokens.verify(token))).toEqual({ type: 'TOKEN_INVALID', message: 'the user of this token no longer exists' })
})

test('expiry after caching: the cached token is refused from its exp on, as jose refuses it, and forgotten', async () => {
  const { tokens, verified, alice, advance } = setUp()
  const token = await tokens.issue(alice, 0)
  await tokens.verify(token)
  advance(TTL * 1000 - 1)
  await tokens.verify(token)
  advance(1)
  const expired = await refusal(tokens.verify(token))
  expect(expired).toEqual({ type: 'TOKEN_INVALID', message: 'the token has expired; log in again or refresh it before it expires' })
  expect(verified.size).toBe(0)
  // The same words as a token jose refuses without the cache.
  const fresh = setUp()
  fresh.advance(TTL * 1000)
  expect(await refusal(fresh.tokens.verify(token))).toEqual(expired)
})

test('a different token with the same prefix (another signature) is verified, and refused, despite the cached one', async () => {
  const { tokens, verified, alice } = setUp()
  const token = await tokens.issue(alice, 0)
  await tokens.verify(token)
  const last = token.at(-1)!
  for (const forged of [`${token.slice(0, -1)}${last === 'A' ? 'B' : 'A'}`, token.slice(0, -1), `${token}A`, token.slice(0, token.lastIndexOf('.') + 1)]) {
    expect((await refusal(tokens.verify(forged))).type).toBe('TOKEN_INVALID')
  }
  // Signed with another key, same claims: another string, refused.
  const now = Math.floor(T0 / 1000)
  const otherKey = await new SignJWT({ name: 'alice', ver: 0 })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject('7')
    .setIssuedAt(now)
    .setExpirationTime(now + TTL)
    .sign(new TextEncoder().encode('x'.repeat(32)))
  expect((await refusal(tokens.verify(otherKey))).type).toBe('TOKEN_INVALID')
  expect(verified.size).toBe(1)
})

test('a refused token is never kept, and is refused again every time', async () => {
  const { tokens, verified, alice, advance } = setUp()
  const token = await tokens.issue(alice, 0)
  advance(TTL * 1000)
  for (let i = 0; i < 3; i++) expect((await refusal(tokens.verify(token))).type).toBe('TOKEN_INVALID')
  expect((await refusal(tokens.verify('not.a.token'))).type).toBe('TOKEN_INVALID')
  expect(verified.size).toBe(0)
})

test('memory bound: never more than its size; the least recently used token goes first and is verified again', async () => {
  const { tokens, verified, alice, advance } = setUp(3)
  const issued: string[] = []
  for (let i = 0; i < 5; i++) {
    // A second apart: each token is a different string.
    issued.push(await tokens.issue(alice, 0))
    advance(1000)
    await tokens.verify(issued[i]!)
    expect(verified.size).toBe(Math.min(i + 1, 3))
  }
  // The first two went; shown again, they are verified again (and still accepted), pushing out others.
  expect(await tokens.verify(issued[0]!)).toMatchObject({ user: alice })
  expect(verified.size).toBe(3)

  const claims: VerifiedClaims = { id: 1, ver: 0, exp: Number.MAX_SAFE_INTEGER }
  const cache = new VerifiedTokens(3)
  for (const t of ['a', 'b', 'c']) await cache.verify(t, async () => claims)
  cache.get('a', 0)
  await cache.verify('d', async () => claims)
  expect(cache.size).toBe(3)
  expect(cache.get('b', 0)).toBeUndefined()
  expect([cache.get('a', 0), cache.get('c', 0), cache.get('d', 0)]).toEqual([claims, claims, claims])
})

test('callers showing one token at once share one verification; a failure reaches each and is not kept', async () => {
  const cache = new VerifiedTokens()
  let runs = 0
  const claims: VerifiedClaims = { id: 1, ver: 0, exp: 100 }
  const slow = async () => {
    runs++
    await Bun.sleep(5)
    return claims
  }
  expect(await Promise.all([cache.verify('t', slow), cache.verify('t', slow), cache.verify('t', slow)])).toEqual([claims, claims, claims])
  expect(runs).toBe(1)
  const failing = async (): Promise<VerifiedClaims> => {
    runs++
    await Bun.sleep(5)
    throw new AppError('TOKEN_INVALID', 'no')
  }
  const results = await Promise.allSettled([cache.verify('u', failing), cache.verify('u', failing)])
  expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected'])
  expect(runs).toBe(2)
  expect(cache.get('u', 0)).toBeUndefined()
  expect(cache.size).toBe(1)
})

test('a verification shared with an earlier caller does not outlive the token for a later one', async () => {
  const { tokens, verified, alice, advance } = setUp()
  const token = await tokens.issue(alice, 0)
  const exp = Math.floor(T0 / 1000) + TTL
  // An earlier caller's verification, still on its way, judged the token valid at its start.
  const pending = Promise.withResolvers<VerifiedClaims>()
  const earlier = verified.verify(token, () => pending.promise)
  advance(TTL * 1000)
  const later = refusal(tokens.verify(token))
  pending.resolve({ id: 7, ver: 0, exp })
  await earlier
  expect((await later).type).toBe('TOKEN_INVALID')
})
