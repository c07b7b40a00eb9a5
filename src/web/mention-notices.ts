/** A short notice when someone mentions the user in a room that is not open (spec §6 `mention` on the user stream). */
import type { MentionEvent } from '../protocol-rooms.ts'
import { byId, el } from './dom.ts'
import { roomHash } from './room-list.ts'

/** How long a notice stays, and how many show at once (the oldest goes first). */
const SHOWN_MS = 8000
const MAX_SHOWN = 3
const EXCERPT_MAX = 80

export class MentionNotices {
  private readonly region = byId('mention-notices')

  show(event: MentionEvent, label: string): void {
    const m = event.message
    if (m.deleted) return
    const a = el('a', 'mention-notice')
    a.href = roomHash(event.room)
    a.dataset.room = event.room
    const text = m.text.length > EXCERPT_MAX ? `${m.text.slice(0, EXCERPT_MAX - 1)}…` : m.text
    a.append(el('strong', undefined, `${m.user.username} mentioned you in ${label}`), el('span', 'mention-notice-text', text))
    const remove = () => a.remove()
    a.addEventListener('click', remove)
    this.region.append(a)
    while (this.region.childElementCount > MAX_SHOWN) this.region.firstElementChild?.remove()
    setTimeout(remove, SHOWN_MS)
  }

  clear(): void {
    this.region.replaceChildren()
  }
}
