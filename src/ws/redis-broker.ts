/**
 * Redis broker: room frames and presence between instances over Redis pub/sub (one channel per
 * room), instance heartbeats with expiry, and gap repair from the database after a reconnect.
 *
 * Bun's Redis client does not re-subscribe after it reconnects (onconnect fires, messages stop), so every
 * reconnect re-subscribes each followed room, re-announces this instance's presence, and has each room
 * deliver from the database whatever was posted while the subscription was down. Order is not this file's
 * concern: each stream entry carries its predecessor's id (`a`), and the receiving room's sequencer orders them.
 */
import { RedisClient } from 'bun'
import type { Notice } from '../chat/notices.ts'
import type { Logger } from '../log.ts'
import { waitForService } from '../startup.ts'
import type { Message, User } from '../protocol.ts'
import type { StreamEvent } from '../store/store.ts'
import type { Broker } from './broker.ts'
import { createRedisPresence } from './redis-presence.ts'
import type { RoomSink } from './room-sink.ts'

const CHANNEL_PREFIX = 'chat:room:'
/** Notices (spec §6: user stream frames, sockets to close) go to every instance on one channel: they are few. */
const NOTICES = 'chat:notices'
/** A publish that Redis has not acknowledged by then is given up (the message is stored; resumes carry it). */
const PUBLISH_TIMEOUT_MS = 1000

/** What goes over a room's channel: `i` the sending instance; a message (`m`) or a change to one (`c`, spec §5) with `a` its predecessor's id; or presence. */
type Envelope =
  | { i: string; k: 'm'; m: Message; a: number }
  | { i: string; k: 'c'; c: Omit<Exclude<StreamEvent, { type: 'message' }>, 'room'>; a: number }
  | { i: string; k: 'p'; u: User; p: boolean }
  | { i: string; k: 't'; u: User }

export interface RedisBrokerOptions {
  url: string
  log: Logger
  /** How often this instance proves it is alive. */
  heartbeatMs?: number
  /** An instance silent this long is dead: its users stop counting. */
  instanceTtlMs?: number
  /** How long to wait for Redis at start (STARTUP_TIMEOUT); unset, for as long as it takes. */
  startupTimeoutMs?: number
}

export interface RedisBroker extends Broker {
  /** The command connection, shared with the cluster-wide rate limiters. */
  redis: RedisClient
  instanceId: string
}

