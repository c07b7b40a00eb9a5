/** Rate limiters: a sliding window of failures (login) and token buckets (messages), in memory, clock injected. */

/** Failed-login accounting; the cluster version lives in Redis (redis-limits.ts). */
export interface FailureLimiter {
  /** Seconds until `key` may try again; 0 when it may now. */
  retryAfter(key: string): number | Promise<number>
  record(key: string): void | Promise<void>
}

/** Per-user message budget; true when the message may go out. */
export interface MessageLimiter {
  allow(userId: number): boolean | Promise<boolean>
}

/**
 * Counts events per key in a sliding window; past `limit` the key is blocked until its oldest event ages out.
 * Memory stays bounded: a key holds at most `limit` timestamps, and idle keys are swept.
 */
export class SlidingWindow implements FailureLimiter {
  private readonly events = new Map<string, number[]>()
  private lastSweep = 0

  constructor(
    private readonly limit: number,
    private readonly windowMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Seconds until `key` may try again; 0 when it may now. */
  retryAfter(key: string): number {
    const list = this.live(key, this.now())
    if (!list || list.length < this.limit) return 0
    return Math.max(1, Math.ceil((list[0]! + this.windowMs - this.now()) / 1000))
  }

  record(key: string): void {
    const now = this.now()
    this.sweep(now)
    const list = this.live(key, now) ?? []
    list.push(now)
    if (list.length > this.limit) list.shift()
    this.events.set(key, list)
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
 * One token bucket per user, shared by all of the user's sockets (spec §3: bursts of `burst`,
 * `rate` a second sustained). Buckets that have refilled completely hold no information and are swept.
 */
export class MessageBuckets implements MessageLimiter {
  private readonly buckets = new Map<number, TokenBucket>()
  private lastSweep: number

  constructor(
    private readonly rate: number,
    private readonly burst: number,
    private readonly now: () => number = Date.now,
  ) {
    this.lastSweep = now()
  }

  allow(userId: number): boolean {
    const now = this.now()
    if (now - this.lastSweep > 60_000) {
      this.lastSweep = now
      for (const [id, b] of this.buckets) if (b.tokens + ((now - b.at) * this.rate) / 1000 >= this.burst) this.buckets.delete(id)
    }
    let bucket = this.buckets.get(userId)
    if (!bucket) this.buckets.set(userId, (bucket = createTokenBucket(this.burst, now)))
    return takeToken(bucket, this.rate, this.burst, now)
  }
}
