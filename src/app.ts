/**
 * The composition root: builds every part once, in dependency order, choosing the broker and the
 * limiters together from the config (alone: in memory; with REDIS_URL: Redis), and owns the start
 * and the shutdown order. Nothing else constructs a part or reaches into another's.
 */
import type { Server, WebSocketHandler } from 'bun'
import { createPasswordHasher } from './auth/passwords.ts'
import { MessageBuckets, SlidingWindow, type AttemptLimiter, type MessageLimiter } from './auth/rate-limit.ts'
import { RedisMessageBuckets, RedisSlidingWindow } from './auth/redis-limits.ts'
import { StandingCache } from './auth/standing.ts'
import { createTokenService, resolveJwtSecret } from './auth/tokens.ts'
import { createAttachments, startAttachmentCleanup } from './chat/attachments.ts'
import { createCursorSigner } from './chat/cursor.ts'
import { createMemberships } from './chat/memberships.ts'
import { createPoster } from './chat/messages.ts'
import type { Notice } from './chat/notices.ts'
import { RoomGate } from './chat/room-access.ts'
import { createRoomLister } from './chat/room-list.ts'
import { rekeyUsernames } from './chat/usernames.ts'
import type { AccountDeps } from './chat/users.ts'
import type { Config } from './config.ts'
import type { RequestContext } from './http/context.ts'
import { createRoutes } from './http/routes.ts'
import type { Router } from './http/router.ts'
import type { Logger } from './log.ts'
import { createMetrics, type Metrics } from './metrics.ts'
import { CLOSE } from './protocol.ts'
import { settingFailure } from './startup.ts'
import type { Store } from './store/store.ts'
import type { WebClient } from './web/serve.ts'
import { Admission } from './ws/admission.ts'
import { createLocalBroker, type Broker } from './ws/broker.ts'
import { Hub } from './ws/hub.ts'
import { Presence } from './ws/presence.ts'
import { createRedisBroker } from './ws/redis-broker.ts'
import { createResponder } from './ws/respond.ts'
import type { SocketData } from './ws/socket-data.ts'
import { createSocketHandler } from './ws/socket.ts'
import { startSweeper } from './ws/sweeper.ts'
import { RedisTypingThrottle, TypingThrottle, type TypingGate } from './ws/typing.ts'
import { UserStreams } from './ws/user-streams.ts'

export interface App {
  config: Config
  log: Logger
  metrics: Metrics
  store: Store
  /** Read by tests and the metrics scrape: the sockets and rooms of this process. */
  hub: Hub
  router: Router<RequestContext>
  /** The web client's bundle (GET / and its assets). */
  web: WebClient
  websocket: WebSocketHandler<SocketData>
  /** The server is listening: its topics carry the rooms' frames from now on, and the sweeper runs. */
  start(server: Server<SocketData>): void
  /**
   * Clean shutdown (spec §3), once the server has stopped accepting: store and publish what is in
   * flight, close every socket with 1001, leave the cluster, then `closeConnections` (the server's
   * last requests) and only then the database.
   */
  stop(closeConnections: () => Promise<void>): Promise<void>
}

export interface AppOptions {
  /** The web client's bundle, loaded by main (GET /). */
  web: WebClient
  /** Epoch ms; injected by tests that need to move time. */
  now?: () => number
  /** How long a delivery waits for an earlier message from another instance (sequencer.ts). */
  catchUpMs?: number
}

const MINUTE_MS = 60_000
const HOUR_MS = 60 * MINUTE_MS
/** Sockets that have not closed this long after the 1001 are left to the server's own stop. */
const SHUTDOWN_GRACE_MS = 2000

interface Limits {
  login: AccountDeps['loginLimits']
  signup: AttemptLimiter
  /** Searches (spec §7), per user or anonymous address. */
  search: AttemptLimiter
  messages: MessageLimiter
  /** Edits and deletions (spec §3 counts only messages against the message rate). */
  changes: MessageLimiter
  /** Typing indicators passed on (spec §6). */
  typing: TypingGate
}

/** The broker and the limiters, chosen together: Redis for a cluster, memory alone. */
async function createCluster(config: Config, log: Logger, presence: Presence, now: () => number): Promise<{ broker: Broker; limits: Limits }> {
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
      messages: new RedisMessageBuckets(redis, 'messages', config.messageRate, config.messageBurst, log, now),
      changes: new RedisMessageBuckets(redis, 'changes', config.messageRate, config.messageBurst, log, now),
      typing: new RedisTypingThrottle(redis, now),
    },
  }
}

