/**
 * The broker and the limiters, chosen together from the config: alone, in memory; with REDIS_URL,
 * in Redis, so every instance counts against the same budgets and hears the same rooms.
 */
import { MessageBuckets, SlidingWindow, type AttemptLimiter, type MessageLimiter } from '../auth/rate-limit.ts'
import { RedisMessageBuckets, RedisSlidingWindow } from '../auth/redis-limits.ts'
import type { AccountDeps } from '../chat/users.ts'
import type { Config } from '../config.ts'
import type { Logger } from '../log.ts'
import { settingFailure } from '../startup.ts'
import { createLocalBroker, type Broker } from './broker.ts'
import type { Presence } from './presence.ts'
import { createRedisBroker } from './redis-broker.ts'
import { RedisTypingThrottle, TypingThrottle, type TypingGate } from './typing.ts'

const MINUTE_MS = 60_000
const HOUR_MS = 60 * MINUTE_MS

export interface Limits {
  login: AccountDeps['loginLimits']
  signup: AttemptLimiter
  /** Searches (spec §7), per user or anonymous address. */
  search: AttemptLimiter
  messages: MessageLimiter
  /** Edits and deletions (spec §3 counts only messages against the message rate). */
  changes: MessageLimiter
  /** Typing indicators passed on (spec §6). */
  typing: TypingGate
  /** Posts through each incoming webhook, and unknown webhook tokens per address (docs/BOTS.md). */
  webhooks: AttemptLimiter
}

/** The broker and the limiters, chosen together: Redis for a cluster, memory alone. */
export async function createCluster(config: Config, log: Logger, presence: Presence, now: () => number): Promise<{ broker: Broker; limits: Limits }> {
  if (!config.redisUrl) {
    return {
      broker: createLocalBroker(presence),
      limits: {
        login: {
          perUser: new SlidingWindow(config.loginLimitPerUser, MINUTE_MS, now),
          perAddress: new SlidingWindow(config.loginLimitPerAddress, MINUTE_MS, now),
        },
        signup: new SlidingWindow(config.signupLimitPerAddress, HOUR_MS, now),
        search: new SlidingWindow(config.searchLimitPerMinute, MINUTE_MS, now),
        webhooks: new SlidingWindow(config.webhookLimitPerMinute, MINUTE_MS, now),
        messages: new MessageBuckets(config.messageRate, config.messageBurst, now),
        changes: new MessageBuckets(config.messageRate, config.messageBurst, now),
        typing: new TypingThrottle(now),
      },
    }
  }
  const ttlMs = config.instanceTtlSeconds * 1000
  const broker = await createRedisBroker({
    url: config.redisUrl,
    log,
    instanceTtlMs: ttlMs,
    heartbeatMs: ttlMs / 5,
    startupTimeoutMs: config.startupTimeoutSeconds * 1000,
  }).catch((err: unknown) => {
    throw settingFailure('cannot connect to', 'redisUrl', config.redisUrl, err, { valueAtFault: false })
  })
  const { redis } = broker
  return {
    broker,
    limits: {
      login: {
        perUser: new RedisSlidingWindow(redis, 'login-user', config.loginLimitPerUser, MINUTE_MS, log, now),
        perAddress: new RedisSlidingWindow(redis, 'login-address', config.loginLimitPerAddress, MINUTE_MS, log, now),
      },
      signup: new RedisSlidingWindow(redis, 'signup-address', config.signupLimitPerAddress, HOUR_MS, log, now),
      search: new RedisSlidingWindow(redis, 'search', config.searchLimitPerMinute, MINUTE_MS, log, now),
      webhooks: new RedisSlidingWindow(redis, 'webhooks', config.webhookLimitPerMinute, MINUTE_MS, log, now),
      messages: new RedisMessageBuckets(redis, 'messages', config.messageRate, config.messageBurst, log, now),
      changes: new RedisMessageBuckets(redis, 'changes', config.messageRate, config.messageBurst, log, now),
      typing: new RedisTypingThrottle(redis, now),
    },
  }
}
