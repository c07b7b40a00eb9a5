/** Typing indicators (spec §6): per user and room at most one every TYPING_INTERVAL_MS is passed on; the rest are dropped. */
import { ROOM_LIMITS } from '../protocol-rooms.ts'

/** Past this many remembered pairs, those that no longer matter are forgotten. */
const PRUNE_AT = 10_000

export class TypingThrottle {
  /** When each user last had a `typing` passed on in each room (epoch ms), keyed `user room`. */
  private readonly last = new Map<string, number>()

  constructor(
    private readonly now: () => number,
    private readonly intervalMs: number = ROOM_LIMITS.TYPING_INTERVAL_MS,
  ) {}

  /** True when this one is passed on (and counts as the last). */
  allow(userId: number, room: string): boolean {
    const key = `${userId} ${room}`
    const at = this.now()
    const previous = this.last.get(key)
    if (previous !== undefined && at - previous < this.intervalMs) return false
    if (this.last.size >= PRUNE_AT) for (const [k, t] of this.last) if (at - t >= this.intervalMs) this.last.delete(k)
    this.last.set(key, at)
    return true
  }
}
