/** The login / create-account form (with an invite code where the server asks for one); API errors become sentences a person understands. */
import { ChatError } from '../../packages/client/src/index.ts'
import { client } from './client.ts'
import { byId } from './dom.ts'
import { describeError } from './words.ts'

type Mode = 'login' | 'register'

/** Logging in gives the client its session, which the page hears about from session.ts. */
export class AuthForm {
  /** "Just read": close the form without logging in. */
  onGuest: (() => void) | undefined

  private mode: Mode = 'login'
  private busy = false
  private readonly form = byId<HTMLFormElement>('auth-form')
  private readonly title = byId('auth-title')
  private readonly notice = byId('auth-notice')
  private readonly username = byId<HTMLInputElement>('auth-username')
  private readonly password = byId<HTMLInputElement>('auth-password')
  private readonly error = byId('auth-error')
  private readonly submitButton = byId<HTMLButtonElement>('auth-submit')
  private readonly switchText = byId('auth-switch-text')
  private readonly switchButton = byId<HTMLButtonElement>('auth-switch')
  private readonly inviteField = byId('auth-invite-field')
  private readonly invite = byId<HTMLInputElement>('auth-invite')

  constructor() {
    this.form.addEventListener('submit', (e) => {
      e.preventDefault()
      void this.submit()
    })
    this.switchButton.addEventListener('click', () => this.setMode(this.mode === 'login' ? 'register' : 'login'))
    byId('auth-guest').addEventListener('click', () => this.onGuest?.())
  }

  /** Prepares the form; `notice` explains why it is shown (session expired, log in to post). */
  show(notice?: string): void {
    if (this.mode !== 'login') this.setMode('login')
    this.notice.textContent = notice ?? ''
    this.notice.hidden = !notice
    this.showError(undefined)
    this.password.value = ''
  }

  /** The create-account form, with the code of an invite link filled in (spec §5 REGISTRATION=invite). */
  showSignup(invite: string | undefined, notice?: string): void {
    this.setMode('register')
    if (invite) this.invite.value = invite
    this.inviteField.hidden = !this.invite.value
    this.notice.textContent = notice ?? ''
    this.notice.hidden = !notice
  }

  focus(): void {
    ;(this.username.value ? this.password : this.username).focus()
  }

  private setMode(mode: Mode): void {
    this.mode = mode
    const register = mode === 'register'
    this.title.textContent = register ? 'Create an account' : 'Log in'
    this.submitButton.textContent = register ? 'Create account' : 'Log in'
    this.switchText.textContent = register ? 'Already have an account?' : 'New here?'
    this.switchButton.textContent = register ? 'Log in instead' : 'Create an account'
    this.password.autocomplete = register ? 'new-password' : 'current-password'
    this.inviteField.hidden = !register || !this.invite.value
    this.showError(undefined)
    this.username.focus()
  }

  private async submit(): Promise<void> {
    if (this.busy) return
    const username = this.username.value
    const secret = this.password.value
    if (username.trim() === '') return this.showError('Type a username.', this.username)
    if (secret === '') return this.showError('Type a password.', this.password)
    this.setBusy(true)
    try {
      if (this.mode === 'register') await client.signUp(username, secret, this.invite.value.trim() || undefined)
      await client.login(username, secret)
      this.password.value = ''
      this.invite.value = ''
      this.showError(undefined)
    } catch (err) {
      const needsInvite = err instanceof ChatError && err.type === 'INVITE_INVALID'
      if (needsInvite && this.inviteField.hidden) {
        // The server takes accounts by invitation: ask for the code rather than call a missing one invalid.
        this.inviteField.hidden = false
        this.showError('This server takes new accounts by invitation only. Paste your invite code below.', this.invite)
      } else {
        this.showError(describeError(err), needsInvite ? this.invite : undefined)
      }
    } finally {
      this.setBusy(false)
    }
  }

  private setBusy(busy: boolean): void {
    this.busy = busy
    this.submitButton.disabled = busy
    this.form.setAttribute('aria-busy', String(busy))
  }

  private showError(message: string | undefined, field?: HTMLInputElement): void {
    this.error.textContent = message ?? ''
    this.error.hidden = message === undefined
    for (const input of [this.username, this.password, this.invite]) input.removeAttribute('aria-invalid')
    if (field) {
      field.setAttribute('aria-invalid', 'true')
      field.focus()
    }
  }
}
