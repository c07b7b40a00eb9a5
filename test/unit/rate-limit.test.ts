/**
 * Rate limiters with an injected clock (spec §2, §3, §5): the login and sign-up limiters are sliding
 * windows of attempts per key, counted as an attempt starts (check and count in one step) and given
 * back by one that should not count; the message limiter is a token bucket of 20 refilled at 10 a
 * second.
 */
import { describe, expect, test } from 'bun:test'
import { createTokenBucket, SlidingWindow, takeAll, takeToken, type Taken } from '../../src/auth/rate-limit.ts'

const MINUTE = 60_000

function clock(start = 1_000_000) {
  let t = start
  return { now: () => t, advance: (ms: number) => (t += ms) }
}

/** Takes an attempt that must be counted, and returns it. */
function counted(t: Taken): Extract<Taken, { ok: true }> {
  expect(t.ok).toBe(true)
  return t as Extract<Taken, { ok: true }>
}

/** The seconds a refused take says to wait, or 0 when the take was counted (and is given back). */
function waitOf(window: SlidingWindow, key: string): number {
  const t = window.take(key)
  if (!t.ok) return t.retryAfter
  void t.giveBack()
  return 0
}

describe('SlidingWindow', () => {
  test('a key may take `limit` attempts in the window; the next is refused and not counted', () => {
    const c = clock()
    const window = new SlidingWindow(3, MINUTE, c.now)
    for (let i = 0; i < 3; i++) counted(window.take('alice'))
    expect(window.take('alice')).toEqual({ ok: false, retryAfter: 60 })
    expect(window.take('alice')).toEqual({ ok: false, retryAfter: 60 })
    // Refused takes counted nothing: one window after the three, the key is free again.
    c.advance(MINUTE)
    counted(window.take('alice'))
  })

  test('attempts taken back to back, as concurrent requests do, get exactly `limit` through', () => {
    const window = new SlidingWindow(10, MINUTE, clock().now)
    const results = Array.from({ length: 200 }, () => window.take('alice'))
    expect(results.filter((t) => t.ok)).toHaveLength(10)
  })

  test('a given-back attempt no longer counts, and giving it back twice frees only one', () => {
    const c = clock()
    const window = new SlidingWindow(2, MINUTE, c.now)
    const first = counted(window.take('k'))
    counted(window.take('k'))
    expect(window.take('k').ok).toBe(false)
    void first.giveBack()
    void first.giveBack()
    counted(window.take('k'))
    expect(window.take('k').ok).toBe(false)
  })

  test('giving back an attempt that has aged out changes nothing', () => {
    const c = clock()
    const window = new SlidingWindow(1, MINUTE, c.now)
    const old = counted(window.take('k'))
    c.advance(MINUTE)
    counted(window.take('k'))
    void old.giveBack()
    expect(window.take('k')).toEqual({ ok: false, retryAfter: 60 })
  })

  test('retryAfter counts down in whole seconds, rounding up, and never says 0 while refused', () => {
    const c = clock()
    const window = new SlidingWindow(1, MINUTE, c.now)
    counted(window.take('k'))
    c.advance(1)
    expect(waitOf(window, 'k')).toBe(60)
    c.advance(30_000)
    expect(waitOf(window, 'k')).toBe(30)
    c.advance(29_998)
    expect(waitOf(window, 'k')).toBe(1)
    c.advance(1)
    expect(waitOf(window, 'k')).toBe(0)
  })

  test('an attempt ages out exactly one window later', () => {
    const c = clock()
    const window = new SlidingWindow(1, MINUTE, c.now)
    counted(window.take('k'))
    c.advance(MINUTE - 1)
    expect(waitOf(window, 'k')).toBe(1)
    c.advance(1)
    expect(waitOf(window, 'k')).toBe(0)
  })

  test('the window slides: the refusal lifts when the oldest attempt ages out', () => {
    const c = clock()
    const window = new SlidingWindow(3, MINUTE, c.now)
    counted(window.take('k')) // t = 0
    c.advance(20_000)
    counted(window.take('k')) // t = 20 s
    c.advance(20_000)
    counted(window.take('k')) // t = 40 s
    expect(waitOf(window, 'k')).toBe(20)
    c.advance(20_000) // t = 60 s: the first has aged out
    counted(window.take('k'))
    expect(waitOf(window, 'k')).toBe(20)
  })

  test('keys are counted separately', () => {
    const window = new SlidingWindow(2, MINUTE, clock().now)
    counted(window.take('alice'))
    counted(window.take('alice'))
    expect(window.take('alice').ok).toBe(false)
    counted(window.take('bob'))
    counted(window.take('bob'))
  })

  test('many idle keys do not block a fresh one after a long pause', () => {
    const c = clock()
    const window = new SlidingWindow(1, MINUTE, c.now)
    for (let i = 0; i < 1000; i++) counted(window.take(`k${i}`))
    c.advance(10 * MINUTE)
    counted(window.take('fresh'))
    for (let i = 0; i < 1000; i++) expect(waitOf(window, `k${i}`)).toBe(0)
    expect(waitOf(window, 'fresh')).toBe(60)
  })
})

