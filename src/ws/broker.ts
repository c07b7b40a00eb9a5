/** Broker: carries a room's frames and presence between instances. Alone, there is nothing to carry. */
import type { Message, User } from '../store/store.ts'
import type { Hub } from './hub.ts'

export interface Broker {
  /**
   * Delivers a stored message to every subscriber of its room on every instance, after the room's
   * message `after` (see Deliver in store.ts). Never throws.
   */
  publishMessage(message: Message, after: number): void | Promise<void>
  /** Starts following a room: its frames and presence from other instances reach this hub. */
  watch(room: string): Promise<void>
  unwatch(room: string): void
  /** This instance's presence of `user` in `room` changed (first connection opened / last closed). */
  announce(room: string, user: User, present: boolean): void
  /** Rooms with logged-in users anywhere, and how many (spec §2 GET /api/v1/rooms). Costs O(such rooms). */
  occupiedRooms(): Promise<{ name: string; members: number }[]>
  /** How many logged-in users are present anywhere in each of `rooms`, in that order. Costs O(rooms). */
  countMembers(rooms: string[]): Promise<number[]>
  close(): Promise<void>
}

/** The single-instance broker: delivery is the hub's local fan-out. */
export function createLocalBroker(hub: Hub): Broker {
  return {
    publishMessage: (message) => hub.publishMessage(message),
    watch: () => Promise.resolve(),
    unwatch() {},
    announce() {},
    occupiedRooms: async () => hub.occupiedRooms(),
    countMembers: async (rooms) => rooms.map((room) => hub.memberCount(room)),
    close: () => Promise.resolve(),
  }
}