export async function createRedisBroker({ url, log, heartbeatMs = 2000, instanceTtlMs = 10_000, startupTimeoutMs }: RedisBrokerOptions): Promise<RedisBroker> {
  const instanceId = crypto.randomUUID()
  // Commands fail fast while Redis is away instead of queueing behind a room's ordering lock.
  const redis = new RedisClient(url, { maxRetries: 1_000_000, enableOfflineQueue: false })
  const sub = new RedisClient(url, { maxRetries: 1_000_000 })
  try {
    // The clients retry an unreachable Redis for ever, silently: start-up waits for it only so long.
    await waitForService(startupTimeoutMs, () => Promise.all([redis.connect(), sub.connect()]))
  } catch (err) {
    redis.close()
    sub.close()
    throw err
  }

  const presence = createRedisPresence(redis, instanceId, instanceTtlMs)
  /** Followed rooms and where what other instances say of them goes. */
  const followed = new Map<string, RoomSink>()
  /** This instance's present users per room, to re-announce after Redis lost its data. */
  const local = new Map<string, Map<number, User>>()
  /** Frames held while a recovery replays the database, applied after it in arrival order. */
  let repairing: { room: string; env: Envelope }[] | undefined
  let closed = false

  /** How this instance's own frames start (every envelope is written with `i` first): Redis hands them back too. */
  const ownPrefix = `{"i":${JSON.stringify(instanceId)},`

  function receive(raw: string, channel: string): void {
    // Our own frames come back on every channel we follow: dropped before parsing them.
    if (raw.startsWith(ownPrefix)) return
    let env: Envelope
    try {
      env = JSON.parse(raw)
    } catch {
      return log.warn('ignored a malformed broker frame', { channel })
    }
    if (env.i === instanceId) return
    const room = channel.slice(CHANNEL_PREFIX.length)
    if (repairing) repairing.push({ room, env })
    else apply(room, env)
  }

  function apply(room: string, env: Envelope): void {
    const sink = followed.get(room)
    if (!sink) return
    if (env.k === 'm') sink.deliver({ type: 'message', room, data: env.m }, env.a)
    else if (env.k === 'c') sink.deliver({ ...env.c, room } as StreamEvent, env.a)
    else if (env.k === 'p') sink.presence(env.i, env.u, env.p)
    else if (env.k === 't') sink.typing(env.u)
  }

  let onNotice: (notice: Notice) => void = () => {}
  function receiveNotice(raw: string): void {
    let sent: { i: string; n: Notice }
    try {
      sent = JSON.parse(raw)
    } catch {
      return log.warn('ignored a malformed notice', {})
    }
    if (sent.i !== instanceId) onNotice(sent.n)
  }
  await sub.subscribe(NOTICES, receiveNotice)

  async function loadPresence(room: string, sink: RoomSink): Promise<void> {
    for (const { instance, user } of await presence.read(room)) sink.presence(instance, user, true)
  }

  async function follow(room: string, sink: RoomSink): Promise<void> {
    await sub.subscribe(CHANNEL_PREFIX + room, receive)
    await loadPresence(room, sink)
  }

  async function send(room: string, env: Envelope): Promise<void> {
    await redis.publish(CHANNEL_PREFIX + room, JSON.stringify(env))
  }

  /** Per room, the last presence write queued: the next one goes after it. */
  const presenceChains = new Map<string, Promise<void>>()

  async function writePresence(room: string, user: User, present: boolean): Promise<void> {
    await presence.write(room, user, present)
    await send(room, { i: instanceId, k: 'p', u: user, p: present })
  }

  /**
   * Proves this instance alive and forgets the users of instances that stopped doing so. Each
   * instance decides for itself from the live set, so it does not matter who notices a death first.
   */
  async function heartbeat(): Promise<void> {
    const live = await presence.heartbeat()
    const dead = new Set<string>()
    for (const sink of followed.values()) for (const instance of sink.instances()) if (!live.has(instance)) dead.add(instance)
    for (const instance of dead) {
      log.warn('instance stopped heartbeating; its users no longer count', { instance })
      for (const sink of followed.values()) sink.forget(instance)
    }
  }
  const beat = setInterval(() => heartbeat().catch((err: unknown) => log.warn('heartbeat failed', { err: String(err) })), heartbeatMs)
  await heartbeat()

  /** After a reconnect: follow every room again, restore our presence, deliver what was missed. */
  async function recover(): Promise<void> {
    repairing ??= []
    try {
      await heartbeat()
      await sub.unsubscribe(NOTICES).catch(() => {})
      await sub.subscribe(NOTICES, receiveNotice)
      for (const [room, sink] of followed) {
        await sub.unsubscribe(CHANNEL_PREFIX + room).catch(() => {})
        await follow(room, sink)
      }
      for (const [room, users] of local) for (const user of users.values()) await writePresence(room, user, true)
      for (const sink of followed.values()) await sink.repair()
      log.info('broker reconnected; rooms re-followed and gaps repaired', { rooms: followed.size })
    } catch (err) {
      log.warn('broker recovery failed; retrying', { err: String(err) })
      setTimeout(() => void recover(), 1000)
      return
    }
    const held = repairing
    repairing = undefined
    for (const { room, env } of held) apply(room, env)
  }
  let connectedOnce = false
  sub.onconnect = () => {
    if (!connectedOnce) return void (connectedOnce = true)
    if (!closed) void recover()
  }
  connectedOnce = sub.connected

  return {
    redis,
    instanceId,
    publish({ event, after }) {
      // A publish Redis has not acknowledged in time is given up: the entry is stored, and the
      // other instances' sequencers fill the gap from the database (or clients resume with ?since=).
      const env: Envelope =
        event.type === 'message'
          ? { i: instanceId, k: 'm', m: event.data, a: after }
          : { i: instanceId, k: 'c', c: { type: event.type, data: event.data } as Omit<Exclude<StreamEvent, { type: 'message' }>, 'room'>, a: after }
      // Warned once: on the failure, or on the timeout if that comes first (its Error made only if it fires).
      let pending = true
      const settle = (err?: unknown) => {
        clearTimeout(timer)
        if (pending && err !== undefined)
          log.warn('could not publish to other instances; they fill the gap from the database', { room: event.room, id: event.data.id, err: String(err) })
        pending = false
      }
      const timer = setTimeout(() => settle(new Error('timeout')), PUBLISH_TIMEOUT_MS)
      send(event.room, env).then(() => settle(), settle)
    },
    follow(room, sink) {
      followed.set(room, sink)
      return follow(room, sink).catch((err: unknown) => log.warn('could not follow a room through Redis', { room, err: String(err) }))
    },
    unfollow(room) {
      followed.delete(room)
      void sub.unsubscribe(CHANNEL_PREFIX + room).catch(() => {})
    },
    announce(room, user, present) {
      let users = local.get(room)
      if (present) {
        if (!users) local.set(room, (users = new Map()))
        users.set(user.id, user)
      } else if (users) {
        users.delete(user.id)
        if (users.size === 0) local.delete(room)
      }
      // In order per room: a join's writes take longer than a leave's, so unchained a quick
      // connect-and-close would reach the others as leave-then-join and leave a ghost behind.
      const previous = presenceChains.get(room) ?? Promise.resolve()
      const next = previous
        .then(() => writePresence(room, user, present))
        .catch((err: unknown) => log.warn('could not share presence', { room, err: String(err) }))
      presenceChains.set(room, next)
      void next.then(() => {
        if (presenceChains.get(room) === next) presenceChains.delete(room)
      })
    },
    typing(room, user) {
      // Behind a presence write of the room on its way: a newcomer's `typing` never overtakes their `join` (docs/PROTOCOL.md).
      const sent = () => send(room, { i: instanceId, k: 't', u: user })
      ;(presenceChains.get(room)?.then(sent) ?? sent()).catch(() => {})
    },
    notify(notice) {
      redis
        .publish(NOTICES, JSON.stringify({ i: instanceId, n: notice }))
        .catch((err: unknown) =>
          log.warn('could not send a notice to other instances; their sockets are checked again when the broker recovers', { err: String(err) }),
        )
    },
    onNotice(handler) {
      onNotice = handler
    },
    occupiedRooms: () => presence.occupiedRooms(),
    countMembers: (rooms) => presence.countMembers(rooms),
    async close() {
      closed = true
      clearInterval(beat)
      try {
        await Promise.all(presenceChains.values())
        for (const [room, users] of local) for (const user of users.values()) await writePresence(room, user, false)
        await presence.withdraw()
      } catch (err) {
        log.warn('could not withdraw presence at shutdown; it expires with the heartbeat', { err: String(err) })
      }
      sub.close()
      redis.close()
    },
  }
}
