/** "X is typing…" under the timeline (spec §6): each `typing` frame shows its user for a few seconds. */
import type { User } from '../protocol.ts'
import { byId } from './dom.ts'

/** How long one `typing` frame keeps its user shown (senders repeat it every 2 s while typing). */
export const TYPING_SHOWN_MS = 4000

export class TypingIndicator {
  private readonly line = byId('typing')
  private readonly typing = new Map<number, { user: User; timer: ReturnType<typeof setTimeout> }>()

  /** Someone else is typing: shown (again) for TYPING_SHOWN_MS. */
  show(user: User): void {
    clearTimeout(this.typing.get(user.id)?.timer)
    this.typing.set(user.id, { user, timer: setTimeout(() => this.stop(user.id), TYPING_SHOWN_MS) })
    this.render()
  }

  /** They stopped: their message arrived, or they left. */
  stop(userId: number): void {
    const entry = this.typing.get(userId)
    if (!entry) return
    clearTimeout(entry.timer)
    this.typing.delete(userId)
    this.render()
  }

  clear(): void {
    for (const { timer } of this.typing.values()) clearTimeout(timer)
    this.typing.clear()
    this.render()
  }

  private render(): void {
    const names = [...this.typing.values()].map((t) => t.user.username)
    this.line.dataset.count = String(names.length)
    if (names.length === 0) this.line.textContent = ''
    else if (names.length === 1) this.line.textContent = `${names[0]} is typing…`
    else if (names.length === 2) this.line.textContent = `${names[0]} and ${names[1]} are typing…`
    else this.line.textContent = 'Several people are typing…'
  }
}
