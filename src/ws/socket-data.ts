/** What a room socket carries: what the upgrade decided (spec §3), and where the socket is in its life. */
import type { ServerWebSocket } from 'bun'
import type { AppError } from '../errors.ts'
import type { CloseSpec, Role, User } from '../protocol.ts'

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

export function createSocketData(handover: Handover): SocketData {
  return { ...handover, state: handover.refusal ? 'refused' : 'opening', early: [] }
}
