/**
 * Periodic checks that would be per-frame work otherwise: slow readers (spec §3: more than
 * SLOW_CONSUMER_BYTES waiting → 1013 alone) and expired tokens (4001 TOKEN_EXPIRED).
 */
import { AppError } from '../errors.ts'
import { CLOSE } from '../protocol.ts'
import type { SocketResponder } from './respond.ts'
import type { RoomSocket } from './socket-data.ts'

export interface SweeperOptions {
  sockets: () => Iterable<RoomSocket>
  respond: SocketResponder
  slowConsumerBytes: number
  /** Epoch ms. */
  now: () => number
  everyMs?: number
}

/** Starts sweeping; the returned function stops it. */
export function startSweeper({ sockets, respond, slowConsumerBytes, now, everyMs = 250 }: SweeperOptions): () => void {
  const timer = setInterval(() => {
    const nowSeconds = now() / 1000
    for (const ws of sockets()) {
      if (ws.data.state === 'closing') continue
      if (ws.getBufferedAmount() > slowConsumerBytes) respond.shut(ws, CLOSE.SLOW_CONSUMER)
      else if (ws.data.exp !== undefined && ws.data.exp <= nowSeconds)
        respond.shut(ws, CLOSE.TOKEN_EXPIRED, new AppError('TOKEN_EXPIRED', 'the token has expired; refresh it and reconnect with ?since='))
    }
  }, everyMs)
  return () => clearInterval(timer)
}
