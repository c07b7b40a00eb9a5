/**
 * The client's side of the close-code policy (spec §3), shared by the room sockets and the user
 * stream: how long to wait before reconnecting, how to keep a connection proven alive, and where to connect.
 */

export const BACKOFF_BASE_MS = 500
export const BACKOFF_MAX_MS = 30_000
/** 4029 means the server is full: come back much later (spec §3 "back off for a while"). */
export const BUSY_BASE_MS = 15_000
export const BUSY_MAX_MS = 5 * 60_000
/** An application ping; a connection that stays silent past the timeout is treated as dead. */
export const PING_EVERY_MS = 25_000
export const PONG_TIMEOUT_MS = 10_000

/** Exponential back-off with jitter: somewhere in the upper half of min(max, base·2^attempt). */
export function backoffDelay(attempt: number, baseMs: number, maxMs: number): number {
  const ceiling = Math.min(maxMs, baseMs * 2 ** attempt)
  return ceiling / 2 + (Math.random() * ceiling) / 2
}

/** The WebSocket URL of an API path on this page's server (wss: behind https:). */
export function socketUrl(path: string): string {
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:'
  return `${scheme}//${location.host}${path}`
}
