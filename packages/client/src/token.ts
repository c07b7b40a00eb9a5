/** When to refresh a token: read `iat` and `exp` from the JWT (without verifying it: the server does) and lead expiry a little. */

/** Refresh at most this long before expiry... */
export const REFRESH_LEAD_MAX_MS = 5 * 60_000
/** ...and at least this share of the token's lifetime before it ends. */
export const REFRESH_LEAD_SHARE = 0.2
/** Up to this share of the lead is taken off at random, so that many clients sharing a start do not refresh at once. */
export const REFRESH_JITTER_SHARE = 0.5
/** After a refresh that failed for want of a network, try again this soon (while the token still lives). */
export const REFRESH_RETRY_MS = 15_000
/** setTimeout fires at once past 2^31 ms: a token that lives longer is looked at again after a day. */
const MAX_TIMER_MS = 86_400_000

/** `iat` and `exp` (epoch seconds) of a JWT; undefined when it does not look like one. */
export function readTokenTimes(token: string): { iat: number; exp: number } | undefined {
  const payload = token.split('.')[1]
  if (!payload) return undefined
  try {
    const base64 = payload
      .replace(/-/g, '+')
      .replace(/_/g, '/')
      .padEnd(Math.ceil(payload.length / 4) * 4, '=')
    const json: unknown = JSON.parse(atob(base64))
    if (typeof json !== 'object' || json === null) return undefined
    const { iat, exp } = json as { iat?: unknown; exp?: unknown }
    if (typeof exp !== 'number') return undefined
    return { iat: typeof iat === 'number' ? iat : exp - 86_400, exp }
  } catch {
    return undefined
  }
}

/** Milliseconds from `now` until a refresh of `token` is due (0 when overdue); undefined when the token has no `exp`. */
export function refreshDelay(token: string, now = Date.now(), random = Math.random()): number | undefined {
  const times = readTokenTimes(token)
  if (!times) return undefined
  const lead = Math.min(REFRESH_LEAD_MAX_MS, (times.exp - times.iat) * 1000 * REFRESH_LEAD_SHARE)
  const at = times.exp * 1000 - lead - random * REFRESH_JITTER_SHARE * lead
  return Math.min(Math.max(0, at - now), MAX_TIMER_MS)
}

/** True while the token's `exp` lies ahead (or it has none the SDK can read). */
export function isUnexpired(token: string, now = Date.now()): boolean {
  const times = readTokenTimes(token)
  return times === undefined || times.exp * 1000 > now
}
