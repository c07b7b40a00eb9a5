/** The envelope (spec §1) and the one mapping from error type to HTTP status. */
import type { ErrorType } from '../errors.ts'

export const STATUS: Record<ErrorType, number> = {
  BAD_BINDING: 400,
  BAD_USERNAME: 400,
  BAD_PASSWORD: 400,
  USER_EXISTS: 409,
  USER_NOT_FOUND: 400,
  PASSWORD_MATCH_FAILED: 401,
  RATE_LIMITED: 429,
  ROOM_INVALID: 400,
  UPGRADE_REQUIRED: 426,
  BAD_QUERY: 400,
  TOKEN_INVALID: 401,
  TOKEN_EXPIRED: 401,
  MESSAGE_INVALID: 400,
  UNAVAILABLE: 503,
  NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
  PAYLOAD_TOO_LARGE: 413,
  INTERNAL: 500,
  BAD_REQUEST: 400,
  FORBIDDEN: 403,
  USER_BANNED: 403,
  LAST_ADMIN: 409,
  INVITE_INVALID: 403,
  REGISTRATION_CLOSED: 403,
  MESSAGE_NOT_FOUND: 404,
  ROOM_EXISTS: 409,
  ROOM_NOT_FOUND: 404,
}

/**
 * Where the admin API (spec §5) answers a type differently: an unknown user id there is 404, while
 * an unknown name at login stays the seed's 400.
 */
export const ADMIN_STATUS: Partial<Record<ErrorType, number>> = {
  USER_NOT_FOUND: 404,
}

/** Every envelope is JSON, and no browser may take it for anything else (an error message can echo what a client sent). */
const JSON_HEADERS = { 'Content-Type': 'application/json; charset=utf-8', 'X-Content-Type-Options': 'nosniff' }

export function ok(data: unknown, status = 200): Response {
  return new Response(JSON.stringify({ error: null, data }), { status, headers: JSON_HEADERS })
}

/** The success of an action with nothing to say (spec §1: a 204 has no body). */
export function noContent(): Response {
  return new Response(null, { status: 204 })
}

export function fail(type: ErrorType, message: string, headers?: Record<string, string>, status = STATUS[type]): Response {
  return new Response(JSON.stringify({ error: { type, message }, data: null }), {
    status,
    headers: { ...headers, ...JSON_HEADERS },
  })
}
