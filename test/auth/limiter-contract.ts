/**
 * The rate-limiter contract, run against every implementation (in memory, Redis), like
 * test/store/contract.ts for stores: whichever limits an instance uses, a client meets the same
 * budgets. Attempts (spec §2 login, §5 sign-up) are a sliding window per key, checked and counted
 * in one step, so attempts made at the same time get no more room than the same attempts one after
 * another; a refusal says how long to wait (Retry-After, whole seconds, never 0). Messages (spec §3)
 * are a token bucket per user, `burst` to start with and refilled at `rate` a second. The clock is
 * injected, so windows move without sleeping.
 */
import { describe, expect, test } from 'bun:test'
import { takeAll, type AttemptLimiter, type MessageLimiter, type Taken } from '../../src/auth/rate-limit.ts'

/** One implementation's limiters for one test, nothing counted yet; disposing may check the test's side effects. */
export interface LimiterFixture extends AsyncDisposable {
  /** A sliding window of `limit` attempts a key per `windowMs`; two made in one test count apart. */
  attempts(limit: number, windowMs: number, now: () => number): AttemptLimiter
  /** A token bucket per user; a test makes at most one. */
  messages(rate: number, burst: number, now: () => number): MessageLimiter
}

const MINUTE = 60_000

/** A clock that moves only when told. */
export function manualClock(start = 1_000_000): { now: () => number; advance: (ms: number) => void } {
  let t = start
  return {
    now: () => t,
    advance: (ms) => {
      t += ms
    },
  }
}

/** Asserts that `t` was counted, and returns it. */
function counted(t: Taken): Extract<Taken, { ok: true }> {
  expect(t).toEqual({ ok: true, giveBack: expect.any(Function) })
  return t as Extract<Taken, { ok: true }>
}

/** The seconds a refused take says to wait, or 0 when the take was counted (it is given back at once). */
async function waitOf(limiter: AttemptLimiter, key: string): Promise<number> {
  const t = await limiter.take(key)
  if (!t.ok) return t.retryAfter
  await t.giveBack()
  return 0
}

/** How many of `n` takes on `key`, all started at once, were counted. */
async function takeAtOnce(limiter: AttemptLimiter, key: string, n: number): Promise<Extract<Taken, { ok: true }>[]> {
  const all = await Promise.all(Array.from({ length: n }, () => limiter.take(key)))
  for (const t of all) if (!t.ok) expect(t.retryAfter).toBeGreaterThanOrEqual(1)
  return all.filter((t): t is Extract<Taken, { ok: true }> => t.ok)
}

/** How many of `n` messages from `userId`, sent one after another, were allowed. */
async function allowed(limiter: MessageLimiter, userId: number, n: number): Promise<number> {
  let ok = 0
  for (let i = 0; i < n; i++) if (await limiter.allow(userId)) ok++
  return ok
}

