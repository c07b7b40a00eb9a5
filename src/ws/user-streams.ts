/**
 * The user streams of this process (spec §6, `GET /api/v1/users/me/ws`): what concerns a user
 * wherever they are. Frames addressed to a user (mention, read, room) arrive as notices, from this
 * instance or another; `unread` frames are derived here from the streams of the user's rooms, which
 * this instance follows (Hub.watch) while one of its users has a stream open.
 *
 * Unread counts are read from the store (its counters: store/rooms.ts), gathered per room for at most
 * UNREAD_COALESCE_MS, one query per room for all of its users here, and sent only when they changed:
 * a busy room costs each instance at most ten small queries a second, whatever its traffic.
 */
import type { Memberships } from '../chat/memberships.ts'
import type { UserFrame } from '../chat/notices.ts'
import type { Logger } from '../log.ts'
import { ROOM_LIMITS, type UnreadEvent } from '../protocol-rooms.ts'
import type { Store, StreamEvent } from '../store/store.ts'
import { encodeFrame } from './frames.ts'
import type { Hub } from './hub.ts'
import type { RoomSocket } from './socket-data.ts'

export interface UserStreamOptions {
  store: Pick<Store, 'unreadOf' | 'listMentionsOf'>
  memberships: Pick<Memberships, 'myRooms'>
  hub: Pick<Hub, 'watch' | 'unwatch'>
  log: Logger
  resumeMax: number
}

export class UserStreams {
  /** Stream sockets here; they are held by their users' entries (users). */
  private open = 0
  /** Frames for sockets still loading their welcome, sent right after it in order. */
  private readonly held = new WeakMap<RoomSocket, string[]>()
  /** The users with a stream here. A Set or Map costs ~250 bytes even with one entry: a user's few sockets and rooms are arrays. */
  private readonly users = new Map<number, Follower>()
  /**
   * Per room: the users here who are in it, each with the counts last sent to them (countsKey;
   * undefined before any), so an unchanged count is not sent again. Kept per room, not per user,
   * so that a user costs no map of their own.
   */
  private readonly usersIn = new Map<string, Map<number, string | undefined>>()
  /** Per room: the users whose counts may have changed (all of the room's when null). */
  private readonly dirty = new Map<string, Set<number> | null>()
  private timer: ReturnType<typeof setTimeout> | undefined
  private emptied: PromiseWithResolvers<void> | undefined

  constructor(private readonly opts: UserStreamOptions) {}

  /** Loads the user's rooms (and with `?since=` the mentions they missed), then sends `welcome`; frames meanwhile wait in order. */
  async enter(ws: RoomSocket): Promise<void> {
    const user = ws.data.user!
    this.open++
    let mine = this.users.get(user.id)
    if (!mine) this.users.set(user.id, (mine = { sockets: [], rooms: [] }))
    mine.sockets.push(ws)
    this.held.set(ws, [])
    const since = ws.data.since
    const [rooms, missed] = await Promise.all([
      this.opts.memberships.myRooms(user.id),
      since === undefined ? [] : this.opts.store.listMentionsOf(user.id, since, this.opts.resumeMax + 1),
    ])
    if (ws.data.state !== 'opening') return
    for (const r of rooms) this.join(user.id, r.name, countsKey(r))
    const truncated = missed.length > this.opts.resumeMax
    ws.data.state = 'open'
    ws.send(encodeFrame({ type: 'welcome', data: { user, rooms, mentions: truncated ? missed.slice(1) : missed, truncated } }))
    const held = this.held.get(ws)!
    this.held.delete(ws)
    for (const raw of held) ws.send(raw)
  }

  leave(ws: RoomSocket): void {
    const id = ws.data.user!.id
    const mine = this.users.get(id)
    const at = mine?.sockets.indexOf(ws) ?? -1
    if (!mine || at < 0) return
    mine.sockets.splice(at, 1)
    if (--this.open === 0) this.emptied?.resolve()
    if (mine.sockets.length > 0) return
    this.users.delete(id)
    for (const room of mine.rooms) this.unfollow(id, room)
  }

  /** A frame for the user (a notice from here or another instance). */
  deliver(userId: number, frame: UserFrame): void {
    if (!this.users.has(userId)) return
    if (frame.type === 'room') {
      if (frame.data.member) this.join(userId, frame.data.room)
      else this.part(userId, frame.data.room)
    }
    this.send(userId, encodeFrame(frame))
    if (frame.type === 'read' || (frame.type === 'room' && frame.data.member)) this.touch(frame.data.room, userId)
  }

