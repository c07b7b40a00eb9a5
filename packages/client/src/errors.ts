/** One typed error for everything the SDK reports: the envelope's `error.type`, or the SDK's own few. */
import type { ErrorType } from './protocol.ts'

/**
 * `type` is the server's `error.type` (spec §1), or one of the SDK's own: NETWORK (the server could
 * not be reached, or answered something that is not the envelope), TIMEOUT (a wait ran out) and
 * CLOSED (the socket closed for good before an answer came).
 */
export type ChatErrorType = ErrorType | 'NETWORK' | 'TIMEOUT' | 'CLOSED'

export class ChatError extends Error {
  constructor(
    readonly type: ChatErrorType,
    message: string,
    /** The HTTP status; 0 when there was no HTTP answer (network, socket frames). */
    readonly status: number = 0,
    /** Seconds to wait before trying again, from a 429's `Retry-After`. */
    readonly retryAfter?: number,
  ) {
    super(message)
    this.name = 'ChatError'
  }
}

/** `Retry-After` as seconds: a delay in seconds or an HTTP date; undefined when absent or unreadable. */
export function parseRetryAfter(header: string | null, now = Date.now()): number | undefined {
  if (header === null || header.trim() === '') return undefined
  const seconds = Number(header)
  if (Number.isFinite(seconds) && seconds >= 0) return seconds
  const at = Date.parse(header)
  return Number.isNaN(at) ? undefined : Math.max(0, Math.ceil((at - now) / 1000))
}
