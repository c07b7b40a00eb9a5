/**
 * The composition root: builds every part once, in dependency order, choosing the broker and the
 * limiters together from the config (alone: in memory; with REDIS_URL: Redis), and owns the start
 * and the shutdown order. Nothing else constructs a part or reaches into another's.
 */
import type { Server, WebSocketHandler } from 'bun'
import { createPasswordHasher } from './auth/passwords.ts'
import { StandingCache } from './auth/standing.ts'
import { createTokenService, resolveJwtSecret } from './auth/tokens.ts'
import { createAttachments, startAttachmentCleanup } from './chat/attachments.ts'
import { createCursorSigner } from './chat/cursor.ts'
import { createMemberships } from './chat/memberships.ts'
import { createPoster } from './chat/messages.ts'
import { createWebhooks } from './chat/webhooks.ts'
import type { Notice } from './chat/notices.ts'
import { RoomGate } from './chat/room-access.ts'
import { createRoomLister } from './chat/room-list.ts'
import { DELETED_USERNAME, rekeyUsernames } from './chat/usernames.ts'
import type { AccountDeps } from './chat/users.ts'
import type { Config } from './config.ts'
import type { RequestContext } from './http/context.ts'
import { createRoutes } from './http/routes.ts'
import type { Router } from './http/router.ts'
import type { Logger } from './log.ts'
import { createMetrics, type Metrics } from './metrics.ts'
import { CLOSE } from './protocol.ts'
import type { Store } from './store/store.ts'
import type { WebClient } from './web/serve.ts'
import { Admission } from './ws/admission.ts'
import { createCluster } from './ws/cluster.ts'
import { Hub } from './ws/hub.ts'
import { Presence } from './ws/presence.ts'
import { createResponder } from './ws/respond.ts'
import type { SocketData } from './ws/socket-data.ts'
import { createSocketHandler } from './ws/socket.ts'
import { startSweeper } from './ws/sweeper.ts'
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
  /** Waits between a webhook delivery's attempts (tests shorten them). */
  retryDelaysMs?: number[]
}

/** Sockets that have not closed this long after the 1001 are left to the server's own stop. */
const SHUTDOWN_GRACE_MS = 2000

export async function createApp(config: Config, store: Store, log: Logger, { web, now = Date.now, catchUpMs, retryDelaysMs }: AppOptions): Promise<App> {
  // Before anything is served: a login must find every account under the current username key.
  await rekeyUsernames(store, log, now)
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
  // spec §5: a deleted account's messages show the placeholder, in the rooms held in memory as in the store.
  standing.onGone((id) => hub.renameUser({ id, username: DELETED_USERNAME }))
  metrics.countConnections(() => ({ ...hub.counts(), userStreams: streams.count }))
  const admission = new Admission(config.maxConnections, config.maxConnectionsPerAddress)
  // spec §6: what concerns a user or a room's readers is applied here and on every other instance.
  const apply = (notice: Notice) => {
    if (notice.kind === 'user') streams.deliver(notice.userId, notice.frame)
    else if (notice.kind === 'evict') hub.evict(notice.room, notice.userId, notice.keep)
    else void standing.reload(notice.userId).catch((err: unknown) => log.warn('cannot reload a changed user', { err }))
  }
  broker.onNotice(apply)
  const notify = (notice: Notice) => {
    apply(notice)
    broker.notify(notice)
  }
  const memberships = createMemberships({ store, gate, notify, now })
  const webhooks = createWebhooks({ store, gate, log, now, retryDelaysMs, counted: (result) => metrics.webhookAttempts.inc({ result }) })
  const streams = new UserStreams({ store, memberships, hub, log, resumeMax })
  hub.observe((event) => streams.observe(event))
  // A committed message, edit or deletion goes to this instance's sockets and to the other instances; the sequencer orders both roads.
  const poster = createPoster(
    store,
    (committed) => {
      hub.deliver(committed.event, committed.after)
      broker.publish(committed)
      // After people: a new message goes to the outgoing webhooks that want it, on their own time.
      if (committed.event.type === 'message') webhooks.outgoing.observe(committed.event.room, committed.event.data)
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
    // A change made here applies here at once, and on the other instances as soon as the broker
    // tells them (the change feed too, within POLL_MS, whatever made the change).
    onChange: (userId) => {
      broker.notify({ kind: 'standing', userId })
      return standing.reload(userId)
    },
  }
  const roomList = createRoomLister(store, broker, createCursorSigner(secret, 'rooms'))
  const attachments = createAttachments({ store, gate, maxBytes: config.attachmentMaxBytes, quotaBytes: config.attachmentQuotaBytes, now })
  const bots = { store, passwords: accounts.passwords, now, onChange: accounts.onChange!, onBotDeleted: () => webhooks.outgoing.invalidate() }
  const incoming = { store, standing, gate, poster, limit: limits.webhooks }
  const routeDeps = { store, log, metrics, accounts, tokens, roomList, admission, web, poster, gate, memberships, attachments, bots, incoming }
  const router = createRoutes({ ...routeDeps, searchLimit: limits.search, webhookAdmin: webhooks.admin, maxTextLength: config.maxTextLength })
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
    messageBurst: config.messageBurst,
    now,
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
      webhooks.worker.start()
      stopSweeper = startSweeper({ sockets: () => allSockets(), respond, slowConsumerBytes: config.slowConsumerBytes, standing, now })
    },
    async stop(closeConnections) {
      await poster.close()
      streams.stop()
      for (const ws of allSockets()) respond.shut(ws, CLOSE.SHUTDOWN)
      await Promise.race([Promise.all([hub.whenEmpty(), streams.whenEmpty()]), Bun.sleep(SHUTDOWN_GRACE_MS)])
      stopSweeper()
      await cleanup?.stop()
      await webhooks.worker.stop()
      await standing.stop()
      await broker.close()
      await closeConnections()
      await store.close()
    },
  }
}