describe('takeAll', () => {
  test('counts the attempt in every limit, and gives it back to every limit', async () => {
    const now = clock().now
    const perUser = new SlidingWindow(1, MINUTE, now)
    const perAddress = new SlidingWindow(1, MINUTE, now)
    const both = [
      { limiter: perUser, key: 'alice' },
      { limiter: perAddress, key: '203.0.113.7' },
    ]
    const taken = await takeAll(both)
    expect(taken.ok).toBe(true)
    expect(perUser.take('alice').ok).toBe(false)
    expect(perAddress.take('203.0.113.7').ok).toBe(false)
    if (taken.ok) await taken.giveBack()
    expect((await takeAll(both)).ok).toBe(true)
  })

  test("refused by one limit, it counts in none and answers with that limit's wait", async () => {
    const c = clock()
    const perUser = new SlidingWindow(5, MINUTE, c.now)
    const perAddress = new SlidingWindow(1, MINUTE, c.now)
    counted(perAddress.take('203.0.113.7'))
    c.advance(15_000)
    const refused = await takeAll([
      { limiter: perUser, key: 'alice' },
      { limiter: perAddress, key: '203.0.113.7' },
    ])
    expect(refused).toEqual({ ok: false, retryAfter: 45 })
    // The per-user attempt taken before the refusal was given back: alice still has all 5.
    for (let i = 0; i < 5; i++) counted(perUser.take('alice'))
  })
})

describe('token bucket', () => {
  test('a new bucket allows a burst of `burst` and then refuses', () => {
    const bucket = createTokenBucket(20, 0)
    for (let i = 0; i < 20; i++) expect(takeToken(bucket, 10, 20, 0)).toBe(true)
    expect(takeToken(bucket, 10, 20, 0)).toBe(false)
    expect(takeToken(bucket, 10, 20, 0)).toBe(false)
  })

  test('tokens refill at `rate` a second', () => {
    const bucket = createTokenBucket(20, 0)
    for (let i = 0; i < 20; i++) takeToken(bucket, 10, 20, 0)
    expect(takeToken(bucket, 10, 20, 99)).toBe(false)
    expect(takeToken(bucket, 10, 20, 100)).toBe(true)
    expect(takeToken(bucket, 10, 20, 100)).toBe(false)
    let allowed = 0
    for (let i = 0; i < 20; i++) if (takeToken(bucket, 10, 20, 1100)) allowed++
    expect(allowed).toBe(10)
  })

  test('sustained 10 a second is always allowed; faster is not', () => {
    const bucket = createTokenBucket(20, 0)
    let refused = 0
    for (let t = 0; t < 60_000; t += 100) if (!takeToken(bucket, 10, 20, t)) refused++
    expect(refused).toBe(0)
    const fast = createTokenBucket(20, 0)
    let allowed = 0
    for (let t = 0; t < 10_000; t += 50) if (takeToken(fast, 10, 20, t)) allowed++
    // 20 to start plus 10 a second for 10 s, give or take the last partial token.
    expect(allowed).toBeGreaterThanOrEqual(119)
    expect(allowed).toBeLessThanOrEqual(120)
  })

  test('a long idle period refills to `burst` and no further', () => {
    const bucket = createTokenBucket(20, 0)
    for (let i = 0; i < 20; i++) takeToken(bucket, 10, 20, 0)
    let allowed = 0
    for (let i = 0; i < 50; i++) if (takeToken(bucket, 10, 20, 3_600_000)) allowed++
    expect(allowed).toBe(20)
  })

  test('refused attempts do not use up tokens', () => {
    const bucket = createTokenBucket(1, 0)
    expect(takeToken(bucket, 10, 1, 0)).toBe(true)
    for (let i = 0; i < 10; i++) expect(takeToken(bucket, 10, 1, 50)).toBe(false)
    expect(takeToken(bucket, 10, 1, 100)).toBe(true)
  })
})
