/** /api/v1/rooms: the room list, registering a room, REST history, deleting a message, and the WebSocket upgrade (spec §2, §3, §5, §6). */
import type { TokenService } from '../auth/tokens.ts'
import { checkTopic, checkVisibility, type Memberships } from '../chat/memberships.ts'
import type { Poster } from '../chat/messages.ts'
import type { RoomGate } from '../chat/room-access.ts'
import { toReactors, withReactions } from '../chat/reactions.ts'
import type { RoomLister } from '../chat/room-list.ts'
import { checkRoomName } from '../chat/rooms.ts'
import { AppError } from '../errors.ts'
import { LIMITS } from '../protocol.ts'
import type { Store } from '../store/store.ts'
import type { Admission } from '../ws/admission.ts'
import type { RequestContext } from './context.ts'
import { optionalToken, requireToken } from './bearer.ts'
import { readJsonObject } from './body.ts'
import { intParam } from './query.ts'
import { noContent, ok } from './respond.ts'
import type { Params, Route } from './router.ts'
import { upgradeSocket } from './upgrade.ts'

export interface RoomRouteDeps {
  store: Pick<Store, 'listMessages' | 'listReactions'>
  roomList: RoomLister
  tokens: Pick<TokenService, 'verify'>
  admission: Admission
  poster: Pick<Poster, 'delete'>
  gate: RoomGate
  memberships: Pick<Memberships, 'register' | 'info'>
}

/** The route check of every `/rooms/:room/…` path (spec §2: ROOM_INVALID before the method check). */
export const checkRoom = (params: Params) => checkRoomName(params.room!)

/** A message id in a path: a whole number from 1. Anything else names no message, as an unknown id does (404). */
function checkMessage(params: Params): void {
  checkRoom(params)
  const id = /^[1-9]\d{0,15}$/.test(params.id!) ? Number(params.id) : NaN
  if (!Number.isSafeInteger(id)) throw new AppError('MESSAGE_NOT_FOUND', 'no message has that id: message ids are whole numbers from 1')
}

export function roomRoutes({ store, roomList, tokens, admission, poster, gate, memberships }: RoomRouteDeps): Route<RequestContext>[] {
  /** The room socket (spec §3); a private room is 4004 to anyone but its members (spec §6). */
  function upgrade(req: Request, ctx: RequestContext, params: Params): Promise<Response | undefined> {
    const room = params.room!
    return upgradeSocket(req, ctx, { tokens, admission }, { stream: 'room', room, needsUser: false }, async (user) => {
      const access = await gate.check(room, user?.id ?? null)
      return { recheck: access.visibility === 'private' || !access.settled }
    })
  }

  /** Who is asking: anonymous, or the holder of a valid token. */
  const readerOf = async (req: Request) => (await optionalToken(req, tokens))?.user.id ?? null

  return [
    {
      path: '/api/v1/rooms',
      methods: {
        // spec §2: `?limit=` 1-200 (default 50) and `?cursor=`, the previous page's opaque `next`. The
        // list is everyone's, but a token sent with it is checked as anywhere (spec §5: a banned user's is 403).
        async GET(req, ctx) {
          await readerOf(req)
          const limit = intParam(ctx.query, 'limit', 1, LIMITS.PAGE_MAX) ?? LIMITS.PAGE_DEFAULT
          return ok(await roomList.list(limit, ctx.query.get('cursor') ?? undefined))
        },
        // spec §6: registers a room, public or private, with the caller as its owner.
        async POST(req) {
          const { user } = await requireToken(req, tokens)
          const body = await readJsonObject(req)
          if (typeof body.name !== 'string') throw new AppError('BAD_BINDING', 'name must be a string')
          const visibility = checkVisibility(body.visibility)
          return ok(await memberships.register(user, body.name, visibility, checkTopic(body.topic)), 201)
        },
      },
    },
    {
      path: '/api/v1/rooms/:room',
      check: checkRoom,
      methods: {
        async GET(req, _ctx, params) {
          return ok(await memberships.info(params.room!, await readerOf(req)))
        },
      },
    },
    {
      path: '/api/v1/rooms/:room/messages',
      check: checkRoom,
      methods: {
        async GET(req, ctx, params) {
          const reader = await readerOf(req)
          await gate.check(params.room!, reader)
          const before = intParam(ctx.query, 'before', 1, Number.MAX_SAFE_INTEGER)
          const limit = intParam(ctx.query, 'limit', 1, LIMITS.PAGE_MAX) ?? LIMITS.PAGE_DEFAULT
          const rows = await store.listMessages(params.room!, { before, limit: limit + 1 })
          const hasMore = rows.length > limit
          const page = hasMore ? rows.slice(1) : rows
          const reactors = toReactors(await store.listReactions(page.map((m) => m.id)))
          return ok({ messages: withReactions(page, reactors, reader), hasMore })
        },
      },
    },
    // Before /messages/:id, which would otherwise take the upgrade's path.
    { path: '/api/v1/rooms/:room/messages/ws', check: checkRoom, upgrade: true, methods: { GET: upgrade } },
    {
      path: '/api/v1/rooms/:room/messages/:id',
      check: checkMessage,
      methods: {
        // spec §5: the author or an admin; broadcast as `deleted`, as the socket frame is.
        async DELETE(req, _ctx, params) {
          const { user, role } = await requireToken(req, tokens)
          await gate.check(params.room!, user.id)
          await poster.delete(params.room!, user, role, Number(params.id))
          return noContent()
        },
      },
    },
  ]
}
