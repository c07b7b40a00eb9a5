/**
 * Typing indicators (spec §6): per user and room at most one every TYPING_INTERVAL_MS is passed on;
 * the rest are dropped. Alone, a map in memory decides; in a cluster, Redis decides for every instance
 * (a user may type in tabs on two of them), after the local map has dropped a burst without a round trip.
 */
import type { RedisClient } from 'bun'
import { ROOM_LIMITS } from '../protocol-rooms.ts'

/** Past this many remembered pairs, those that no longer matter are forgotten. */
const PRUNE_AT = 10_000

export interface TypingGate {
  /** True when this one is passed on (and counts as the last). */
  allow(userId: number, room: string): boolean | Promise<boolean>
}

export class TypingThrottle implements TypingGate {
  /** When each user last had a `typing` passed on in each room (epoch ms), keyed `user room`. */
  private readonly last = new Map<string, number>()

  constructor(
    private readonly now: () => number,
    private readonly intervalMs: number = ROOM_LIMITS.TYPING_INTERVAL_MS,
  ) {}

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

/** The cluster's gate: one `SET NX PX` per user and room and interval, whichever instance asks first wins. */
export class RedisTypingThrottle implements TypingGate {
  private readonly local: TypingThrottle

  constructor(
    private readonly redis: RedisClient,
    now: () => number,
    private readonly intervalMs: number = ROOM_LIMITS.TYPING_INTERVAL_MS,
  ) {
    this.local = new TypingThrottle(now, intervalMs)
  }

  async allow(userId: number, room: string): Promise<boolean> {
    if (!this.local.allow(userId, room)) return false
    try {
      return (await this.redis.send('SET', [`chat:typing:${userId}:${room}`, '1', 'PX', String(this.intervalMs), 'NX'])) === 'OK'
    } catch {
      // Redis away: this instance's own throttle is the limit meanwhile (typing is never stored).
      return true
    }
  }
}
