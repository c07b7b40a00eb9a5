/** The broker contract for a cluster: the Redis brokers of two instances on one real redis-server. */
import { RedisClient } from 'bun'
import { createLogger } from '../../src/log.ts'
import { Presence } from '../../src/ws/presence.ts'
import { createRedisBroker, type RedisBroker } from '../../src/ws/redis-broker.ts'
import { requireServices } from '../support/require-services.ts'
import { startRedis, type Service } from '../support/services.ts'
import { describeBrokerContract, type Instance } from '../ws/broker-contract.ts'

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
