/**
 * Batched delivery (docs/PROTOCOL.md "Batched delivery"). A room socket opened with `?batch=<ms>` is
 * subscribed to a topic of its room and delay instead of the room's own topic. Every frame the hub
 * publishes to the room is also kept for each such topic, and published there as one WebSocket
 * message, the frames joined with a newline: at most one such message per `ms` (or at once past
 * BATCH.MAX_CHARS). A frame made `ms` or more after both the topic's last frame and its last
 * message goes at the end of the event-loop turn (a quiet room waits for nothing); otherwise the
 * batch goes `ms` after its first frame. What a socket costs per message and per subscriber (a
 * WebSocket frame, a send() to the kernel, waking the reader) is then paid once per batch. Plain
 * sockets keep the room's topic: their frames are exactly what they were.
 *
 * Order: a batch is sent before a socket joins its topic (what it held is in that socket's welcome)
 * and before any frame sent to one of its sockets alone (socket-data.ts sendAlone), so every socket
 * sees every frame in the order the server made them.
 */
import type { Server } from 'bun'
import { BATCH } from '../protocol-batch.ts'
import type { PendingFrames, RoomSocket } from './socket-data.ts'

type Topics = Pick<Server<unknown>, 'publish' | 'subscriberCount'>

/** One room's frames for the sockets that asked for one delay. */
class Batch implements PendingFrames {
  private frames: string[] = []
  private chars = 0
  /** How many of the frames are `message` frames (chat_messages_delivered_total counts them per subscriber). */
  private messages = 0
  private timer: ReturnType<typeof setTimeout> | undefined
  /** performance.now() when the topic's last WebSocket message had gone out to its sockets, and when its last frame came. */
  private sentAt = Number.NEGATIVE_INFINITY
  private addedAt = Number.NEGATIVE_INFINITY
  /** Sockets subscribed to the topic. */
  members = 0
  readonly topic: string

  constructor(
    /** The room's own topic. */
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
    const now = performance.now()
    // Quiet for the delay (no frame came, nothing went): this one goes at the end of the turn, with the
    // turn's other frames (a timer of 0 fires after it). Otherwise the batch is held its whole delay
    // from its first frame, so a busy room's sends carry as many frames as ever, however late a turn ran.
    const quiet = now - this.addedAt >= this.delayMs && now - this.sentAt >= this.delayMs
    this.addedAt = now
    if (this.chars >= BATCH.MAX_CHARS) this.flush()
    else this.timer ??= setTimeout(this.due, quiet ? 0 : this.delayMs)
  }

  /** Sends what is held now, as one WebSocket message to every socket of the topic. */
  flush(): void {
    if (this.frames.length === 0) return
    clearTimeout(this.timer)
    this.timer = undefined
    const text = this.frames.length === 1 ? this.frames[0]! : this.frames.join(BATCH.SEPARATOR)
    const messages = this.messages
    this.frames = []
    this.chars = 0
    this.messages = 0
    this.out.publish(this.topic, text, messages)
    // Taken once the sends are done: a frame that came during a long send finds no quiet spell.
    this.sentAt = performance.now()
  }

  /** The last socket left: nobody is left to send to. */
  drop(): void {
    clearTimeout(this.timer)
    this.timer = undefined
    this.frames = []
    this.chars = 0
    this.messages = 0
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
   * Subscribes an entering socket to its room, whose topic is `topic`: to that topic, or (batched)
   * to its batch's, once the batch has sent what it held: those frames came before this socket's
   * welcome, which has them already.
   */
  subscribe(ws: RoomSocket, topic: string): void {
    const ms = ws.data.batchMs
    if (!ms) return void ws.subscribe(topic)
    let room = this.rooms.get(topic)
    if (!room) this.rooms.set(topic, (room = new Map()))
    let batch = room.get(ms)
    if (!batch) room.set(ms, (batch = new Batch(topic, ms, this)))
    batch.flush()
    ws.subscribe(batch.topic)
    batch.members++
    ws.data.batch = batch
  }

  /** A frame the hub publishes to the room whose topic is `topic`: kept for each of its batches. */
  add(topic: string, frame: string, message: boolean): void {
    const room = this.rooms.get(topic)
    if (room) for (const batch of room.values()) batch.add(frame, message)
  }

  /** A socket left its room (it closed). */
  leave(ws: RoomSocket): void {
    const batch = ws.data.batch as Batch | undefined
    if (!batch) return
    ws.data.batch = undefined
    if (--batch.members > 0) return
    batch.drop()
    const room = this.rooms.get(batch.room)
    room?.delete(batch.delayMs)
    if (room?.size === 0) this.rooms.delete(batch.room)
  }

  publish(topic: string, text: string, messages: number): void {
    const server = this.out.server()
    if (!server) return
    server.publish(topic, text)
    if (messages > 0) this.out.delivered(messages * server.subscriberCount(topic))
  }
}
