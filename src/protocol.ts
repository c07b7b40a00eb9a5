/**
 * The wire protocol (spec §1–§3), declared once: the shapes on the wire, the frames each side sends,
 * the close codes with their reasons, the room-name rule and the limits a client needs. The server,
 * the web client, the tests and the bench all import it, so it imports nothing.
 */

export interface User {
  id: number
  username: string
}

/** What an account may do (spec §5): admins moderate. Other user objects carry no role. */
export type Role = 'admin' | 'member'

/**
 * A chat message as it goes on the wire (spec §3), as it is now (spec §5): its text, the latest
 * edit's if it was edited, or a tombstone without text once deleted.
 */
export type Message = TextMessage | DeletedMessage

export interface TextMessage {
  id: number
  room: string
  user: User
  text: string
  /** UTC, `Date.prototype.toISOString` form. */
  ts: string
  /** The sender's own tag for matching its send; absent when it gave none. */
  nonce?: string
  /** When the text was last edited (ISO, as `ts`); absent when it never was. */
  editedAt?: string
  /** Who the text mentions (spec §6: `@name` of someone who can read the room); absent when no one. */
  mentions?: User[]
  /** spec §7: the message this one answers, as it is now; absent when it answers none. */
  replyTo?: Quote
  /** spec §7: reactions as they stand, `me` for the reader; absent when there are none. */
  reactions?: ReactionCount[]
  /** spec §7: files the message carries; absent when none. */
  attachments?: Attachment[]
  deleted?: undefined
}

/** spec §7: the original of a reply: its current text cut to 200 code points (a final `…` when cut), null once deleted. */
export type Quote = { id: number; user: User; text: string | null }
export type ReactionCount = { emoji: string; count: number; me: boolean }
/** spec §7: an uploaded file; `type` judged from its bytes; `width`/`height` for images only. */
export type Attachment = { id: string; name: string; type: string; size: number; url: string; width?: number; height?: number }

/** A deleted message (spec §5): `{"id","room","user","ts","deleted":true}`, its text gone. */
export type DeletedMessage = Pick<TextMessage, 'id' | 'room' | 'user' | 'ts'> & { deleted: true } & Absent<
    'text' | 'nonce' | 'editedAt' | 'mentions' | 'replyTo' | 'reactions' | 'attachments'
  >
type Absent<K extends string> = { [P in K]?: undefined }

/** `edited` (spec §5): `id` is the event's own id in the room's stream, `messageId` the message changed. */
export interface EditedEvent {
  id: number
  messageId: number
  text: string
  /** ISO, as `ts`. */
  editedAt: string
  /** Who the new text mentions; absent when no one. */
  mentions?: User[]
}

/** `deleted` (spec §5). */
export type DeletedEvent = Pick<EditedEvent, 'id' | 'messageId'>

/** `reaction` (spec §7): `user` put (`on`) or took back an emoji on message `messageId`. */
export type ReactionEvent = Pick<EditedEvent, 'id' | 'messageId'> & { emoji: string; user: User; on: boolean }

/** One entry of `welcome.changes`: an event after the resume cursor about a message at or before it. */
export type Change = ({ type: 'edited' } & EditedEvent) | ({ type: 'deleted' } & DeletedEvent) | ({ type: 'reaction' } & ReactionEvent)

/** `POST /api/v1/login` and `POST /api/v1/token` (spec §2). */
export interface Session {
  token: string
  user: User
}

/** One room of `GET /api/v1/rooms` (spec §2). */
export interface RoomSummary {
  name: string
  /** Logged-in users present, on any instance; read-only readers are not counted. */
  members: number
  /** The newest message's id; null for a room with people in it but no message yet. */
  lastMessageId: number | null
}

/** `GET /api/v1/rooms` (spec §2): one page of the room list, most recently active first; `next` the next page's cursor, null on the last. */
export type RoomPage = { rooms: RoomSummary[]; next: string | null }

/** `GET /api/v1/rooms/{room}/messages` (spec §2): one page of history, oldest first. */
export interface MessagePage {
  messages: Message[]
  /** Older messages exist. */
  hasMore: boolean
}