export function describeLimiterContract(name: string, open: () => Promise<LimiterFixture>): void {
  describe(`${name} attempt limiter`, () => {
    test('a key may take `limit` attempts in its window; the next are refused and counted in nothing', async () => {
      await using f = await open()
      const c = manualClock()
      const window = f.attempts(3, MINUTE, c.now)
      for (let i = 0; i < 3; i++) counted(await window.take('alice'))
      expect(await window.take('alice')).toEqual({ ok: false, retryAfter: 60 })
      expect(await window.take('alice')).toEqual({ ok: false, retryAfter: 60 })
      // Refused takes counted nothing: one window after the three, the key has its whole budget again.
      c.advance(MINUTE)
      expect(await takeAtOnce(window, 'alice', 5)).toHaveLength(3)
    })

    test('200 attempts started at once get exactly `limit` through (spec §2)', async () => {
      await using f = await open()
      const window = f.attempts(10, MINUTE, manualClock().now)
      expect(await takeAtOnce(window, 'alice', 200)).toHaveLength(10)
      expect(await window.take('alice')).toEqual({ ok: false, retryAfter: 60 })
    })

    test('keys are counted apart, and so are limiters', async () => {
      await using f = await open()
      const now = manualClock().now
      const window = f.attempts(2, MINUTE, now)
      const other = f.attempts(2, MINUTE, now)
      expect(await takeAtOnce(window, 'alice', 5)).toHaveLength(2)
      expect(await takeAtOnce(window, 'bob', 5)).toHaveLength(2)
      expect(await takeAtOnce(other, 'alice', 5)).toHaveLength(2)
    })

    test('Retry-After counts down in whole seconds to when the oldest attempt ages out, rounding up, never 0 while refused', async () => {
      await using f = await open()
      const c = manualClock()
      const window = f.attempts(1, MINUTE, c.now)
      counted(await window.take('k'))
      c.advance(1)
      expect(await waitOf(window, 'k')).toBe(60)
      c.advance(30_000)
      expect(await waitOf(window, 'k')).toBe(30)
      c.advance(29_998)
      expect(await waitOf(window, 'k')).toBe(1)
      c.advance(1)
      expect(await waitOf(window, 'k')).toBe(0)
    })

    test('an attempt ages out exactly one window after it was taken', async () => {
      await using f = await open()
      const c = manualClock()
      const window = f.attempts(1, MINUTE, c.now)
      counted(await window.take('k'))
      c.advance(MINUTE - 1)
      expect(await waitOf(window, 'k')).toBe(1)
      c.advance(1)
      expect(await waitOf(window, 'k')).toBe(0)
    })

    test('the window slides: a refusal lifts as the oldest attempt ages out, and only by one', async () => {
      await using f = await open()
      const c = manualClock()
      const window = f.attempts(3, MINUTE, c.now)
      counted(await window.take('k')) // t = 0
      c.advance(20_000)
      counted(await window.take('k')) // t = 20 s
      c.advance(20_000)
      counted(await window.take('k')) // t = 40 s
      expect(await waitOf(window, 'k')).toBe(20)
      c.advance(20_000) // t = 60 s: the first has aged out
      expect(await takeAtOnce(window, 'k', 3)).toHaveLength(1)
      expect(await waitOf(window, 'k')).toBe(20)
    })

    test('a given-back attempt no longer counts, and giving it back twice frees only one', async () => {
      await using f = await open()
      const window = f.attempts(2, MINUTE, manualClock().now)
      const first = counted(await window.take('k'))
      counted(await window.take('k'))
      expect((await window.take('k')).ok).toBe(false)
      await first.giveBack()
      await first.giveBack()
      expect(await takeAtOnce(window, 'k', 3)).toHaveLength(1)
    })

    test('attempts given back at once each free their room', async () => {
      await using f = await open()
      const window = f.attempts(10, MINUTE, manualClock().now)
      const taken = await takeAtOnce(window, 'k', 50)
      expect(taken).toHaveLength(10)
      await Promise.all(taken.slice(0, 7).map((t) => t.giveBack()))
      expect(await takeAtOnce(window, 'k', 50)).toHaveLength(7)
    })

    test('giving back an attempt that has aged out frees nothing', async () => {
      await using f = await open()
      const c = manualClock()
      const window = f.attempts(1, MINUTE, c.now)
      const old = counted(await window.take('k'))
      c.advance(MINUTE)
      counted(await window.take('k'))
      await old.giveBack()
      expect(await window.take('k')).toEqual({ ok: false, retryAfter: 60 })
    })

    test('after a long pause, keys idle since are free again and a fresh one counts from zero', async () => {
      await using f = await open()
      const c = manualClock()
      const window = f.attempts(1, MINUTE, c.now)
      const keys = Array.from({ length: 1000 }, (_, i) => `k${i}`)
      for (const t of await Promise.all(keys.map((k) => window.take(k)))) counted(t)
      c.advance(10 * MINUTE)
      counted(await window.take('fresh'))
      expect(await Promise.all(keys.map((k) => waitOf(window, k)))).toEqual(keys.map(() => 0))
      expect(await waitOf(window, 'fresh')).toBe(60)
    })

    test('takeAll counts an attempt in every limit, or in none: refused by one, it answers with that wait', async () => {
      await using f = await open()
      const c = manualClock()
      const perUser = f.attempts(5, MINUTE, c.now)
      const perAddress = f.attempts(1, MINUTE, c.now)
      const both = [
        { limiter: perUser, key: 'alice' },
        { limiter: perAddress, key: '203.0.113.7' },
      ]
      const taken = counted(await takeAll(both))
      expect(await waitOf(perAddress, '203.0.113.7')).toBe(60)
      c.advance(15_000)
      expect(await takeAll(both)).toEqual({ ok: false, retryAfter: 45 })
      // The per-user attempt taken before the refusal was given back: alice has 4 of her 5 left.
      expect(await takeAtOnce(perUser, 'alice', 10)).toHaveLength(4)
    })

    test('takeAll gives an attempt back to every limit', async () => {
      await using f = await open()
      const now = manualClock().now
      const perUser = f.attempts(1, MINUTE, now)
      const perAddress = f.attempts(1, MINUTE, now)
      const both = [
        { limiter: perUser, key: 'alice' },
        { limiter: perAddress, key: '203.0.113.7' },
      ]
      await counted(await takeAll(both)).giveBack()
      expect(await waitOf(perUser, 'alice')).toBe(0)
      expect(await waitOf(perAddress, '203.0.113.7')).toBe(0)
      counted(await takeAll(both))
    })
  })

  describe(`${name} message limiter`, () => {
    test('a user may send a burst of `burst`; the next are refused until a token refills (spec §3)', async () => {
      await using f = await open()
      const c = manualClock()
      const limiter = f.messages(10, 20, c.now)
      expect(await allowed(limiter, 1, 25)).toBe(20)
      c.advance(99)
      expect(await limiter.allow(1)).toBe(false)
      c.advance(1)
      expect(await limiter.allow(1)).toBe(true)
      expect(await limiter.allow(1)).toBe(false)
    })

    test('tokens refill at `rate` a second, up to `burst` and no further', async () => {
      await using f = await open()
      const c = manualClock()
      const limiter = f.messages(10, 20, c.now)
      expect(await allowed(limiter, 1, 20)).toBe(20)
      c.advance(1000)
      expect(await allowed(limiter, 1, 20)).toBe(10)
      c.advance(3_600_000)
      expect(await allowed(limiter, 1, 50)).toBe(20)
    })

    test('refused messages use up no tokens', async () => {
      await using f = await open()
      const c = manualClock()
      const limiter = f.messages(10, 1, c.now)
      expect(await limiter.allow(1)).toBe(true)
      c.advance(50)
      expect(await allowed(limiter, 1, 10)).toBe(0)
      c.advance(50)
      expect(await limiter.allow(1)).toBe(true)
    })

    test('`rate` a second sustained is always allowed; twice that gets the burst plus `rate` a second', async () => {
      await using f = await open()
      const c = manualClock()
      const limiter = f.messages(10, 20, c.now)
      let refused = 0
      for (let i = 0; i < 300; i++, c.advance(100)) if (!(await limiter.allow(1))) refused++
      expect(refused).toBe(0)
      let ok = 0
      for (let i = 0; i < 200; i++, c.advance(50)) if (await limiter.allow(2)) ok++
      // 20 to start with, plus 10 a second for 10 s, give or take the last partial token.
      expect(ok).toBeGreaterThanOrEqual(119)
      expect(ok).toBeLessThanOrEqual(120)
    })

    test('users are counted apart', async () => {
      await using f = await open()
      const limiter = f.messages(10, 3, manualClock().now)
      expect(await allowed(limiter, 1, 5)).toBe(3)
      expect(await allowed(limiter, 2, 5)).toBe(3)
      expect(await limiter.allow(1)).toBe(false)
    })

    test('200 messages from one user at once get exactly `burst` through', async () => {
      await using f = await open()
      const limiter = f.messages(10, 20, manualClock().now)
      const answers = await Promise.all(Array.from({ length: 200 }, () => limiter.allow(1)))
      expect(answers.filter(Boolean)).toHaveLength(20)
    })
  })
}
