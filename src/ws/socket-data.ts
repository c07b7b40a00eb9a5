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
  /** A room socket, or the user stream (spec §6), whose `room` is '' (it follows the user, not a room). */
  stream: 'room' | 'user'
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
  /** `?batch=<ms>` (docs/PROTOCOL.md "Batched delivery"): how long the room's frames may wait to go out together; 0: one frame per message. */
  batchMs: number
  /**
   * A room that could stop being readable to this socket (a private room, or a public one still
   * without messages, which could be registered private): checked again when notices may have been
   * missed (the broker reconnected).
   */
  recheck: boolean
  /** performance.now() before the upgrade's access check: an eviction after it also applies to this socket. */
  checkedAt: number
  address: string
  /** Why the upgrade was accepted only to be closed at once. */
  refusal: { close: CloseSpec; error?: AppError } | undefined
}

export interface SocketData extends Handover {
  state: SocketState
  /** Frames that arrived before the welcome; handled right after it. Made by the first of them: most sockets have none, and `[]` costs 64 bytes. */
  early: string[] | undefined
  /** Read markers (spec §6): one write in flight per socket, and the highest id asked for meanwhile. */
  reading: boolean
  readNext: number
  /** A batched socket's pending room frames (ws/batches.ts), from its welcome on; they go out before any frame sent to it alone. */
  batch: PendingFrames | undefined
}

/** What a batched socket needs of its batch: its topic, sending what it holds now, and leaving it. */
export interface PendingFrames {
  readonly topic: string
  flush(): void
  /** No more of the room's frames for `ws` (it closed, or the server is closing it). */
  leave(ws: RoomSocket): void
}

export type RoomSocket = ServerWebSocket<SocketData>

/** The close for a token refused at the upgrade: 4003 BANNED for a banned user (spec §5), else 4001 TOKEN_INVALID. */
export function refusalClose(err: AppError): CloseSpec {
  return err.type === 'USER_BANNED' ? CLOSE.BANNED : CLOSE.TOKEN_INVALID
}

export function createSocketData(h: Handover): SocketData {
  // Every field named in one literal keeps them all in the object itself (160 bytes); made with a
  // spread, part of them would go to storage of their own (208 bytes).
  return {
    stream: h.stream,
    room: h.room,
    user: h.user,
    role: h.role,
    exp: h.exp,
    ver: h.ver,
    since: h.since,
    batchMs: h.batchMs,
    recheck: h.recheck,
    checkedAt: h.checkedAt,
    address: h.address,
    refusal: h.refusal,
    state: h.refusal ? 'refused' : 'opening',
    early: undefined,
    reading: false,
    readNext: 0,
    batch: undefined,
  }
}

/**
 * Sends a frame meant for this socket alone (welcome, error, pong, typing). A batched socket's
 * pending room frames go first, so it sees every frame in the order the server made them.
 */
export function sendAlone(ws: RoomSocket, frame: string): void {
  ws.data.batch?.flush()
  ws.send(frame)
}
