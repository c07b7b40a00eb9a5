/**
 * The narrow way a broker reaches one room that this instance follows: what other instances say
 * about it. The hub hands one to the broker per followed room, so brokers never see the hub.
 */
import type { User } from '../protocol.ts'
import type { StreamEvent } from '../store/store.ts'

export interface RoomSink {
  /** A stream entry (message, edit, deletion) another instance committed; `after` is the id of the room's entry before it. */
  deliver(event: StreamEvent, after: number): void
  /** Another instance's presence of `user` in the room changed. */
  presence(instance: string, user: User, present: boolean): void
  /** The other instances that have users in the room, as last reported. */
  instances(): Set<string>
  /** An instance stopped heartbeating: its users no longer count in the room. */
  forget(instance: string): void
  /** After the broker lost its connection: deliver from the store whatever was posted meanwhile. */
  repair(): Promise<void>
  /** Someone on another instance is typing in the room (spec §6). */
  typing(user: User): void
}
