/**
 * The frame types of both WebSocket endpoints and the error types, as runtime lists beside the
 * TypeScript unions they mirror (protocol.ts, protocol-rooms.ts), so that the machine-readable
 * description (docs/asyncapi.yaml) can be checked against them by a test. Each list must name every
 * member of its union exactly once: a missing, extra or repeated one does not compile.
 */
import type { ClientFrame, ErrorType, ServerFrameType } from './protocol.ts'
import type { UserStreamFrame } from './protocol-rooms.ts'

/** What a list of `T` must satisfy to name all of `T`: compiles to `unknown`, or to a type naming what is missing. */
type Complete<T, L extends readonly T[]> = [Exclude<T, L[number]>] extends [never] ? unknown : { missing: Exclude<T, L[number]> }
type Distinct<L extends readonly unknown[]> = L extends readonly [infer H, ...infer R] ? (H extends R[number] ? { repeated: H } : Distinct<R>) : unknown

/** `list`, checked at compile time to name every member of `T` once. */
const every =
  <T extends string>() =>
  <const L extends readonly T[]>(...list: L & Complete<T, L> & Distinct<L>): readonly T[] =>
    list

/** Frames a room socket sends (spec §3, §5, §6, §7). */
export const ROOM_SERVER_FRAMES = every<ServerFrameType>()('welcome', 'message', 'edited', 'deleted', 'reaction', 'join', 'leave', 'typing', 'pong', 'error')

/** Frames a room socket takes. */
export const ROOM_CLIENT_FRAMES = every<ClientFrame['type']>()('message', 'edit', 'delete', 'react', 'read', 'typing', 'ping')

/**
 * Frames the user stream sends (spec §6): its own, and `pong` and `error` as a room socket sends them
 * (UserStreamFrame lists only its own).
 */
export const USER_STREAM_SERVER_FRAMES = every<UserStreamFrame['type'] | 'pong' | 'error'>()('welcome', 'mention', 'read', 'unread', 'room', 'pong', 'error')

/** The user stream takes `ping` only; anything else is answered with `error` MESSAGE_INVALID. */
export const USER_STREAM_CLIENT_FRAMES = every<'ping'>()('ping')

/** Every `error.type` (spec §1–§7), on HTTP and on sockets alike. */
export const ERROR_TYPES = every<ErrorType>()(
  'BAD_BINDING',
  'BAD_USERNAME',
  'BAD_PASSWORD',
  'USER_EXISTS',
  'USER_NOT_FOUND',
  'PASSWORD_MATCH_FAILED',
  'RATE_LIMITED',
  'ROOM_INVALID',
  'UPGRADE_REQUIRED',
  'BAD_QUERY',
  'TOKEN_INVALID',
  'TOKEN_EXPIRED',
  'MESSAGE_INVALID',
  'UNAVAILABLE',
  'NOT_FOUND',
  'METHOD_NOT_ALLOWED',
  'PAYLOAD_TOO_LARGE',
  'INTERNAL',
  'BAD_REQUEST',
  'FORBIDDEN',
  'USER_BANNED',
  'LAST_ADMIN',
  'INVITE_INVALID',
  'REGISTRATION_CLOSED',
  'MESSAGE_NOT_FOUND',
  'ROOM_EXISTS',
  'ROOM_NOT_FOUND',
)

/**
 * Frames of every kind a user may send over all of their sockets to one instance (an anonymous
 * reader: all of its address's), as a token bucket: `rate` a second sustained, bursts of `burst`,
 * each plus `perMessage` times the message rate and burst (MESSAGE_RATE, MESSAGE_BURST), so that a
 * server set to take more messages takes the frames that carry them. A client never comes near it:
 * its messages, edits and reactions are limited far below, typing and read markers follow a person.
 * Past it the socket gets an `error` frame RATE_LIMITED and is closed 4029 CONNECTION_LIMIT (back
 * off): every frame costs the server parsing and an answer, and without a bound one socket could
 * keep the event loop busy for everyone.
 */
export const FRAME_BUDGET = { rate: 200, burst: 1000, perMessage: 4 } as const
