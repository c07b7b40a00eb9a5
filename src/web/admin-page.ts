/** The admin page (`#/admin`, spec §5): registration mode, invites with copyable links, the users, and the audit log. */
import type { AuditEntry, Invite, RegistrationMode, User } from '../protocol.ts'
import { AdminUsers } from './admin-users.ts'
import { client } from './client.ts'
import { byId, el, showError } from './dom.ts'
import { describeError } from './words.ts'

const WHEN = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' })

/** The link an invite is shared as: it opens the sign-up form with the code filled in. */
export function inviteLink(code: string): string {
  return `${location.origin}/#/signup?invite=${encodeURIComponent(code)}`
}

const ACTION_WORDS: Record<string, string> = {
  'user.role': 'changed the role of',
  'user.ban': 'banned',
  'user.unban': 'unbanned',
  'user.password': 'reset the password of',
  'user.delete': 'deleted the account of',
  'invite.create': 'created invite',
  'invite.revoke': 'revoked invite',
  'registration.set': 'changed registration',
  'message.delete': 'deleted a message',
  'room.member.add': 'added a member',
  'room.member.remove': 'removed a member',
}

export class AdminPage {
  readonly users: AdminUsers
  private readonly modes = byId('registration-mode')
  private readonly modeStatus = byId('registration-status')
  private readonly inviteForm = byId<HTMLFormElement>('invite-form')
  private readonly inviteUses = byId<HTMLInputElement>('invite-uses')
  private readonly inviteExpiry = byId<HTMLSelectElement>('invite-expiry')
  private readonly inviteError = byId('invite-error')
  private readonly invites = byId<HTMLUListElement>('invite-list')
  private readonly invitesEmpty = byId('invite-empty')
  private readonly audit = byId<HTMLOListElement>('audit-list')
  private readonly auditEmpty = byId('audit-empty')
  private readonly auditError = byId('audit-error')
  private readonly auditMore = byId<HTMLButtonElement>('audit-more')
  private oldestAudit: number | undefined

  constructor(
    myId: () => number | undefined,
    /** The server refused the admin's token (revoked, banned, demoted): true when handled. */
    private readonly onTokenRefused: (err: unknown) => boolean,
  ) {
    this.users = new AdminUsers(myId)
    this.users.onChanged = () => void this.loadAudit()
    this.users.onTokenRefused = onTokenRefused
    this.modes.addEventListener('change', (e) => {
      const input = e.target as HTMLInputElement
      void this.changeMode(input.value as RegistrationMode)
    })
    this.inviteForm.addEventListener('submit', (e) => {
      e.preventDefault()
      void this.create()
    })
    this.auditMore.addEventListener('click', () => void this.loadAudit(this.oldestAudit))
  }

  /** Loads every section afresh. */
  show(): void {
    void this.loadMode()
    void this.loadInvites()
    void this.users.load('')
    void this.loadAudit()
  }

  private refused(err: unknown, line: HTMLElement, what: string): void {
    if (!this.onTokenRefused(err)) showError(line, `${what} ${describeError(err)}`)
  }

  private async loadMode(): Promise<void> {
    if (!client.token) return
    try {
      this.setMode(await client.admin.registration())
      this.modeStatus.textContent = ''
    } catch (err) {
      this.refused(err, this.modeStatus, 'Could not load the registration mode.')
    }
  }

  private setMode(mode: RegistrationMode): void {
    for (const input of this.modes.querySelectorAll<HTMLInputElement>('input')) input.checked = input.value === mode
  }

  private async changeMode(mode: RegistrationMode): Promise<void> {
    if (!client.token) return
    this.modeStatus.hidden = false
    this.modeStatus.textContent = 'Saving…'
    try {
      this.setMode(await client.admin.setRegistration(mode))
      this.modeStatus.textContent = 'Saved.'
      void this.loadAudit()
    } catch (err) {
      this.refused(err, this.modeStatus, 'Not saved.')
      void this.loadMode()
    }
  }

  private async loadInvites(): Promise<void> {
    if (!client.token) return
    try {
      const invites = await client.admin.invites()
      showError(this.inviteError, undefined)
      this.invites.replaceChildren(...invites.map((i) => this.inviteRow(i)))
      this.invitesEmpty.hidden = invites.length > 0
    } catch (err) {
      this.refused(err, this.inviteError, 'Could not load the invites.')
    }
  }

