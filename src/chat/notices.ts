/**
 * What the domain tells the people concerned, beyond a room's own stream (spec §6): frames for a
 * user's streams wherever they are, sockets to close when someone may no longer read a room, and a
 * user's changed standing.
 * Declared here and delivered by the composition root (this instance, and the others through the
 * broker), so the domain never depends on the transport.
 */
import type { MentionEvent, ReadEvent, RoomEvent } from '../protocol-rooms.ts'

/** A frame for one user's streams. */
export type UserFrame = { type: 'mention'; data: MentionEvent } | { type: 'read'; data: ReadEvent } | { type: 'room'; data: RoomEvent }

export type Notice =
  | { kind: 'user'; userId: number; frame: UserFrame }
  /**
   * Sockets to `room` that may no longer read it close with 4004: the user's (a removed member), or
   * everyone's but the owner's (`userId` null: the room was registered private under its readers).
   */
  | { kind: 'evict'; room: string; userId: number | null; keep?: number }
  /**
   * The user's standing changed (a ban, a role or password change, a log-out, the account deleted):
   * every instance reads it again at once, so that none takes a revoked token for longer than the
   * notice takes (spec §5: "invalid at once"); the change feed is the backstop for what no broker carries.
   */
  | { kind: 'standing'; userId: number }

/** Delivers a notice here and on every other instance. Must not throw. */
export type Notify = (notice: Notice) => void
