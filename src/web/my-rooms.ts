/**
 * The user's rooms and direct messages in the sidebar (spec §6), with unread and mention badges: the
 * state comes from the user stream's `welcome` (or `GET /users/me/rooms`) and is kept current by its
 * `unread`, `read` and `room` events, for every room, open or not.
 */
import type { User } from '../protocol.ts'
import { isDmName, type MyRoom, type ReadEvent, type RoomEvent, type UnreadEvent } from '../protocol-rooms.ts'
import { byId, el } from './dom.ts'
import { roomHash } from './room-list.ts'
import { setUnreadCounts } from './unread-title.ts'

/** How a room is named to a person: a DM by the other person's name, any other room by `#name`. */
export function roomLabel(room: MyRoom | undefined, name: string): string {
  if (room?.peer) return `@${room.peer.username}`
  return isDmName(name) ? 'Direct message' : `#${name}`
}

export class MyRooms {
  /** Asked for when the stream names a room this list does not have (a `room` event carries no counts). */
  refetch: (() => void) | undefined
  /**
   * True for the open room while its newest message is on screen in a visible page: its badge is not
   * shown (the read marker that clears it is on its way), so it does not flash at every message.
   */
  isBeingRead: ((room: string) => boolean) | undefined
  /** Called after every change, with the room that changed (undefined: possibly all). */
  onChange: ((room: string | undefined) => void) | undefined

  private readonly rooms = new Map<string, MyRoom>()
  private current: string | undefined
  private loaded = false
  private readonly section = byId('my-rooms')
  private readonly roomList = byId<HTMLUListElement>('my-room-list')
  private readonly dmList = byId<HTMLUListElement>('dm-list')
  private readonly roomsEmpty = byId('my-rooms-empty')
  private readonly dmsEmpty = byId('dms-empty')

  get(name: string): MyRoom | undefined {
    return this.rooms.get(name)
  }

  has(name: string): boolean {
    return this.rooms.has(name)
  }

  /** The DM's other person, if this is a DM in the list. */
  peerOf(name: string): User | undefined {
    return this.rooms.get(name)?.peer ?? undefined
  }

  /** Everything at once: a welcome, a fetched list, or logging out (undefined hides the section). */
  replace(rooms: MyRoom[] | undefined): void {
    this.rooms.clear()
    for (const r of rooms ?? []) this.rooms.set(r.name, r)
    this.loaded = rooms !== undefined
    this.changed(undefined)
  }

  unread(e: UnreadEvent): void {
    const room = this.rooms.get(e.room)
    if (!room) return this.refetch?.()
    room.lastMessageId = e.lastMessageId
    room.unread = e.unread
    room.mentions = e.mentions
    this.changed(e.room)
  }

  read(e: ReadEvent): void {
    const room = this.rooms.get(e.room)
    if (!room || e.id <= room.lastReadId) return
    room.lastReadId = e.id
    // Everything read: the `unread` event that follows says the same; show it at once.
    if (room.lastMessageId !== null && e.id >= room.lastMessageId) {
      room.unread = 0
      room.mentions = 0
    }
    this.changed(e.room)
  }

  room(e: RoomEvent): void {
    if (!e.member) {
      if (this.rooms.delete(e.room)) this.changed(e.room)
      return
    }
    this.refetch?.()
  }

  /** Marks the open room. */
  setCurrent(room: string | undefined): void {
    if (room === this.current) return
    this.current = room
    this.changed(undefined)
  }

  /** The counts as shown: none for a room being read right now. */
  private shown(room: MyRoom): { unread: number; mentions: number } {
    return this.isBeingRead?.(room.name) ? { unread: 0, mentions: 0 } : room
  }

  private changed(room: string | undefined): void {
    this.render()
    let unread = 0
    let mentions = 0
    for (const r of this.rooms.values()) {
      const counts = this.shown(r)
      unread += counts.unread
      mentions += counts.mentions
    }
    setUnreadCounts(unread, mentions)
    this.onChange?.(room)
  }

  private render(): void {
    this.section.hidden = !this.loaded
    const sorted = [...this.rooms.values()].sort((a, b) => (b.lastMessageId ?? -1) - (a.lastMessageId ?? -1) || a.name.localeCompare(b.name))
    const dms = sorted.filter((r) => isDmName(r.name))
    const rooms = sorted.filter((r) => !isDmName(r.name))
    this.roomList.replaceChildren(...rooms.map((r) => this.item(r)))
    this.dmList.replaceChildren(...dms.map((r) => this.item(r)))
    this.roomsEmpty.hidden = rooms.length > 0
    this.dmsEmpty.hidden = dms.length > 0
  }

  private item(room: MyRoom): HTMLLIElement {
    const { unread, mentions } = this.shown(room)
    const li = el('li')
    const a = el('a', 'room-link')
    a.href = roomHash(room.name)
    a.dataset.room = room.name
    if (unread > 0) a.classList.add('has-unread')
    if (room.name === this.current) a.setAttribute('aria-current', 'page')
    const dm = room.peer !== null || isDmName(room.name)
    const priv = !dm && room.visibility === 'private'
    const markEl = el('span', dm ? 'room-hash dm-mark' : priv ? 'room-hash private-mark' : 'room-hash', dm ? '@' : priv ? '' : '#')
    if (priv) markEl.append(lockIcon())
    markEl.setAttribute('aria-hidden', 'true')
    const name = room.peer ? room.peer.username : room.name
    a.append(markEl, el('span', 'room-name', name))
    if (room.topic && !dm) a.title = room.topic
    const words = [dm ? `Direct message with ${name}` : room.visibility === 'private' ? `${name}, private` : name]
    if (mentions > 0) {
      const badge = el('span', 'mention-badge', `@${mentions}`)
      badge.title = `${mentions} mention${mentions === 1 ? '' : 's'}`
      a.append(badge)
      words.push(badge.title)
    }
    if (unread > 0) {
      const badge = el('span', 'unread-badge', String(unread))
      badge.title = `${unread} unread`
      a.append(badge)
      words.push(badge.title)
    }
    a.setAttribute('aria-label', words.join(', '))
    li.append(a)
    return li
  }
}

/** A small padlock for private rooms (SVG built as DOM, so no markup from strings). */
export function lockIcon(): SVGSVGElement {
  const ns = 'http://www.w3.org/2000/svg'
  const svg = document.createElementNS(ns, 'svg')
  svg.setAttribute('viewBox', '0 0 24 24')
  svg.setAttribute('class', 'lock-icon')
  const path = document.createElementNS(ns, 'path')
  path.setAttribute('d', 'M6 11h12v9H6zM8.5 11V8a3.5 3.5 0 0 1 7 0v3')
  svg.append(path)
  return svg
}
