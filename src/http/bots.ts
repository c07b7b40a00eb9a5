/**
 * /api/v1/admin/bots and /api/v1/admin/webhooks: the admin's bots and webhooks (docs/BOTS.md), with
 * the admin API's rules (an admin's token; ADMIN_STATUS). Tokens and secrets are in the answer that
 * makes them, and never again.
 */
import type { TokenService } from '../auth/tokens.ts'
import { createBot, deleteBot, issueToken, listBots, revokeToken, type BotDeps } from '../chat/bots.ts'
import {
  createIncoming,
  createOutgoing,
  deleteIncoming,
  deleteOutgoing,
  listDeliveries,
  listIncoming,
  listOutgoing,
  type WebhookAdminDeps,
} from '../chat/webhooks-admin.ts'
import { AppError } from '../errors.ts'
import { LIMITS } from '../protocol.ts'
import { BOT_PATHS } from '../protocol-bots.ts'
import { askerOf } from '../chat/accounts.ts'
import { requireAdmin, requireAdminToken, userId, withAdminStatus } from './admin.ts'
import { readJsonObject } from './body.ts'
import type { RequestContext } from './context.ts'
import { intParam } from './query.ts'
import { noContent, ok } from './respond.ts'
import type { Params, Route } from './router.ts'

export interface BotRouteDeps {
  bots: BotDeps
  webhookAdmin: WebhookAdminDeps
  tokens: Pick<TokenService, 'verify'>
}

/** The `:id` of a webhook path; one that can't be an id names no webhook. */
function hookId(params: Params): number {
  const id = /^[1-9]\d{0,15}$/.test(params.id!) ? Number(params.id) : NaN
  if (!Number.isSafeInteger(id)) throw new AppError('NOT_FOUND', 'no webhook has that id')
  return id
}

export function botRoutes({ bots, webhookAdmin, tokens }: BotRouteDeps): Route<RequestContext>[] {
  const admin = (req: Request) => requireAdmin(req, tokens)
  const { store } = bots
  return withAdminStatus([
    {
      path: BOT_PATHS.bots,
      methods: {
        async GET(req) {
          await admin(req)
          return ok(await listBots(store))
        },
        async POST(req) {
          const actor = await admin(req)
          const { username } = await readJsonObject(req)
          return ok(await createBot(bots, actor, username), 201)
        },
      },
    },
    {
      path: '/api/v1/admin/bots/:id',
      methods: {
        async DELETE(req, _ctx, params) {
          const caller = await requireAdminToken(req, tokens)
          await deleteBot(bots, caller.user, userId(params), askerOf(caller))
          return noContent()
        },
      },
    },
    {
      path: '/api/v1/admin/bots/:id/token',
      methods: {
        async POST(req, _ctx, params) {
          const caller = await requireAdminToken(req, tokens)
          return ok(await issueToken(bots, caller.user, userId(params), askerOf(caller)), 201)
        },
        async DELETE(req, _ctx, params) {
          const caller = await requireAdminToken(req, tokens)
          await revokeToken(bots, caller.user, userId(params), askerOf(caller))
          return noContent()
        },
      },
    },
    {
      path: BOT_PATHS.incoming,
      methods: {
        async GET(req) {
          await admin(req)
          return ok(await listIncoming(store))
        },
        async POST(req) {
          const actor = await admin(req)
          return ok(await createIncoming(webhookAdmin, actor, await readJsonObject(req)), 201)
        },
      },
    },
    {
      path: '/api/v1/admin/webhooks/incoming/:id',
      methods: {
        async DELETE(req, _ctx, params) {
          const actor = await admin(req)
          await deleteIncoming(webhookAdmin, actor, hookId(params))
          return noContent()
        },
      },
    },
    {
      path: BOT_PATHS.outgoing,
      methods: {
        async GET(req) {
          await admin(req)
          return ok(await listOutgoing(store))
        },
        async POST(req) {
          const actor = await admin(req)
          return ok(await createOutgoing(webhookAdmin, actor, await readJsonObject(req)), 201)
        },
      },
    },
    {
      path: '/api/v1/admin/webhooks/outgoing/:id',
      methods: {
        async DELETE(req, _ctx, params) {
          const actor = await admin(req)
          await deleteOutgoing(webhookAdmin, actor, hookId(params))
          return noContent()
        },
      },
    },
    {
      path: '/api/v1/admin/webhooks/outgoing/:id/deliveries',
      methods: {
        async GET(req, ctx, params) {
          await admin(req)
          const before = intParam(ctx.query, 'before', 1, Number.MAX_SAFE_INTEGER)
          const limit = intParam(ctx.query, 'limit', 1, LIMITS.PAGE_MAX)
          return ok(await listDeliveries(store, hookId(params), { before, limit }))
        },
      },
    },
  ])
}
