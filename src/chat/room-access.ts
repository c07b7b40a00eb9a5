/**
 * Who may read a room (spec §6), decided the same way on every path: REST history, deleting, members,
 * sockets, mentions, the user stream. A public room is readable by anyone; a private room (a DM
 * included) by its members only, and to everyone else it does not exist.
 */
import { AppError } from '../errors.ts'
import { isDmName } from '../protocol-rooms.ts'
import type { Store } from '../store/store.ts'

export type Access =
  /** `settled`: the room has messages, so it can never become private (registration needs none). */
  { visibility: 'public'; settled: boolean } | { visibility: 'private'; ownerId: number | null; dm: boolean }

/** The one answer for a room someone may not read, whether it exists or not (a DM that was never created included). */
export function roomNotFound(): AppError {
  return new AppError('ROOM_NOT_FOUND', 'no such room, or it is private')
}

/** Public rooms with messages remembered; past this the memory starts over (it is only a saving). */
const SETTLED_MAX = 100_000

export class RoomGate {
  /** Names known to be public for good: their checks cost no query. */
  private readonly settled = new Set<string>()

  constructor(private readonly store: Pick<Store, 'roomAccess' | 'isMember'>) {}

  /** What `room` is to the user (null: anonymous); throws ROOM_NOT_FOUND when they may not read it. */
  async check(room: string, userId: number | null): Promise<Access> {
    if (isDmName(room)) {
      // One look-up of the caller's membership, the same whether the DM exists or not (spec §6).
      if (userId === null || !(await this.store.isMember(room, userId))) throw roomNotFound()
      return { visibility: 'private', ownerId: null, dm: true }
    }
    if (this.settled.has(room)) return { visibility: 'public', settled: true }
    const row = await this.store.roomAccess(room, userId)
    if (!row || row.visibility === 'public') {
      const settled = row?.hasMessages ?? false
      if (settled) this.remember(room)
      return { visibility: 'public', settled }
    }
    if (!row.member) throw roomNotFound()
    return { visibility: 'private', ownerId: row.ownerId, dm: false }
  }

  /** check() as a yes or no. */
  async canRead(room: string, userId: number | null): Promise<boolean> {
    try {
      await this.check(room, userId)
      return true
    } catch (err) {
      if (err instanceof AppError && err.type === 'ROOM_NOT_FOUND') return false
      throw err
    }
  }

  private remember(room: string): void {
    if (this.settled.size >= SETTLED_MAX) this.settled.clear()
    this.settled.add(room)
  }
}
