/**
 * Mentions (spec §6): the `@name` spans of a message's `mentions` highlighted (more strongly when the
 * name is the reader's), and `@` completion in a text box from the people of the room.
 */
import type { User } from '../protocol.ts'
import { el, hueClass, initialOf } from './dom.ts'

/** Where a mention may end besides whitespace and the end of the text (spec §6). */
const MENTION_END = new Set([',', '.', ':', ';', '!', '?', ')', ']', '}', "'", '"'])

/** Names compared as the server compares them, near enough: compatibility forms and case ignored. */
export function fold(name: string): string {
  return name.normalize('NFKC').toLowerCase()
}

function endsMention(text: string, at: number): boolean {
  if (at >= text.length) return true
  const ch = text[at]!
  return /\s/.test(ch) || MENTION_END.has(ch)
}

/**
 * Fills `target` with `text`, every `@name` of `mentions` in a `.mention` span (`.mention.me` for the
 * reader's own name). Text only ever enters as text nodes. Returns true when the reader is mentioned.
 */
export function renderMentions(target: HTMLElement, text: string, mentions: User[] | undefined, me: User | undefined): boolean {
  if (!mentions || mentions.length === 0) {
    target.textContent = text
    return false
  }
  const names = [...mentions].sort((a, b) => b.username.length - a.username.length)
  const nodes: (string | HTMLElement)[] = []
  let plainFrom = 0
  let mentionsMe = false
  for (let i = text.indexOf('@'); i !== -1; i = text.indexOf('@', i + 1)) {
    const user = names.find((u) => fold(text.slice(i + 1, i + 1 + u.username.length)) === fold(u.username) && endsMention(text, i + 1 + u.username.length))
    if (!user) continue
    const end = i + 1 + user.username.length
    if (i > plainFrom) nodes.push(text.slice(plainFrom, i))
    const own = me !== undefined && user.id === me.id
    mentionsMe ||= own
    const span = el('span', own ? 'mention me' : 'mention', text.slice(i, end))
    span.dataset.userId = String(user.id)
    nodes.push(span)
    plainFrom = end
    i = end - 1
  }
  if (plainFrom < text.length) nodes.push(text.slice(plainFrom))
  target.replaceChildren(...nodes)
  return mentionsMe
}

const MAX_SUGGESTIONS = 8

/** `@` completion for a textarea: arrows choose, Enter or Tab take, Escape closes. */
export class MentionAutocomplete {
  /** The people who may be mentioned here (members and present users), set by the open room. */
  candidates: () => User[] = () => []
  private matches: User[] = []
  private active = 0
  /** Where the `@` being completed is in the text. */
  private start = -1

  constructor(
    private readonly input: HTMLTextAreaElement,
    private readonly list: HTMLUListElement,
  ) {
    input.setAttribute('aria-autocomplete', 'list')
    input.setAttribute('aria-controls', list.id)
    input.addEventListener('input', () => this.update())
    input.addEventListener('click', () => this.update())
    input.addEventListener('blur', () => this.close())
    // mousedown, not click: the box keeps its focus.
    list.addEventListener('mousedown', (e) => {
      const li = (e.target as Element).closest<HTMLLIElement>('li[data-index]')
      if (!li) return
      e.preventDefault()
      this.take(Number(li.dataset.index))
    })
  }

  get isOpen(): boolean {
    return this.matches.length > 0
  }

  /** Handles a key while the list is open; true when it was for the list (the caller then does nothing). */
  handleKey(e: KeyboardEvent): boolean {
    if (!this.isOpen || e.isComposing) return false
    switch (e.key) {
      case 'ArrowDown':
      case 'ArrowUp':
        this.active = (this.active + (e.key === 'ArrowDown' ? 1 : this.matches.length - 1)) % this.matches.length
        this.render()
        break
      case 'Enter':
      case 'Tab':
        if (e.shiftKey) return false
        this.take(this.active)
        break
      case 'Escape':
        this.close()
        break
      default:
        return false
    }
    e.preventDefault()
    return true
  }

  close(): void {
    this.matches = []
    this.start = -1
    this.render()
  }

  private update(): void {
    const caret = this.input.selectionStart ?? this.input.value.length
    const before = this.input.value.slice(0, caret)
    const match = /(?:^|[\s([{'"])@([^\s@]{0,32})$/u.exec(before)
    if (!match) return this.close()
    const query = fold(match[1]!)
    this.start = caret - match[1]!.length - 1
    const seen = new Set<number>()
    this.matches = this.candidates()
      .filter((u) => !seen.has(u.id) && seen.add(u.id) && fold(u.username).startsWith(query))
      .sort((a, b) => a.username.localeCompare(b.username, undefined, { sensitivity: 'base' }))
      .slice(0, MAX_SUGGESTIONS)
    this.active = 0
    this.render()
  }

  private take(index: number): void {
    const user = this.matches[index]
    if (!user || this.start < 0) return
    const caret = this.input.selectionStart ?? this.input.value.length
    const value = this.input.value
    const inserted = `@${user.username} `
    this.input.value = value.slice(0, this.start) + inserted + value.slice(caret)
    const at = this.start + inserted.length
    this.input.setSelectionRange(at, at)
    this.close()
    this.input.dispatchEvent(new Event('input', { bubbles: true }))
  }

  private render(): void {
    this.list.hidden = this.matches.length === 0
    this.input.setAttribute('aria-expanded', String(this.matches.length > 0))
    this.list.replaceChildren(
      ...this.matches.map((u, i) => {
        const li = el('li', `suggestion ${hueClass(u.username)}`)
        li.id = `mention-option-${i}`
        li.dataset.index = String(i)
        li.setAttribute('role', 'option')
        li.setAttribute('aria-selected', String(i === this.active))
        const avatar = el('span', 'avatar', initialOf(u.username))
        avatar.setAttribute('aria-hidden', 'true')
        li.append(avatar, el('span', 'suggestion-name', u.username))
        return li
      }),
    )
    if (this.matches.length > 0) this.input.setAttribute('aria-activedescendant', `mention-option-${this.active}`)
    else this.input.removeAttribute('aria-activedescendant')
  }
}
