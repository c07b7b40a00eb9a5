/** The broker contract for a cluster: the Redis brokers of two instances on one real redis-server. */
import { RedisClient } from 'bun'
import { expect, test } from 'bun:test'
import { createLogger } from '../../src/log.ts'
import { Presence } from '../../src/ws/presence.ts'
import { createRedisBroker, type RedisBroker } from '../../src/ws/redis-broker.ts'
import { requireServices } from '../support/require-services.ts'
import { startRedis, type Service } from '../support/services.ts'
import { describeBrokerContract, recordingSink, type Instance } from '../ws/broker-contract.ts'

const { beforeAll, afterAll, describe } = requireServices('redis-server')

let redis: Service
beforeAll(async () => {
  redis = await startRedis()
})
afterAll(() => redis?.[Symbol.asyncDispose]())

/** An instance as the hub drives its broker: presence here, announced on a user's first and last connection. */
function instanceOf(broker: RedisBroker): Instance {
  const presence = new Presence()
  return {
    broker,
    connect(room, user, present) {
      const change = present ? presence.enter(room, user) : presence.exit(room, user)
      if (change.here) broker.announce(room, user, present)
    },
  }
}

describe('cluster', () => {
  describeBrokerContract('Redis', async () => {
    // Each test starts from an empty Redis: presence and instances from earlier tests are gone.
    const admin = new RedisClient(redis.url)
    await admin.send('FLUSHALL', [])
    admin.close()
    const log = createLogger('silent', 'text')
    const [one, two] = await Promise.all([createRedisBroker({ url: redis.url, log }), createRedisBroker({ url: redis.url, log })])
    return {
      here: instanceOf(one),
      there: instanceOf(two),
      cluster: true,
      async [Symbol.asyncDispose]() {
        await Promise.all([one.close(), two.close()])
      },
    }
  })
})

describe('Redis broker', () => {
  test('a publish Redis leaves unanswered for a second is given up with one warning; one it answers, with none', async () => {
    const admin = new RedisClient(redis.url)
    const lines: string[] = []
    const log = createLogger('warn', 'text', (line) => lines.push(line))
    const [one, two] = await Promise.all([createRedisBroker({ url: redis.url, log }), createRedisBroker({ url: redis.url, log })])
    try {
      const sink = recordingSink()
      await two.follow('slow', sink)
      const message = (id: number) => ({
        type: 'message' as const,
        room: 'slow',
        data: { id, room: 'slow', user: { id: 1, username: 'alice' }, text: `m${id}`, ts: new Date(0).toISOString() },
      })
      one.publish({ event: message(1), after: 0 })
      await Bun.sleep(1200)
      expect(sink.delivered.map((d) => d.event.data.id)).toEqual([1])
      expect(lines).toEqual([])
      // Redis holds every write (PUBLISH included) for 1.6 s: the publish is given up after 1 s, said once.
      await admin.send('CLIENT', ['PAUSE', '1600', 'WRITE'])
      one.publish({ event: message(2), after: 1 })
      await Bun.sleep(1300)
      expect(lines.filter((l) => l.includes('could not publish to other instances'))).toHaveLength(1)
      expect(lines[0]).toContain('timeout')
      // When Redis answers at last, nothing more is said; the frame still arrives.
      await Bun.sleep(800)
      expect(lines).toHaveLength(1)
      expect(sink.delivered.map((d) => d.event.data.id)).toEqual([1, 2])
    } finally {
      await admin.send('CLIENT', ['UNPAUSE']).catch(() => {})
      admin.close()
      await Promise.all([one.close(), two.close()])
    }
  })
})
