/** The rooms sidebar: active rooms from GET /api/v1/rooms, and opening a room by name (spec §3 room-name rule). */
import { LIMITS, type RoomSummary } from '../protocol.ts'
import { client } from './client.ts'
import { byId, el } from './dom.ts'
import { describeError } from './words.ts'

const { ROOM_NAME_MAX_LENGTH } = LIMITS

/** The room-name rule (protocol's ROOM_NAME) in words, shown when a name breaks it. */
export const ROOM_NAME_RULE = `Room names are 1 to ${ROOM_NAME_MAX_LENGTH} characters: letters A–Z and a–z, digits, dots, dashes and underscores, starting with a letter or digit.`

/** What exactly is wrong with a name, for the error under the field. */
export function explainRoomName(name: string): string | undefined {
  if (name === '') return 'Type a room name.'
  if (name.length > ROOM_NAME_MAX_LENGTH) return `That name is ${name.length} characters long; the limit is ${ROOM_NAME_MAX_LENGTH}.`
  if (!/^[A-Za-z0-9]/.test(name)) return `A room name must start with a letter or digit. ${ROOM_NAME_RULE}`
  const bad = Array.from(name).find((ch) => !/[A-Za-z0-9._-]/.test(ch))
  if (bad !== undefined) return `${bad === ' ' ? 'Spaces are' : `“${bad}” is`} not allowed. ${ROOM_NAME_RULE}`
  return undefined
}

export function roomHash(name: string): string {
  return `#/room/${encodeURIComponent(name)}`
}

const REFRESH_EVERY_MS = 30_000

export class RoomList {
  private current: string | undefined
  private timer: ReturnType<typeof setInterval> | undefined
  private readonly list = byId<HTMLUListElement>('room-list')
  private readonly empty = byId('room-list-empty')
  private readonly error = byId('room-list-error')
  private readonly form = byId<HTMLFormElement>('open-room')
  private readonly input = byId<HTMLInputElement>('open-room-name')
  private readonly hint = byId('open-room-hint')
  /** The hint's own markup, put back once the name is fixed. */
  private readonly hintNodes = Array.from(this.hint.childNodes, (n) => n.cloneNode(true))

  constructor() {
    this.form.addEventListener('submit', (e) => {
      e.preventDefault()
      const name = this.input.value.trim()
      const problem = explainRoomName(name)
      if (problem) return this.showProblem(problem)
      this.showProblem(undefined)
      this.input.value = ''
      location.hash = roomHash(name)
    })
    // Clear the complaint as soon as the name is fixed.
    this.input.addEventListener('input', () => {
      if (this.input.getAttribute('aria-invalid') === 'true' && !explainRoomName(this.input.value.trim())) this.showProblem(undefined)
    })
    byId('refresh-rooms').addEventListener('click', () => void this.refresh())
    document.addEventListener('visibilitychange', () => {
      if (document.visibilityState === 'visible') void this.refresh()
    })
  }

  start(): void {
    void this.refresh()
    this.timer = setInterval(() => {
      if (document.visibilityState === 'visible') void this.refresh()
    }, REFRESH_EVERY_MS)
  }

  stop(): void {
    clearInterval(this.timer)
  }

  /** Marks the open room in the list. */
  setCurrent(room: string | undefined): void {
    this.current = room
    for (const a of this.list.querySelectorAll<HTMLAnchorElement>('a[data-room]')) {
      if (a.dataset.room === room) a.setAttribute('aria-current', 'page')
      else a.removeAttribute('aria-current')
    }
  }

  async refresh(): Promise<void> {
    try {
      const { rooms } = await client.listRooms()
      this.error.hidden = true
      this.render(rooms)
    } catch (err) {
      this.error.textContent = `Could not load the rooms. ${describeError(err)}`
      this.error.hidden = false
    }
  }

  private render(rooms: RoomSummary[]): void {
    const items = rooms.map((room) => {
      const li = el('li')
      const a = el('a', 'room-link')
      a.href = roomHash(room.name)
      a.dataset.room = room.name
      if (room.name === this.current) a.setAttribute('aria-current', 'page')
      a.append(el('span', 'room-hash', '#'), el('span', 'room-name', room.name))
      if (room.members > 0) {
        const badge = el('span', 'room-members', String(room.members))
        badge.title = `${room.members} online`
        a.append(badge)
        a.setAttribute('aria-label', `${room.name}, ${room.members} online`)
      }
      li.append(a)
      return li
    })
    this.list.replaceChildren(...items)
    this.empty.hidden = items.length > 0
  }

  private showProblem(problem: string | undefined): void {
    if (problem === undefined) {
      this.input.removeAttribute('aria-invalid')
      this.hint.classList.remove('field-error')
      this.hint.replaceChildren(...this.hintNodes.map((n) => n.cloneNode(true)))
    } else {
      this.input.setAttribute('aria-invalid', 'true')
      this.hint.classList.add('field-error')
      this.hint.textContent = problem
      this.input.focus()
    }
  }
}
