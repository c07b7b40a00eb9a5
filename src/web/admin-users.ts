/** The admin page's user list (spec §5): search by name, pages by id, role, ban and unban, password reset. */
import type { AdminUser, Role } from '../protocol.ts'
import { client } from './client.ts'
import { byId, el, hueClass, initialOf, showError } from './dom.ts'
import { describeError } from './words.ts'

const DATE = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium' })

export class AdminUsers {
  /** Called after any change, so the audit log can show it. */
  onChanged: (() => void) | undefined
  /** The server refused the admin's own token (revoked, banned, no longer admin): true when handled. */
  onTokenRefused: ((err: unknown) => boolean) | undefined

  private readonly list = byId<HTMLUListElement>('user-list')
  private readonly empty = byId('users-empty')
  private readonly error = byId('users-error')
  private readonly more = byId<HTMLButtonElement>('users-more')
  private readonly search = byId<HTMLInputElement>('user-search-input')
  private query = ''
  private lastId: number | undefined
  private generation = 0

  constructor(private readonly myId: () => number | undefined) {
    byId('user-search').addEventListener('submit', (e) => {
      e.preventDefault()
      void this.load(this.search.value.trim())
    })
    // Searching as one types: a prefix match is cheap (spec §5 `q`).
    this.search.addEventListener('input', () => {
      const q = this.search.value.trim()
      if (q !== this.query) void this.load(q)
    })
    this.more.addEventListener('click', () => void this.load(this.query, this.lastId))
  }

  /** The first page for `q` (or, with `after`, the next one). */
  async load(q = this.query, after?: number): Promise<void> {
    if (!client.token) return
    const generation = after === undefined ? ++this.generation : this.generation
    this.query = q
    try {
      const page = await client.admin.users({ q, after, limit: 50 })
      if (generation !== this.generation) return
      showError(this.error, undefined)
      const rows = page.users.map((u) => this.row(u))
      if (after === undefined) this.list.replaceChildren(...rows)
      else this.list.append(...rows)
      this.lastId = page.users.at(-1)?.id ?? this.lastId
      this.more.hidden = !page.hasMore
      this.empty.hidden = this.list.childElementCount > 0
    } catch (err) {
      if (generation === this.generation && !this.onTokenRefused?.(err)) showError(this.error, `Could not load the users. ${describeError(err)}`)
    }
  }

  private row(u: AdminUser): HTMLLIElement {
    const li = el('li', `user-row ${hueClass(u.username)}`)
    li.dataset.userId = String(u.id)
    this.fill(li, u)
    return li
  }

  /** (Re)draws one user's row; `u` is the state now. */
  private fill(li: HTMLLIElement, u: AdminUser): void {
    const avatar = el('span', 'avatar', initialOf(u.username))
    avatar.setAttribute('aria-hidden', 'true')
    const who = el('div', 'user-who')
    const name = el('span', 'user-name', u.username)
    who.append(name)
    if (u.id === this.myId()) who.append(el('span', 'member-you', '(you)'))
    const badges = el('div', 'user-badges')
    if (u.role === 'admin') badges.append(el('span', 'role-badge', 'admin'))
    if (u.banned) badges.append(el('span', 'role-badge banned', 'banned'))
    const joined = el('time', 'user-joined muted', `joined ${DATE.format(new Date(u.createdAt))}`)
    joined.dateTime = u.createdAt
    who.append(badges)

    const actions = el('div', 'user-actions')
    const error = el('p', 'form-error user-error')
    error.hidden = true
    error.setAttribute('role', 'alert')
    /** Runs one action and redraws the row with its result; false when it failed (the row says why). */
    const act = async (work: () => Promise<AdminUser>): Promise<boolean> => {
      for (const b of actions.querySelectorAll('button')) b.disabled = true
      try {
        const next = await work()
        this.fill(li, next)
        this.onChanged?.()
        return true
      } catch (err) {
        if (this.onTokenRefused?.(err)) return false
        for (const b of actions.querySelectorAll('button')) b.disabled = false
        showError(error, describeError(err))
        return false
      }
    }
    const otherRole: Role = u.role === 'admin' ? 'member' : 'admin'
    actions.append(
      button(u.role === 'admin' ? 'Remove admin' : 'Make admin', () => void act(async () => ({ ...u, ...(await client.admin.setRole(u.id, otherRole)) }))),
      u.banned
        ? button('Unban', () => void act(async () => (await client.admin.unban(u.id), { ...u, banned: false })))
        : button('Ban…', () =>
            this.askInline(li, actions, { label: `Reason for banning ${u.username} (optional)`, type: 'text', submit: 'Ban', danger: true }, async (reason) => {
              await act(async () => (await client.admin.ban(u.id, reason || undefined), { ...u, banned: true }))
            }),
          ),
      button('Reset password…', () =>
        this.askInline(li, actions, { label: `New password for ${u.username}`, type: 'password', submit: 'Set password', required: true }, async (secret) => {
          if (await act(async () => (await client.admin.resetPassword(u.id, secret), u))) {
            li.append(el('p', 'notice user-done', `Password of ${u.username} changed; their sessions were logged out.`))
          }
        }),
      ),
    )
    li.replaceChildren(avatar, who, joined, actions, error)
  }

  /** A one-field form in the row (no dialogs): a ban reason or a new password. */
  private askInline(
    li: HTMLLIElement,
    actions: HTMLElement,
    opts: { label: string; type: 'text' | 'password'; submit: string; danger?: boolean; required?: boolean },
    done: (value: string) => Promise<void>,
  ): void {
    li.querySelector('.inline-ask')?.remove()
    const form = el('form', 'inline-form inline-ask')
    const id = `ask-${li.dataset.userId}`
    const label = el('label', undefined, opts.label)
    label.htmlFor = id
    const input = el('input')
    input.id = id
    input.type = opts.type
    input.autocomplete = opts.type === 'password' ? 'new-password' : 'off'
    const submit = el('button', `button ${opts.danger ? 'danger' : 'primary'}`, opts.submit)
    submit.type = 'submit'
    const cancel = button('Cancel', () => form.remove())
    form.append(label, input, submit, cancel)
    form.addEventListener('submit', (e) => {
      e.preventDefault()
      if (opts.required && input.value === '') return void input.setAttribute('aria-invalid', 'true')
      form.remove()
      void done(input.value)
    })
    actions.after(form)
    input.focus()
  }
}

function button(label: string, onClick: () => void): HTMLButtonElement {
  const b = el('button', 'button small', label)
  b.type = 'button'
  b.addEventListener('click', onClick)
  return b
}