  /** An entry of a room's stream, emitted by the hub in order: its members' counts may have changed. */
  observe(event: StreamEvent): void {
    // Reactions (spec §7) change no count.
    if (event.type !== 'reaction') this.touch(event.room, null)
  }

  /** Stops sending counts (shutdown). */
  stop(): void {
    clearTimeout(this.timer)
    this.dirty.clear()
  }

  /** Every stream socket, for the sweeper and for shutdown. */
  *all(): Iterable<RoomSocket> {
    // Each user's from the last, without a copy (the sweeper walks them four times a second): the
    // socket visited may close and leave the array, which moves none of those not visited yet.
    for (const mine of this.users.values())
      for (let i = mine.sockets.length - 1; i >= 0; i--) {
        const ws = mine.sockets[i]
        if (ws) yield ws
      }
  }

  /** Open streams here (the metrics scrape). */
  get count(): number {
    return this.open
  }

  /** Resolves once every stream has closed (shutdown). */
  whenEmpty(): Promise<void> {
    if (this.open === 0) return Promise.resolve()
    this.emptied ??= Promise.withResolvers<void>()
    return this.emptied.promise
  }

  private send(userId: number, raw: string): void {
    for (const ws of this.users.get(userId)?.sockets ?? []) {
      if (ws.data.state === 'open') ws.send(raw)
      else if (ws.data.state === 'opening') this.held.get(ws)?.push(raw)
    }
  }

  /** The user is in `room` (with the counts the welcome sent, if it did); its stream entries are followed while one of its users is here. */
  private join(userId: number, room: string, counts?: string): void {
    let users = this.usersIn.get(room)
    if (!users) {
      this.usersIn.set(room, (users = new Map()))
      this.opts.hub.watch(room)
    }
    if (!users.has(userId)) this.users.get(userId)!.rooms.push(room)
    else if (counts === undefined) return
    users.set(userId, counts)
  }

  private part(userId: number, room: string): void {
    const rooms = this.users.get(userId)!.rooms
    const at = rooms.indexOf(room)
    if (at >= 0) rooms.splice(at, 1)
    this.unfollow(userId, room)
  }

  private unfollow(userId: number, room: string): void {
    const users = this.usersIn.get(room)
    if (!users?.delete(userId) || users.size > 0) return
    this.usersIn.delete(room)
    this.opts.hub.unwatch(room)
  }

  private touch(room: string, userId: number | null): void {
    if (!this.usersIn.has(room)) return
    const users = this.dirty.get(room)
    if (userId === null) this.dirty.set(room, null)
    else if (users === undefined) this.dirty.set(room, new Set([userId]))
    else users?.add(userId)
    this.timer ??= setTimeout(() => void this.flush(), ROOM_LIMITS.UNREAD_COALESCE_MS)
  }

  private async flush(): Promise<void> {
    const dirty = [...this.dirty]
    this.dirty.clear()
    await Promise.all(
      dirty.map(async ([room, only]) => {
        const users = [...(only ?? this.usersIn.get(room)?.keys() ?? [])]
        try {
          for (const row of await this.opts.store.unreadOf(room, users)) {
            if (!this.users.has(row.userId)) continue
            const event: UnreadEvent = { room, lastMessageId: row.lastMessageId, unread: row.unread, mentions: row.mentions }
            const counts = countsKey(event)
            const sent = this.usersIn.get(room)
            if (sent?.get(row.userId) === counts) continue
            // Remembered only while the user is in the room: one who left it gets fresh counts if they come back.
            if (sent?.has(row.userId)) sent.set(row.userId, counts)
            this.send(row.userId, `{"type":"unread","error":null,"data":${JSON.stringify(event)}}`)
          }
        } catch (err) {
          this.opts.log.warn('could not read unread counts; they are sent with the next change', { room, err })
        }
      }),
    )
    this.timer = undefined
    if (this.dirty.size > 0) this.timer = setTimeout(() => void this.flush(), ROOM_LIMITS.UNREAD_COALESCE_MS)
  }
}

/** A user with a stream here: their sockets, and their rooms as the welcome read them and `room` frames changed them. */
interface Follower {
  sockets: RoomSocket[]
  rooms: string[]
}

/** What an `unread` frame says of a room, as compared with what was sent: short, as one is kept per user and room. */
function countsKey(c: Omit<UnreadEvent, 'room'>): string {
  return `${c.lastMessageId} ${c.unread} ${c.mentions}`
}
