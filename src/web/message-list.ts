/**
 * The timeline: messages ordered by id and shown once, own and pending ones marked, follow-the-bottom
 * scrolling, older pages on scroll-up, and edit and delete (spec §5): actions on one's own messages
 * (delete on any for an admin), "(edited)" marks and a placeholder where a message was deleted.
 */
import { showsNothing } from '../protocol-text.ts'
import { LIMITS, type Change, type Message, type MessagePage, type Quote, type ReactionCount, type User } from '../protocol.ts'
import { CONVERSATION_LIMITS } from '../protocol-conversation.ts'
import { QUOTE_DELETED, renderAttachments, renderPicker, renderQuote, renderReactions, type AttachmentLoader } from './conversation.ts'
import { byId, el, hueClass, initialOf } from './dom.ts'
import { renderMentions } from './mentions.ts'

/** Within this distance of the bottom the reader is "following" and new messages scroll into view. */
const FOLLOW_PX = 80
/** Older messages load when the reader scrolls this close to the top. */
const LOAD_OLDER_PX = 300
/** Consecutive messages by one person within this window share one header. */
const GROUP_MS = 5 * 60_000

const TIME = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' })
const DAY_AND_TIME = new Intl.DateTimeFormat(undefined, { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' })
const FULL = new Intl.DateTimeFormat(undefined, { dateStyle: 'full', timeStyle: 'medium' })

const TOUCH = matchMedia('(hover: none)')

/** What a deleted message shows instead of its text (the server no longer has the text). */
export const DELETED_TEXT = 'This message was deleted.'
/** How long a message jumped to stays highlighted. */
const HIGHLIGHT_MS = 2500
/**
 * A jump to an older message loads up to this many whole pages down to it; further back, it shows the
 * page that ends with it (`?before=<id+1>`) and leaves a gap to fill on demand.
 */
const JUMP_CONTIGUOUS_PAGES = 2
/** Pages a jump into the gap loads before giving up. */
const JUMP_MAX_PAGES = 20

/** A quote as the server makes it (spec §7): at most 200 code points, the last one `…` when cut. */
export function quoteText(text: string): string {
  const chars = Array.from(text)
  const max = CONVERSATION_LIMITS.QUOTE_MAX_LENGTH
  return chars.length <= max ? text : `${chars.slice(0, max - 1).join('')}…`
}

export class MessageList {
  /** Set by the open room: fetch the page of messages before this id. */
  loadOlder: ((before: number, limit?: number) => Promise<MessagePage>) | undefined
  /** Set by the open room: send a failed message again. */
  retry: ((nonce: string) => void) | undefined
  /** Set by the open room: ask for an edit or a deletion; false when not connected. */
  edit: ((id: number, text: string) => boolean) | undefined
  remove: ((id: number) => boolean) | undefined
  /** Set by the open room: what is on screen may have changed (scrolled, new messages), for read markers. */
  onViewChange: (() => void) | undefined
  /** Set by the open room (spec §7): answer this message (the composer shows the quote). */
  reply: ((quote: Quote) => void) | undefined
  /** Set by the open room (spec §7): put or take back an emoji; false when not connected. */
  react: ((id: number, emoji: string, on: boolean) => boolean) | undefined
  /** How attachments are fetched (the token, for a private room's files). */
  attachments: AttachmentLoader = { fetch: () => undefined }

  private readonly scroller = byId('messages')
  private readonly list = byId<HTMLOListElement>('message-list')
  private readonly olderButton = byId<HTMLButtonElement>('load-older')
  private readonly historyStart = byId('history-start')
  private readonly jumpButton = byId<HTMLButtonElement>('jump-latest')
  private readonly notice = byId('timeline-notice')
  private noticeTimer: ReturnType<typeof setTimeout> | undefined
  /** Reactions of each shown message as they stand (spec §7), kept up to date from `reaction` events. */
  private readonly reactions = new Map<number, ReactionCount[]>()
  /** Messages skipped to show one in context: the newest shown id before the gap, the oldest after it. */
  private gap: { after: number; before: number; li: HTMLLIElement; loading: boolean } | undefined
  /** A message to show once the room's history has arrived (a search result in another room). */
  private wanted: { room: string; id: number } | undefined
  private readonly shown = new Map<number, HTMLLIElement>()
  /** Ids in `shown`, ascending: where a message goes. */
  private ids: number[] = []
  /** Sends not yet echoed, in send order; always after every confirmed message. */
  private readonly pending = new Map<string, HTMLLIElement>()
  private room = ''
  /** What the room is called on screen: `#name`, or `@peer` for a DM (spec §6). */
  private label = ''
  /** Bumped by reset(), so a page that arrives for an earlier timeline is dropped. */
  private generation = 0
  private me: User | undefined
  /** Admins may delete anyone's message (spec §5). */
  private admin = false
  private hasOlder = false
  /** Whether the reader was at the bottom at the last scroll: then the bottom stays in view when sizes change. */
  private following = true
  private loading = false
  private olderFailed = false

  constructor() {
    // The box above the timeline grew (a reply's quote, uploads) or a message did (an image arrived):
    // a reader at the bottom stays there.
    new ResizeObserver(() => {
      if (this.following) this.scrollToEnd()
    }).observe(this.scroller)
    new ResizeObserver(() => {
      if (this.following) this.scrollToEnd()
    }).observe(this.list)
    this.scroller.addEventListener('scroll', () => {
      this.following = this.isFollowing()
      if (this.following) this.jumpButton.hidden = true
      if (this.scroller.scrollTop < LOAD_OLDER_PX) void this.fetchOlder()
      this.onViewChange?.()
    })
    this.olderButton.addEventListener('click', () => void this.fetchOlder())
    // Without hover (touch screens), a tap on a message shows its actions, and a tap elsewhere hides them.
    this.list.addEventListener('click', (e) => {
      if (!TOUCH.matches || (e.target as Element).closest('button, textarea, .message-actions')) return
      const li = (e.target as Element).closest('li.message')
      for (const open of this.list.querySelectorAll('.actions-open')) if (open !== li) open.classList.remove('actions-open')
      li?.classList.toggle('actions-open')
    })
    this.jumpButton.addEventListener('click', () => this.scrollToEnd())
  }

  /** Empties the timeline for a room (or for a fresh start after a truncated resume). */
  reset(room: string, me: User | undefined): void {
    if (room !== this.room) this.label = `#${room}`
    this.room = room
    this.me = me
    this.generation++
    this.loading = false
    this.shown.clear()
    this.gap = undefined
    this.reactions.clear()
    this.ids = []
    this.notice.hidden = true
    if (this.wanted && this.wanted.room !== room) this.wanted = undefined
    this.pending.clear()
    this.list.replaceChildren()
    this.hasOlder = false
    this.olderFailed = false
    this.jumpButton.hidden = true
    this.renderEdge()
  }

  setLabel(label: string): void {
    this.label = label
    this.renderEdge()
  }

  setMe(me: User | undefined): void {
    this.me = me
    for (const li of this.shown.values()) {
      li.classList.toggle('own', li.dataset.userId === String(me?.id))
      this.renderActions(li)
    }
  }

  /** Whether the reader is an admin (from `GET /users/me`): adds Delete to everyone's messages. */
  setAdmin(admin: boolean): void {
    if (admin === this.admin) return
    this.admin = admin
    for (const li of this.shown.values()) this.renderActions(li)
  }

  /** Applies an `edited`, `deleted` or `reaction` event to the message it concerns, if it is shown. */
  applyChange(change: Change): void {
    if (change.type !== 'reaction') this.updateQuotes(change.messageId, change.type === 'edited' ? quoteText(change.text) : null)
    const li = this.shown.get(change.messageId)
    if (!li || li.classList.contains('deleted')) return
    if (change.type === 'reaction') {
      this.applyReaction(li, change.messageId, change.emoji, change.on, change.user.id === this.me?.id)
      return
    }
    li.classList.remove('busy')
    if (change.type === 'deleted') {
      li.classList.add('deleted')
      this.reactions.delete(change.messageId)
      for (const extra of li.querySelectorAll('.edit-form, .reactions, .attachments, .quote, .emoji-picker')) extra.remove()
      const text = li.querySelector<HTMLElement>('.text')!
      text.textContent = DELETED_TEXT
      text.hidden = false
      li.querySelector('.edited')?.remove()
    } else {
      li.querySelector('.edit-form')?.remove()
      const text = li.querySelector<HTMLElement>('.text')!
      li.classList.toggle('mentions-me', renderMentions(text, change.text, change.mentions, this.me))
      text.hidden = false
      this.markEdited(li, change.editedAt)
    }
    this.renderActions(li)
  }

  /** A reaction event: counts up or down, and `me` when it was this reader's own. */
  private applyReaction(li: HTMLLIElement, id: number, emoji: string, on: boolean, mine: boolean): void {
    const list = this.reactions.get(id) ?? []
    const entry = list.find((r) => r.emoji === emoji)
    if (on) {
      if (entry) {
        entry.count++
        if (mine) entry.me = true
      } else list.push({ emoji, count: 1, me: mine })
    } else if (entry) {
      entry.count--
      if (mine) entry.me = false
      if (entry.count <= 0) list.splice(list.indexOf(entry), 1)
    }
    this.reactions.set(id, list)
    this.renderReactionRow(li, id)
  }

  private renderReactionRow(li: HTMLLIElement, id: number): void {
    li.querySelector('.reactions')?.remove()
    const list = this.reactions.get(id) ?? []
    if (list.length === 0) return
    const canReact = this.me !== undefined && this.react !== undefined
    const row = renderReactions(list, canReact ? (emoji, on) => this.toggleReaction(li, id, emoji, on) : undefined)
    const anchor = li.querySelector('.edited') ?? li.querySelector('.attachments') ?? li.querySelector('.text')!
    anchor.after(row)
  }

  private toggleReaction(li: HTMLLIElement, id: number, emoji: string, on: boolean): void {
    if (!this.react?.(id, emoji, on)) this.flash('Not connected. Try again in a moment.')
    li.querySelector('.emoji-picker')?.remove()
  }

  /** Quotes of message `id` in replies shown here follow its edits and deletion. */
  private updateQuotes(id: number, text: string | null): void {
    for (const quote of this.list.querySelectorAll<HTMLElement>(`.quote[data-quote-id="${id}"]`)) {
      quote.querySelector('.quote-text')!.textContent = text ?? QUOTE_DELETED
      quote.classList.toggle('quote-deleted', text === null)
    }
  }

  /**
   * Scrolls to message `id` and highlights it briefly, loading older pages first when it is older than
   * what is shown; says so when it cannot be shown.
   */
  async jumpTo(id: number): Promise<void> {
    const generation = this.generation
    let pages = 0
    while (!this.shown.has(id) && this.oldestId !== undefined && id < this.oldestId && this.hasOlder && pages < JUMP_CONTIGUOUS_PAGES) {
      if (this.loading) {
        // A page asked for by scrolling is on its way: wait for it rather than count it.
        await new Promise((resolve) => setTimeout(resolve, 50))
        if (generation !== this.generation) return
        continue
      }
      await this.fetchOlder(LIMITS.PAGE_MAX)
      if (generation !== this.generation || this.olderFailed) break
      pages++
    }
    if (generation !== this.generation) return
    // Further back: the page that ends with it, the rest left as a gap.
    if (!this.shown.has(id) && !this.gap && !this.olderFailed && this.oldestId !== undefined && id < this.oldestId && this.hasOlder) {
      await this.loadContext(id)
      if (generation !== this.generation) return
    }
    // Inside the gap: fill it from its newer side down to the message.
    for (let more = 0; !this.shown.has(id) && this.gap && id > this.gap.after && id < this.gap.before && more < JUMP_MAX_PAGES; more++) {
      if (!(await this.fillGap())) break
      if (generation !== this.generation) return
    }
    const li = this.shown.get(id)
    if (!li) {
      this.flash(this.olderFailed ? 'Could not load that message. Try again.' : 'That message is not loaded (it may have been deleted or is too far back).')
      return
    }
    li.scrollIntoView({ block: 'center' })
    this.following = this.isFollowing()
    li.classList.remove('highlight')
    void li.offsetWidth // restart the animation
    li.classList.add('highlight')
    setTimeout(() => li.classList.remove('highlight'), HIGHLIGHT_MS)
  }

  /** Shows the page of history that ends with message `id`, above the messages shown, with a gap between. */
  private async loadContext(id: number): Promise<void> {
    const generation = this.generation
    let page: MessagePage
    try {
      page = await this.loadOlder!(id + 1, LIMITS.PAGE_DEFAULT)
    } catch {
      return
    }
    const before = this.oldestId
    if (generation !== this.generation || before === undefined || this.gap) return
    const fresh = page.messages.filter((m) => m.id < before && !this.shown.has(m.id))
    if (!fresh.some((m) => m.id === id)) return
    for (const m of fresh) this.insert(m)
    const li = el('li', 'history-gap')
    const button = this.actionButton('Load the messages in between', () => void this.fillGap(), 'button subtle small')
    li.append(button)
    this.list.insertBefore(li, this.shown.get(before)!)
    this.gap = { after: fresh.at(-1)!.id, before, li, loading: false }
    this.hasOlder = page.hasMore
    this.olderFailed = false
    this.renderEdge()
  }

  /** Loads one page of the gap, from its newer side; false when that failed. */
  private async fillGap(): Promise<boolean> {
    const gap = this.gap
    if (!gap || gap.loading || !this.loadOlder) return false
    const generation = this.generation
    gap.loading = true
    const button = gap.li.querySelector('button')!
    button.disabled = true
    try {
      const page = await this.loadOlder(gap.before, LIMITS.PAGE_MAX)
      if (generation !== this.generation) return false
      for (const m of page.messages) if (m.id > gap.after && !this.shown.has(m.id)) this.insert(m)
      const oldest = page.messages[0]?.id
      if (!page.hasMore || oldest === undefined || oldest <= gap.after) {
        gap.li.remove()
        this.gap = undefined
      } else gap.before = oldest
      return true
    } catch {
      button.textContent = 'Could not load them. Try again'
      return false
    } finally {
      gap.loading = false
      button.disabled = false
    }
  }

  /** Jumps to message `id` of `room` once that room's history is in (the room is being opened). */
  jumpWhenLoaded(room: string, id: number): void {
    this.wanted = { room, id }
  }

  /** A short note over the timeline. */
  private flash(text: string): void {
    this.notice.textContent = text
    this.notice.hidden = false
    clearTimeout(this.noticeTimer)
    this.noticeTimer = setTimeout(() => (this.notice.hidden = true), 5000)
  }

  /** The last edit or deletion asked for was refused: says why beside that message. */
  changeRefused(id: number, reason: string): void {
    const li = this.shown.get(id)
    if (!li) return
    li.classList.remove('busy')
    const form = li.querySelector('.edit-form')
    const error = form?.querySelector<HTMLElement>('.edit-error')
    if (error) {
      error.textContent = reason
      error.hidden = false
      form!.querySelectorAll<HTMLButtonElement | HTMLTextAreaElement>('button, textarea').forEach((c) => (c.disabled = false))
      return
    }
    this.renderActions(li)
    li.querySelector('.message-actions')?.append(el('span', 'action-error', reason))
    li.classList.add('actions-open')
  }

  /** The newest confirmed message id shown, if any. */
  get newestId(): number | undefined {
    return this.ids.at(-1)
  }

  /** Whether the newest confirmed message is on screen (for read markers, spec §6). */
  newestVisible(): boolean {
    const id = this.newestId
    if (id === undefined || this.scroller.offsetParent === null) return false
    const box = this.shown.get(id)!.getBoundingClientRect()
    const view = this.scroller.getBoundingClientRect()
    return box.top < view.bottom && box.bottom > view.top
  }

  /** The oldest id shown, the `before` cursor for older pages. */
  get oldestId(): number | undefined {
    return this.ids[0]
  }

  /** Says whether older messages may exist (after a welcome: yes, if it had any history). */
  setHasOlder(hasOlder: boolean): void {
    this.hasOlder = hasOlder
    this.renderEdge()
    const wanted = this.wanted
    if (wanted && wanted.room === this.room) {
      this.wanted = undefined
      void this.jumpTo(wanted.id).then(() => this.fillViewport())
      return
    }
    this.fillViewport()
  }

  /** Adds messages anywhere in the timeline, skipping ids already shown; follows the bottom if the reader was there. */
  add(messages: Message[]): void {
    const following = this.isFollowing()
    let appended = false
    for (const m of messages) {
      if (this.shown.has(m.id)) continue
      appended = this.insert(m) || appended
    }
    this.renderEdge()
    if (!appended) return
    if (following) this.scrollToEnd()
    else this.jumpButton.hidden = false
    this.onViewChange?.()
  }

  /** A message this tab just sent: shown at the end as pending until `confirm`. */
  addPending(nonce: string, text: string, replyTo?: Quote): void {
    const li = this.render({ id: 0, room: this.room, user: this.me ?? { id: 0, username: 'you' }, text, replyTo, ts: new Date().toISOString() })
    li.classList.add('pending')
    li.dataset.nonce = nonce
    const status = el('span', 'send-status', 'Sending…')
    li.querySelector('.bubble')!.append(status)
    this.list.append(li)
    this.pending.set(nonce, li)
    this.regroup(li)
    this.renderEdge()
    this.scrollToEnd()
  }

  /** The server's copy of a pending send arrived (live or in a welcome's history): it replaces the placeholder. */
  confirm(nonce: string, message: Message): void {
    const li = this.pending.get(nonce)
    if (li) {
      this.pending.delete(nonce)
      const next = li.nextElementSibling
      li.remove()
      if (next instanceof HTMLLIElement) this.regroup(next)
    }
    this.add([message])
  }

  /** Removes a pending send that will not be sent (its author logged out). */
  dropPending(nonce: string): void {
    this.pending.get(nonce)?.remove()
    this.pending.delete(nonce)
    this.renderEdge()
  }

  setPendingState(nonce: string, state: 'sending' | 'failed'): void {
    const li = this.pending.get(nonce)
    if (!li) return
    li.classList.toggle('failed', state === 'failed')
    const status = li.querySelector('.send-status')!
    if (state === 'sending') {
      status.replaceChildren('Sending…')
      return
    }
    const retry = el('button', 'link-button', 'Retry')
    retry.type = 'button'
    retry.addEventListener('click', () => this.retry?.(nonce))
    status.replaceChildren('Not sent. ', retry)
  }

  /** Pending sends, oldest first. */
  pendingNonces(): string[] {
    return [...this.pending.keys()]
  }

  isPending(nonce: string): boolean {
    return this.pending.has(nonce)
  }

  scrollToEnd(): void {
    this.scroller.scrollTop = this.scroller.scrollHeight
    this.following = true
    this.jumpButton.hidden = true
  }

  private isFollowing(): boolean {
    const s = this.scroller
    return s.scrollHeight - s.scrollTop - s.clientHeight < FOLLOW_PX
  }

  /** Puts a confirmed message in id order; returns true when it landed after every other confirmed one. */
  private insert(m: Message): boolean {
    const li = this.render(m)
    let lo = 0
    let hi = this.ids.length
    while (lo < hi) {
      const mid = (lo + hi) >> 1
      if (this.ids[mid]! < m.id) lo = mid + 1
      else hi = mid
    }
    const atEnd = lo === this.ids.length
    const before = atEnd ? (this.pending.values().next().value ?? null) : this.shown.get(this.ids[lo]!)!
    this.list.insertBefore(li, before)
    this.ids.splice(lo, 0, m.id)
    this.shown.set(m.id, li)
    this.regroup(li)
    if (li.nextElementSibling instanceof HTMLLIElement) this.regroup(li.nextElementSibling)
    return atEnd
  }

  private render(m: Message): HTMLLIElement {
    const li = el('li', `message ${hueClass(m.user.username)}`)
    if (m.deleted) li.classList.add('deleted')
    if (m.id) li.dataset.id = String(m.id)
    li.dataset.userId = String(m.user.id)
    li.dataset.username = m.user.username
    const at = new Date(m.ts)
    li.dataset.at = String(at.getTime())
    if (this.me && m.user.id === this.me.id) li.classList.add('own')

    const avatar = el('span', 'avatar', initialOf(m.user.username))
    avatar.setAttribute('aria-hidden', 'true')
    const bubble = el('div', 'bubble')
    const meta = el('div', 'meta')
    const author = el('span', 'author', m.user.username)
    const time = el('time', 'time', formatTime(at))
    time.dateTime = m.ts
    time.title = FULL.format(at)
    meta.append(author, time)
    const text = el('p', 'text')
    if (m.deleted) text.textContent = DELETED_TEXT
    else if (renderMentions(text, m.text, m.mentions, this.me)) li.classList.add('mentions-me')
    bubble.append(meta)
    if (!m.deleted && m.replyTo) {
      const quote = renderQuote(m.replyTo)
      const target = m.replyTo.id
      quote.tabIndex = 0
      quote.setAttribute('role', 'link')
      quote.title = 'Show the original message'
      quote.addEventListener('click', () => void this.jumpTo(target))
      quote.addEventListener('keydown', (e) => {
        if (e.key === 'Enter') void this.jumpTo(target)
      })
      bubble.append(quote)
    }
    bubble.append(text)
    if (!m.deleted && m.attachments?.length) bubble.append(renderAttachments(m.attachments, this.attachments))
    li.append(avatar, bubble)
    if (m.editedAt) this.markEdited(li, m.editedAt)
    if (m.id && !m.deleted && m.reactions?.length) {
      this.reactions.set(
        m.id,
        m.reactions.map((r) => ({ ...r })),
      )
      this.renderReactionRow(li, m.id)
    }
    if (m.id) this.renderActions(li)
    return li
  }

  private markEdited(li: HTMLLIElement, editedAt: string): void {
    let mark = li.querySelector<HTMLElement>('.edited')
    if (!mark) {
      mark = el('span', 'edited', '(edited)')
      ;(li.querySelector('.attachments') ?? li.querySelector('.text')!).after(mark)
    }
    mark.title = `Edited ${FULL.format(new Date(editedAt))}`
  }

  /** Edit and Delete on a confirmed message, for whoever may use them (spec §5: author edits; author or admin deletes). */
  private renderActions(li: HTMLLIElement): void {
    li.querySelector('.message-actions')?.remove()
    li.classList.remove('actions-open')
    const id = Number(li.dataset.id)
    if (!id || li.classList.contains('deleted') || li.querySelector('.edit-form')) return
    const own = this.me !== undefined && li.dataset.userId === String(this.me.id)
    const actions = el('div', 'message-actions')
    // spec §7: anyone logged in may answer and react (the server refuses it where they may not post).
    if (this.me && this.reply) actions.append(this.actionButton('Reply', () => this.startReply(li)))
    if (this.me && this.react) actions.append(this.actionButton('React', () => this.openPicker(li)))
    if (own) actions.append(this.actionButton('Edit', () => this.startEdit(li)))
    if (own || this.admin) actions.append(this.actionButton('Delete', () => this.askDelete(li)))
    if (actions.childElementCount > 0) li.querySelector('.bubble')!.append(actions)
  }

  private startReply(li: HTMLLIElement): void {
    const text = li.querySelector('.text')?.textContent ?? ''
    this.reply?.({ id: Number(li.dataset.id), user: { id: Number(li.dataset.userId), username: li.dataset.username ?? '' }, text: quoteText(text) })
  }

  /** The emoji picker under the message's actions; a choice toggles that emoji on. */
  private openPicker(li: HTMLLIElement): void {
    const open = li.querySelector<HTMLElement>('.emoji-picker')
    if (open) return void open.remove()
    for (const other of this.list.querySelectorAll('.emoji-picker')) other.remove()
    const id = Number(li.dataset.id)
    const close = () => {
      picker.remove()
      document.removeEventListener('pointerdown', outside, true)
    }
    const outside = (e: Event) => {
      if (!picker.contains(e.target as Node) && !(e.target as Element).closest?.('.message-actions')) close()
    }
    const picker = renderPicker((emoji) => {
      const mine = this.reactions.get(id)?.find((r) => r.emoji === emoji)?.me ?? false
      // Picking one already put is a no-op on the server; take it back instead, like its chip.
      this.toggleReaction(li, id, emoji, !mine)
      close()
    }, close)
    li.querySelector('.bubble')!.append(picker)
    document.addEventListener('pointerdown', outside, true)
    picker.querySelector<HTMLButtonElement>('.emoji-choice')?.focus()
  }

  private actionButton(label: string, onClick: () => void, className = 'action'): HTMLButtonElement {
    const button = el('button', className, label)
    button.type = 'button'
    button.addEventListener('click', onClick)
    return button
  }

  /** Asks in place (no dialog) before deleting. */
  private askDelete(li: HTMLLIElement): void {
    const actions = li.querySelector('.message-actions')!
    const cancel = this.actionButton('Cancel', () => this.renderActions(li))
    const confirm = this.actionButton(
      'Delete',
      () => {
        if (!this.remove?.(Number(li.dataset.id)))
          return void actions.replaceChildren(el('span', 'action-error', 'Not connected. Try again in a moment.'), cancel)
        li.classList.add('busy')
        actions.replaceChildren(el('span', 'action-note', 'Deleting…'))
      },
      'action danger',
    )
    actions.replaceChildren(el('span', 'action-note', 'Delete this message?'), confirm, cancel)
    confirm.focus()
  }

  /** Replaces the text with a box holding it: Enter saves, Shift+Enter adds a line, Escape cancels. */
  private startEdit(li: HTMLLIElement): void {
    const text = li.querySelector<HTMLElement>('.text')!
    const form = el('form', 'edit-form')
    const input = el('textarea', 'edit-input')
    input.value = text.textContent ?? ''
    input.maxLength = LIMITS.TEXT_MAX_LENGTH
    input.rows = 2
    input.setAttribute('aria-label', 'Edit message (Enter saves, Escape cancels)')
    const error = el('p', 'edit-error')
    error.hidden = true
    error.setAttribute('role', 'alert')
    const save = el('button', 'button primary small', 'Save')
    save.type = 'submit'
    const cancel = this.actionButton('Cancel', () => finish(), 'button subtle small')
    const buttons = el('div', 'edit-buttons')
    buttons.append(save, cancel)
    form.append(input, error, buttons)
    const finish = () => {
      form.remove()
      text.hidden = false
      this.renderActions(li)
    }
    form.addEventListener('submit', (e) => {
      e.preventDefault()
      const next = input.value.replace(/\s+$/, '')
      if (next === text.textContent) return finish()
      if (showsNothing(next)) {
        error.textContent = 'A message cannot be empty. To remove it, delete it instead.'
        error.hidden = false
        return
      }
      if (!this.edit?.(Number(li.dataset.id), next)) {
        error.textContent = 'Not connected. Try again in a moment.'
        error.hidden = false
        return
      }
      error.hidden = true
      li.classList.add('busy')
      for (const c of [input, save, cancel]) c.disabled = true
    })
    input.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
        e.preventDefault()
        form.requestSubmit()
      } else if (e.key === 'Escape') {
        e.preventDefault()
        finish()
      }
    })
    li.querySelector('.message-actions')?.remove()
    text.hidden = true
    text.after(form)
    input.focus()
    input.setSelectionRange(input.value.length, input.value.length)
  }

  /** Hides the header of a message that continues the previous one's run. */
  private regroup(li: HTMLLIElement): void {
    const prev = li.previousElementSibling as HTMLLIElement | null
    const continued = prev !== null && prev.dataset.userId === li.dataset.userId && Number(li.dataset.at) - Number(prev.dataset.at) < GROUP_MS
    li.classList.toggle('continued', continued)
  }

  private renderEdge(): void {
    this.olderButton.hidden = !this.hasOlder || this.ids.length === 0
    this.olderButton.textContent = this.olderFailed ? 'Could not load older messages. Try again' : 'Load older messages'
    this.olderButton.disabled = this.loading
    const empty = this.ids.length === 0 && this.pending.size === 0
    this.historyStart.hidden = this.hasOlder && !empty
    this.historyStart.textContent = empty ? `No messages in ${this.label} yet.` : `This is the start of ${this.label}.`
  }

  /** Loads the page before the oldest message, keeping what the reader looks at in place. */
  private async fetchOlder(limit?: number): Promise<void> {
    const before = this.oldestId
    if (!this.hasOlder || this.loading || before === undefined || !this.loadOlder) return
    const generation = this.generation
    this.loading = true
    this.renderEdge()
    try {
      const page = await this.loadOlder(before, limit)
      if (generation !== this.generation) return
      this.olderFailed = false
      const fromBottom = this.scroller.scrollHeight - this.scroller.scrollTop
      for (const m of page.messages) if (!this.shown.has(m.id)) this.insert(m)
      this.scroller.scrollTop = this.scroller.scrollHeight - fromBottom
      this.hasOlder = page.hasMore && page.messages.length > 0
    } catch {
      if (generation === this.generation) this.olderFailed = true
    } finally {
      if (generation === this.generation) {
        this.loading = false
        this.renderEdge()
      }
    }
    if (generation === this.generation && !this.olderFailed) this.fillViewport()
  }

  /** With too few messages to scroll, scroll-up can never happen: load older ones until it can. */
  private fillViewport(): void {
    if (this.hasOlder && this.scroller.scrollHeight <= this.scroller.clientHeight + LOAD_OLDER_PX) void this.fetchOlder()
  }
}

function formatTime(at: Date): string {
  return at.toDateString() === new Date().toDateString() ? TIME.format(at) : DAY_AND_TIME.format(at)
}
