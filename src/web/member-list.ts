/** Presence: who is in the room, from welcome.members and live join/leave frames (spec §3: two tabs are one presence). */
import type { User } from '../protocol.ts'
import { byId, el, hueClass, initialOf } from './dom.ts'

export class MemberList {
  private readonly members = new Map<number, User>()
  private readonly list = byId<HTMLUListElement>('member-list')
  private readonly empty = byId('member-list-empty')
  private readonly count = byId('members-count')
  private readonly toggle = byId<HTMLButtonElement>('members-toggle')
  private readonly panel = byId('members')
  private me: User | undefined

  constructor() {
    this.toggle.addEventListener('click', () => this.setOpen(this.toggle.getAttribute('aria-expanded') !== 'true'))
    this.panel.addEventListener('keydown', (e) => {
      if (e.key === 'Escape') {
        this.setOpen(false)
        this.toggle.focus()
      }
    })
  }

  /** On a narrow screen the list is a panel opened from the room header. */
  setOpen(open: boolean): void {
    this.toggle.setAttribute('aria-expanded', String(open))
    this.panel.classList.toggle('open', open)
  }

  /** Replaces everyone (a welcome), or empties the list (no connection). */
  set(users: User[], me: User | undefined): void {
    this.me = me
    this.members.clear()
    for (const u of users) this.members.set(u.id, u)
    this.render()
  }

  /** Everyone present now. */
  users(): User[] {
    return [...this.members.values()]
  }

  join(user: User): void {
    this.members.set(user.id, user)
    this.render()
  }

  leave(user: User): void {
    this.members.delete(user.id)
    this.render()
  }

  private render(): void {
    const users = [...this.members.values()].sort((a, b) => a.username.localeCompare(b.username, undefined, { sensitivity: 'base' }))
    this.list.replaceChildren(
      ...users.map((u) => {
        const li = el('li', `member ${hueClass(u.username)}`)
        li.dataset.userId = String(u.id)
        const avatar = el('span', 'avatar', initialOf(u.username))
        avatar.setAttribute('aria-hidden', 'true')
        li.append(avatar, el('span', 'member-name', u.username))
        if (u.id === this.me?.id) li.append(el('span', 'member-you', '(you)'))
        return li
      }),
    )
    this.empty.hidden = users.length > 0
    this.count.textContent = `${users.length} online`
  }
}
