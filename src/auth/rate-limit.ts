/** Rate limiters: sliding windows of attempts (login, sign-up) and token buckets (messages), in memory, clock injected. */

/** The answer of `AttemptLimiter.take`: the attempt was counted, or nothing was and the key must wait. */
export type Taken = { ok: true; giveBack(): void | Promise<void> } | { ok: false; retryAfter: number }

/** Attempt accounting (failed logins, sign-ups); the cluster version lives in Redis (redis-limits.ts). */
export interface AttemptLimiter {
  /**
   * Counts one attempt against `key` if its window has room, in one atomic step, so attempts running
   * at the same time get no more room than the same attempts one after another (spec §2). Refused,
   * it counts nothing and gives the seconds (≥ 1) until there is room. `giveBack` uncounts the
   * attempt, e.g. once a login turns out to have succeeded.
   */
  take(key: string): Taken | Promise<Taken>
}

/** Per-user message budget; true when the message may go out. */
export interface MessageLimiter {
  allow(userId: number): boolean | Promise<boolean>
}

/**
 * Takes one attempt from each limit in turn. Either every limit counts it, or none does: when one
 * refuses, those already taken are given back and its wait is the answer.
 */
export async function takeAll(limits: readonly { limiter: AttemptLimiter; key: string }[]): Promise<Taken> {
  const taken: Extract<Taken, { ok: true }>[] = []
  const giveBack = async () => {
    await Promise.all(taken.map((t) => t.giveBack()))
  }
  for (const { limiter, key } of limits) {
    const t = await limiter.take(key)
    if (!t.ok) {
      await giveBack()
      return t
    }
    taken.push(t)
  }
  return { ok: true, giveBack }
}

/**
 * Counts attempts per key in a sliding window; a key with `limit` attempts in the window is refused
 * until its oldest ages out. Memory stays bounded: a key holds at most `limit` timestamps, and idle
 * keys are swept.
 */
export class SlidingWindow implements AttemptLimiter {
  private readonly events = new Map<string, number[]>()
  private lastSweep = 0

  constructor(
    private readonly limit: number,
    private readonly windowMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  take(key: string): Taken {
    const now = this.now()
    this.sweep(now)
    const list = this.live(key, now) ?? []
    if (list.length >= this.limit) return { ok: false, retryAfter: Math.max(1, Math.ceil((list[0]! + this.windowMs - now) / 1000)) }
    list.push(now)
    this.events.set(key, list)
    let given = false
    return {
      ok: true,
      giveBack: () => {
        if (given) return
        given = true
        this.remove(key, now)
      },
    }
  }

  /** Uncounts one attempt made at `at`; attempts made in the same millisecond are interchangeable. */
  private remove(key: string, at: number): void {
    const list = this.events.get(key)
    const i = list ? list.lastIndexOf(at) : -1
    // -1: it has aged out already.
    if (i === -1) return
    list!.splice(i, 1)
    if (list!.length === 0) this.events.delete(key)
  }

  private live(key: string, now: number): number[] | undefined {
    const list = this.events.get(key)
    if (!list) return undefined
    while (list.length > 0 && list[0]! <= now - this.windowMs) list.shift()
    if (list.length === 0) {
      this.events.delete(key)
      return undefined
    }
    return list
  }

  private sweep(now: number): void {
    if (now - this.lastSweep < this.windowMs) return
    this.lastSweep = now
    for (const key of this.events.keys()) this.live(key, now)
  }
}

export interface TokenBucket {
  tokens: number
  /** Epoch ms of the last refill. */
  at: number
}

export function createTokenBucket(burst: number, now: number): TokenBucket {
  return { tokens: burst, at: now }
}

/** Takes one token if there is one: refills `rate` a second up to `burst` (spec §3: 10/s, bursts of 20). */
export function takeToken(bucket: TokenBucket, rate: number, burst: number, now: number): boolean {
  bucket.tokens = Math.min(burst, bucket.tokens + ((now - bucket.at) * rate) / 1000)
  bucket.at = now
  if (bucket.tokens < 1) return false
  bucket.tokens -= 1
  return true
}

/**
 * One token bucket per key, in memory: bursts of `burst`, `rate` a second sustained. Buckets that
 * have refilled completely hold no information and are swept.
 */
export class KeyedBuckets<K> {
  private readonly buckets = new Map<K, TokenBucket>()
  private lastSweep: number

  constructor(
    private readonly rate: number,
    private readonly burst: number,
    private readonly now: () => number = Date.now,
  ) {
    this.lastSweep = now()
  }

  allow(key: K): boolean {
    const now = this.now()
    if (now - this.lastSweep > 60_000) {
      this.lastSweep = now
      for (const [k, b] of this.buckets) if (b.tokens + ((now - b.at) * this.rate) / 1000 >= this.burst) this.buckets.delete(k)
    }
    let bucket = this.buckets.get(key)
    if (!bucket) this.buckets.set(key, (bucket = createTokenBucket(this.burst, now)))
    return takeToken(bucket, this.rate, this.burst, now)
  }
}

/** One token bucket per user, shared by all of the user's sockets (spec §3: bursts of `burst`, `rate` a second sustained). */
export class MessageBuckets extends KeyedBuckets<number> implements MessageLimiter {}
