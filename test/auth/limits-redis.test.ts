/**
 * The rate-limiter contract against the Redis limiters a cluster uses (one Lua script per check), on
 * a throwaway redis-server; then what only they do: instances on one Redis share each budget, and
 * while Redis is unreachable each instance counts alone (attempts from what it counted itself).
 */
import { RedisClient } from 'bun'
import { expect } from 'bun:test'
import fc from 'fast-check'
import { MessageBuckets } from '../../src/auth/rate-limit.ts'
import { RedisMessageBuckets, RedisSlidingWindow } from '../../src/auth/redis-limits.ts'
import { createLogger, type Logger } from '../../src/log.ts'
import { requireServices } from '../support/require-services.ts'
import { startRedis, type Service } from '../support/services.ts'
import { describeLimiterContract, manualClock, type LimiterFixture } from './limiter-contract.ts'

// Skipped, with one line saying so, where redis-server is not installed.
const { describe, test, beforeAll, afterAll } = requireServices('redis-server')

const MINUTE = 60_000

let redis: Service
beforeAll(async () => {
  redis = await startRedis()
})
afterAll(async () => {
  await redis?.[Symbol.asyncDispose]()
})

/** A client as the server makes it, connected: a command sent while Redis is away fails at once instead of waiting. */
async function connect(url: string): Promise<RedisClient> {
  const client = new RedisClient(url, { maxRetries: 1_000_000, enableOfflineQueue: false })
  await client.connect()
  return client
}

function recordingLogger(): { log: Logger; lines: string[] } {
  const lines: string[] = []
  return { log: createLogger('warn', 'text', (line) => lines.push(line)), lines }
}

let names = 0

/** An empty Redis; each limiter made gets a name of its own, so limiters in one test count apart. */
async function openFixture(): Promise<LimiterFixture> {
  const client = await connect(redis.url)
  await client.send('FLUSHDB', [])
  const { log, lines } = recordingLogger()
  return {
    attempts: (limit, windowMs, now) => new RedisSlidingWindow(client, `contract-${++names}`, limit, windowMs, log, now),
    messages: (rate, burst, now) => new RedisMessageBuckets(client, 'messages', rate, burst, log, now),
    async [Symbol.asyncDispose]() {
      client.close()
      // A warning means an answer came from the in-memory fallback: the contract did not test Redis.
      expect(lines).toEqual([])
    },
  }
}