export async function createApp(config: Config, store: Store, log: Logger, { web, now = Date.now, catchUpMs }: AppOptions): Promise<App> {
  // Before anything is served: a login must find every account under the current username key.
  await rekeyUsernames(store, log)
  // Shared by every instance, so a room-list cursor made by one is good on the others.
  const secret = await resolveJwtSecret(config.jwtSecret, store)
  // spec §5: until someone is admin, the first account to sign up becomes one (told once listening).
  const noAdmin = (await store.countAdmins()) === 0
  // Users' standing, kept true by the change feed: verifying a token costs no database round trip.
  const standing = new StandingCache(store, log, now)
  await standing.start()
  const tokens = createTokenService({ secret, ttlSeconds: config.tokenTtlSeconds, standing, now })
  const presence = new Presence()
  const { broker, limits } = await createCluster(config, log, presence, now)
  const metrics = createMetrics()
  const respond = createResponder(log, metrics)
  const gate = new RoomGate(store)
  const { historySize, resumeMax } = config
  const hub = new Hub({ store, broker, presence, log, metrics, gate, respond, historySize, resumeMax, catchUpMs })
  metrics.countConnections(() => ({ ...hub.counts(), userStreams: streams.count }))
  const admission = new Admission(config.maxConnections, config.maxConnectionsPerAddress)
  // spec §6: what concerns a user or a room's readers is applied here and on every other instance.
  const apply = (notice: Notice) => {
    if (notice.kind === 'user') streams.deliver(notice.userId, notice.frame)
    else hub.evict(notice.room, notice.userId, notice.keep)
  }
  broker.onNotice(apply)
  const notify = (notice: Notice) => {
    apply(notice)
    broker.notify(notice)
  }
  const memberships = createMemberships({ store, gate, notify, now })
  const streams = new UserStreams({ store, memberships, hub, log, resumeMax })
  hub.observe((event) => streams.observe(event))
  // A committed message, edit or deletion goes to this instance's sockets and to the other instances; the sequencer orders both roads.
  const poster = createPoster(
    store,
    (committed) => {
      hub.deliver(committed.event, committed.after)
      broker.publish(committed)
    },
    notify,
    // A deleted message's attachments (spec §7): their rows went with it; their bytes go now (the cleanup sweeps any left).
    (ids) => void store.removeAttachmentFiles(ids).catch((err: unknown) => log.warn('could not remove the files of deleted attachments', { err })),
    now,
  )
  const accounts: AccountDeps = {
    store,
    tokens,
    passwords: createPasswordHasher({ memoryKib: config.argon2MemoryKib, iterations: config.argon2Iterations }),
    loginLimits: limits.login,
    signupLimit: limits.signup,
    hideUserNotFound: config.hideUserNotFound,
    registration: config.registration,
    now,
    // A change made here applies here at once; the change feed takes it to the other instances.
    onChange: (userId) => standing.reload(userId),
  }
  const roomList = createRoomLister(store, broker, createCursorSigner(secret, 'rooms'))
  const attachments = createAttachments({ store, gate, maxBytes: config.attachmentMaxBytes, quotaBytes: config.attachmentQuotaBytes, now })
  const routeDeps = { store, log, metrics, accounts, tokens, roomList, admission, web, poster, gate, memberships, attachments }
  const router = createRoutes({ ...routeDeps, searchLimit: limits.search })
  const websocket = createSocketHandler({
    hub,
    streams,
    memberships,
    typing: limits.typing,
    admission,
    poster,
    messageLimiter: limits.messages,
    changeLimiter: limits.changes,
    standing,
    respond,
    log,
    maxTextLength: config.maxTextLength,
    messageRate: config.messageRate,
    slowConsumerBytes: config.slowConsumerBytes,
    idleTimeoutSeconds: config.wsIdleTimeoutSeconds,
  })

  /** Room sockets and user streams: both are swept, and both closed at shutdown. */
  function* allSockets() {
    yield* hub.all()
    yield* streams.all()
  }

  let stopSweeper = () => {}
  let cleanup: { stop(): Promise<void> } | undefined
  return {
    config,
    log,
    metrics,
    store,
    hub,
    router,
    web,
    websocket,
    start(server) {
      if (noAdmin)
        log.warn('this server has no admin yet: the first account created becomes admin (create it with the CLI first, or set REGISTRATION=invite or closed)')
      hub.bind(server)
      cleanup = startAttachmentCleanup(store, log, now)
      stopSweeper = startSweeper({ sockets: () => allSockets(), respond, slowConsumerBytes: config.slowConsumerBytes, standing, now })
    },
    async stop(closeConnections) {
      await poster.close()
      streams.stop()
      for (const ws of allSockets()) respond.shut(ws, CLOSE.SHUTDOWN)
      await Promise.race([Promise.all([hub.whenEmpty(), streams.whenEmpty()]), Bun.sleep(SHUTDOWN_GRACE_MS)])
      stopSweeper()
      await cleanup?.stop()
      await standing.stop()
      await broker.close()
      await closeConnections()
      await store.close()
    },
  }
}
