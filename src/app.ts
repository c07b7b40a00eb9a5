/** The running server's dependencies, built once by main (or a test) and passed down to routes. */
import { createPasswordHasher } from './auth/passwords.ts'
import { MessageBuckets, SlidingWindow, type AttemptLimiter, type MessageLimiter } from './auth/rate-limit.ts'
import { RedisMessageBuckets, RedisSlidingWindow } from './auth/redis-limits.ts'
import { createTokenService, resolveJwtSecret, type TokenService } from './auth/tokens.ts'
import { createCursorSigner } from './chat/cursor.ts'
import { createPoster, type Poster } from './chat/messages.ts'
import { createRoomLister, type RoomLister } from './chat/room-list.ts'
import { rekeyUsernames } from './chat/usernames.ts'
import type { AccountDeps } from './chat/users.ts'
import type { Config } from './config.ts'
import type { Logger } from './log.ts'
import { createMetrics, type Metrics } from './metrics.ts'
import { settingFailure } from './startup.ts'
import type { Store } from './store/store.ts'
import { createLocalBroker, type Broker } from './ws/broker.ts'
import { Hub } from './ws/hub.ts'
import { createRedisBroker } from './ws/redis-broker.ts'

export interface App {
  config: Config
  store: Store
  log: Logger
  tokens: TokenService
  accounts: AccountDeps
  hub: Hub
  /** Local alone; Redis when REDIS_URL is set (several instances). */
  broker: Broker
  poster: Poster
  /** GET /api/v1/rooms, a page at a time. */
  roomList: RoomLister
  messageLimiter: MessageLimiter
  metrics: Metrics
  /** Set once shutdown begins: new messages are no longer accepted. */
  shuttingDown: boolean
  /** Epoch ms; injected by tests that need to move time. */
  now: () => number
}

const MINUTE_MS = 60_000
const HOUR_MS = 60 * MINUTE_MS

export async function createApp(config: Config, store: Store, log: Logger, now: () => number = Date.now): Promise<App> {
  // Before anything is served: a login must find every account under the current username key.
  await rekeyUsernames(store, log)
  // Shared by every instance, so a room-list cursor made by one is good on the others.
  const secret = await resolveJwtSecret(config.jwtSecret, store)
  const tokens = createTokenService({ secret, ttlSeconds: config.tokenTtlSeconds, store, now })
  // Read at scrape time only, when `hub` exists.
  const metrics = createMetrics(() => hub.counts())
  const hub = new Hub({
    store,
    log,
    metrics,
    now,
    historySize: config.historySize,
    resumeMax: config.resumeMax,
    maxConnections: config.maxConnections,
    maxConnectionsPerAddress: config.maxConnectionsPerAddress,
    slowConsumerBytes: config.slowConsumerBytes,
  })

  let broker: Broker
  let loginLimits: AccountDeps['loginLimits']
  let signupLimit: AttemptLimiter
  let messageLimiter: MessageLimiter
  if (config.redisUrl) {
    const ttlMs = config.instanceTtlSeconds * 1000
    const redisBroker = await createRedisBroker({
      url: config.redisUrl,
      hub,
      store,
      log,
      instanceTtlMs: ttlMs,
      heartbeatMs: ttlMs / 5,
      startupTimeoutMs: config.startupTimeoutSeconds * 1000,
    }).catch((err: unknown) => {
      throw settingFailure('cannot connect to', 'redisUrl', config.redisUrl, err, { valueAtFault: false })
    })
    const { redis } = redisBroker
    broker = redisBroker
    loginLimits = {
      perUser: new RedisSlidingWindow(redis, 'login-user', config.loginLimitPerUser, MINUTE_MS, log, now),
      perAddress: new RedisSlidingWindow(redis, 'login-address', config.loginLimitPerAddress, MINUTE_MS, log, now),
    }
    signupLimit = new RedisSlidingWindow(redis, 'signup-address', config.signupLimitPerAddress, HOUR_MS, log, now)
    messageLimiter = new RedisMessageBuckets(redis, config.messageRate, config.messageBurst, log, now)
  } else {
    broker = createLocalBroker(hub)
    loginLimits = {
      perUser: new SlidingWindow(config.loginLimitPerUser, MINUTE_MS, now),
      perAddress: new SlidingWindow(config.loginLimitPerAddress, MINUTE_MS, now),
    }
    signupLimit = new SlidingWindow(config.signupLimitPerAddress, HOUR_MS, now)
    messageLimiter = new MessageBuckets(config.messageRate, config.messageBurst, now)
  }
  hub.broker = broker

  const accounts: AccountDeps = {
    store,
    tokens,
    passwords: createPasswordHasher({ memoryKib: config.argon2MemoryKib, iterations: config.argon2Iterations }),
    loginLimits,
    signupLimit,
    hideUserNotFound: config.hideUserNotFound,
  }
  return {
    config,
    store,
    log,
    tokens,
    accounts,
    hub,
    broker,
    poster: createPoster(store, broker, now),
    roomList: createRoomLister(store, broker, createCursorSigner(secret, 'rooms')),
    messageLimiter,
    metrics,
    shuttingDown: false,
    now,
  }
}