/** `GET /api/v1/users/me` (spec §5): the only user object that carries a role. `REGISTRATION`: who may sign up. */
export type Me = User & { role: Role }
export type RegistrationMode = 'open' | 'invite' | 'closed'

/** The admin API (spec §5): a user (`createdAt` ISO), an invitation (`expiresAt` ISO or null), an audit entry (`at` ISO, `actor` null for the CLI). */
export type AdminUser = { id: number; username: string; role: Role; banned: boolean; createdAt: string }
export type AdminUserPage = { users: AdminUser[]; hasMore: boolean }
export type Invite = { code: string; uses: number; used: number; expiresAt: string | null }
export type AuditAction =
  `user.${'role' | 'ban' | 'unban' | 'password' | 'delete'}` | `invite.${'create' | 'revoke'}` | 'registration.set' | AuditOfRooms | AuditOfBots
type AuditOfBots = `bot.${'create' | 'token'}` | `webhook.${'create' | 'delete'}`
type AuditOfRooms = 'message.delete' | `room.member.${'add' | 'remove'}`
export type AuditEntry = { id: number; at: string; actor: User | null; action: AuditAction; target: Record<string, unknown> }
export type AuditPage = { entries: AuditEntry[]; hasMore: boolean }

/** Every `error.type` a client can see (spec §2, §3). Nothing else goes on the wire. */
export type ErrorType =
  | 'BAD_BINDING'
  | 'BAD_USERNAME'
  | 'BAD_PASSWORD'
  | 'USER_EXISTS'
  | 'USER_NOT_FOUND'
  | 'PASSWORD_MATCH_FAILED'
  | 'RATE_LIMITED'
  | 'ROOM_INVALID'
  | 'UPGRADE_REQUIRED'
  | 'BAD_QUERY'
  | 'TOKEN_INVALID'
  | 'TOKEN_EXPIRED'
  | 'MESSAGE_INVALID'
  | 'UNAVAILABLE'
  | 'NOT_FOUND'
  | 'METHOD_NOT_ALLOWED'
  | 'PAYLOAD_TOO_LARGE'
  | 'INTERNAL'
  | 'BAD_REQUEST'
  | 'FORBIDDEN'
  | 'USER_BANNED'
  | 'LAST_ADMIN'
  | 'INVITE_INVALID'
  | 'REGISTRATION_CLOSED'
  | 'MESSAGE_NOT_FOUND'
  | 'ROOM_EXISTS'
  | 'ROOM_NOT_FOUND'

/** The envelope's error (spec §1). */
export type WireError = { type: ErrorType; message: string }

/** The envelope every HTTP body and every server frame carries (spec §1). */
export type Envelope<T> = { error: null; data: T } | { error: WireError; data: null }

/** `welcome.data`: the first frame of every accepted connection. */
export interface Welcome {
  room: string
  /** Null for a read-only connection. */
  user: User | null
  readOnly: boolean
  /** Logged-in users present in the room (two tabs are one presence). */
  members: User[]
  history: Message[]
  /**
   * With `?since=`: the `edited` and `deleted` events after the cursor about messages at or before
   * it, in id order (spec §5); always empty without `?since=`, as `history` is then current.
   */
  changes: Change[]
  /** With `?since=`: more was missed than RESUME_MAX (messages and changes together); the oldest were left out. */
  truncated: boolean
}

/** Server-to-client frames: the envelope plus `type` (spec §3). */
export type ServerFrame =
  | { type: 'welcome'; error: null; data: Welcome }
  | { type: 'message'; error: null; data: Message }
  | { type: 'edited'; error: null; data: EditedEvent }
  | { type: 'deleted'; error: null; data: DeletedEvent }
  | { type: 'reaction'; error: null; data: ReactionEvent }
  /** `typing` (spec §6) goes to the others in the room; join and leave to everyone. */
  | { type: 'join' | 'leave' | 'typing'; error: null; data: { user: User } }
  | { type: 'pong'; error: null; data: null }
  | { type: 'error'; error: WireError; data: null }

export type ServerFrameType = ServerFrame['type']

