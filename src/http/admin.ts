/**
 * /api/v1/admin: the owner's API (spec §5). An admin's token: a member gets 403 FORBIDDEN, no token
 * or a bad one 401 TOKEN_INVALID. Users are addressed by id (an unknown one is 404 USER_NOT_FOUND
 * here, ADMIN_STATUS); every change is audited with the admin as its actor.
 */
import type { TokenService, VerifiedToken } from '../auth/tokens.ts'
import { askerOf } from '../chat/accounts.ts'
import { listAudit } from '../chat/audit.ts'
import { createInvite, listInvites, revokeInvite } from '../chat/invites.ts'
import { banUser, listUsers, resetPassword, setRole, unbanUser } from '../chat/moderation.ts'
import { readRegistration, setRegistration } from '../chat/registration.ts'
import type { AccountDeps } from '../chat/users.ts'
import { AppError } from '../errors.ts'
import { LIMITS, type User } from '../protocol.ts'
import { requireToken } from './bearer.ts'
import { optionalStringField, readJsonObject, stringField } from './body.ts'
import type { RequestContext } from './context.ts'
import { intParam } from './query.ts'
import { ADMIN_STATUS, fail, noContent, ok } from './respond.ts'
import type { Handler, Params, Route } from './router.ts'

export interface AdminRouteDeps {
  accounts: AccountDeps
  tokens: Pick<TokenService, 'verify'>
}

/** The token's user, if an admin; else 401 TOKEN_INVALID / 403 USER_BANNED (from verify) or 403 FORBIDDEN. */
export async function requireAdmin(req: Request, tokens: Pick<TokenService, 'verify'>): Promise<User> {
  return (await requireAdminToken(req, tokens)).user
}

/** The admin's verified token: for a change to an account, made only while that token still holds (Asker). */
export async function requireAdminToken(req: Request, tokens: Pick<TokenService, 'verify'>): Promise<VerifiedToken> {
  const verified = await requireToken(req, tokens)
  if (verified.role !== 'admin') throw new AppError('FORBIDDEN', 'only an admin may do that')
  return verified
}

/** The `:id` of the path; one that can't be a user id is no user either. */
export function userId(params: Params): number {
  const raw = params.id!
  const id = /^[1-9]\d{0,15}$/.test(raw) ? Number(raw) : NaN
  if (!Number.isSafeInteger(id)) throw new AppError('USER_NOT_FOUND', 'no user has that id')
  return id
}

/** Renders the admin API's own statuses (ADMIN_STATUS); everything else goes to the server's one catch. */
function adminStatus(handler: Handler<RequestContext>): Handler<RequestContext> {
  return async (req, ctx, params) => {
    try {
      return await handler(req, ctx, params)
    } catch (err) {
      const status = err instanceof AppError ? ADMIN_STATUS[err.type] : undefined
      if (err instanceof AppError && status !== undefined) return fail(err.type, err.message, err.headers, status)
      throw err
    }
  }
}

export function adminRoutes({ accounts, tokens }: AdminRouteDeps): Route<RequestContext>[] {
  const { store } = accounts
  const admin = (req: Request) => requireAdmin(req, tokens)
  const routes: Route<RequestContext>[] = [
    {
      path: '/api/v1/admin/users',
      methods: {
        async GET(req, ctx) {
          await admin(req)
          const q = ctx.query.get('q') ?? ''
          const after = intParam(ctx.query, 'after', 0, Number.MAX_SAFE_INTEGER)
          const limit = intParam(ctx.query, 'limit', 1, LIMITS.PAGE_MAX)
          return ok(await listUsers(store, { q, after, limit }))
        },
      },
    },
    {
      path: '/api/v1/admin/users/:id/role',
      methods: {
        async PUT(req, _ctx, params) {
          const caller = await requireAdminToken(req, tokens)
          const id = userId(params)
          const body = await readJsonObject(req)
          return ok(await setRole(accounts, caller.user, id, body.role, askerOf(caller)))
        },
      },
    },
    {
      path: '/api/v1/admin/users/:id/ban',
      methods: {
        async PUT(req, _ctx, params) {
          const caller = await requireAdminToken(req, tokens)
          const id = userId(params)
          const reason = optionalStringField(await readJsonObject(req, { emptyIsObject: true }), 'reason')
          await banUser(accounts, caller.user, id, reason, askerOf(caller))
          return noContent()
        },
        async DELETE(req, _ctx, params) {
          const caller = await requireAdminToken(req, tokens)
          await unbanUser(accounts, caller.user, userId(params), askerOf(caller))
          return noContent()
        },
      },
    },
    {
      path: '/api/v1/admin/users/:id/password',
      methods: {
        async PUT(req, _ctx, params) {
          const caller = await requireAdminToken(req, tokens)
          const id = userId(params)
          await resetPassword(accounts, caller.user, id, stringField(await readJsonObject(req), 'newSecret'), askerOf(caller))
          return noContent()
        },
      },
    },
    {
      path: '/api/v1/admin/invites',
      methods: {
        async GET(req) {
          await admin(req)
          return ok({ invites: await listInvites(store) })
        },
        async POST(req) {
          const actor = await admin(req)
          const { uses, expiresIn } = await readJsonObject(req, { emptyIsObject: true })
          return ok(await createInvite(accounts, actor, { uses, expiresIn }), 201)
        },
      },
    },
    {
      path: '/api/v1/admin/invites/:code',
      methods: {
        async DELETE(req, _ctx, params) {
          const actor = await admin(req)
          await revokeInvite(accounts, actor, params.code!)
          return noContent()
        },
      },
    },
    {
      path: '/api/v1/admin/settings',
      methods: {
        async GET(req) {
          await admin(req)
          return ok({ registration: await readRegistration(store, accounts.registration) })
        },
        async PUT(req) {
          const actor = await admin(req)
          const { registration } = await readJsonObject(req)
          return ok({ registration: await setRegistration(accounts, actor, registration) })
        },
      },
    },
    {
      path: '/api/v1/admin/audit',
      methods: {
        async GET(req, ctx) {
          await admin(req)
          const before = intParam(ctx.query, 'before', 1, Number.MAX_SAFE_INTEGER)
          const limit = intParam(ctx.query, 'limit', 1, LIMITS.PAGE_MAX)
          return ok(await listAudit(store, { before, limit }))
        },
      },
    },
  ]
  return withAdminStatus(routes)
}

/** The routes with the admin API's statuses (ADMIN_STATUS). */
export function withAdminStatus(routes: Route<RequestContext>[]): Route<RequestContext>[] {
  return routes.map((route) => ({
    ...route,
    methods: Object.fromEntries(Object.entries(route.methods).map(([method, handler]) => [method, adminStatus(handler!)])),
  }))
}
