/**
 * One room's `join` and `leave` frames (spec §3), and the subscription of its plain sockets: presence
 * frames that come close go out together. A room's first one in a while goes out at once; those
 * within PRESENCE_WINDOW_MS of the last ones out wait, and go out together when the window closes, so
 * a socket already in the room gets them in one write instead of one write each. A reconnect storm
 * brings a room's members back within a second or two, each announced to everyone back before them,
 * and a lost network takes them away as fast: N²/2 frames a room, which Bun otherwise writes nearly
 * one `send()` each (docs/PERFORMANCE.md, "Reconnect storm").
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

/** In arrival order: a `join` or `leave` (`frame`), a plain socket to subscribe (`ws`), or both (a user's first socket). */
interface Waiting {
  frame: string | undefined
  ws: RoomSocket | undefined
}

/** What the window needs of the room: its topic, the server that publishes to it, and its batches. */
export interface PresenceWindowRoom {
  topic: string
  server(): Pick<Server<unknown>, 'publish'> | undefined
  batches: Pick<Batches, 'add'>
}

export class PresenceWindow {
  private waiting: Waiting[] = []
  private timer: ReturnType<typeof setTimeout> | undefined
  /** performance.now() when presence frames last went out. */
  private lastOut = Number.NEGATIVE_INFINITY

  constructor(private readonly room: PresenceWindowRoom) {}

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
    if (this.waiting.length === 0) return
    clearTimeout(this.timer)
    this.timer = undefined
    this.lastOut = performance.now()
    const waiting = this.waiting
    this.waiting = []
    const server = this.room.server()
    for (const { frame, ws } of waiting) {
      if (frame) server?.publish(this.room.topic, frame)
      // A socket the server closed, or that closed, while it waited has nothing more to read.
      if (ws && ws.data.state === 'open') ws.subscribe(this.room.topic)
    }
  }

  /** The room is no longer followed here: nobody is left to tell. */
  stop(): void {
    clearTimeout(this.timer)
    this.timer = undefined
    this.waiting = []
  }

  private announce(frame: string | undefined, ws: RoomSocket | undefined): void {
    if (frame) this.room.batches.add(this.room.topic, frame, false)
    const now = performance.now()
    if (this.waiting.length > 0 || (frame && now - this.lastOut < PRESENCE_WINDOW_MS)) {
      this.waiting.push({ frame, ws })
      this.timer ??= setTimeout(this.due, Math.max(0, Math.ceil(this.lastOut + PRESENCE_WINDOW_MS - now)))
      return
    }
    // Nothing waits: the frame goes to those already subscribed, then the socket subscribes.
    if (frame) {
      this.lastOut = now
      this.room.server()?.publish(this.room.topic, frame)
    }
    ws?.subscribe(this.room.topic)
  }

  private readonly due = () => {
    this.timer = undefined
    this.flush()
  }
}
