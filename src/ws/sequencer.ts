/**
 * Stream order, in one place. Ids order a room's stream, messages and their edits and deletions
 * alike (spec §3, §5), and each committed entry knows the one before it (`after`, from the store).
 * Entries reach an instance by two roads, its own and other instances' through the broker, and
 * either may overtake the other, so every delivery goes through here: an entry is emitted only
 * after its predecessor. One that waits longer than CATCH_UP_MS for it (a frame lost with Redis)
 * has the gap filled from the store.
 *
 * Only rooms this instance follows (sockets open here) are sequenced; until a room's history is
 * loaded its newest id is unknown, so until then entries are emitted as they come, without repeats.
 */
import type { Logger } from '../log.ts'
import type { StreamEvent, Store } from '../store/store.ts'

/** How long an entry waits for its predecessor before the store is asked for the gap. */
export const CATCH_UP_MS = 500
/** Gap repair reads at most this many entries per room; a longer outage is left to clients' ?since=. */
const REPAIR_MAX = 10_000

interface Line {
  /** The newest id emitted (or known from the store once anchored); anything at or below it is a repeat. */
  lastId: number
  anchored: boolean
  /** Entries waiting for their predecessor, by the id they wait for. */
  held: Map<number, StreamEvent>
  timer: ReturnType<typeof setTimeout> | undefined
}

export interface SequencerOptions {
  store: Pick<Store, 'listStream'>
  log: Logger
  /** Hands an entry, in order and once, to the room's readers on this instance. */
  emit(event: StreamEvent): void
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

  /** A committed entry, from this instance or another; `after` is its predecessor's id. */
  offer(event: StreamEvent, after: number): void {
    const line = this.lines.get(event.room)
    if (!line) return this.opts.emit(event)
    if (event.data.id <= line.lastId) return
    if (!line.anchored || after <= line.lastId) {
      this.pass(line, event)
      return this.release(line)
    }
    line.held.set(after, event)
    line.timer ??= setTimeout(() => void this.fill(event.room), this.catchUpMs)
  }

  /** Emits what the store has after the room's newest id here (after a broker reconnect). */
  async repair(room: string): Promise<void> {
    const line = this.lines.get(room)
    if (!line?.anchored) return
    const missed = await this.opts.store.listStream(room, { after: line.lastId, limit: REPAIR_MAX })
    if (this.lines.get(room) !== line) return
    for (const e of missed) if (e.data.id > line.lastId) this.pass(line, e)
    this.release(line)
  }

  private pass(line: Line, event: StreamEvent): void {
    line.lastId = event.data.id
    this.opts.emit(event)
  }

  /** Emits the held entries whose predecessor is now out. */
  private release(line: Line): void {
    for (let next = line.held.get(line.lastId); next; next = line.held.get(line.lastId)) {
      line.held.delete(line.lastId)
      this.pass(line, next)
    }
    for (const [after, e] of line.held) if (e.data.id <= line.lastId) line.held.delete(after)
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
    const upTo = Math.max(...[...line.held.values()].map((e) => e.data.id))
    try {
      const missed = await this.opts.store.listStream(room, { after: line.lastId, before: upTo + 1, limit: REPAIR_MAX })
      if (this.lines.get(room) !== line) return
      for (const e of missed) if (e.data.id > line.lastId) this.pass(line, e)
      // Every entry up to `upTo` was committed before it; one the store no longer lists is an edit
      // erased by a deletion since (spec §5), which follows it in the stream.
      line.lastId = Math.max(line.lastId, upTo)
    } catch (err) {
      this.opts.log.warn('could not fill a gap from the store; delivering what arrived', { room, err: String(err) })
      if (this.lines.get(room) !== line) return
      const arrived = [...line.held.values()].sort((a, b) => a.data.id - b.data.id)
      for (const e of arrived) if (e.data.id > line.lastId && e.data.id <= upTo) this.pass(line, e)
    }
    // What was held up to `upTo` is out now; anything held since waits on its own timer.
    this.release(line)
    if (line.held.size > 0) line.timer ??= setTimeout(() => void this.fill(room), this.catchUpMs)
  }
}
