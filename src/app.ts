/** The running server's dependencies, built once by main (or a test) and passed down to routes. */
import { createPasswordHasher } from './auth/passwords.ts'
import { SlidingWindow } from './auth/rate-limit.ts'
import { createTokenService, resolveJwtSecret, type TokenService } from './auth/tokens.ts'
import { createPoster, type Poster } from './chat/messages.ts'
import type { AccountDeps } from './chat/users.ts'
import type { Config } from './config.ts'
import type { Logger } from './log.ts'
import { createMetrics, type Metrics } from './metrics.ts'
import type { Store } from './store/store.ts'
import { Hub } from './ws/hub.ts'

export interface App {
  config: Config
  store: Store
  log: Logger
  tokens: TokenService
  accounts: AccountDeps
  hub: Hub
  poster: Poster
  metrics: Metrics
  /** Set once shutdown begins: new messages are no longer accepted. */
  shuttingDown: boolean
  /** Epoch ms; injected by tests that need to move time. */
  now: () => number
}

const MINUTE_MS = 60_000

export async function createApp(config: Config, store: Store, log: Logger, now: () => number = Date.now): Promise<App> {
  const tokens = createTokenService({ secret: await resolveJwtSecret(config.jwtSecret, store), ttlSeconds: config.tokenTtlSeconds, store, now })
  const accounts: AccountDeps = {
    store,
    tokens,
    passwords: createPasswordHasher({ memoryKib: config.argon2MemoryKib, iterations: config.argon2Iterations }),
    loginLimits: {
      perUser: new SlidingWindow(config.loginLimitPerUser, MINUTE_MS, now),
      perAddress: new SlidingWindow(config.loginLimitPerAddress, MINUTE_MS, now),
    },
    hideUserNotFound: config.hideUserNotFound,
  }
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
  return { config, store, log, tokens, accounts, hub, poster: createPoster(store, hub, now), metrics, shuttingDown: false, now }
}
