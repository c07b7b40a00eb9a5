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

// One message per key, in the order given: a key given twice is two messages of that user, the second
// judged on what the first left, exactly as two checks in a row at the same time would be.
//
// The token bucket as GCRA (the generic cell rate algorithm): one number per user, the time at which
// their bucket will be full again (`tat`). A message passes if that is at most `tolerance` ahead of
// now, and moves it `interval` further; its key expires when the bucket is full, which is what an
// absent key means. The same answers as refilling `rate` tokens a second up to `burst` (rate-limit.ts),
// with interval = 1000 / rate ms and tolerance = (burst - 1) × interval, for two Redis commands per
// message, not three on a hash (a third of the script's cost per message, measured).
const BUCKET_SCRIPT = `
local now, interval, tolerance = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local out = {}
for i, key in ipairs(KEYS) do
  local tat = math.max(now, tonumber(redis.call('GET', key)) or now)
  if tat - now <= tolerance then
    tat = tat + interval
    redis.call('SET', key, string.format('%.3f', tat), 'PX', math.ceil(tat - now))
    out[i] = 1
  else
    out[i] = 0
  end
end
return out
`

/** Checks gathered into one script run at most; more wait for the next (a script blocks Redis while it runs). */
const BUCKET_BATCH_MAX = 256

/**
 * Runs a script by its SHA-1 (EVALSHA: Redis neither receives nor hashes its text on every check),
 * sending the text (EVAL, which also caches it) only when Redis does not know it yet: first use, or
 * after a restart or SCRIPT FLUSH emptied its script cache. The answer is the script's either way.
 */
export class RedisScript {
  private readonly sha: string

  constructor(private readonly source: string) {
    this.sha = new Bun.CryptoHasher('sha1').update(source).digest('hex')
  }

  async run<T>(redis: RedisClient, keys: string[], args: string[]): Promise<T> {
    const params = [String(keys.length), ...keys, ...args]
    try {
      return await redis.send('EVALSHA', [this.sha, ...params])
    } catch (err) {
      if (!String((err as Error)?.message ?? err).includes('NOSCRIPT')) throw err
      return await redis.send('EVAL', [this.source, ...params])
    }
  }
}

const take = new RedisScript(TAKE_SCRIPT)
const bucket = new RedisScript(BUCKET_SCRIPT)

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
      ms = await take.run(this.redis, [redisKey], [String(this.now()), String(this.windowMs), String(this.limit), member])
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

/**
 * Per-user message token buckets shared by every instance. The checks asked for in one turn of the
 * event loop (frames read from many sockets at once) go to Redis as one script run, answered in the
 * order asked: one round trip instead of one per message, the same answers.
 */
export class RedisMessageBuckets implements MessageLimiter {
  private readonly fallback: MessageBuckets
  /** Checks waiting for the next script run, in the order asked. */
  private pending: { userId: number; answer: PromiseWithResolvers<boolean> }[] = []

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

  allow(userId: number): Promise<boolean> {
    const answer = Promise.withResolvers<boolean>()
    if (this.pending.length === 0) setImmediate(() => void this.check())
    this.pending.push({ userId, answer })
    return answer.promise
  }

  /** One script run for the checks gathered so far (up to BUCKET_BATCH_MAX; the rest go in the next). */
  private async check(): Promise<void> {
    const batch = this.pending.splice(0, BUCKET_BATCH_MAX)
    if (this.pending.length > 0) setImmediate(() => void this.check())
    if (batch.length === 0) return
    let answers: number[]
    try {
      // `chat:rate:`, not the `chat:limit:` hashes of the three-command script this replaced: an
      // instance of either version meeting the other's key would fail on its type.
      const keys = batch.map(({ userId }) => `chat:rate:${this.name}:${userId}`)
      const interval = 1000 / this.rate
      answers = await bucket.run<number[]>(this.redis, keys, [String(this.now()), String(interval), String((this.burst - 1) * interval)])
    } catch (err) {
      this.log.warn('message limiter: Redis unreachable, using this instance alone', { err: String(err) })
      for (const { userId, answer } of batch) answer.resolve(this.fallback.allow(userId))
      return
    }
    batch.forEach(({ answer }, i) => answer.resolve(answers[i] === 1))
  }
}
