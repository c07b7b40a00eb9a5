/**
 * Cluster-wide rate limits in Redis (spec §3, §2: limits hold for the whole cluster, not per
 * instance). Each check is one atomic Lua script. While Redis is unreachable they fall back to the
 * instance's in-memory limiter, so limits still hold per instance and nothing is let through unchecked.
 */
import type { RedisClient } from 'bun'
import type { Logger } from '../log.ts'
import { MessageBuckets, SlidingWindow, type AttemptLimiter, type MessageLimiter, type Taken } from './rate-limit.ts'

// Check and count in one step: attempts racing on several instances can't all see room that only one may take.
const TAKE_SCRIPT = `
local key, now, window, limit, member = KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4]
redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
if redis.call('ZCARD', key) < limit then
  redis.call('ZADD', key, now, member)
  redis.call('PEXPIRE', key, window)
  return 0
end
local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
return math.max(1, tonumber(oldest[2]) + window - now)
`

const BUCKET_SCRIPT = `
local key, now, rate, burst = KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local state = redis.call('HMGET', key, 'tokens', 'at')
local tokens = tonumber(state[1]) or burst
local at = tonumber(state[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - at) * rate / 1000)
local ok = 0
if tokens >= 1 then tokens = tokens - 1; ok = 1 end
redis.call('HSET', key, 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('PEXPIRE', key, math.ceil(burst / rate * 1000) + 1000)
return ok
`

/**
 * Attempts (failed logins, sign-ups) in a sliding window shared by every instance. Each attempt
 * Redis counts is also counted in the instance's own window, so an outage doesn't hand out a fresh budget.
 */
export class RedisSlidingWindow implements AttemptLimiter {
  private readonly fallback: SlidingWindow

  constructor(
    private readonly redis: RedisClient,
    private readonly name: string,
    private readonly limit: number,
    private readonly windowMs: number,
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
  ) {
    this.fallback = new SlidingWindow(limit, windowMs, now)
  }

  async take(key: string): Promise<Taken> {
    const redisKey = `chat:limit:${this.name}:${key}`
    const member = crypto.randomUUID()
    let ms: number
    try {
      ms = await this.redis.send('EVAL', [TAKE_SCRIPT, '1', redisKey, String(this.now()), String(this.windowMs), String(this.limit), member])
    } catch (err) {
      this.log.warn(`${this.name} limiter: Redis unreachable, using this instance alone`, { err: String(err) })
      return this.fallback.take(key)
    }
    if (ms !== 0) return { ok: false, retryAfter: Math.ceil(ms / 1000) }
    // Refused here only after an outage, when this instance counted attempts Redis never saw; Redis decides.
    const local = this.fallback.take(key)
    return {
      ok: true,
      giveBack: async () => {
        if (local.ok) await local.giveBack()
        await this.redis
          .send('ZREM', [redisKey, member])
          .catch((err: unknown) => this.log.warn(`${this.name} limiter: Redis unreachable, an attempt stays counted`, { err: String(err) }))
      },
    }
  }
}

/** Per-user message token buckets shared by every instance. */
export class RedisMessageBuckets implements MessageLimiter {
  private readonly fallback: MessageBuckets

  constructor(
    private readonly redis: RedisClient,
    /** Which budget: `messages`, `changes`. */
    private readonly name: string,
    private readonly rate: number,
    private readonly burst: number,
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
  ) {
    this.fallback = new MessageBuckets(rate, burst, now)
  }

  async allow(userId: number): Promise<boolean> {
    try {
      const ok: number = await this.redis.send('EVAL', [
        BUCKET_SCRIPT,
        '1',
        `chat:limit:${this.name}:${userId}`,
        String(this.now()),
        String(this.rate),
        String(this.burst),
      ])
      return ok === 1
    } catch (err) {
      this.log.warn('message limiter: Redis unreachable, using this instance alone', { err: String(err) })
      return this.fallback.allow(userId)
    }
  }
}
