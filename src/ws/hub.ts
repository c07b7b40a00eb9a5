/**
 * Room hub, for this process: the registry of rooms and sockets, entering and leaving a room, and
 * fan-out over Bun's topics (one per room). Each room's state lives in its own part: presence
 * (presence.ts), recent history (room-history.ts), order of deliveries (sequencer.ts); other
 * instances reach a room through the RoomSink the hub hands the broker.
 */
import type { Server } from 'bun'
import { roomNotFound, type RoomGate } from '../chat/room-access.ts'
import { roomTopic } from '../chat/rooms.ts'
import type { Logger } from '../log.ts'
import { CLOSE, type User } from '../protocol.ts'
import type { ConnectionCounts, Metrics } from '../metrics.ts'
import type { Store, StreamEvent } from '../store/store.ts'
import { Batches } from './batches.ts'
import type { Broker } from './broker.ts'
import { encodeFrame, encodeWelcome } from './frames.ts'
import { PresenceWindows, type PresenceWindow } from './presence-window.ts'
import type { Presence } from './presence.ts'
import { RoomHistory } from './room-history.ts'
import { evicts, Evictions, recheckAccess } from './evictions.ts'
import type { SocketResponder } from './respond.ts'
import type { RoomSink } from './room-sink.ts'
import { Sequencer } from './sequencer.ts'
import { sendAlone, type RoomSocket } from './socket-data.ts'

export interface HubOptions {
  store: Pick<Store, 'listMessages' | 'listStream' | 'listReactions'>
  broker: Broker
  presence: Presence
  log: Logger
  metrics: Metrics
  /** Who may read a room (spec §6): asked again at the welcome of a socket whose room could have closed to it. */
  gate: Pick<RoomGate, 'canRead'>
  /** Closes the sockets that may no longer read their room. */
  respond: SocketResponder
  historySize: number
  resumeMax: number
  /** How long a delivery waits for an earlier message from another instance (tests shorten it). */
  catchUpMs?: number
}

interface Room {
  topic: string
  history: RoomHistory
  /** Resolves once the broker follows the room (its frames and presence from other instances). */
  following: Promise<void>
  /** Sockets admitted to the room, read-only ones included. */
  sockets: Set<RoomSocket>
  /** User streams here that follow the room for their users' unread counts (spec §6). */
  watchers: number
  /** Its `join`/`leave` frames, and its plain sockets' subscription (presence-window.ts). */
  window: PresenceWindow
}

export class Hub {
  private readonly rooms = new Map<string, Room>()
  private readonly sockets = new Set<RoomSocket>()
  /** Sockets counted in presence (welcomed); a socket closed while opening never was. */
  private readonly counted = new WeakSet<RoomSocket>()
  private readonly sequencer: Sequencer
  private server: Pick<Server<unknown>, 'publish' | 'subscriberCount'> | undefined
  private emptied: PromiseWithResolvers<void> | undefined
  private observer: (event: StreamEvent) => void = () => {}
  private readonly evictions = new Evictions()
  private readonly batches = new Batches({ server: () => this.server, delivered: (n) => this.opts.metrics.messagesDelivered.inc(n) })
  private readonly windows = new PresenceWindows({ server: () => this.server, batches: this.batches })

  constructor(private readonly opts: HubOptions) {
    this.sequencer = new Sequencer({ store: opts.store, log: opts.log, emit: (m) => this.emit(m), catchUpMs: opts.catchUpMs })
  }

  /** The server whose topics carry the rooms' frames; set once, when it is listening. */
  bind(server: Pick<Server<unknown>, 'publish' | 'subscriberCount'>): void {
    this.server = server
  }

  /** Registers an opened socket with its room (keeping the room's own name string: one, not one a socket), before its welcome history is known. */
  admit(ws: RoomSocket): void {
    this.sockets.add(ws)
    const room = this.ref(ws.data.room)
    room.sockets.add(ws)
    ws.data.room = room.history.room
  }

  /** Every entry the hub emits, in order and once, also goes to `observer` (the user streams' unread counts). */
  observe(observer: (event: StreamEvent) => void): void {
    this.observer = observer
  }

  /** Follows a room without a socket in it, for a user stream; undone by unwatch. */
  watch(name: string): void {
    this.ref(name).watchers++
  }
  unwatch(name: string): void {
    const room = this.rooms.get(name)
    if (!room || room.watchers === 0) return
    room.watchers--
    this.unref(name, room)
  }

  /** Closes with 4004 the sockets to `room` that may no longer read it (spec §6): the user's, or (`userId` null) everyone's but `keep`'s. */
  evict(name: string, userId: number | null, keep?: number): void {
    this.evictions.record(name, userId, keep)
    for (const ws of this.rooms.get(name)?.sockets ?? [])
      if (evicts({ userId, keep }, ws.data.user?.id)) this.opts.respond.shut(ws, CLOSE.ROOM_NOT_FOUND, roomNotFound())
  }

  /** `typing` (spec §6) from `ws`: to the others in the room here, and to the other instances. */
  typing(ws: RoomSocket): void {
    const { room, user } = ws.data
    if (!user || ws.data.state !== 'open') return
    this.sendTyping(room, user)
    this.opts.broker.typing(room, user)
  }

  /** To the room's open sockets but the typist's (other tabs too): one by one, after the typist's join; typing is throttled. */
  private sendTyping(name: string, user: User): void {
    this.rooms.get(name)?.window.flush()
    const frame = encodeFrame({ type: 'typing', data: { user } })
    for (const ws of this.rooms.get(name)?.sockets ?? []) if (ws.data.state === 'open' && ws.data.user?.id !== user.id) sendAlone(ws, frame)
  }

