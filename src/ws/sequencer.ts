/**
 * Message order, in one place. Ids order a room's messages (spec §3) and each committed message
 * knows the one before it (`after`, from the store). Messages reach an instance by two roads, its
 * own posts and other instances' posts through the broker, and either may overtake the other, so
 * every delivery goes through here: a message is emitted only after its predecessor. One that
 * waits longer than CATCH_UP_MS for it (a frame lost with Redis) has the gap filled from the store.
 *
 * Only rooms this instance follows (sockets open here) are sequenced; until a room's history is
 * loaded its newest id is unknown, so until then messages are emitted as they come, without repeats.
 */
import type { Logger } from '../log.ts'
import type { Message } from '../protocol.ts'
import type { Store } from '../store/store.ts'

/** How long a message waits for its predecessor before the store is asked for the gap. */
export const CATCH_UP_MS = 500
/** Gap repair reads at most this many messages per room; a longer outage is left to clients' ?since=. */
const REPAIR_MAX = 10_000

interface Line {
  /** The newest id emitted (or known from the store once anchored); anything at or below it is a repeat. */
  lastId: number
  anchored: boolean
  /** Messages waiting for their predecessor, by the id they wait for. */
  held: Map<number, Message>
  timer: ReturnType<typeof setTimeout> | undefined
}

export interface SequencerOptions {
  store: Pick<Store, 'listMessages'>
  log: Logger
  /** Hands a message, in order and once, to the room's readers on this instance. */
  emit(message: Message): void
  catchUpMs?: number
}

export class Sequencer {
  private readonly lines = new Map<string, Line>()
  private readonly catchUpMs: number

  constructor(private readonly opts: SequencerOptions) {
    this.catchUpMs = opts.catchUpMs ?? CATCH_UP_MS
  }

  /** Starts following a room (its first socket here). */
  open(room: string): void {
    if (!this.lines.has(room)) this.lines.set(room, { lastId: 0, anchored: false, held: new Map(), timer: undefined })
  }

  /** The room's history is loaded up to `newestId`: from now on, strictly in order. */
  anchor(room: string, newestId: number): void {
    const line = this.lines.get(room)
    if (!line || line.anchored) return
    line.anchored = true
    line.lastId = Math.max(line.lastId, newestId)
  }

  /** Stops following a room (its last socket here closed). */
  close(room: string): void {
    const line = this.lines.get(room)
    if (line) clearTimeout(line.timer)
    this.lines.delete(room)
  }

  /** The newest id emitted to the room here (0 when not followed). */
  lastId(room: string): number {
    return this.lines.get(room)?.lastId ?? 0
  }

  /** A committed message, from this instance or another; `after` is its predecessor's id. */
  offer(message: Message, after: number): void {
    const line = this.lines.get(message.room)
    if (!line) return this.opts.emit(message)
    if (message.id <= line.lastId) return
    if (!line.anchored || after <= line.lastId) {
      this.pass(line, message)
      return this.release(line)
    }
    line.held.set(after, message)
    line.timer ??= setTimeout(() => void this.fill(message.room), this.catchUpMs)
  }

  /** Emits what the store has after the room's newest id here (after a broker reconnect). */
  async repair(room: string): Promise<void> {
    const line = this.lines.get(room)
    if (!line?.anchored) return
    const missed = await this.opts.store.listMessages(room, { after: line.lastId, limit: REPAIR_MAX })
    if (this.lines.get(room) !== line) return
    for (const m of missed) if (m.id > line.lastId) this.pass(line, m)
    this.release(line)
  }

  private pass(line: Line, message: Message): void {
    line.lastId = message.id
    this.opts.emit(message)
  }

  /** Emits the held messages whose predecessor is now out. */
  private release(line: Line): void {
    for (let next = line.held.get(line.lastId); next; next = line.held.get(line.lastId)) {
      line.held.delete(line.lastId)
      this.pass(line, next)
    }
    for (const [after, m] of line.held) if (m.id <= line.lastId) line.held.delete(after)
    if (line.held.size === 0 && line.timer) {
      clearTimeout(line.timer)
      line.timer = undefined
    }
  }

  /** A predecessor did not come in time: read the gap from the store, then emit what was held. */
  private async fill(room: string): Promise<void> {
    const line = this.lines.get(room)
    if (!line) return
    line.timer = undefined
    if (line.held.size === 0) return
    const upTo = Math.max(...[...line.held.values()].map((m) => m.id))
    try {
      const missed = await this.opts.store.listMessages(room, { after: line.lastId, before: upTo + 1, limit: REPAIR_MAX })
      if (this.lines.get(room) !== line) return
      for (const m of missed) if (m.id > line.lastId) this.pass(line, m)
    } catch (err) {
      this.opts.log.warn('could not fill a gap from the store; delivering what arrived', { room, err: String(err) })
      if (this.lines.get(room) !== line) return
      for (const m of [...line.held.values()].sort((a, b) => a.id - b.id)) if (m.id > line.lastId && m.id <= upTo) this.pass(line, m)
    }
    // What was held up to `upTo` is out now; anything held since waits on its own timer.
    this.release(line)
    if (line.held.size > 0) line.timer ??= setTimeout(() => void this.fill(room), this.catchUpMs)
  }
}
