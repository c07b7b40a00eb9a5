/** The login session: token and user kept in localStorage, and a fresh token fetched before the old one expires (spec §3). */
import type { Session } from '../protocol.ts'
import { ApiError, refreshToken } from './api.ts'

const STORAGE_KEY = 'chat.session'
/** Refresh this long before expiry at most... */
const REFRESH_LEAD_MAX_MS = 5 * 60_000
/** ...and never later than this share of the token's lifetime before it ends. */
const REFRESH_LEAD_SHARE = 0.2
/** Up to this share of the lead is taken off at random (see schedule()). */
const REFRESH_JITTER_SHARE = 0.5
/** After a failed refresh (network down), try again this soon. */
const REFRESH_RETRY_MS = 15_000

/**
 * Why a session ended: logged out here or everywhere, expired, refused (4001 / 401), revoked
 * elsewhere (4001 TOKEN_REVOKED, spec §5), banned (4003 / 403 USER_BANNED), or the account deleted.
 */
export type SessionEnd = 'logout' | 'logout-everywhere' | 'expired' | 'rejected' | 'revoked' | 'banned' | 'deleted'

export interface SessionEvents {
  /** A new session (login), a fresh token for the same one (refresh), or a change made in another tab. */
  onChange(session: Session | undefined, why: 'login' | 'refresh' | 'other-tab' | SessionEnd): void
}

/** `iat` and `exp` (epoch seconds) from a JWT's payload; undefined when it does not look like one. */
export function readTokenTimes(token: string): { iat: number; exp: number } | undefined {
  const payload = token.split('.')[1]
  if (!payload) return undefined
  try {
    const json = JSON.parse(
      atob(
        payload
          .replace(/-/g, '+')
          .replace(/_/g, '/')
          .padEnd(Math.ceil(payload.length / 4) * 4, '='),
      ),
    )
    if (typeof json.exp !== 'number') return undefined
    return { iat: typeof json.iat === 'number' ? json.iat : json.exp - 86_400, exp: json.exp }
  } catch {
    return undefined
  }
}

/** How long before expiry to ask for a fresh token, in ms. */
function refreshLead(token: string): number {
  const times = readTokenTimes(token)
  return times ? Math.min(REFRESH_LEAD_MAX_MS, (times.exp - times.iat) * 1000 * REFRESH_LEAD_SHARE) : 0
}

/** When to ask for a fresh token, in epoch ms. */
export function refreshAt(token: string): number {
  const times = readTokenTimes(token)
  return times ? times.exp * 1000 - refreshLead(token) : 0
}

function isUsable(token: string): boolean {
  const times = readTokenTimes(token)
  return times !== undefined && times.exp * 1000 > Date.now()
}

function readStored(): Session | undefined {
  try {
    const value = JSON.parse(localStorage.getItem(STORAGE_KEY) ?? 'null')
    if (typeof value?.token === 'string' && typeof value?.user?.id === 'number' && typeof value?.user?.username === 'string') return value
  } catch {
    // unreadable: treat as logged out
  }
  return undefined
}

export class SessionKeeper {
  current: Session | undefined
  private timer: ReturnType<typeof setTimeout> | undefined

  constructor(private readonly events: SessionEvents) {
    // Another tab logged in, out, or refreshed: follow it.
    window.addEventListener('storage', (e) => {
      if (e.key !== STORAGE_KEY && e.key !== null) return
      const next = readStored()
      if (next?.token === this.current?.token) return
      this.current = next && isUsable(next.token) ? next : undefined
      this.schedule()
      this.events.onChange(this.current, 'other-tab')
    })
    // Timers do not run while a laptop sleeps; check again when the page is looked at.
    document.addEventListener('visibilitychange', () => {
      if (document.visibilityState === 'visible' && this.current && Date.now() >= refreshAt(this.current.token)) void this.refresh()
    })
  }

  /**
   * Reads the stored session. A token that is not a JWT or has already expired is dropped, and
   * the result says so, so the page can show the login form with a reason.
   */
  restore(): 'none' | 'restored' | 'expired' {
    const stored = readStored()
    if (!stored) return 'none'
    if (!isUsable(stored.token)) {
      localStorage.removeItem(STORAGE_KEY)
      return 'expired'
    }
    this.current = stored
    this.schedule()
    return 'restored'
  }

  start(session: Session): void {
    this.store(session)
    this.events.onChange(session, 'login')
  }

  /** A new token for the same user, obtained here (a password change): kept, and announced as a refresh. */
  replace(session: Session): void {
    this.store(session)
    this.events.onChange(session, 'refresh')
  }

  end(why: SessionEnd): void {
    this.current = undefined
    clearTimeout(this.timer)
    localStorage.removeItem(STORAGE_KEY)
    this.events.onChange(undefined, why)
  }

  /** Fetches a fresh token now; a 401 ends the session, a network failure retries later. */
  async refresh(): Promise<void> {
    const session = this.current
    if (!session) return
    try {
      const fresh = await refreshToken(session.token)
      if (this.current?.token !== session.token) return
      this.store(fresh)
      this.events.onChange(fresh, 'refresh')
    } catch (err) {
      if (this.current?.token !== session.token) return
      if (err instanceof ApiError && err.type === 'USER_BANNED') return this.end('banned')
      if (err instanceof ApiError && err.status === 401) return this.end('expired')
      clearTimeout(this.timer)
      if (isUsable(session.token)) this.timer = setTimeout(() => void this.refresh(), REFRESH_RETRY_MS)
      else this.end('expired')
    }
  }

  private store(session: Session): void {
    this.current = session
    localStorage.setItem(STORAGE_KEY, JSON.stringify(session))
    this.schedule()
  }

  private schedule(): void {
    clearTimeout(this.timer)
    if (!this.current) return
    // Jitter, so that several tabs sharing one token do not all refresh at once: the first one's
    // new token reaches the others through the storage event, and they reschedule.
    const at = refreshAt(this.current.token) - Math.random() * REFRESH_JITTER_SHARE * refreshLead(this.current.token)
    // setTimeout fires at once for delays past 2^31 ms; a token that lives that long is refreshed after a day instead.
    const delay = Math.min(Math.max(0, at - Date.now()), 86_400_000)
    this.timer = setTimeout(() => void this.refresh(), delay)
  }
}
