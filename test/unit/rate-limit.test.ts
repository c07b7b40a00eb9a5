/**
 * Rate limiters with an injected clock (spec §2, §3): the login limiter is a sliding window of
 * failures per key, one minute long; the message limiter is a token bucket of 20 refilled at 10 a
 * second.
 */
import { describe, expect, test } from 'bun:test'
import { createTokenBucket, SlidingWindow, takeToken } from '../../src/auth/rate-limit.ts'

const MINUTE = 60_000

function clock(start = 1_000_000) {
  let t = start
  return { now: () => t, advance: (ms: number) => (t += ms) }
}

describe('SlidingWindow', () => {
  test('a key may go on until it has `limit` events in the window', () => {
    const c = clock()
    const window = new SlidingWindow(3, MINUTE, c.now)
    for (let i = 0; i < 3; i++) {
      expect(window.retryAfter('alice')).toBe(0)
      window.record('alice')
    }
    expect(window.retryAfter('alice')).toBe(60)
  })

  test('retryAfter counts down in whole seconds, rounding up, and never says 0 while blocked', () => {
    const c = clock()
    const window = new SlidingWindow(1, MINUTE, c.now)
    window.record('k')
    c.advance(1)
    expect(window.retryAfter('k')).toBe(60)
    c.advance(30_000)
    expect(window.retryAfter('k')).toBe(30)
    c.advance(29_998)
    expect(window.retryAfter('k')).toBe(1)
    c.advance(1)
    expect(window.retryAfter('k')).toBe(0)
  })

  test('an event ages out exactly one window later', () => {
    const c = clock()
    const window = new SlidingWindow(1, MINUTE, c.now)
    window.record('k')
    c.advance(MINUTE - 1)
    expect(window.retryAfter('k')).toBe(1)
    c.advance(1)
    expect(window.retryAfter('k')).toBe(0)
  })

  test('the window slides: the block lifts when the oldest event ages out', () => {
    const c = clock()
    const window = new SlidingWindow(3, MINUTE, c.now)
    window.record('k') // t = 0
    c.advance(20_000)
    window.record('k') // t = 20 s
    c.advance(20_000)
    window.record('k') // t = 40 s
    expect(window.retryAfter('k')).toBe(20)
    c.advance(20_000) // t = 60 s: the first has aged out
    expect(window.retryAfter('k')).toBe(0)
    window.record('k')
    expect(window.retryAfter('k')).toBe(20)
  })

  test('keys are counted separately', () => {
    const c = clock()
    const window = new SlidingWindow(2, MINUTE, c.now)
    window.record('alice')
    window.record('alice')
    expect(window.retryAfter('alice')).toBeGreaterThan(0)
    expect(window.retryAfter('bob')).toBe(0)
    window.record('bob')
    expect(window.retryAfter('bob')).toBe(0)
  })

  test('events recorded while blocked extend the block to the newest `limit` events', () => {
    const c = clock()
    const window = new SlidingWindow(2, MINUTE, c.now)
    window.record('k')
    c.advance(10_000)
    window.record('k')
    c.advance(10_000)
    window.record('k')
    // Kept: the events at 10 s and 20 s; now is 20 s, so the block ends at 70 s.
    expect(window.retryAfter('k')).toBe(50)
  })

  test('a limit of 1 blocks after one event', () => {
    const c = clock()
    const window = new SlidingWindow(1, 1000, c.now)
    expect(window.retryAfter('k')).toBe(0)
    window.record('k')
    expect(window.retryAfter('k')).toBe(1)
  })

  test('many idle keys do not block a fresh one after a long pause', () => {
    const c = clock()
    const window = new SlidingWindow(1, MINUTE, c.now)
    for (let i = 0; i < 1000; i++) window.record(`k${i}`)
    c.advance(10 * MINUTE)
    window.record('fresh')
    for (let i = 0; i < 1000; i++) expect(window.retryAfter(`k${i}`)).toBe(0)
    expect(window.retryAfter('fresh')).toBe(60)
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
