/** Room hub: presence, a recent-message cache and fan-out over Bun's topics, for this process. */
import type { Server, ServerWebSocket } from 'bun'
import { roomTopic } from '../chat/rooms.ts'
import type { Logger } from '../log.ts'
import type { ConnectionCounts, Metrics } from '../metrics.ts'
import type { Message, Store, User } from '../store/store.ts'
import type { Broker } from './broker.ts'
import { CLOSE, type CloseSpec } from './close-codes.ts'
import { encodeError, encodeFrame } from './frames.ts'
import type { SocketData } from './socket.ts'

type Socket = ServerWebSocket<SocketData>

interface Member {
  user: User
  /** Open connections of this user in this room: two tabs are one presence (spec §3). */
  sockets: number
}

interface RemoteMember {
  user: User
  /** The other instances where this user has a connection to the room. */
  instances: Set<string>
}

class RoomState {
  readonly topic: string
  readonly members = new Map<number, Member>()
  /** Users connected through other instances (cluster mode), as the broker reports them. */
  readonly remote = new Map<number, RemoteMember>()
  /** The newest message id delivered here: a message at or below it is a duplicate. */
  lastId = 0
  /** Deliveries waiting for an earlier message of the room (cluster ordering), by the id they wait for. */
  waiters: { id: number; resolve: () => void }[] = []
  /** Resolves once the broker follows the room (its remote frames and presence). */
  watching: Promise<void> = Promise.resolve()
  /** Sockets admitted to the room, read-only ones included, plus history loads in progress. */
  refs = 0
  /** The room's newest messages, oldest first. */
  recent: Message[] = []
  /** Every message of the room with an id above this is in `recent`; undefined until loaded. */
  coveredFrom: number | undefined
  loading: Promise<void> | undefined

  constructor(readonly name: string) {
    this.topic = roomTopic(name)
  }
}

export interface HubOptions {
  store: Store
  log: Logger
  metrics: Metrics
  historySize: number
  resumeMax: number
  maxConnections: number
  maxConnectionsPerAddress: number
  slowConsumerBytes: number
  now: () => number
}

export interface History {
  history: Message[]
  truncated: boolean
}

/** Retries when a burst evicted the cache between a history query and its merge; each retry is a fresh query. */
const HISTORY_ATTEMPTS = 5

export class Hub {
  private readonly rooms = new Map<string, RoomState>()
  /** Every open socket, for the sweeper and for shutdown. */
  readonly sockets = new Set<Socket>()
  private connections = 0
  private readonly perAddress = new Map<string, number>()
  private readonly cacheSize: number
  private server: Server<SocketData> | undefined
  /** Set once by createApp: carries frames and presence to other instances (or nowhere, alone). */
  broker!: Broker
  private sweeper: ReturnType<typeof setInterval> | undefined

  constructor(private readonly opts: HubOptions) {
    this.cacheSize = Math.max(opts.historySize, 100)
  }

  /** Binds the hub to the server whose topics it publishes to, and starts the sweeper. */
  attach(server: Server<SocketData>, sweepEveryMs = 250): void {
    this.server = server
    this.sweeper = setInterval(() => this.sweep(), sweepEveryMs)
  }

  detach(): void {
    clearInterval(this.sweeper)
  }

  /** Takes a connection slot for `address`; false past the total or per-address cap (spec §3: close 4029). */
  reserve(address: string): boolean {
    const mine = this.perAddress.get(address) ?? 0
    if (this.connections >= this.opts.maxConnections || mine >= this.opts.maxConnectionsPerAddress) return false
    this.connections++
    this.perAddress.set(address, mine + 1)
    return true
  }

  release(address: string): void {
    this.connections--
    const mine = (this.perAddress.get(address) ?? 1) - 1
    if (mine <= 0) this.perAddress.delete(address)
    else this.perAddress.set(address, mine)
  }

  /** Registers an opened socket with its room, before its history is known. */
  admit(ws: Socket): void {
    this.sockets.add(ws)
    this.ref(ws.data.room)
  }

  /**
   * The socket's welcome history: the newest `historySize` messages, or with `since` every later
   * message (the newest `resumeMax`, `truncated` if there were more). Served from the cache when it
   * covers the range; otherwise queried, then merged with what the cache saw arrive meanwhile.
   */
  async historyFor(name: string, since: number | undefined): Promise<History> {
    const room = this.ref(name)
    try {
      await room.watching
      await this.load(room)
      for (let attempt = 1; ; attempt++) {
        const covered = room.coveredFrom!
        // Not slice(-historySize): with HISTORY_SIZE=0 that would be slice(-0), the whole cache.
        if (since === undefined) return { history: room.recent.slice(Math.max(0, room.recent.length - this.opts.historySize)), truncated: false }
        if (since >= covered) return this.cut(room.recent.filter((m) => m.id > since))
        const rows = await this.opts.store.listMessages(name, { after: since, limit: this.opts.resumeMax + 1 })
        const last = rows.at(-1)?.id ?? since
        if (room.coveredFrom! <= last || attempt === HISTORY_ATTEMPTS) {
          if (room.coveredFrom! > last) this.opts.log.warn('resume history may have a gap under heavy traffic', { room: name })
          return this.cut([...rows, ...room.recent.filter((m) => m.id > last)])
        }
      }
    } finally {
      this.unref(room)
    }
  }

