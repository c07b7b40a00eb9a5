/**
 * Broker: carries rooms' streams (messages, edits, deletions), presence and typing, and the notices
 * of spec §6 (user stream frames, sockets to close) between instances. Alone, there is nothing to carry.
 */
import type { Notice } from '../chat/notices.ts'
import type { User } from '../protocol.ts'
import type { CommittedEvent } from '../store/store.ts'
import type { Presence } from './presence.ts'
import type { RoomSink } from './room-sink.ts'

export interface Broker {
  /** Sends a committed stream entry (message, edit, deletion) to the other instances (this one delivers its own). Never throws. */
  publish(committed: CommittedEvent): void
  /** Starts following a room: what other instances say of it goes to `sink`. Never rejects. */
  follow(room: string, sink: RoomSink): Promise<void>
  unfollow(room: string): void
  /** This instance's presence of `user` in `room` changed (first connection opened / last closed). */
  announce(room: string, user: User, present: boolean): void
  /** `user` is typing in `room` (to the instances that follow it; never stored). */
  typing(room: string, user: User): void
  /** Sends a notice to every other instance (this one applies its own). Never throws. */
  notify(notice: Notice): void
  /** Where notices from other instances go; set once, before the server listens. */
  onNotice(handler: (notice: Notice) => void): void
  /** Rooms with logged-in users anywhere, and how many (spec §2 GET /api/v1/rooms). Costs O(such rooms). */
  occupiedRooms(): Promise<{ name: string; members: number }[]>
  /** How many logged-in users are present anywhere in each of `rooms`, in that order. Costs O(rooms). */
  countMembers(rooms: string[]): Promise<number[]>
  close(): Promise<void>
}

/** The single-instance broker: nobody else to tell, and this instance's presence is all there is. */
export function createLocalBroker(presence: Presence): Broker {
  return {
    publish() {},
    follow: () => Promise.resolve(),
    unfollow() {},
    announce() {},
    typing() {},
    notify() {},
    onNotice() {},
    occupiedRooms: async () => presence.occupied(),
    countMembers: async (rooms) => rooms.map((room) => presence.count(room)),
    close: () => Promise.resolve(),
  }
}