  /**
   * Loads the socket's welcome history, then (if it is still open) counts it in presence (a user's first connection
   * announces `join`), subscribes it and sends `welcome` as its first frame, in one synchronous step: no broadcast slips in between.
   */
  async enter(ws: RoomSocket): Promise<void> {
    const { room: name, user, since } = ws.data
    const room = this.rooms.get(name)!
    const soon = room.history.welcomeSoon(since, user?.id ?? null, room.following)
    // Answered from memory, without an await: all of enter is one synchronous step of `open`, and the welcome leaves with the upgrade's response.
    const found = soon instanceof Promise ? await soon : soon
    this.sequencer.anchor(name, room.history.newestId)
    if (ws.data.state !== 'opening') return
    // An eviction since the upgrade's check, before this socket was in the room to be closed by it.
    if (this.evictions.since(name, user?.id, ws.data.checkedAt)) throw roomNotFound()
    let joined: User | undefined
    if (user) {
      this.counted.add(ws)
      const change = this.opts.presence.enter(name, user)
      if (change.room) joined = user
      if (change.here) this.opts.broker.announce(name, user, true)
    }
    // A plain socket subscribes through the room's presence window, a batched one to its batch.
    room.window.enter(ws.data.batchMs ? undefined : ws, joined)
    if (ws.data.batchMs) this.batches.subscribe(ws, room.topic)
    ws.data.state = 'open'
    ws.send(encodeWelcome({ room: name, user, readOnly: user === null }, this.opts.presence.membersJson(name), found))
  }

  /** Undoes admit/enter when a socket has closed: a user's last connection leaving publishes `leave`. */
  leave(ws: RoomSocket): void {
    if (!this.sockets.delete(ws)) return
    ws.data.batch?.leave(ws)
    const { room: name, user } = ws.data
    const room = this.rooms.get(name)
    if (room && user && this.counted.delete(ws)) {
      const change = this.opts.presence.exit(name, user)
      if (change.room) room.window.leave(user)
      if (change.here) this.opts.broker.announce(name, user, false)
    }
    if (room) {
      room.sockets.delete(ws)
      this.unref(name, room)
    }
    if (this.sockets.size === 0) this.emptied?.resolve()
  }

  /** A stream entry (message, edit, deletion) committed on this instance; `after` is its predecessor (store.ts Committed). */
  deliver(event: StreamEvent, after: number): void {
    this.sequencer.offer(event, after)
  }

  /** Every open socket, for the sweeper and for shutdown. */
  all(): Iterable<RoomSocket> {
    return this.sockets
  }

  /** Resolves once every socket has closed (shutdown waits on it, not on a timer). */
  whenEmpty(): Promise<void> {
    return this.sockets.size === 0 ? Promise.resolve() : (this.emptied ??= Promise.withResolvers<void>()).promise
  }

  /** spec §5: an account deleted, shown as `gone` (its placeholder) in every room's history held here. */
  renameUser = (gone: User): void => this.rooms.forEach((room) => room.history.rename(gone))

  /** For the metrics scrape: O(connections), paid per scrape instead of per event. */
  counts(): ConnectionCounts {
    let authenticated = 0
    for (const ws of this.sockets) if (ws.data.user) authenticated++
    return { authenticated, readOnly: this.sockets.size - authenticated, userStreams: 0, rooms: this.rooms.size }
  }

  /** Fans an entry out, in order and once (the sequencer's output), after the room's waiting presence frames; kept (or applied to what is kept) for welcomes. */
  private emit(event: StreamEvent): void {
    const room = this.rooms.get(event.room)
    room?.history.remember(event)
    room?.window.flush()
    const topic = roomTopic(event.room)
    const frame = encodeFrame(event)
    this.server?.publish(topic, frame)
    this.batches.add(topic, frame, event.type === 'message')
    this.observer(event)
    if (event.type !== 'message') return
    this.opts.metrics.messagesReceived.inc()
    if (this.server) this.opts.metrics.messagesDelivered.inc(this.server.subscriberCount(topic))
  }

  private ref(name: string): Room {
    let room = this.rooms.get(name)
    if (!room) {
      const { store, log, historySize, resumeMax } = this.opts
      const history = new RoomHistory(name, { store, log, historySize, resumeMax })
      const topic = roomTopic(name)
      const sockets = new Set<RoomSocket>()
      room = { topic, history, following: Promise.resolve(), sockets, watchers: 0, window: this.windows.open(topic, sockets) }
      this.rooms.set(name, room)
      this.sequencer.open(name)
      room.following = this.opts.broker.follow(name, this.sinkFor(name, room))
    }
    return room
  }

  private unref(name: string, room: Room): void {
    if (room.sockets.size > 0 || room.watchers > 0 || this.rooms.get(name) !== room) return
    this.rooms.delete(name)
    room.window.stop()
    this.sequencer.close(name)
    this.opts.presence.drop(name)
    this.opts.broker.unfollow(name)
  }

  /** What the broker may do to this room: only while it is still the room followed under that name. */
  private sinkFor(name: string, room: Room): RoomSink {
    const live = () => this.rooms.get(name) === room
    const { presence } = this.opts
    return {
      deliver: (event, after) => {
        if (live()) this.sequencer.offer(event, after)
      },
      presence: (instance, user, present) => {
        if (live() && presence.remote(name, instance, user, present)) present ? room.window.enter(undefined, user) : room.window.leave(user)
      },
      instances: () => presence.instances(name),
      forget: (instance) => {
        if (live()) for (const user of presence.forget(name, instance)) room.window.leave(user)
      },
      repair: async () => {
        if (!live()) return
        await this.sequencer.repair(name)
        await recheckAccess(room.sockets, this.opts.gate, this.opts.respond)
      },
      typing: (user) => {
        if (live()) this.sendTyping(name, user)
      },
    }
  }
}