describe('on a throwaway redis-server', () => {
  describeLimiterContract('Redis', openFixture)

  test('instances on one Redis share each budget: attempts and messages sent at once to two get exactly the limit', async () => {
    const [one, two] = await Promise.all([connect(redis.url), connect(redis.url)])
    try {
      const { log, lines } = recordingLogger()
      const now = manualClock().now
      const windows = [one, two].map((client) => new RedisSlidingWindow(client, 'shared-login', 10, MINUTE, log, now))
      const taken = await Promise.all(Array.from({ length: 200 }, (_, i) => windows[i % 2]!.take('ghost')))
      expect(taken.filter((t) => t.ok)).toHaveLength(10)
      const buckets = [one, two].map((client) => new RedisMessageBuckets(client, 'messages', 10, 20, log, now))
      const sent = await Promise.all(Array.from({ length: 200 }, (_, i) => buckets[i % 2]!.allow(4242)))
      expect(sent.filter(Boolean)).toHaveLength(20)
      expect(lines).toEqual([])
    } finally {
      one.close()
      two.close()
    }
  })

  test('checks run their script by SHA-1; the text is sent once, and again only after Redis forgot it', async () => {
    const client = await connect(redis.url)
    try {
      const { log, lines } = recordingLogger()
      const calls = async () => {
        const stats: string = await client.send('INFO', ['commandstats'])
        const count = (cmd: string) => Number(new RegExp(`cmdstat_${cmd}:calls=(\\d+)`).exec(stats)?.[1] ?? 0)
        return { eval: count('eval'), evalsha: count('evalsha') }
      }
      await client.send('SCRIPT', ['FLUSH'])
      await client.send('CONFIG', ['RESETSTAT'])
      const buckets = new RedisMessageBuckets(client, 'messages', 10, 3, log, manualClock().now)
      const window = new RedisSlidingWindow(client, 'sha-login', 2, MINUTE, log, manualClock().now)
      expect(await Promise.all(Array.from({ length: 5 }, () => buckets.allow(99)))).toEqual([true, true, true, false, false])
      expect((await Promise.all(Array.from({ length: 3 }, () => window.take('ghost')))).map((t) => t.ok)).toEqual([true, true, false])
      // The five message checks asked at once were one script run; the three attempts, three. The first
      // run of each script met NOSCRIPT and sent the text (once per run in flight).
      const first = await calls()
      expect(first.evalsha).toBe(1 + 3)
      expect(first.eval).toBeGreaterThanOrEqual(2)
      expect(first.eval).toBeLessThanOrEqual(1 + 3)
      await client.send('SCRIPT', ['FLUSH'])
      expect(await buckets.allow(100)).toBe(true)
      expect(await buckets.allow(100)).toBe(true)
      const after = await calls()
      expect(after.eval - first.eval).toBe(1)
      expect(after.evalsha - first.evalsha).toBe(2)
      // Every answer came from Redis, none from the in-memory fallback.
      expect(lines).toEqual([])
    } finally {
      client.close()
    }
  })

  test('message checks asked at once are one script run, answered in the order asked, each user on their own bucket', async () => {
    const client = await connect(redis.url)
    try {
      const { log, lines } = recordingLogger()
      const buckets = new RedisMessageBuckets(client, 'batched', 10, 20, log, manualClock().now)
      expect(await buckets.allow(1)).toBe(true)
      await client.send('CONFIG', ['RESETSTAT'])
      // 300 checks from three users, interleaved: each user's first 19 (one token was spent above for
      // user 1, so 19, 20, 20) pass and the rest do not, in the order asked; 256 a run at most.
      const users = Array.from({ length: 300 }, (_, i) => 1 + (i % 3))
      const answers = await Promise.all(users.map((u) => buckets.allow(u)))
      for (const u of [1, 2, 3]) {
        const mine = answers.filter((_, i) => users[i] === u)
        const passed = u === 1 ? 19 : 20
        expect(mine).toEqual([...Array<boolean>(passed).fill(true), ...Array<boolean>(100 - passed).fill(false)])
      }
      const stats: string = await client.send('INFO', ['commandstats'])
      expect(Number(/cmdstat_evalsha:calls=(\d+)/.exec(stats)?.[1])).toBe(2)
      expect(lines).toEqual([])
    } finally {
      client.close()
    }
  })

  test('the Redis bucket answers as the in-memory one does, message by message, on any schedule', async () => {
    const client = await connect(redis.url)
    try {
      const { log, lines } = recordingLogger()
      // Steps of a quarter or a half token, so both sides' sums are exact and a boundary is a boundary.
      const schedule = fc.record({
        limits: fc.constantFrom({ rate: 10, step: 25 }, { rate: 4, step: 125 }),
        burst: fc.integer({ min: 1, max: 6 }),
        sends: fc.array(fc.record({ user: fc.integer({ min: 1, max: 3 }), steps: fc.nat({ max: 12 }), atOnce: fc.integer({ min: 1, max: 4 }) }), {
          maxLength: 40,
        }),
      })
      await fc.assert(
        fc.asyncProperty(schedule, async ({ limits: { rate, step }, burst, sends }) => {
          await client.send('FLUSHDB', [])
          const c = manualClock()
          const local = new MessageBuckets(rate, burst, c.now)
          const shared = new RedisMessageBuckets(client, 'messages', rate, burst, log, c.now)
          for (const { user, steps, atOnce } of sends) {
            c.advance(steps * step)
            const expected = Array.from({ length: atOnce }, () => local.allow(user))
            expect(await Promise.all(Array.from({ length: atOnce }, () => shared.allow(user)))).toEqual(expected)
          }
        }),
        { numRuns: 60 },
      )
      expect(lines).toEqual([])
    } finally {
      client.close()
    }
  })

  test('with Redis unreachable a limiter counts alone (attempts from what it counted itself) and says so', async () => {
    await using own = await startRedis()
    const client = await connect(own.url)
    try {
      const { log, lines } = recordingLogger()
      const c = manualClock()
      const window = new RedisSlidingWindow(client, 'outage-login', 10, MINUTE, log, c.now)
      const buckets = new RedisMessageBuckets(client, 'messages', 10, 20, log, c.now)
      for (let i = 0; i < 4; i++) expect((await window.take('ghost')).ok).toBe(true)
      for (let i = 0; i < 15; i++) expect(await buckets.allow(7)).toBe(true)
      expect(lines).toEqual([])
      await own.stop()
      const taken = await Promise.all(Array.from({ length: 100 }, () => window.take('ghost')))
      expect(taken.filter((t) => t.ok)).toHaveLength(6)
      // Message buckets are not mirrored locally: the instance's own bucket starts full, still a burst of `burst`.
      const sent = await Promise.all(Array.from({ length: 100 }, () => buckets.allow(7)))
      expect(sent.filter(Boolean)).toHaveLength(20)
      expect(lines.some((l) => l.includes('outage-login limiter: Redis unreachable, using this instance alone'))).toBe(true)
      expect(lines.some((l) => l.includes('message limiter: Redis unreachable, using this instance alone'))).toBe(true)
    } finally {
      client.close()
    }
  })
})
