/**
 * The search box in the header (spec §7 `GET /api/v1/search`): results newest first with the matches
 * marked in their excerpt, the room and the time; a result opens its room at that message.
 */
import type { Message } from '../protocol.ts'
import { CONVERSATION_LIMITS, type Excerpt } from '../protocol-conversation.ts'
import { client } from './client.ts'
import { renderExcerpt } from './conversation.ts'
import { byId, el, hueClass } from './dom.ts'
import { describeError } from './words.ts'

const WHEN = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' })

export interface SearchDeps {
  /** What a room is called on screen (`#name`, `@peer` for a DM). */
  label(room: string): string
  /** Opens `room` at message `id`. */
  open(room: string, id: number): void
}

export class SearchBox {
  private readonly form = byId<HTMLFormElement>('search-form')
  private readonly input = byId<HTMLInputElement>('search-input')
  private readonly panel = byId('search-panel')
  private readonly list = byId<HTMLOListElement>('search-results')
  private readonly status = byId('search-status')
  private readonly more = byId<HTMLButtonElement>('search-more')
  private query = ''
  private oldest: number | undefined
  /** Bumped by every new search, so a late answer to an earlier one is dropped. */
  private generation = 0

  constructor(private readonly deps: SearchDeps) {
    this.form.addEventListener('submit', (e) => {
      e.preventDefault()
      void this.search(this.input.value)
    })
    this.more.addEventListener('click', () => void this.loadMore())
    byId('search-close').addEventListener('click', () => this.close())
    this.form.addEventListener('keydown', (e) => this.escape(e))
    this.panel.addEventListener('keydown', (e) => this.escape(e))
    document.addEventListener('pointerdown', (e) => {
      if (this.panel.hidden) return
      const target = e.target as Node
      if (!this.panel.contains(target) && !this.form.contains(target)) this.close()
    })
  }

  close(): void {
    this.panel.hidden = true
  }

  private escape(e: KeyboardEvent): void {
    if (e.key !== 'Escape' || this.panel.hidden) return
    e.preventDefault()
    this.close()
    this.input.focus()
  }

  private async search(raw: string): Promise<void> {
    const q = raw.trim()
    this.panel.hidden = false
    this.list.replaceChildren()
    this.more.hidden = true
    const length = Array.from(q).length
    if (length < CONVERSATION_LIMITS.SEARCH_MIN_LENGTH) {
      this.generation++
      this.status.textContent = `Type at least ${CONVERSATION_LIMITS.SEARCH_MIN_LENGTH} characters to search.`
      return
    }
    if (length > CONVERSATION_LIMITS.SEARCH_MAX_LENGTH) {
      this.generation++
      this.status.textContent = `A search is at most ${CONVERSATION_LIMITS.SEARCH_MAX_LENGTH} characters.`
      return
    }
    this.query = q
    this.oldest = undefined
    this.status.textContent = 'Searching…'
    await this.fetchPage()
  }

  private async loadMore(): Promise<void> {
    this.more.disabled = true
    await this.fetchPage()
    this.more.disabled = false
  }

  private async fetchPage(): Promise<void> {
    const generation = ++this.generation
    try {
      const page = await client.search(this.query, { before: this.oldest, limit: CONVERSATION_LIMITS.SEARCH_PAGE_DEFAULT })
      if (generation !== this.generation) return
      for (const m of page.messages) this.list.append(this.renderResult(m))
      this.oldest = page.messages.at(-1)?.id ?? this.oldest
      this.more.hidden = !page.hasMore || page.messages.length === 0
      const count = this.list.childElementCount
      this.status.textContent =
        count === 0
          ? `No messages match “${this.query}”.`
          : `${count}${page.hasMore ? '+' : ''} message${count === 1 && !page.hasMore ? ' matches' : 's match'} “${this.query}”.`
    } catch (err) {
      if (generation === this.generation) this.status.textContent = describeError(err)
    }
  }

  private renderResult(m: Message & { excerpt: Excerpt }): HTMLLIElement {
    const li = el('li', 'search-result-item')
    const button = el('button', 'search-result')
    button.type = 'button'
    button.dataset.room = m.room
    button.dataset.id = String(m.id)
    const head = el('span', 'search-result-head')
    const at = new Date(m.ts)
    const time = el('time', 'time', WHEN.format(at))
    time.dateTime = m.ts
    head.append(el('span', 'search-room', this.deps.label(m.room)), el('span', `search-author ${hueClass(m.user.username)}`, m.user.username), time)
    button.append(head, renderExcerpt(m.excerpt))
    button.addEventListener('click', () => {
      this.close()
      this.deps.open(m.room, m.id)
    })
    li.append(button)
    return li
  }
}