  private cut(messages: Message[]): History {
    const truncated = messages.length > this.opts.resumeMax
    return { history: truncated ? messages.slice(-this.opts.resumeMax) : messages, truncated }
  }

  /**
   * Completes the socket's entry: presence (join to the others on a user's first connection),
   * subscription, then `welcome` as its first frame. Synchronous, so no broadcast slips between.
   */
  enter(ws: Socket, { history, truncated }: History): void {
    const room = this.rooms.get(ws.data.room)!
    const { user } = ws.data
    if (user) {
      const member = room.members.get(user.id)
      if (member) member.sockets++
      else {
        const wasPresent = room.remote.has(user.id)
        room.members.set(user.id, { user, sockets: 1 })
        if (!wasPresent) this.publish(room.topic, encodeFrame({ type: 'join', data: { user } }))
        this.broker.announce(room.name, user, true)
      }
    }
    ws.subscribe(room.topic)
    ws.data.entered = true
    ws.send(
      encodeFrame({
        type: 'welcome',
        data: { room: room.name, user, readOnly: user === null, members: this.members(room.name), history, truncated },
      }),
    )
  }

  /** Undoes admit/enter when a socket closes: a user's last connection leaving publishes `leave`. */
  leave(ws: Socket): void {
    if (!this.sockets.delete(ws)) return
    const room = this.rooms.get(ws.data.room)
    if (!room) return
    const { user } = ws.data
    if (user && ws.data.entered) {
      const member = room.members.get(user.id)
      if (member && --member.sockets === 0) {
        room.members.delete(user.id)
        if (!room.remote.has(user.id)) this.publish(room.topic, encodeFrame({ type: 'leave', data: { user } }))
        this.broker.announce(room.name, user, false)
      }
    }
    this.unref(room)
  }

  /**
   * Fans a stored message out to this instance's sockets in the room: serialised once, cached for
   * welcomes and resumes. A message already delivered (a broker echo or gap repair) is skipped.
   */
  publishMessage(message: Message): void {
    const room = this.rooms.get(message.room)
    if (room) {
      if (message.id <= room.lastId) return
      room.lastId = message.id
      this.remember(room, message)
      if (room.waiters.length > 0) this.wake(room)
    }
    const topic = roomTopic(message.room)
    this.publish(topic, encodeFrame({ type: 'message', data: message }))
    this.opts.metrics.messagesReceived.inc()
    if (this.server) this.opts.metrics.messagesDelivered.inc(this.server.subscriberCount(topic))
  }

  /** For the metrics scrape: O(connections), paid per scrape instead of per event. */
  counts(): ConnectionCounts {
    let authenticated = 0
    for (const ws of this.sockets) if (ws.data.user) authenticated++
    return { authenticated, readOnly: this.sockets.size - authenticated, rooms: this.rooms.size }
  }

  /** Resolves once the room's message `id` (or a later one) has been delivered here, or the room is dropped. */
  delivered(name: string, id: number): Promise<void> {
    const room = this.rooms.get(name)
    if (!room || room.lastId >= id) return Promise.resolve()
    const { promise, resolve } = Promise.withResolvers<void>()
    room.waiters.push({ id, resolve })
    return promise
  }

  private wake(room: RoomState): void {
    room.waiters = room.waiters.filter((w) => {
      if (w.id > room.lastId) return true
      w.resolve()
      return false
    })
  }

  /** True once the room has sockets here and its history is loaded: deliveries to it are tracked by id. */
  follows(name: string): boolean {
    return this.rooms.get(name)?.coveredFrom !== undefined
  }

  /** The newest message id delivered to the room here (0 if none or not followed), for gap repair. */
  lastMessageId(name: string): number {
    return this.rooms.get(name)?.lastId ?? 0
  }

  /** Rooms this instance follows (has sockets in). */
  roomNames(): string[] {
    return [...this.rooms.keys()]
  }

  /**
   * Another instance reports that `user` is (or no longer is) connected to the room there. Sockets
   * here get `join`/`leave` only when the user's presence across the cluster changes.
   */
  applyRemotePresence(name: string, instance: string, user: User, present: boolean): void {
    const room = this.rooms.get(name)
    if (!room) return
    const before = room.members.has(user.id) || room.remote.has(user.id)
    const entry = room.remote.get(user.id)
    if (present) {
      if (entry) entry.instances.add(instance)
      else room.remote.set(user.id, { user, instances: new Set([instance]) })
    } else if (entry) {
      entry.instances.delete(instance)
      if (entry.instances.size === 0) room.remote.delete(user.id)
    }
    const after = room.members.has(user.id) || room.remote.has(user.id)
    if (before !== after) this.publish(room.topic, encodeFrame({ type: after ? 'join' : 'leave', data: { user } }))
  }

