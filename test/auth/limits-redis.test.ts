/**
 * The rate-limiter contract against the Redis limiters a cluster uses (one Lua script per check), on
 * a throwaway redis-server; then what only they do: instances on one Redis share each budget, and
 * while Redis is unreachable each instance counts alone (attempts from what it counted itself).
 */
import { RedisClient } from 'bun'
import { expect } from 'bun:test'
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
