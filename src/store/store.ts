/** The store contract: every database access the server makes goes through this interface. */
import type { Message, Role, User } from '../protocol.ts'
import type { AccountStore } from './accounts.ts'
import type { AttachmentStore } from './attachments.ts'
import type { RoomStore } from './rooms.ts'
import type { SearchStore } from './search.ts'
import type { StreamStore } from './stream.ts'
import type { WebhookStore } from './webhooks.ts'

export type { Message, User }
export type { BotRecord, Standing, UserRecord } from './accounts.ts'
export type {
  ClaimedDelivery,
  DeliveryEvent,
  DeliveryOutcome,
  DeliveryRecord,
  DeliveryStatus,
  IncomingWebhookRecord,
  NewDelivery,
  OutgoingWebhookRecord,
} from './webhooks.ts'
export type {
  ReactionRow,
  ChangeOutcome,
  Committed,
  CommittedEvent,
  MessageChange,
  MessageQuery,
  MessageRow,
  NewMessage,
  StreamEvent,
  StreamQuery,
  StreamRow,
} from './stream.ts'
export { MessageRefused, toMessage, toMessageRow } from './stream.ts'
export type { MembershipRow, NewRoom, RoomAccess, RoomRecord, UnreadRow, Visibility } from './rooms.ts'

/** A room's row as the room list reads it (its activity updated with every insert). */
export interface RoomActivity {
  room: string
  /** 0 while the room has no message (registered, or joined, before anyone posted). */
  lastMessageId: number
  visibility: string
}

export interface RoomActivityQuery {
  /** Only rooms whose newest message id is smaller: the previous page's last one. */
  before?: number
  limit: number
}

/**
 * Async throughout so that a networked store (PostgreSQL) fits the same shape.
 * Absence is a value (`undefined`); only real failures throw.
 */
export interface Store extends AccountStore, StreamStore, RoomStore, SearchStore, AttachmentStore, WebhookStore {
  findUserById(id: number): Promise<(User & { role: Role }) | undefined>
  /** Up to `limit` users with an id above `afterId`, in id order, with their stored username keys (start-up re-keying). */
  listUserKeys(afterId: number, limit: number): Promise<(User & { usernameKey: string })[]>
  /** Gives the user `usernameKey` unless another user holds it; true when the user has it afterwards. */
  setUsernameKey(id: number, usernameKey: string): Promise<boolean>
  /**
   * Sets the user's password hash to `next` if it is still `previous`, so a rehash can't undo a
   * password change made meanwhile; false when it was not (changed, or no such user).
   */
  updatePasswordHash(id: number, previous: string, next: string): Promise<boolean>
  /** Returns the stored value of `key`, storing `create()` first if there is none (first writer wins). */
  getOrCreateSetting(key: string, create: () => string): Promise<string>
  /**
   * Public rooms with messages, most recently active (highest newest message id) first. Reads an index of
   * rooms, never the messages, so its cost grows with `limit` only (spec §2 GET /api/v1/rooms).
   */
  listRoomActivity(query: RoomActivityQuery): Promise<RoomActivity[]>
  /** The rows of those of `rooms` that have one (messages, a registration or a member), in no particular order. */
  findRoomActivity(rooms: string[]): Promise<RoomActivity[]>
  /** Throws when the database does not answer. */
  ping(): Promise<void>
  close(): Promise<void>
}
