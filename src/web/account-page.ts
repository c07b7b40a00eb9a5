/** The account page (`#/account`, spec §5 self-service): change password, log out everywhere, delete the account. */
import type { Me, Session } from '../protocol.ts'
import { client } from './client.ts'
import { busy, byId, showError } from './dom.ts'
import { describeError } from './words.ts'

export interface AccountPageEvents {
  /** Every session ended (log out everywhere), or the account is gone. */
  onEnded(why: 'logout-everywhere' | 'deleted'): void
  /** The server refused the token itself (revoked, banned): the session is over. */
  onTokenRefused(err: unknown): boolean
}

export class AccountPage {
  private readonly name = byId('account-name')
  private readonly role = byId('account-role')
  private readonly passwordForm = byId<HTMLFormElement>('password-form')
  private readonly current = byId<HTMLInputElement>('password-current')
  private readonly next = byId<HTMLInputElement>('password-new')
  private readonly passwordError = byId('password-error')
  private readonly passwordDone = byId('password-done')
  private readonly logoutAll = byId<HTMLButtonElement>('logout-all')
  private readonly logoutAllError = byId('logout-all-error')
  private readonly deleteForm = byId<HTMLFormElement>('delete-form')
  private readonly deletePassword = byId<HTMLInputElement>('delete-password')
  private readonly deleteError = byId('delete-error')

  constructor(private readonly events: AccountPageEvents) {
    this.passwordForm.addEventListener('submit', (e) => {
      e.preventDefault()
      void this.submitPassword()
    })
    this.logoutAll.addEventListener('click', () => void this.submitLogoutAll())
    this.deleteForm.addEventListener('submit', (e) => {
      e.preventDefault()
      void this.submitDelete()
    })
  }

  /** Fills the page for the logged-in user and clears what an earlier visit left. */
  show(user: Session['user'], me: Me | undefined): void {
    this.name.textContent = user.username
    this.showRole(me)
    for (const input of [this.current, this.next, this.deletePassword]) input.value = ''
    for (const p of [this.passwordError, this.passwordDone, this.logoutAllError, this.deleteError]) p.hidden = true
  }

  /** The role badge, once `GET /users/me` has answered. */
  showRole(me: Me | undefined): void {
    this.role.textContent = me?.role === 'admin' ? 'admin' : ''
  }

  private async submitPassword(): Promise<void> {
    if (!client.session) return
    this.passwordDone.hidden = true
    if (this.current.value === '') return showError(this.passwordError, 'Type your current password.', this.current)
    if (this.next.value === '') return showError(this.passwordError, 'Type a new password.', this.next)
    await busy(this.passwordForm, async () => {
      try {
        // The client keeps the answer's token (the only valid one now): the page hears it as a refresh.
        await client.changePassword(this.current.value, this.next.value)
        this.current.value = this.next.value = ''
        showError(this.passwordError, undefined)
        this.passwordDone.textContent = 'Password changed. Other devices have been logged out.'
        this.passwordDone.hidden = false
      } catch (err) {
        if (this.events.onTokenRefused(err)) return
        showError(this.passwordError, wrongPassword(err) ?? describeError(err), wrongPassword(err) ? this.current : undefined)
      }
    })
  }

  private async submitLogoutAll(): Promise<void> {
    if (!client.session) return
    this.logoutAll.disabled = true
    try {
      await client.logout()
      this.events.onEnded('logout-everywhere')
    } catch (err) {
      if (!this.events.onTokenRefused(err)) showError(this.logoutAllError, describeError(err))
    } finally {
      this.logoutAll.disabled = false
    }
  }

  private async submitDelete(): Promise<void> {
    if (!client.session) return
    if (this.deletePassword.value === '') return showError(this.deleteError, 'Type your password to confirm.', this.deletePassword)
    await busy(this.deleteForm, async () => {
      try {
        await client.deleteAccount(this.deletePassword.value)
        this.deletePassword.value = ''
        this.events.onEnded('deleted')
      } catch (err) {
        if (this.events.onTokenRefused(err)) return
        showError(this.deleteError, wrongPassword(err) ?? describeError(err), wrongPassword(err) ? this.deletePassword : undefined)
      }
    })
  }
}

/** PASSWORD_MATCH_FAILED here means the password typed to confirm, not a login. */
function wrongPassword(err: unknown): string | undefined {
  return err instanceof Error && 'type' in err && err.type === 'PASSWORD_MATCH_FAILED' ? 'That is not your current password.' : undefined
}
