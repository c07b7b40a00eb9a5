/** /api/v1/rooms: the room list, REST history, and the WebSocket upgrade (spec §2, §3). */
import { AppError } from '../errors.ts'
import type { Params } from './router.ts'
import type { SocketData } from '../ws/socket.ts'
import { CLOSE } from '../ws/close-codes.ts'
import type { RequestContext } from './context.ts'
import { ok } from './respond.ts'

export const PAGE_DEFAULT = 50
export const PAGE_MAX = 200

/** A query parameter as a whole number in [min, max]; absent → undefined; anything else → BAD_QUERY. */
function intParam(query: URLSearchParams, name: string, min: number, max: number): number | undefined {
  const raw = query.get(name)
  if (raw === null) return undefined
  const n = /^\d{1,16}$/.test(raw) ? Number(raw) : NaN
  if (!(n >= min && n <= max)) throw new AppError('BAD_QUERY', `${name} must be a whole number from ${min} to ${max}`)
  return n
}

/** spec §2: `?limit=` 1-200 (default 50) and `?cursor=`, the previous page's opaque `next`. */
export async function getRooms(_req: Request, ctx: RequestContext): Promise<Response> {
  const limit = intParam(ctx.query, 'limit', 1, PAGE_MAX) ?? PAGE_DEFAULT
  return ok(await ctx.app.roomList.list(limit, ctx.query.get('cursor') ?? undefined))
}

export async function getMessages(_req: Request, ctx: RequestContext, params: Params): Promise<Response> {
  const before = intParam(ctx.query, 'before', 1, Number.MAX_SAFE_INTEGER)
  const limit = intParam(ctx.query, 'limit', 1, PAGE_MAX) ?? PAGE_DEFAULT
  const rows = await ctx.app.store.listMessages(params.room!, { before, limit: limit + 1 })
  const hasMore = rows.length > limit
  return ok({ messages: hasMore ? rows.slice(1) : rows, hasMore })
}

/**
 * The upgrade. The token is the first offered subprotocol and is echoed back (browsers drop a
 * connection whose offer is not echoed). A bad token or a full server still upgrades, then closes
 * with 4001 / 4029, so a client can tell those apart from a network failure (spec §3).
 */
export async function upgradeRoom(req: Request, ctx: RequestContext, params: Params): Promise<Response | undefined> {
  if (req.headers.get('upgrade')?.toLowerCase() !== 'websocket') {
    throw new AppError('UPGRADE_REQUIRED', 'this endpoint speaks WebSocket: connect with new WebSocket(url, [token])', { Upgrade: 'websocket' })
  }
  const since = intParam(ctx.query, 'since', 0, Number.MAX_SAFE_INTEGER)
  const offered = (req.headers.get('sec-websocket-protocol') ?? '')
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean)
  const token = offered[0]
  const data: SocketData = {
    room: params.room!,
    user: null,
    exp: undefined,
    since,
    address: ctx.address,
    rejection: undefined,
    reserved: false,
    entered: false,
    closing: false,
    early: [],
  }
  if (token !== undefined) {
    try {
      const verified = await ctx.app.tokens.verify(token)
      data.user = verified.user
      data.exp = verified.exp
    } catch (err) {
      if (!(err instanceof AppError)) throw err
      data.rejection = { close: CLOSE.TOKEN_INVALID, error: err }
    }
  }
  if (!data.rejection) {
    data.reserved = ctx.app.hub.reserve(ctx.address)
    if (!data.reserved) data.rejection = { close: CLOSE.CONNECTION_LIMIT }
  }
  const upgraded = ctx.server.upgrade(req, { data, headers: token === undefined ? undefined : { 'Sec-WebSocket-Protocol': token } })
  if (upgraded) return undefined
  if (data.reserved) ctx.app.hub.release(ctx.address)
  throw new AppError('UPGRADE_REQUIRED', 'the WebSocket handshake was malformed', { Upgrade: 'websocket' })
}
