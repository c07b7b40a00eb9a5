/**
 * One room's `join` and `leave` frames (spec §3), and the subscription of its plain sockets: in a room
 * of PRESENCE_WINDOW_FROM sockets or more, presence frames that come close go out together. A room's
 * first one in a while goes out at once; those within PRESENCE_WINDOW_MS of the last ones out wait,
 * and go out together when the window closes, so a socket already in the room gets them in one write
 * instead of one write each. A reconnect storm brings a room's members back within a second or two,
 * each announced to everyone back before them, and a lost network takes them away as fast: N²/2
 * frames a room, which Bun otherwise writes nearly one `send()` each (docs/PERFORMANCE.md,
 * "Reconnect storm").
 *
 * Every socket sees exactly the frames it would without the wait, in the same order:
 * - a plain socket that enters while frames wait gets its welcome at once (listing everyone present
 *   then) but is subscribed to the room's topic only when the frames go out, in its turn: after the
 *   frames that came before it (and its own join) are published, before those that came after it.
 *   Bun delivers a message published in a turn to the sockets subscribed when it was published,
 *   and still writes each socket's messages of the turn together;
 * - any other frame to the room (a message, an edit, typing) sends the waiting ones first, so
 *   nothing reaches a socket before the presence frames it would have had before it;
 * - batched sockets (batches.ts) get presence frames at once, in their batch: it shares the writes.
 */
import type { Server } from 'bun'
import type { User } from '../protocol.ts'
import type { Batches } from './batches.ts'
import { encodeFrame } from './frames.ts'
import type { RoomSocket } from './socket-data.ts'

/** How long a presence frame may wait for others to go out with it: presence, not chat, at human scale. */
export const PRESENCE_WINDOW_MS = 100

/**
 * Sockets in a room (read-only ones too: they get the frames) from which its presence frames may
 * wait. A burst costs writes as N² in the room's size; in a smaller room it is a few hundred frames
 * at most, and the wait would cost more than it saves: the idle benchmark's rooms of 10 held ~100
 * bytes more a socket with it (docs/PERFORMANCE.md, "Reconnect storm").
 */
export const PRESENCE_WINDOW_FROM = 32

/** In arrival order: a `join` or `leave` (`frame`), a plain socket to subscribe (`ws`), or both (a user's first socket). */
interface Waiting {
  frame: string | undefined
  ws: RoomSocket | undefined
}

/** What the windows need of the hub: the server that publishes to the rooms' topics, and the batches. */
export interface PresenceWindowsOptions {
  server(): Pick<Server<unknown>, 'publish'> | undefined
  batches: Pick<Batches, 'add'>
}

/**
 * Every room's window on this instance, closed by one timer: a room keeps no timer (nor closure) of
 * its own, which a storm would make by the room.
 */
export class PresenceWindows {
  /** Rooms whose frames wait. */
  private readonly waiting = new Set<PresenceWindow>()
  private timer: ReturnType<typeof setTimeout> | undefined
  /** When the timer fires (performance.now()). */
  private timerAt = Number.POSITIVE_INFINITY

  constructor(readonly opts: PresenceWindowsOptions) {}

  /** A window for the room whose topic is `topic` and whose sockets are `sockets`. */
  open(topic: string, sockets: ReadonlySet<RoomSocket>): PresenceWindow {
    return new PresenceWindow(topic, sockets, this)
  }

  /** `window` has frames waiting until its `dueAt`. */
  wait(window: PresenceWindow): void {
    this.waiting.add(window)
    this.arm(window.dueAt)
  }

  /** `window` sent or dropped what waited. */
  done(window: PresenceWindow): void {
    this.waiting.delete(window)
  }

  private arm(at: number): void {
    if (this.timer !== undefined && this.timerAt <= at) return
    clearTimeout(this.timer)
    this.timerAt = at
    this.timer = setTimeout(this.due, Math.max(0, Math.ceil(at - performance.now())))
  }

  private readonly due = () => {
    this.timer = undefined
    this.timerAt = Number.POSITIVE_INFINITY
    const now = performance.now()
    let next = Number.POSITIVE_INFINITY
    for (const window of this.waiting) {
      // A timer may fire a little early (its delay is whole milliseconds): within 1 ms counts as due.
      if (window.dueAt <= now + 1) window.flush()
      else next = Math.min(next, window.dueAt)
    }
    if (next !== Number.POSITIVE_INFINITY) this.arm(next)
  }
}

export class PresenceWindow {
  /** In arrival order; undefined while nothing waits (most rooms, most of the time). */
  private waiting: Waiting[] | undefined
  /** performance.now() when presence frames last went out. */
  private lastOut = Number.NEGATIVE_INFINITY

  constructor(
    private readonly topic: string,
    private readonly sockets: ReadonlySet<RoomSocket>,
    private readonly windows: PresenceWindows,
  ) {}

  /** When the waiting frames go out. */
  get dueAt(): number {
    return this.lastOut + PRESENCE_WINDOW_MS
  }

  /**
   * A plain socket `ws` enters the room (its welcome is on its way; none: a batched socket, or a user
   * on another instance), with `user`'s join when it is the user's first connection to the room.
   */
  enter(ws: RoomSocket | undefined, user: User | undefined): void {
    this.announce(user && encodeFrame({ type: 'join', data: { user } }), ws)
  }

  /** `user`'s last connection to the room closed, here or (across the cluster) anywhere. */
  leave(user: User): void {
    this.announce(encodeFrame({ type: 'leave', data: { user } }), undefined)
  }

  /** Publishes the waiting frames and subscribes the waiting sockets, in the order they came: before any other frame to the room. */
  flush(): void {
    const waiting = this.waiting
    if (!waiting) return
    this.waiting = undefined
    this.windows.done(this)
    this.lastOut = performance.now()
    const server = this.windows.opts.server()
    for (const { frame, ws } of waiting) {
      if (frame) server?.publish(this.topic, frame)
      // A socket the server closed, or that closed, while it waited has nothing more to read.
      if (ws && ws.data.state === 'open') ws.subscribe(this.topic)
    }
  }

  /** The room is no longer followed here: nobody is left to tell. */
  stop(): void {
    this.waiting = undefined
    this.windows.done(this)
  }

  private announce(frame: string | undefined, ws: RoomSocket | undefined): void {
    if (frame) this.windows.opts.batches.add(this.topic, frame, false)
    const now = performance.now()
    if (this.waiting || (frame && now < this.dueAt && this.sockets.size >= PRESENCE_WINDOW_FROM)) {
      if (!this.waiting) {
        this.waiting = []
        this.windows.wait(this)
      }
      this.waiting.push({ frame, ws })
      return
    }
    // Nothing waits: the frame goes to those already subscribed, then the socket subscribes.
    if (frame) {
      this.lastOut = now
      this.windows.opts.server()?.publish(this.topic, frame)
    }
    ws?.subscribe(this.topic)
  }
}