  private async create(): Promise<void> {
    if (!client.token) return
    const uses = Number(this.inviteUses.value)
    if (!Number.isInteger(uses) || uses < 1) return showError(this.inviteError, 'Uses must be a whole number, 1 or more.', this.inviteUses)
    const expiresIn = this.inviteExpiry.value === '' ? undefined : Number(this.inviteExpiry.value)
    try {
      const invite = await client.admin.createInvite({ uses, expiresIn })
      showError(this.inviteError, undefined)
      const row = this.inviteRow(invite)
      row.classList.add('fresh')
      this.invites.prepend(row)
      this.invitesEmpty.hidden = true
      row.querySelector<HTMLButtonElement>('.copy-link')?.focus()
      void this.loadAudit()
    } catch (err) {
      this.refused(err, this.inviteError, 'No invite was created.')
    }
  }

  private inviteRow(invite: Invite): HTMLLIElement {
    const li = el('li', 'invite')
    li.dataset.code = invite.code
    const link = el('input', 'invite-link')
    link.type = 'text'
    link.readOnly = true
    link.value = inviteLink(invite.code)
    link.setAttribute('aria-label', `Invite link ${invite.code}`)
    link.addEventListener('focus', () => link.select())
    const copy = el('button', 'button small copy-link', 'Copy link')
    copy.type = 'button'
    copy.addEventListener('click', () => void copyText(link).then((ok) => (copy.textContent = ok ? 'Copied' : 'Select and copy')))
    const revoke = el('button', 'button small danger', 'Revoke')
    revoke.type = 'button'
    revoke.addEventListener('click', async () => {
      if (!client.token) return
      revoke.disabled = true
      try {
        await client.admin.revokeInvite(invite.code)
        li.remove()
        this.invitesEmpty.hidden = this.invites.childElementCount > 0
        void this.loadAudit()
      } catch (err) {
        revoke.disabled = false
        this.refused(err, this.inviteError, 'Not revoked.')
      }
    })
    const left = invite.uses - invite.used
    const expiry = invite.expiresAt ? `expires ${WHEN.format(new Date(invite.expiresAt))}` : 'never expires'
    const details = el('p', 'invite-details muted', `${left} of ${invite.uses} ${invite.uses === 1 ? 'use' : 'uses'} left · ${expiry}`)
    const row = el('div', 'invite-row')
    row.append(link, copy, revoke)
    li.append(row, details)
    return li
  }

  /** The newest page (no `before`), or the page before `before`. */
  async loadAudit(before?: number): Promise<void> {
    if (!client.token) return
    try {
      const page = await client.admin.audit({ before, limit: 50 })
      showError(this.auditError, undefined)
      const rows = page.entries.map((e) => auditRow(e))
      if (before === undefined) this.audit.replaceChildren(...rows)
      else this.audit.append(...rows)
      this.oldestAudit = page.entries.at(-1)?.id ?? this.oldestAudit
      this.auditMore.hidden = !page.hasMore
      this.auditEmpty.hidden = this.audit.childElementCount > 0
    } catch (err) {
      this.refused(err, this.auditError, 'Could not load the audit log.')
    }
  }
}

function auditRow(entry: AuditEntry): HTMLLIElement {
  const li = el('li', 'audit-entry')
  li.dataset.action = entry.action
  const at = el('time', 'muted', WHEN.format(new Date(entry.at)))
  at.dateTime = entry.at
  const text = el('span', 'audit-text')
  text.append(el('strong', undefined, entry.actor?.username ?? 'CLI'), ` ${ACTION_WORDS[entry.action] ?? entry.action}`)
  const target = describeTarget(entry.target)
  if (target) text.append(' ', el('strong', undefined, target))
  li.append(at, text)
  return li
}

/** The target in words; its shape depends on the action (spec §5). */
function describeTarget(target: Record<string, unknown> | null): string | undefined {
  if (!target) return undefined
  const str = (v: unknown) => (typeof v === 'string' || typeof v === 'number' ? String(v) : undefined)
  const user = target.user as Partial<User> | undefined
  if (str(target.username)) return str(target.username)
  if (str(target.code)) return str(target.code)
  if (str(target.room) && str(target.messageId)) return `#${str(target.room)} (message ${str(target.messageId)})`
  if (str(target.room) && user?.username) return `${user.username} in #${str(target.room)}`
  return undefined
}

/** Copies an input's text: the Clipboard API where the page may use it, else the selection. */
async function copyText(input: HTMLInputElement): Promise<boolean> {
  try {
    await navigator.clipboard.writeText(input.value)
    return true
  } catch {
    input.focus()
    input.select()
    return document.execCommand('copy')
  }
}
