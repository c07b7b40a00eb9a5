/** The route table: every HTTP endpoint (spec §2), each resource's handlers built with only what they use. */
import type { AttemptLimiter } from '../auth/rate-limit.ts'
import type { TokenService } from '../auth/tokens.ts'
import type { Attachments } from '../chat/attachments.ts'
import type { Memberships } from '../chat/memberships.ts'
import type { Poster } from '../chat/messages.ts'
import type { RoomGate } from '../chat/room-access.ts'
import type { RoomLister } from '../chat/room-list.ts'
import type { AccountDeps } from '../chat/users.ts'
import type { IncomingDeps } from '../chat/incoming-webhooks.ts'
import type { Logger } from '../log.ts'
import type { Metrics } from '../metrics.ts'
import type { Store } from '../store/store.ts'
import type { WebClient } from '../web/serve.ts'
import type { Admission } from '../ws/admission.ts'
import { adminRoutes } from './admin.ts'
import { attachmentRoutes } from './attachments.ts'
import { botRoutes, type BotRouteDeps } from './bots.ts'
import type { RequestContext } from './context.ts'
import { docsRoutes } from './docs.ts'
import { healthRoutes } from './health.ts'
import { hookRoutes } from './hooks.ts'
import { membershipRoutes } from './memberships.ts'
import { roomRoutes } from './rooms.ts'
import { createRouter, type Router } from './router.ts'
import { searchRoutes } from './search.ts'
import { sessionRoutes } from './sessions.ts'
import { userRoutes } from './users.ts'

export interface RouteDeps {
  store: Store
  log: Logger
  metrics: Metrics
  accounts: AccountDeps
  tokens: TokenService
  roomList: RoomLister
  poster: Poster
  gate: RoomGate
  memberships: Memberships
  attachments: Attachments
  searchLimit: AttemptLimiter
  admission: Admission
  web: WebClient
  bots: BotRouteDeps['bots']
  webhookAdmin: BotRouteDeps['webhookAdmin']
  incoming: IncomingDeps
  maxTextLength: number
}

export function createRoutes(deps: RouteDeps): Router<RequestContext> {
  const page = () => deps.web.index()
  return createRouter<RequestContext>([
    ...userRoutes(deps),
    ...sessionRoutes(deps),
    ...roomRoutes(deps),
    ...membershipRoutes(deps),
    ...attachmentRoutes(deps),
    ...searchRoutes(deps),
    ...adminRoutes(deps),
    ...botRoutes(deps),
    ...hookRoutes(deps),
    ...healthRoutes(deps),
    ...docsRoutes(),
    // Served by Bun's static routes (server.ts); listed here so other methods get 405 with Allow.
    { path: '/', methods: { GET: page, HEAD: page } },
  ])
}
