/**
 * Periodic checks that would be per-frame work otherwise: slow readers (spec §3: more than
 * SLOW_CONSUMER_BYTES waiting → 1013 alone), expired tokens (4001 TOKEN_EXPIRED), and the standing
 * of each socket's user (spec §5): a revoked token → 4001 TOKEN_REVOKED, a ban → 4003 BANNED. The
 * standing comes from the cache the change feed keeps (auth/standing.ts), so a sweep is a map
 * lookup per socket, and a change made anywhere closes the sockets here within a second or so.
 */
import { AppError } from '../errors.ts'
import { CLOSE } from '../protocol.ts'
import type { SocketResponder } from './respond.ts'
import type { RoomSocket } from './socket-data.ts'
import { revocationOf, type StandingSource } from './standing-check.ts'

export interface SweeperOptions {
  sockets: () => Iterable<RoomSocket>
  respond: SocketResponder
  slowConsumerBytes: number
  /** The users' standing; without it, only slow readers and expiry are checked. */
  standing?: StandingSource
  /** Epoch ms. */
  now: () => number
  everyMs?: number
}

/** Starts sweeping; the returned function stops it. */
export function startSweeper({ sockets, respond, slowConsumerBytes, standing, now, everyMs = 250 }: SweeperOptions): () => void {
  /** Closes `ws` if its user's standing no longer allows its token. */
  function judge(ws: RoomSocket): void {
    const revoked = standing && revocationOf(ws.data, standing)
    if (revoked) respond.shut(ws, revoked.close, revoked.error)
  }

  const timer = setInterval(() => {
    const nowSeconds = now() / 1000
    for (const ws of sockets()) {
      if (ws.data.state === 'closing') continue
      if (ws.getBufferedAmount() > slowConsumerBytes) respond.shut(ws, CLOSE.SLOW_CONSUMER)
      else if (ws.data.exp !== undefined && ws.data.exp <= nowSeconds)
        respond.shut(ws, CLOSE.TOKEN_EXPIRED, new AppError('TOKEN_EXPIRED', 'the token has expired; refresh it and reconnect with ?since='))
      else judge(ws)
    }
  }, everyMs)
  return () => clearInterval(timer)
}
