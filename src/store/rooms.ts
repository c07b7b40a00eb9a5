/**
 * The rooms-and-membership half of the store contract (spec §6), implemented by every store:
 * registered rooms, members, direct messages, read markers and the unread counters beside them.
 *
 * Unread state is counters, never a count over messages: a room keeps `message_count` (messages ever
 * posted), each member `read_count` and `mentions`. `unread = message_count - read_count`. Posting
 * raises the room's count and the poster's read_count (their own message is not unread) and the
 * mentioned members' `mentions`, all in the message's transaction; a deletion raises read_count (and
 * lowers `mentions`) of the members who had not read it yet. Reading to an id recounts only what comes
 * after that id, which is what was unread.
 */
import type { MyRoom, Visibility } from '../protocol-rooms.ts'
import type { Message, User } from '../protocol.ts'
import type { AuditNote } from './accounts.ts'

export type { Visibility }

/** A row of the rooms table as §6 reads it. */
export interface RoomRecord {
  name: string
  visibility: Visibility
  topic: string | null
  /** Null for an unregistered room and for a DM. */
  owner: User | null
  /** Registered with POST /api/v1/rooms, or a DM. */
  registered: boolean
  /** 0 while the room has no message. */
  lastMessageId: number
}

export interface NewRoom {
  name: string
  visibility: Visibility
  topic: string | null
  owner: User
  /** Epoch ms. */
  at: number
}

/** What decides who may read a room, read in one query. */
export interface RoomAccess {
  visibility: Visibility
  ownerId: number | null
  /** The user asked about is in the room (always false for no user). */
  member: boolean
  /** The room has messages: a public room with messages can never become private. */
  hasMessages: boolean
}

/** A room of the user's list, as stored (the DM peer is the domain's to add). */
export type MembershipRow = Omit<MyRoom, 'peer'>

/** One member's counts in a room, for the user stream's `unread` events. */
export interface UnreadRow {
  userId: number
  lastMessageId: number | null
  unread: number
  mentions: number
}

export interface RoomStore {
  /**
   * Registers a room and makes the owner a member, in one transaction; false when the name is taken
   * (registered already, or it has messages), with nothing written. A name people only joined is
   * registered too; registered private, it keeps none of them but the owner.
   */
  createRoom(room: NewRoom): Promise<boolean>
  /** The room's row; undefined for a name that was never registered nor used for a message. */
  findRoom(name: string): Promise<RoomRecord | undefined>
  /** Visibility, owner and the user's membership; undefined for a name with no row (a public room). */
  roomAccess(name: string, userId: number | null): Promise<RoomAccess | undefined>
  /** One indexed read of the members table, whether or not the room exists (the DM namespace's answer must not tell). */
  isMember(room: string, userId: number): Promise<boolean>
  /** Those of `userIds` who are in the room. */
  membersAmong(room: string, userIds: number[]): Promise<number[]>
  /**
   * The pair's DM room (private, no owner) with both as members, created unless it exists; true when
   * created now. `a` may equal `b` (a DM with oneself).
   */
  openDm(name: string, a: number, b: number, at: number): Promise<boolean>
  /** Members in the order they joined (then by id). */
  listMembers(room: string): Promise<User[]>
  /**
   * Adds `user` to the room with everything posted so far read, creating the room's row (public) if
   * it has none; false when they were in it already (nothing written). With `audit`, recorded as
   * `room.member.add` in the same transaction.
   */
  addMember(room: string, user: User, at: number, audit?: AuditNote): Promise<boolean>
  /** Removes `user`; false when they were not in it. With `audit`, recorded as `room.member.remove`. */
  removeMember(room: string, user: User, at: number, audit?: AuditNote): Promise<boolean>
  /** The user's rooms, most recently active first (rooms without messages last, by name). */
  listMyRooms(userId: number): Promise<MembershipRow[]>
  /**
   * Moves the user's marker to `id` (at most the room's newest message id) if that is forward, and
   * recounts unread and mentions after it. Undefined when the user is not in the room; otherwise the
   * marker afterwards and whether it moved.
   */
  markRead(room: string, userId: number, id: number): Promise<{ lastReadId: number; moved: boolean } | undefined>
  /** The counts of those of `userIds` who are in the room. */
  unreadOf(room: string, userIds: number[]): Promise<UnreadRow[]>
  /**
   * Messages after `after` that mention the user, in rooms the user can read now (public rooms, and
   * private ones they are still in), not deleted: the newest `limit`, oldest first.
   */
  listMentionsOf(userId: number, after: number, limit: number): Promise<{ room: string; message: Message }[]>
  /** Users whose username key is one of `keys` (mention look-up). */
  findUsersByKeys(keys: string[]): Promise<(User & { usernameKey: string })[]>
  /** Users with these ids that exist (DM peers). */
  findUsersByIds(ids: number[]): Promise<User[]>
}
