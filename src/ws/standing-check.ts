/**
 * Whether a socket's token still stands (spec §5): a deleted account or a revoked token → 4001
 * TOKEN_REVOKED, a ban → 4003 BANNED. Read from the standing cache the change feed keeps
 * (auth/standing.ts), so it is a map lookup: the sweeper asks it of every socket, and a socket asks
 * it before storing anything, so a banned user's frames are refused even before the sweep closes it.
 */
import type { StandingCache } from '../auth/standing.ts'
import { REVOKED_MESSAGE } from '../auth/tokens.ts'
import { AppError } from '../errors.ts'
import { CLOSE, type CloseSpec } from '../protocol.ts'
import type { SocketData } from './socket-data.ts'

export type StandingSource = Pick<StandingCache, 'peek' | 'get'>

/** How to close a socket whose token no longer stands; undefined while it stands (or is not known yet). */
export function revocationOf(data: SocketData, standing: StandingSource): { close: CloseSpec; error: AppError } | undefined {
  const { user, ver } = data
  if (user === null || ver === undefined) return undefined
  const current = standing.peek(user.id)
  // Not cached (evicted, or reloading after a change): read it, and judge next time.
  if (current === undefined) return void standing.get(user.id).catch(() => {})
  if (current === null) return { close: CLOSE.TOKEN_REVOKED, error: new AppError('TOKEN_INVALID', 'this account was deleted') }
  if (current.banned) return { close: CLOSE.BANNED, error: new AppError('USER_BANNED', 'this account is banned') }
  // A version below the socket's means the cache is behind, not that the token is revoked.
  if (current.tokenVersion > ver) return { close: CLOSE.TOKEN_REVOKED, error: new AppError('TOKEN_INVALID', REVOKED_MESSAGE) }
  return undefined
}
