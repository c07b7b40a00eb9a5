/** /api/v1/rooms: the room list, REST history, deleting a message, and the WebSocket upgrade (spec §2, §3, §5). */
import type { TokenService } from '../auth/tokens.ts'
import type { Poster } from '../chat/messages.ts'
import type { RoomLister } from '../chat/room-list.ts'
import { checkRoomName } from '../chat/rooms.ts'
import { AppError } from '../errors.ts'
import { CLOSE, LIMITS } from '../protocol.ts'
import type { Store } from '../store/store.ts'
import type { Admission } from '../ws/admission.ts'
import { createSocketData, refusalClose, type Handover } from '../ws/socket-data.ts'
import type { RequestContext } from './context.ts'
import { requireToken } from './bearer.ts'
import { intParam } from './query.ts'
import { noContent, ok } from './respond.ts'
import type { Params, Route } from './router.ts'

export interface RoomRouteDeps {
  store: Pick<Store, 'listMessages'>
  roomList: RoomLister
  tokens: Pick<TokenService, 'verify'>
  admission: Admission
  poster: Pick<Poster, 'delete'>
}

const checkRoom = (params: Params) => checkRoomName(params.room!)

/** A message id in a path: a whole number from 1. Anything else names no message, as an unknown id does (404). */
function checkMessage(params: Params): void {
  checkRoom(params)
  const id = /^[1-9]\d{0,15}$/.test(params.id!) ? Number(params.id) : NaN
  if (!Number.isSafeInteger(id)) throw new AppError('MESSAGE_NOT_FOUND', 'no message has that id: message ids are whole numbers from 1')
}

export function roomRoutes({ store, roomList, tokens, admission, poster }: RoomRouteDeps): Route<RequestContext>[] {
  /**
   * The upgrade. The token is the first offered subprotocol and is echoed back (browsers drop a
   * connection whose offer is not echoed). A bad token or a full server still upgrades, then closes
   * with 4001 / 4029, so a client can tell those apart from a network failure (spec §3).
   */
  async function upgrade(req: Request, ctx: RequestContext, params: Params): Promise<Response | undefined> {
    if (req.headers.get('upgrade')?.toLowerCase() !== 'websocket') {
      throw new AppError('UPGRADE_REQUIRED', 'this endpoint speaks WebSocket: connect with new WebSocket(url, [token])', { Upgrade: 'websocket' })
    }
    const since = intParam(ctx.query, 'since', 0, Number.MAX_SAFE_INTEGER)
    const token = (req.headers.get('sec-websocket-protocol') ?? '')
      .split(',')
      .map((p) => p.trim())
      .find(Boolean)
    const handover: Handover = { room: params.room!, user: null, role: null, exp: undefined, since, address: ctx.address, refusal: undefined }
    if (token !== undefined) {
      try {
        const verified = await tokens.verify(token)
        handover.user = verified.user
        handover.role = verified.role
        handover.exp = verified.exp
        handover.ver = verified.ver
      } catch (err) {
        if (!(err instanceof AppError)) throw err
        handover.refusal = { close: refusalClose(err), error: err }
      }
    }
    if (!handover.refusal && !admission.reserve(ctx.address)) handover.refusal = { close: CLOSE.CONNECTION_LIMIT }
    const data = createSocketData(handover)
    if (ctx.server.upgrade(req, { data, headers: token === undefined ? undefined : { 'Sec-WebSocket-Protocol': token } })) return undefined
    if (!handover.refusal) admission.release(ctx.address)
    throw new AppError('UPGRADE_REQUIRED', 'the WebSocket handshake was malformed', { Upgrade: 'websocket' })
  }

  return [
    {
      path: '/api/v1/rooms',
      methods: {
        // spec §2: `?limit=` 1-200 (default 50) and `?cursor=`, the previous page's opaque `next`.
        async GET(_req, ctx) {
          const limit = intParam(ctx.query, 'limit', 1, LIMITS.PAGE_MAX) ?? LIMITS.PAGE_DEFAULT
          return ok(await roomList.list(limit, ctx.query.get('cursor') ?? undefined))
        },
      },
    },
    {
      path: '/api/v1/rooms/:room/messages',
      check: checkRoom,
      methods: {
        async GET(_req, ctx, params) {
          const before = intParam(ctx.query, 'before', 1, Number.MAX_SAFE_INTEGER)
          const limit = intParam(ctx.query, 'limit', 1, LIMITS.PAGE_MAX) ?? LIMITS.PAGE_DEFAULT
          const rows = await store.listMessages(params.room!, { before, limit: limit + 1 })
          const hasMore = rows.length > limit
          return ok({ messages: hasMore ? rows.slice(1) : rows, hasMore })
        },
      },
    },
    // Before /messages/:id, which would otherwise take the upgrade's path.
    { path: '/api/v1/rooms/:room/messages/ws', check: checkRoom, methods: { GET: upgrade } },
    {
      path: '/api/v1/rooms/:room/messages/:id',
      check: checkMessage,
      methods: {
        // spec §5: the author or an admin; broadcast as `deleted`, as the socket frame is.
        async DELETE(req, _ctx, params) {
          const { user, role } = await requireToken(req, tokens)
          await poster.delete(params.room!, user, role, Number(params.id))
          return noContent()
        },
      },
    },
  ]
}