  /** The other instances that have users in rooms followed here. */
  remoteInstances(): Set<string> {
    const instances = new Set<string>()
    for (const room of this.rooms.values()) for (const member of room.remote.values()) for (const i of member.instances) instances.add(i)
    return instances
  }

  /** An instance stopped (or stopped heartbeating): its users no longer count anywhere. */
  forgetInstance(instance: string): void {
    for (const room of this.rooms.values()) {
      for (const { user, instances } of [...room.remote.values()]) if (instances.has(instance)) this.applyRemotePresence(room.name, instance, user, false)
    }
  }

  /** Logged-in users present in the room, on this instance or another (read-only readers are not listed). */
  members(name: string): User[] {
    const room = this.rooms.get(name)
    if (!room) return []
    const users = new Map<number, User>()
    for (const m of room.members.values()) users.set(m.user.id, m.user)
    for (const m of room.remote.values()) users.set(m.user.id, m.user)
    return [...users.values()]
  }

  /** How many logged-in users are present in the room, on this instance or another. */
  memberCount(name: string): number {
    const room = this.rooms.get(name)
    if (!room) return 0
    // Alone (no remote members) the count is the map's size; only a cluster needs the merged list.
    return room.remote.size === 0 ? room.members.size : this.members(name).length
  }

  /**
   * Rooms with logged-in users on this instance, and how many. Rooms with only read-only readers are
   * left out: anyone can open those, under any name (spec §2 lists rooms with logged-in people).
   */
  occupiedRooms(): { name: string; members: number }[] {
    const occupied: { name: string; members: number }[] = []
    for (const name of this.rooms.keys()) {
      const members = this.memberCount(name)
      if (members > 0) occupied.push({ name, members })
    }
    return occupied
  }

  /** Closes every socket with `spec`; resolves when all have closed or `timeoutMs` passed. */
  async closeAll(spec: CloseSpec, timeoutMs: number): Promise<void> {
    for (const ws of this.sockets) ws.close(spec.code, spec.reason)
    const deadline = Date.now() + timeoutMs
    while (this.sockets.size > 0 && Date.now() < deadline) await Bun.sleep(10)
  }

  private publish(topic: string, frame: string): void {
    this.server?.publish(topic, frame)
  }

  private ref(name: string): RoomState {
    let room = this.rooms.get(name)
    if (!room) {
      room = new RoomState(name)
      room.watching = this.broker.watch(name)
      this.rooms.set(name, room)
    }
    room.refs++
    return room
  }

  private unref(room: RoomState): void {
    if (--room.refs === 0 && this.rooms.get(room.name) === room) {
      this.rooms.delete(room.name)
      for (const w of room.waiters) w.resolve()
      this.broker.unwatch(room.name)
    }
  }

  private load(room: RoomState): Promise<void> {
    if (room.coveredFrom !== undefined) return Promise.resolve()
    room.loading ??= this.opts.store.listMessages(room.name, { limit: this.cacheSize }).then(
      (rows) => {
        // Messages broadcast while the query ran are already in `recent`; merge without duplicates.
        const seen = new Set(room.recent.map((m) => m.id))
        const merged = [...rows.filter((m) => !seen.has(m.id)), ...room.recent].sort((a, b) => a.id - b.id)
        room.coveredFrom = rows.length < this.cacheSize ? 0 : rows[0]!.id - 1
        room.recent = merged
        room.lastId = Math.max(room.lastId, merged.at(-1)?.id ?? 0)
        this.trim(room)
        room.loading = undefined
      },
      (err: unknown) => {
        room.loading = undefined
        throw err
      },
    )
    return room.loading
  }

  /** Only called with ids above `lastId`, so appending keeps `recent` in order. */
  private remember(room: RoomState, message: Message): void {
    room.recent.push(message)
    this.trim(room)
  }

  private trim(room: RoomState): void {
    const excess = room.recent.length - this.cacheSize
    if (excess <= 0) return
    const evicted = room.recent.splice(0, excess)
    if (room.coveredFrom !== undefined) room.coveredFrom = Math.max(room.coveredFrom, evicted.at(-1)!.id)
  }

  /** Periodic checks that would be per-frame work otherwise: slow readers (1013) and expired tokens (4001). */
  private sweep(): void {
    const nowSeconds = this.opts.now() / 1000
    for (const ws of this.sockets) {
      if (ws.data.closing) continue
      if (ws.getBufferedAmount() > this.opts.slowConsumerBytes) {
        this.shut(ws, CLOSE.SLOW_CONSUMER)
      } else if (ws.data.exp !== undefined && ws.data.exp <= nowSeconds) {
        ws.send(encodeError('TOKEN_EXPIRED', 'the token has expired; refresh it and reconnect with ?since='))
        this.shut(ws, CLOSE.TOKEN_EXPIRED)
      }
    }
  }

  /** Closes a socket from the server side; it gets nothing more from its room. */
  shut(ws: Socket, spec: CloseSpec): void {
    this.opts.metrics.framesRejected.inc({ reason: spec.reason })
    ws.data.closing = true
    ws.unsubscribe(roomTopic(ws.data.room))
    ws.close(spec.code, spec.reason)
  }
}
