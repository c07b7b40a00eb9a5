/** What a room socket carries: what the upgrade decided (spec §3), and where the socket is in its life. */
import type { ServerWebSocket } from 'bun'
import type { AppError } from '../errors.ts'
import { CLOSE, type CloseSpec, type Role, type User } from '../protocol.ts'

/**
 * refused: accepted only to be closed at once (bad token, connection cap; holds no connection slot).
 * opening: admitted, its welcome history loading. open: welcomed, subscribed, counted in presence.
 * closing: closed by either side; it gets nothing more.
 */
export type SocketState = 'refused' | 'opening' | 'open' | 'closing'

/** What the upgrade route hands over. */
export interface Handover {
  room: string
  /** Null for a read-only connection. */
  user: User | null
  /** The user's role when the token was checked; null for a read-only connection. */
  role: Role | null
  /** Token expiry in epoch seconds, for authenticated sockets. */
  exp: number | undefined
  /** The token version the socket's token carries (spec §5): the sweeper closes it once the user's is newer. */
  ver?: number
  since: number | undefined
  address: string
  /** Why the upgrade was accepted only to be closed at once. */
  refusal: { close: CloseSpec; error?: AppError } | undefined
}

export interface SocketData extends Handover {
  state: SocketState
  /** Frames that arrived before the welcome; handled right after it. */
  early: string[]
}

export type RoomSocket = ServerWebSocket<SocketData>

/** The close for a token refused at the upgrade: 4003 BANNED for a banned user (spec §5), else 4001 TOKEN_INVALID. */
export function refusalClose(err: AppError): CloseSpec {
  return err.type === 'USER_BANNED' ? CLOSE.BANNED : CLOSE.TOKEN_INVALID
}

export function createSocketData(handover: Handover): SocketData {
  return { ...handover, state: handover.refusal ? 'refused' : 'opening', early: [] }
}