/** Client-to-server frames (spec §3), as a client writes them. */
export type ClientFrame =
  | { type: 'ping' }
  /** spec §7: `replyTo` a message id of the room, `attachments` ids of uploads to carry. */
  | { type: 'message'; text: string; nonce?: string; replyTo?: number; attachments?: string[] }
  /** spec §7: puts (`on`) or takes back one emoji on message `id`. */
  | { type: 'react'; id: number; emoji: string; on: boolean }
  /** spec §5: the author's new text for message `id`. */
  | { type: 'edit'; id: number; text: string }
  /** spec §5: the author or an admin deletes message `id`. */
  | { type: 'delete'; id: number }
  /** spec §6: everything up to `id` is read (the marker only moves forward), and the user is typing. */
  | { type: 'read'; id: number }
  | { type: 'typing' }

export type CloseSpec = { code: number; reason: string }

/** WebSocket close codes with their reasons (spec §3); the server always closes with one of these. */
export const CLOSE = {
  NORMAL: { code: 1000, reason: '' },
  SHUTDOWN: { code: 1001, reason: 'SHUTDOWN' },
  BINARY_UNSUPPORTED: { code: 1003, reason: 'BINARY_UNSUPPORTED' },
  READ_ONLY: { code: 1008, reason: 'READ_ONLY' },
  TOO_LARGE: { code: 1009, reason: 'TOO_LARGE' },
  INTERNAL: { code: 1011, reason: 'INTERNAL' },
  SLOW_CONSUMER: { code: 1013, reason: 'SLOW_CONSUMER' },
  TOKEN_INVALID: { code: 4001, reason: 'TOKEN_INVALID' },
  TOKEN_EXPIRED: { code: 4001, reason: 'TOKEN_EXPIRED' },
  TOKEN_REVOKED: { code: 4001, reason: 'TOKEN_REVOKED' },
  BANNED: { code: 4003, reason: 'BANNED' },
  ROOM_NOT_FOUND: { code: 4004, reason: 'ROOM_NOT_FOUND' },
  CONNECTION_LIMIT: { code: 4029, reason: 'CONNECTION_LIMIT' },
} as const satisfies Record<string, CloseSpec>

/** Room names (spec §3): 1-64 of A-Z a-z 0-9 . _ -, starting with a letter or digit, case-sensitive. */
export const ROOM_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/

export function isRoomName(name: string): boolean {
  return ROOM_NAME.test(name)
}

/** Limits a client needs to know (the server's defaults; operators may change the settable ones). */
export const LIMITS = {
  /** The longest room name (ROOM_NAME), in characters. */
  ROOM_NAME_MAX_LENGTH: 64,
  /** The longest `nonce`, in code points. */
  NONCE_MAX_LENGTH: 64,
  /** The longest message text by default (MAX_TEXT_LENGTH), in code points. */
  TEXT_MAX_LENGTH: 4000,
  /** A bigger frame is closed with 1009. */
  FRAME_MAX_BYTES: 64 * 1024,
  /** A bigger HTTP request body is 413. */
  BODY_MAX_BYTES: 16 * 1024,
  /** Newest messages in `welcome.history` by default (HISTORY_SIZE). */
  HISTORY_SIZE: 50,
  /** Most messages a resume with `?since=` brings by default (RESUME_MAX). */
  RESUME_MAX: 500,
  /** Room history page size: default and most (REST `?limit=`). */
  PAGE_DEFAULT: 50,
  PAGE_MAX: 200,
  USERNAME_MAX_LENGTH: 32,
  SECRET_MAX_BYTES: 1024,
} as const

/** Paths of the API, for clients that build URLs. */
export const PATHS = {
  users: '/api/v1/users',
  me: '/api/v1/users/me',
  login: '/api/v1/login',
  token: '/api/v1/token',
  rooms: '/api/v1/rooms',
  roomMessages: (room: string) => `/api/v1/rooms/${encodeURIComponent(room)}/messages`,
  /** `DELETE` deletes the message (spec §5). */
  roomMessage: (room: string, id: number) => `/api/v1/rooms/${encodeURIComponent(room)}/messages/${id}`,
  roomSocket: (room: string) => `/api/v1/rooms/${encodeURIComponent(room)}/messages/ws`,
} as const
