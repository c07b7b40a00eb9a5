/**
 * WebSocket upgrades (spec §3, §6), for room sockets and the user stream alike. The token is the
 * first offered subprotocol and is echoed back (browsers drop a connection whose offer is not
 * echoed). A bad token, a room the user may not read or a full server still upgrades, then closes
 * with 4001 / 4004 / 4029, so a client can tell those apart from a network failure.
 */
import type { TokenService } from '../auth/tokens.ts'
import { AppError } from '../errors.ts'
import { BATCH } from '../protocol-batch.ts'
import { CLOSE, type CloseSpec, type User } from '../protocol.ts'
import type { Admission } from '../ws/admission.ts'
import { createSocketData, refusalClose, type Handover } from '../ws/socket-data.ts'
import type { RequestContext } from './context.ts'
import { intParam } from './query.ts'

export interface UpgradeDeps {
  tokens: Pick<TokenService, 'verify'>
  admission: Admission
}

/** What the route decides once the token is known: the room's recheck flag, or a refusal (ROOM_NOT_FOUND → 4004). */
export type Authorize = (user: User | null) => Promise<{ recheck: boolean }>

export async function upgradeSocket(
  req: Request,
  ctx: RequestContext,
  { tokens, admission }: UpgradeDeps,
  target: { stream: Handover['stream']; room: string; needsUser: boolean },
  authorize: Authorize,
): Promise<Response | undefined> {
  if (req.headers.get('upgrade')?.toLowerCase() !== 'websocket') {
    throw new AppError('UPGRADE_REQUIRED', 'this endpoint speaks WebSocket: connect with new WebSocket(url, [token])', { Upgrade: 'websocket' })
  }
  const since = intParam(ctx.query, 'since', 0, Number.MAX_SAFE_INTEGER)
  // Batched delivery is a room socket's (docs/PROTOCOL.md); the user stream's frames go one by one.
  const batchMs = target.stream === 'room' ? (intParam(ctx.query, BATCH.PARAM, 0, BATCH.MAX_MS) ?? 0) : 0
  const token = (req.headers.get('sec-websocket-protocol') ?? '')
    .split(',')
    .map((p) => p.trim())
    .find(Boolean)
  const checkedAt = performance.now()
  const handover: Handover = {
    ...target,
    user: null,
    role: null,
    exp: undefined,
    since,
    batchMs,
    recheck: false,
    checkedAt,
    address: ctx.address,
    refusal: undefined,
  }
  const refuse = (close: CloseSpec, error?: AppError) => void (handover.refusal = { close, error })
  if (token !== undefined) {
    try {
      const verified = await tokens.verify(token)
      Object.assign(handover, { user: verified.user, role: verified.role, exp: verified.exp, ver: verified.ver })
    } catch (err) {
      if (!(err instanceof AppError)) throw err
      refuse(refusalClose(err), err)
    }
  } else if (target.needsUser) {
    refuse(CLOSE.TOKEN_INVALID, new AppError('TOKEN_INVALID', 'offer the token as the first subprotocol: new WebSocket(url, [token])'))
  }
  if (!handover.refusal) {
    try {
      handover.recheck = (await authorize(handover.user)).recheck
    } catch (err) {
      if (!(err instanceof AppError && err.type === 'ROOM_NOT_FOUND')) throw err
      refuse(CLOSE.ROOM_NOT_FOUND, err)
    }
  }
  if (!handover.refusal) {
    const kept = admission.reserve(ctx.address)
    if (kept === undefined) refuse(CLOSE.CONNECTION_LIMIT)
    else handover.address = kept
  }
  const data = createSocketData(handover)
  if (ctx.server.upgrade(req, { data, headers: token === undefined ? undefined : { 'Sec-WebSocket-Protocol': token } })) return undefined
  if (!handover.refusal) admission.release(ctx.address)
  throw new AppError('UPGRADE_REQUIRED', 'the WebSocket handshake was malformed', { Upgrade: 'websocket' })
}
