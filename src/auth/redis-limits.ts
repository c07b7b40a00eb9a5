/**
 * Cluster-wide rate limits in Redis (spec §3, §2: limits hold for the whole cluster, not per
 * instance). Each check is one atomic Lua script. While Redis is unreachable they fall back to the
 * instance's in-memory limiter, so limits still hold per instance and nothing is let through unchecked.
 */
import type { RedisClient } from 'bun'
import type { Logger } from '../log.ts'
import { MessageBuckets, SlidingWindow, type FailureLimiter, type MessageLimiter } from './rate-limit.ts'

const WINDOW_SCRIPT = `
local key, now, window, limit, mode, member = KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4], ARGV[5]
redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
if mode == 'record' then
  redis.call('ZADD', key, now, member)
  redis.call('ZREMRANGEBYRANK', key, 0, -limit - 1)
  redis.call('PEXPIRE', key, window)
  return 0
end
if redis.call('ZCARD', key) < limit then return 0 end
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

/** Failed logins in a sliding window shared by every instance. */
export class RedisSlidingWindow implements FailureLimiter {
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

  async retryAfter(key: string): Promise<number> {
    try {
      const ms: number = await this.redis.send('EVAL', [
        WINDOW_SCRIPT,
        '1',
        this.key(key),
        String(this.now()),
        String(this.windowMs),
        String(this.limit),
        'check',
        '',
      ])
      return ms === 0 ? 0 : Math.ceil(ms / 1000)
    } catch (err) {
      this.log.warn('login limiter: Redis unreachable, using this instance alone', { err: String(err) })
      return this.fallback.retryAfter(key)
    }
  }

  async record(key: string): Promise<void> {
    this.fallback.record(key)
    const member = `${this.now()}:${crypto.randomUUID()}`
    await this.redis
      .send('EVAL', [WINDOW_SCRIPT, '1', this.key(key), String(this.now()), String(this.windowMs), String(this.limit), 'record', member])
      .catch((err: unknown) => this.log.warn('login limiter: Redis unreachable, recorded on this instance only', { err: String(err) }))
  }

  private key(key: string): string {
    return `chat:limit:${this.name}:${key}`
  }
}

/** Per-user message token buckets shared by every instance. */
export class RedisMessageBuckets implements MessageLimiter {
  private readonly fallback: MessageBuckets

  constructor(
    private readonly redis: RedisClient,
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
        `chat:limit:messages:${userId}`,
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
