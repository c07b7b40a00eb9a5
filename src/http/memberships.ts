/**
 * Spec §6 over HTTP: a room's members, direct messages, the user's own rooms with their read markers,
 * and the user stream's upgrade. A private room is 404 ROOM_NOT_FOUND to whoever may not read it.
 */
import type { TokenService } from '../auth/tokens.ts'
import type { Memberships } from '../chat/memberships.ts'
import { AppError } from '../errors.ts'
import type { Admission } from '../ws/admission.ts'
import { optionalToken, requireToken } from './bearer.ts'
import { readJsonObject, stringField } from './body.ts'
import type { RequestContext } from './context.ts'
import { ADMIN_STATUS, fail, noContent, ok } from './respond.ts'
import type { Handler, Route } from './router.ts'
import { upgradeSocket } from './upgrade.ts'
import { checkRoom } from './rooms.ts'

export interface MembershipRouteDeps {
  tokens: Pick<TokenService, 'verify'>
  admission: Admission
  memberships: Memberships
}

/** A user named in a path or body who does not exist is 404, as in the admin API (the seed's 400 is login's). */
function named(handler: Handler<RequestContext>): Handler<RequestContext> {
  return async (req, ctx, params) => {
    try {
      return await handler(req, ctx, params)
    } catch (err) {
      if (err instanceof AppError && err.type === 'USER_NOT_FOUND') return fail(err.type, err.message, err.headers, ADMIN_STATUS.USER_NOT_FOUND)
      throw err
    }
  }
}

/** `{"id"}` of a read marker: a whole number from 1. */
function markerId(body: Record<string, unknown>): number {
  const { id } = body
  if (typeof id !== 'number' || !Number.isSafeInteger(id) || id < 1) throw new AppError('BAD_BINDING', 'id must be a message id (a whole number from 1)')
  return id
}

export function membershipRoutes({ tokens, admission, memberships }: MembershipRouteDeps): Route<RequestContext>[] {
  const caller = async (req: Request) => {
    const { user, role } = await requireToken(req, tokens)
    return { user, role }
  }
  return [
    {
      path: '/api/v1/rooms/:room/members',
      check: checkRoom,
      methods: {
        async GET(req, _ctx, params) {
          return ok({ members: await memberships.members(params.room!, (await optionalToken(req, tokens))?.user.id ?? null) })
        },
      },
    },
    {
      path: '/api/v1/rooms/:room/members/:username',
      check: checkRoom,
      methods: {
        PUT: named(async (req, _ctx, params) => {
          await memberships.add(await caller(req), params.room!, params.username!)
          return noContent()
        }),
        DELETE: named(async (req, _ctx, params) => {
          await memberships.remove(await caller(req), params.room!, params.username!)
          return noContent()
        }),
      },
    },
    {
      path: '/api/v1/dms',
      methods: {
        POST: named(async (req) => {
          const { user } = await caller(req)
          return ok(await memberships.openDm(user, stringField(await readJsonObject(req), 'username')))
        }),
      },
    },
    {
      path: '/api/v1/users/me/rooms',
      methods: {
        async GET(req) {
          const { user } = await caller(req)
          return ok({ rooms: await memberships.myRooms(user.id) })
        },
      },
    },
    {
      path: '/api/v1/users/me/rooms/:room',
      check: checkRoom,
      methods: {
        async PUT(req, _ctx, params) {
          await memberships.join((await caller(req)).user, params.room!)
          return noContent()
        },
        async DELETE(req, _ctx, params) {
          await memberships.leave((await caller(req)).user, params.room!)
          return noContent()
        },
      },
    },
    {
      path: '/api/v1/users/me/rooms/:room/read',
      check: checkRoom,
      methods: {
        async PUT(req, _ctx, params) {
          const { user } = await caller(req)
          await memberships.markRead(user, params.room!, markerId(await readJsonObject(req)))
          return noContent()
        },
      },
    },
    {
      path: '/api/v1/users/me/ws',
      upgrade: true,
      methods: {
        GET: (req, ctx) => upgradeSocket(req, ctx, { tokens, admission }, { stream: 'user', room: '', needsUser: true }, async () => ({ recheck: false })),
      },
    },
  ]
}
