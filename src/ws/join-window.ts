/**
 * One room's `join` and `leave` frames (spec §3), and the subscription of its plain sockets: joins
 * that come close go out together. A room's first join in a while goes out at once; joins within
 * JOIN_WINDOW_MS of the last ones out wait, and go out together when the window closes, so a socket
 * already in the room gets them in one write instead of one write each. A reconnect storm brings a
 * room's members back within a second or two, each announced to everyone back before them: N²/2 join
 * frames a room, which Bun otherwise writes nearly one `send()` each (docs/PERFORMANCE.md,
 * "Reconnect storm").
 *
 * Every socket sees exactly the frames it would without the wait, in the same order:
 * - a plain socket that enters while joins wait gets its welcome at once (listing everyone present,
 *   the waiting joiners too) but is subscribed to the room's topic only when the joins go out: it
 *   gets, sent to it alone, the joins that came after it, and none of those before it or its own;
 * - any other frame to the room (a message, a leave, typing) sends the waiting joins first, so
 *   nothing reaches a socket before the joins it would have had before it;
 * - batched sockets (batches.ts) get joins at once, in their batch: it shares the writes already.
 */
import type { Server } from 'bun'
import type { User } from '../protocol.ts'
import type { Batches } from './batches.ts'
import { encodeFrame } from './frames.ts'
import type { RoomSocket } from './socket-data.ts'

/** How long a join may wait for others to go out with it: presence, not chat, and at human scale. */
export const JOIN_WINDOW_MS = 100

/** In arrival order: a join (`frame`; from another instance, or of a socket here), a plain socket to subscribe (`ws`), or both. */
interface Waiting {
  frame: string | undefined
  ws: RoomSocket | undefined
}

/** What the window needs of the room: its topic, the server that publishes to it, and its batches. */
export interface JoinWindowRoom {
  topic: string
  server(): Pick<Server<unknown>, 'publish'> | undefined
  batches: Pick<Batches, 'add'>
}

export class JoinWindow {
  private waiting: Waiting[] = []
  private timer: ReturnType<typeof setTimeout> | undefined
  /** performance.now() when joins last went out. */
  private lastOut = Number.NEGATIVE_INFINITY

  constructor(private readonly room: JoinWindowRoom) {}

  /** `user` joined the room on another instance: to the batches now; to the plain sockets now, or with the window's others. */
  join(user: User): void {
    this.enter(undefined, user)
  }

  /**
   * A plain socket `ws` enters the room (its welcome is on its way), with `user`'s join when it is the
   * user's first connection to the room: subscribed, and the join sent, now or with the window's others.
   */
  enter(ws: RoomSocket | undefined, user: User | undefined): void {
    const frame = user ? encodeFrame({ type: 'join', data: { user } }) : undefined
    if (frame) this.room.batches.add(this.room.topic, frame, false)
    if (this.waiting.length > 0 || (frame && !this.open())) {
      this.waiting.push({ frame, ws })
      this.timer ??= setTimeout(this.due, Math.max(0, Math.ceil(this.lastOut + JOIN_WINDOW_MS - performance.now())))
      return
    }
    // Nothing waits: the join goes to those already subscribed, then the socket subscribes.
    if (frame) {
      this.lastOut = performance.now()
      this.room.server()?.publish(this.room.topic, frame)
    }
    ws?.subscribe(this.room.topic)
  }

  /** `user` left the room: after the joins that wait (its own, maybe), to every socket. */
  leave(user: User): void {
    const frame = encodeFrame({ type: 'leave', data: { user } })
    this.room.batches.add(this.room.topic, frame, false)
    this.flush()
    this.room.server()?.publish(this.room.topic, frame)
  }

  /**
   * Sends the waiting joins to the sockets subscribed before them, then subscribes the waiting
   * sockets, each sent alone (one write) the joins that came after it: before any other frame to the room.
   */
  flush(): void {
    if (this.waiting.length === 0) return
    clearTimeout(this.timer)
    this.timer = undefined
    this.lastOut = performance.now()
    const waiting = this.waiting
    this.waiting = []
    const server = this.room.server()
    for (const { frame } of waiting) if (frame) server?.publish(this.room.topic, frame)
    waiting.forEach(({ ws }, i) => {
      // A socket the server closed, or that closed, while it waited has nothing more to read.
      if (!ws || ws.data.state !== 'open') return
      ws.subscribe(this.room.topic)
      const later = waiting.slice(i + 1).flatMap(({ frame }) => (frame ? [frame] : []))
      if (later.length > 0) ws.cork(() => later.forEach((frame) => ws.send(frame)))
    })
  }

  /** The room is no longer followed here: nobody is left to tell. */
  stop(): void {
    clearTimeout(this.timer)
    this.timer = undefined
    this.waiting = []
  }

  /** No join went out in the last JOIN_WINDOW_MS. */
  private open(): boolean {
    return performance.now() - this.lastOut >= JOIN_WINDOW_MS
  }

  private readonly due = () => {
    this.timer = undefined
    this.flush()
  }
}
