/**
 * The message box: Enter sends, Shift+Enter adds a line, `@` completes names (spec §6), typing is
 * reported to the room, and it is disabled with a reason while posting is not possible.
 */
import { showsNothing } from '../protocol.ts'
import { byId } from './dom.ts'
import { MentionAutocomplete } from './mentions.ts'

export class Composer {
  /** Set by the open room; returns false when the text was not taken (so it stays in the box). */
  send: ((text: string) => boolean) | undefined
  /** Set by the open room: the person is typing (called on every edit of the text; the room throttles). */
  typing: (() => void) | undefined

  private readonly form = byId<HTMLFormElement>('composer')
  private readonly input = byId<HTMLTextAreaElement>('composer-input')
  private readonly button = byId<HTMLButtonElement>('composer-send')
  private readonly status = byId('composer-status')
  readonly mentions = new MentionAutocomplete(this.input, byId<HTMLUListElement>('mention-suggestions'))

  constructor() {
    this.form.addEventListener('submit', (e) => {
      e.preventDefault()
      this.submit()
    })
    this.input.addEventListener('input', () => {
      if (!showsNothing(this.input.value)) this.typing?.()
    })
    this.input.addEventListener('keydown', (e) => {
      if (this.mentions.handleKey(e)) return
      // isComposing: Enter that confirms an IME candidate is not "send".
      if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
        e.preventDefault()
        this.submit()
      }
    })
  }

  /** A new room, named as on screen (`#name` or `@peer`): an empty box. */
  setRoom(label: string): void {
    this.setLabel(label)
    this.input.value = ''
    this.mentions.close()
  }

  setLabel(label: string): void {
    this.input.placeholder = `Message ${label}`
  }

  /** Enabled, or disabled with a sentence saying why (offline, rate limited). */
  setBlocked(reason: string | undefined): void {
    const blocked = reason !== undefined
    const hadFocus = document.activeElement === this.input
    this.input.disabled = blocked
    this.button.disabled = blocked
    this.form.classList.toggle('blocked', blocked)
    this.status.textContent = reason ?? ''
    // Disabling drops focus; give it back when posting is possible again.
    if (!blocked && (hadFocus || this.wasFocused)) this.input.focus()
    this.wasFocused = blocked && (hadFocus || this.wasFocused)
  }

  focus(): void {
    this.input.focus()
  }

  private wasFocused = false

  private submit(): void {
    if (this.input.disabled) return
    const text = this.input.value.replace(/\s+$/, '')
    if (showsNothing(text)) return
    if (this.send?.(text)) this.input.value = ''
  }
}
