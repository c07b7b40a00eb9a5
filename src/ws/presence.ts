/**
 * Presence: who is in each room, on this instance and on others. Pure bookkeeping that answers
 * "first in, last out" (spec §3: two tabs are one presence; join and leave only when that changes),
 * as centrifuge's hub does; the hub turns its answers into frames and broker announcements.
 */
import type { User } from '../protocol.ts'

interface RoomPresence {
  /** Users with connections here, and how many. */
  local: Map<number, { user: User; sockets: number }>
  /** Users connected through other instances (cluster mode), and which ones. */
  remote: Map<number, { user: User; instances: Set<string> }>
  /** members() as JSON, kept while it stays the same in a room of SERIALISED_FROM or more (every welcome carries it); a user arriving here is appended. */
  json: string | undefined
}

/** Below this many members a room's list is serialised for each welcome: cheap, and nothing is kept per room. */
const SERIALISED_FROM = 16

export interface PresenceChange {
  /** The user's first connection on this instance opened, or its last one here closed: tell the other instances. */
  here: boolean
  /** The user's presence in the room, across the cluster, changed: tell the room (join / leave). */
  room: boolean
}

export class Presence {
  private readonly rooms = new Map<string, RoomPresence>()

  /** A connection of `user` to `room` opened here. */
  enter(room: string, user: User): PresenceChange {
    const p = this.room(room)
    const mine = p.local.get(user.id)
    if (mine) {
      mine.sockets++
      return { here: false, room: false }
    }
    p.local.set(user.id, { user, sockets: 1 })
    // Alone, members() is the local users in arrival order: the newcomer goes last.
    p.json = p.json !== undefined && p.remote.size === 0 ? `${p.json.slice(0, -1)},${JSON.stringify(user)}]` : undefined
    return { here: true, room: !p.remote.has(user.id) }
  }

  /** A connection of `user` to `room` closed here. */
  exit(room: string, user: User): PresenceChange {
    const p = this.rooms.get(room)
    const mine = p?.local.get(user.id)
    if (!p || !mine || --mine.sockets > 0) return { here: false, room: false }
    p.local.delete(user.id)
    p.json = undefined
    this.prune(room, p)
    return { here: true, room: !p.remote.has(user.id) }
  }

  /** Another instance reports `user` present in (or gone from) `room` there; true when the room should hear of it. */
  remote(room: string, instance: string, user: User, present: boolean): boolean {
    const p = this.room(room)
    p.json = undefined
    const before = p.local.has(user.id) || p.remote.has(user.id)
    const theirs = p.remote.get(user.id)
    if (present) {
      if (theirs) theirs.instances.add(instance)
      else p.remote.set(user.id, { user, instances: new Set([instance]) })
    } else if (theirs) {
      theirs.instances.delete(instance)
      if (theirs.instances.size === 0) p.remote.delete(user.id)
    }
    const after = p.local.has(user.id) || p.remote.has(user.id)
    this.prune(room, p)
    return before !== after
  }

  /** An instance died: its users no longer count in `room`. Returns those who thereby left it. */
  forget(room: string, instance: string): User[] {
    const p = this.rooms.get(room)
    if (!p) return []
    const left: User[] = []
    for (const { user, instances } of [...p.remote.values()]) {
      if (instances.has(instance) && this.remote(room, instance, user, false)) left.push(user)
    }
    return left
  }

  /** The other instances that have users in `room`. */
  instances(room: string): Set<string> {
    const all = new Set<string>()
    for (const { instances } of this.rooms.get(room)?.remote.values() ?? []) for (const i of instances) all.add(i)
    return all
  }

  /** Logged-in users present in the room, here or elsewhere (read-only readers are not presence). */
  members(room: string): User[] {
    const p = this.rooms.get(room)
    if (!p) return []
    // Alone (nobody remote) the local users are the list, in the same order: no merge (a welcome asks for it).
    if (p.remote.size === 0) return Array.from(p.local.values(), (mine) => mine.user)
    const users = new Map<number, User>()
    for (const { user } of p.local.values()) users.set(user.id, user)
    for (const { user } of p.remote.values()) users.set(user.id, user)
    return [...users.values()]
  }

  /** members() as JSON (for a welcome), serialised again only when the list changed. */
  membersJson(room: string): string {
    const p = this.rooms.get(room)
    if (!p) return '[]'
    if (p.json !== undefined) return p.json
    const json = JSON.stringify(this.members(room))
    if (p.local.size + p.remote.size >= SERIALISED_FROM) p.json = json
    return json
  }

  count(room: string): number {
    const p = this.rooms.get(room)
    if (!p) return 0
    // Alone (nobody remote) the count is the map's size; only a cluster needs the merged list.
    return p.remote.size === 0 ? p.local.size : this.members(room).length
  }

  /** Rooms with logged-in users, and how many (spec §2: rooms with only anonymous readers are not listed). */
  occupied(): { name: string; members: number }[] {
    return [...this.rooms.keys()].map((name) => ({ name, members: this.count(name) })).filter((r) => r.members > 0)
  }

  /** The room is no longer followed here: what other instances said of it is stale from now on. */
  drop(room: string): void {
    const p = this.rooms.get(room)
    if (!p) return
    p.remote.clear()
    p.json = undefined
    this.prune(room, p)
  }

  private room(name: string): RoomPresence {
    let p = this.rooms.get(name)
    if (!p) this.rooms.set(name, (p = { local: new Map(), remote: new Map(), json: undefined }))
    return p
  }

  private prune(name: string, p: RoomPresence): void {
    if (p.local.size === 0 && p.remote.size === 0) this.rooms.delete(name)
  }
}
