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
  private readonly sockets = new Set<RoomSocket>()
  /** Frames for sockets still loading their welcome, sent right after it in order. */
  private readonly held = new WeakMap<RoomSocket, string[]>()
  private readonly byUser = new Map<number, Set<RoomSocket>>()
  /** The rooms of each user with a stream here, as the welcome read them and `room` frames changed them. */
  private readonly roomsOf = new Map<number, Set<string>>()
  /** Per room: the users here who are in it. */
  private readonly usersIn = new Map<string, Set<number>>()
  /** Per room: the users whose counts may have changed (all of the room's when null). */
  private readonly dirty = new Map<string, Set<number> | null>()
  /** The counts last sent, per user and room, so an unchanged count is not sent again. */
  private readonly sent = new Map<number, Map<string, string>>()
  private timer: ReturnType<typeof setTimeout> | undefined
  private emptied: PromiseWithResolvers<void> | undefined

  constructor(private readonly opts: UserStreamOptions) {}

  /** Loads the user's rooms (and with `?since=` the mentions they missed), then sends `welcome`; frames meanwhile wait in order. */
  async enter(ws: RoomSocket): Promise<void> {
    const user = ws.data.user!
    this.sockets.add(ws)
    let mine = this.byUser.get(user.id)
    if (!mine) this.byUser.set(user.id, (mine = new Set()))
    mine.add(ws)
    this.held.set(ws, [])
    const since = ws.data.since
    const [rooms, missed] = await Promise.all([
      this.opts.memberships.myRooms(user.id),
      since === undefined ? [] : this.opts.store.listMentionsOf(user.id, since, this.opts.resumeMax + 1),
    ])
    if (ws.data.state !== 'opening') return
    for (const room of rooms) this.join(user.id, room.name)
    const sent = this.sentTo(user.id)
    for (const r of rooms) sent.set(r.name, countsOf({ room: r.name, lastMessageId: r.lastMessageId, unread: r.unread, mentions: r.mentions }))
    const truncated = missed.length > this.opts.resumeMax
    ws.data.state = 'open'
    ws.send(encodeFrame({ type: 'welcome', data: { user, rooms, mentions: truncated ? missed.slice(1) : missed, truncated } }))
    for (const raw of this.held.get(ws)!.splice(0)) ws.send(raw)
  }

  leave(ws: RoomSocket): void {
    if (!this.sockets.delete(ws)) return
    if (this.sockets.size === 0) this.emptied?.resolve()
    const id = ws.data.user!.id
    const mine = this.byUser.get(id)
    mine?.delete(ws)
    if (mine && mine.size > 0) return
    this.byUser.delete(id)
    this.sent.delete(id)
    for (const room of this.roomsOf.get(id) ?? []) this.part(id, room)
    this.roomsOf.delete(id)
  }

  /** A frame for the user (a notice from here or another instance). */
  deliver(userId: number, frame: UserFrame): void {
    if (!this.byUser.has(userId)) return
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
  all(): Iterable<RoomSocket> {
    return this.sockets
  }

  /** Open streams here (the metrics scrape). */
  get count(): number {
    return this.sockets.size
  }

  /** Resolves once every stream has closed (shutdown). */
  whenEmpty(): Promise<void> {
    if (this.sockets.size === 0) return Promise.resolve()
    this.emptied ??= Promise.withResolvers<void>()
    return this.emptied.promise
  }

  private send(userId: number, raw: string): void {
    for (const ws of this.byUser.get(userId) ?? []) {
      if (ws.data.state === 'open') ws.send(raw)
      else if (ws.data.state === 'opening') this.held.get(ws)?.push(raw)
    }
  }

  private join(userId: number, room: string): void {
    let rooms = this.roomsOf.get(userId)
    if (!rooms) this.roomsOf.set(userId, (rooms = new Set()))
    if (rooms.has(room)) return
    rooms.add(room)
    let users = this.usersIn.get(room)
    if (!users) {
      this.usersIn.set(room, (users = new Set()))
      this.opts.hub.watch(room)
    }
    users.add(userId)
  }

  private part(userId: number, room: string): void {
    this.roomsOf.get(userId)?.delete(room)
    this.sent.get(userId)?.delete(room)
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
        const users = [...(only ?? this.usersIn.get(room) ?? [])]
        try {
          for (const row of await this.opts.store.unreadOf(room, users)) {
            if (!this.byUser.has(row.userId)) continue
            const counts = countsOf({ room, lastMessageId: row.lastMessageId, unread: row.unread, mentions: row.mentions })
            const sent = this.sentTo(row.userId)
            if (sent.get(room) === counts) continue
            sent.set(room, counts)
            this.send(row.userId, `{"type":"unread","error":null,"data":${counts}}`)
          }
        } catch (err) {
          this.opts.log.warn('could not read unread counts; they are sent with the next change', { room, err })
        }
      }),
    )
    this.timer = undefined
    if (this.dirty.size > 0) this.timer = setTimeout(() => void this.flush(), ROOM_LIMITS.UNREAD_COALESCE_MS)
  }

  private sentTo(userId: number): Map<string, string> {
    let sent = this.sent.get(userId)
    if (!sent) this.sent.set(userId, (sent = new Map()))
    return sent
  }
}

/** An `unread` frame's data, serialised: what is compared and what is sent. */
function countsOf(event: UnreadEvent): string {
  return JSON.stringify({ room: event.room, lastMessageId: event.lastMessageId, unread: event.unread, mentions: event.mentions })
}
