/**
 * The wire protocol of spec §6, declared once beside protocol.ts (which re-exports it): registered
 * and private rooms, direct messages, membership, unread state, mentions, typing and the user stream.
 * Like protocol.ts it imports nothing but the protocol.
 */
import type { Message, User } from './protocol.ts'

export type Visibility = 'public' | 'private'

/**
 * A room as `POST /api/v1/rooms` answers it and `GET /api/v1/rooms/{room}` shows it. An unregistered
 * room (one that came into being when used) is public with no topic and no owner.
 */
export interface RoomInfo {
  name: string
  visibility: Visibility
  topic: string | null
  owner: User | null
}

/** One room of `GET /api/v1/users/me/rooms` and of the user stream's `welcome` (spec §6). */
export interface MyRoom {
  name: string
  visibility: Visibility
  topic: string | null
  /** The newest message's id (never an edit's or a deletion's); null while the room has none. */
  lastMessageId: number | null
  /** Messages up to this id are read; 0 when the user has read nothing. Only ever moves forward. */
  lastReadId: number
  /** Others' messages after `lastReadId` that are not deleted. */
  unread: number
  /** Those of them that mention the user. */
  mentions: number
  /** For a direct message: the other person (the user themselves in a DM with themselves); null otherwise. */
  peer: User | null
}

/** `mention` on the user stream: a message in `room` names the user. */
export interface MentionEvent {
  room: string
  message: Message
}

/** `read` on the user stream: the user's marker in `room` moved (from one of their tabs or devices). */
export interface ReadEvent {
  room: string
  id: number
}

/** `unread` on the user stream: the room's counts for the user now. */
export type UnreadEvent = Pick<MyRoom, 'lastMessageId' | 'unread' | 'mentions'> & { room: string }

/** `room` on the user stream: the user was added to (`member: true`) or removed from a room. */
export interface RoomEvent {
  room: string
  visibility: Visibility
  member: boolean
}

/**
 * The user stream's first frame: the user's rooms as `GET /api/v1/users/me/rooms` lists them, and
 * with `?since=` the mentions of the user in messages after that id, oldest first (at most
 * RESUME_MAX, the newest; `truncated` when there were more).
 */
export interface StreamWelcome {
  user: User
  rooms: MyRoom[]
  mentions: MentionEvent[]
  truncated: boolean
}

/** Frames of the user stream `GET /api/v1/users/me/ws` (spec §6), as the envelope plus `type`. */
export type UserStreamFrame =
  | { type: 'welcome'; error: null; data: StreamWelcome }
  | { type: 'mention'; error: null; data: MentionEvent }
  | { type: 'read'; error: null; data: ReadEvent }
  | { type: 'unread'; error: null; data: UnreadEvent }
  | { type: 'room'; error: null; data: RoomEvent }

/**
 * Direct message rooms (spec §6): `dm.{lower id}.{higher id}` of the pair. Every name that starts with
 * `dm.` is in that namespace: no one can register one or open it as a public room, and to an
 * outsider one that was never created answers exactly as an existing one does.
 */
export const DM_PREFIX = 'dm.'

export function isDmName(room: string): boolean {
  return room.startsWith(DM_PREFIX)
}

export function dmName(a: number, b: number): string {
  return `${DM_PREFIX}${Math.min(a, b)}.${Math.max(a, b)}`
}

/** Limits of spec §6. */
export const ROOM_LIMITS = {
  /** The longest room topic, in code points. */
  TOPIC_MAX_LENGTH: 250,
  /** At most one `typing` per user and room is passed on in this time; the rest are dropped. */
  TYPING_INTERVAL_MS: 2000,
  /** `unread` updates for a room are gathered for at most this long, then sent with the latest counts. */
  UNREAD_COALESCE_MS: 100,
} as const

/** Paths of spec §6, for clients that build URLs. */
export const ROOM_PATHS = {
  room: (room: string) => `/api/v1/rooms/${encodeURIComponent(room)}`,
  members: (room: string) => `/api/v1/rooms/${encodeURIComponent(room)}/members`,
  member: (room: string, username: string) => `/api/v1/rooms/${encodeURIComponent(room)}/members/${encodeURIComponent(username)}`,
  dms: '/api/v1/dms',
  myRooms: '/api/v1/users/me/rooms',
  myRoom: (room: string) => `/api/v1/users/me/rooms/${encodeURIComponent(room)}`,
  read: (room: string) => `/api/v1/users/me/rooms/${encodeURIComponent(room)}/read`,
  userStream: '/api/v1/users/me/ws',
} as const
