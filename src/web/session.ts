/**
 * The login session of the page: the SDK's (it logs in and refreshes the token before expiry), kept
 * in localStorage across reloads and followed across tabs, and the reason the page gives when it ends.
 */
import { readTokenTimes, type ChatClient, type Session } from '../../packages/client/src/index.ts'

const STORAGE_KEY = 'chat.session'

/**
 * Why a session ended: logged out here or everywhere, expired, refused (4001 / 401), revoked
 * elsewhere (4001 TOKEN_REVOKED, spec §5), banned (4003 / 403 USER_BANNED), or the account deleted.
 */
export type SessionEnd = 'logout' | 'logout-everywhere' | 'expired' | 'rejected' | 'revoked' | 'banned' | 'deleted'

export interface SessionEvents {
  /** A new session (login), a fresh token for the same one (refresh, password change), or a change made in another tab. */
  onChange(session: Session | undefined, why: 'login' | 'refresh' | 'other-tab' | SessionEnd): void
}

/** Only a JWT whose `exp` lies ahead is worth offering to the server. */
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
  constructor(
    private readonly client: ChatClient,
    private readonly events: SessionEvents,
  ) {
    client.on('session', (session, why) => {
      // `set` is a session restored here or taken from another tab: stored already.
      if (why === 'set') return
      if (session) localStorage.setItem(STORAGE_KEY, JSON.stringify(session))
      else localStorage.removeItem(STORAGE_KEY)
      if (why === 'login') events.onChange(session, 'login')
      else if (why === 'refresh' || why === 'password') events.onChange(session, 'refresh')
      else if (why === 'expired' || why === 'banned') events.onChange(undefined, why)
      // logout and deleted: end() announces them, with the page's own reason.
    })
    // Another tab logged in, out, or refreshed: follow it.
    window.addEventListener('storage', (e) => {
      if (e.key !== STORAGE_KEY && e.key !== null) return
      const next = readStored()
      if (next?.token === client.token) return
      client.setSession(next && isUsable(next.token) ? next : undefined)
      this.events.onChange(client.session, 'other-tab')
    })
    // Timers do not run while a laptop sleeps; check again when the page is looked at.
    document.addEventListener('visibilitychange', () => {
      if (document.visibilityState === 'visible') client.refreshIfDue()
    })
  }

  get current(): Session | undefined {
    return this.client.session
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
    this.client.setSession(stored)
    return 'restored'
  }

  end(why: SessionEnd): void {
    this.client.setSession(undefined, 'logout')
    this.events.onChange(undefined, why)
  }
}
