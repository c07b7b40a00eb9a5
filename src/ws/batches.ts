/**
 * Batched delivery (docs/PROTOCOL.md "Batched delivery"). A room socket opened with `?batch=<ms>` is
 * not subscribed to its room's topic: it joins its room's batch for that delay instead (and the
 * batch's own topic). Every frame the hub publishes to the room is also kept for each batch, and
 * sent to its sockets as one WebSocket message, the frames joined with a newline: at most one such
 * message per `ms` (or at once past BATCH.MAX_CHARS). A batch goes `ms` after the last one started
 * going out, or at the end of the event-loop turn when that was `ms` ago already (a quiet room waits
 * for nothing). So a frame is held at most `ms` from the moment it reached the server, even one that
 * waited in the kernel while the last batch's sends held the event loop. What a socket costs per
 * message and per subscriber (a WebSocket frame, a send() to the kernel, waking the reader) is then
 * paid once per batch. Plain sockets keep the room's topic: their frames are exactly what they were.
 *
 * A batch of ASCII text is sent socket by socket: Bun publishes a message under 16 KiB (its cork
 * buffer) through a per-subscriber queue that copies it twice, 13–19 µs a socket for 5–16 KB against
 * 9.5–11 sent directly. Any other batch is published on the batch's topic, since each direct send
 * converts the string to UTF-8 anew (16 KB holding an emoji: 17.6–20.4 µs a socket sent directly,
 * 14.3–14.8 published). See docs/PERFORMANCE.md, "Batched delivery".
 *
 * Order: a batch is sent before a socket joins it (what it held is in that socket's welcome) and
 * before any frame sent to one of its sockets alone (socket-data.ts sendAlone), so every socket sees
 * every frame in the order the server made them.
 */
import type { Server } from 'bun'
import { BATCH } from '../protocol-batch.ts'
import type { PendingFrames, RoomSocket } from './socket-data.ts'

type Topics = Pick<Server<unknown>, 'publish'>

/** One room's frames for the sockets that asked for one delay. */
class Batch implements PendingFrames {
  private frames: string[] = []
  private chars = 0
  /** How many of the frames are `message` frames (chat_messages_delivered_total counts them per subscriber). */
  private messages = 0
  private timer: ReturnType<typeof setTimeout> | undefined
  /** performance.now() when the batch's last WebSocket message started going out to its sockets. */
  private flushedAt = Number.NEGATIVE_INFINITY
  /** The batch's sockets, each also subscribed to `topic`. */
  readonly sockets = new Set<RoomSocket>()
  readonly topic: string

  constructor(
    /** The room's topic. */
    readonly room: string,
    readonly delayMs: number,
    private readonly out: Batches,
  ) {
    this.topic = `${room}#${delayMs}`
  }

  add(frame: string, message: boolean): void {
    this.frames.push(frame)
    this.chars += frame.length + 1
    if (message) this.messages++
    if (this.chars >= BATCH.MAX_CHARS) return this.flush()
    // Timed from when the last message started going, not from this frame: frames that came while a
    // fan-out of 1 000 sends held the event loop reached the server then, and the wait for the turn
    // counts against their delay (timing from here held them ~10 ms past it; docs/PERFORMANCE.md).
    // A delay already past (a quiet spell, or sends longer than the delay) leaves the turn's frames to
    // go together at its end: a timer of 0 fires after it.
    this.timer ??= setTimeout(this.due, Math.max(0, Math.ceil(this.flushedAt + this.delayMs - performance.now())))
  }

  /** Sends what is held now, as one WebSocket message to each of the batch's sockets. */
  flush(): void {
    if (this.frames.length === 0) return
    clearTimeout(this.timer)
    this.timer = undefined
    const text = this.frames.length === 1 ? this.frames[0]! : this.frames.join(BATCH.SEPARATOR)
    const messages = this.messages
    this.frames = []
    this.chars = 0
    this.messages = 0
    this.flushedAt = performance.now()
    // ASCII when its UTF-8 is as long as it is (a scan of ~1 µs for 16 KB).
    if (Buffer.byteLength(text) === text.length) for (const ws of this.sockets) ws.sendText(text)
    else this.out.publish(this.topic, text)
    if (messages > 0) this.out.delivered(messages * this.sockets.size)
  }

  /** The socket gets no more of the room's frames through the batch (it closed, or the server is closing it and unsubscribes it). */
  leave(ws: RoomSocket): void {
    if (!this.sockets.delete(ws)) return
    ws.data.batch = undefined
    if (this.sockets.size > 0) return
    // The last socket left: nobody is left to send to.
    clearTimeout(this.timer)
    this.timer = undefined
    this.frames = []
    this.chars = 0
    this.messages = 0
    this.out.forget(this)
  }

  private readonly due = () => {
    this.timer = undefined
    this.flush()
  }
}

export class Batches {
  /** By room topic: the room's batches by delay, while a socket follows each. */
  private readonly rooms = new Map<string, Map<number, Batch>>()
  constructor(
    private readonly out: {
      /** The server whose topics carry the frames, once it listens. */
      server: () => Topics | undefined
      /** Counts `message` frames handed to subscribers (chat_messages_delivered_total). */
      delivered: (frames: number) => void
    },
  ) {}

  /**
   * Subscribes an entering batched socket to its batch for its room, whose topic is `topic`, once
   * the batch has sent what it held: those frames came before this socket's welcome, which has them
   * already. (A plain socket subscribes to the topic: presence-window.ts.)
   */
  subscribe(ws: RoomSocket, topic: string): void {
    const ms = ws.data.batchMs
    let room = this.rooms.get(topic)
    if (!room) this.rooms.set(topic, (room = new Map()))
    let batch = room.get(ms)
    if (!batch) room.set(ms, (batch = new Batch(topic, ms, this)))
    batch.flush()
    ws.subscribe(batch.topic)
    batch.sockets.add(ws)
    ws.data.batch = batch
  }

  /** A frame the hub publishes to the room whose topic is `topic`: kept for each of its batches. */
  add(topic: string, frame: string, message: boolean): void {
    const room = this.rooms.get(topic)
    if (room) for (const batch of room.values()) batch.add(frame, message)
  }

  publish(topic: string, text: string): void {
    this.out.server()?.publish(topic, text)
  }

  delivered(frames: number): void {
    this.out.delivered(frames)
  }

  /** A batch whose last socket left. */
  forget(batch: Batch): void {
    const room = this.rooms.get(batch.room)
    room?.delete(batch.delayMs)
    if (room?.size === 0) this.rooms.delete(batch.room)
  }
}
