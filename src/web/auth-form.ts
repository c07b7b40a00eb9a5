/** The login / create-account form; API errors become sentences a person understands. */
import type { Session } from '../protocol.ts'
import { describeError, logIn, signUp } from './api.ts'
import { byId } from './dom.ts'

type Mode = 'login' | 'register'

export class AuthForm {
  /** A session was obtained (log in, or sign up followed by log in). */
  onSession: ((session: Session) => void) | undefined
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
      if (this.mode === 'register') await signUp(username, secret)
      const session = await logIn(username, secret)
      this.password.value = ''
      this.showError(undefined)
      this.onSession?.(session)
    } catch (err) {
      this.showError(describeError(err))
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
    for (const input of [this.username, this.password]) input.removeAttribute('aria-invalid')
    if (field) {
      field.setAttribute('aria-invalid', 'true')
      field.focus()
    }
  }
}
