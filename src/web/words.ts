/** REST calls: the envelope (spec §1), typed errors, and the words a person reads for each error type. */
import {
  LIMITS,
  PATHS,
  type AdminUser,
  type AdminUserPage,
  type AuditPage,
  type Envelope,
  type ErrorType,
  type Invite,
  type Me,
  type MessagePage,
  type RegistrationMode,
  type Role,
  type RoomPage,
  type RoomSummary,
  type Session,
  type User,
} from '../protocol.ts'
import { ACCOUNT_PATHS } from './account-paths.ts'

/** `type` is the spec's error code, or NETWORK when the server could not be reached at all. */
export class ApiError extends Error {
  constructor(
    readonly type: ErrorType | 'NETWORK',
    message: string,
    readonly status: number,
    /** Seconds, from a 429's Retry-After. */
    readonly retryAfter?: number,
  ) {
    super(message)
    this.name = 'ApiError'
  }
}

const PLAIN_WORDS: Partial<Record<ErrorType | 'NETWORK', string>> = {
  USER_EXISTS: 'That username is taken. Pick another one.',
  USER_NOT_FOUND: 'There is no account with that username.',
  PASSWORD_MATCH_FAILED: 'That username and password do not match.',
  BAD_USERNAME: `Usernames are 1 to ${LIMITS.USERNAME_MAX_LENGTH} characters, with no spaces at the start or end and no invisible characters.`,
  BAD_PASSWORD: `Choose a password (at most ${LIMITS.SECRET_MAX_BYTES} bytes).`,
  BAD_BINDING: 'Fill in both the username and the password.',
  TOKEN_INVALID: 'Your session has ended. Please log in again.',
  TOKEN_EXPIRED: 'Your session has expired. Please log in again.',
  ROOM_INVALID: 'That is not a valid room name.',
  USER_BANNED: 'This account has been banned by an administrator.',
  INVITE_INVALID: 'That invite code is not valid: it may be used up, revoked or expired. Ask for a new one.',
  REGISTRATION_CLOSED: 'This server is not taking new accounts. Ask an administrator to add you.',
  FORBIDDEN: 'You are not allowed to do that.',
  LAST_ADMIN: 'The server must keep at least one administrator. Make someone else an admin first.',
  MESSAGE_NOT_FOUND: 'That message no longer exists.',
  ROOM_EXISTS: 'That room name is taken. Pick another one.',
  ROOM_NOT_FOUND: 'This room does not exist or is private.',
  UNAVAILABLE: 'The server is having trouble right now. Try again in a moment.',
  INTERNAL: 'Something went wrong on the server. Try again in a moment.',
  NETWORK: 'Cannot reach the server. Check your connection and try again.',
}

/** A sentence for a person, never a raw error code. */
export function describeError(err: unknown): string {
  if (!(err instanceof ApiError)) return PLAIN_WORDS.NETWORK!
  if (err.type === 'RATE_LIMITED') {
    const wait = err.retryAfter ? ` Try again in ${formatSeconds(err.retryAfter)}.` : ' Try again in a minute.'
    return `Too many attempts.${wait}`
  }
  return PLAIN_WORDS[err.type] ?? err.message
}

/** The sentence for an error type from a WebSocket `error` frame (or `fallback`, the server's own sentence). */
export function describeErrorType(type: string, fallback: string): string {
  return PLAIN_WORDS[type as ErrorType] ?? fallback
}

function formatSeconds(seconds: number): string {
  return seconds < 90 ? `${seconds} seconds` : `${Math.ceil(seconds / 60)} minutes`
}

export async function call<T>(method: string, path: string, opts: { body?: unknown; token?: string } = {}): Promise<T> {
  const headers: Record<string, string> = {}
  if (opts.body !== undefined) headers['Content-Type'] = 'application/json'
  if (opts.token !== undefined) headers.Authorization = `Bearer ${opts.token}`
  let res: Response
  try {
    res = await fetch(path, { method, headers, body: opts.body === undefined ? undefined : JSON.stringify(opts.body) })
  } catch {
    throw new ApiError('NETWORK', 'the server could not be reached', 0)
  }
  if (res.status === 204) return undefined as T
  let envelope: Envelope<T>
  try {
    envelope = await res.json()
  } catch {
    throw new ApiError(res.ok ? 'INTERNAL' : 'NETWORK', `unexpected ${res.status} response`, res.status)
  }
  if (envelope.error) {
    const retryAfter = Number(res.headers.get('Retry-After')) || undefined
    throw new ApiError(envelope.error.type, envelope.error.message, res.status, retryAfter)
  }
  return envelope.data
}

/** Sign-up; `invite` is the code an invite link carries (spec §5 REGISTRATION=invite). */
export function signUp(username: string, secret: string, invite?: string): Promise<User> {
  return call('POST', PATHS.users, { body: invite ? { username, secret, invite } : { username, secret } })
}

export function logIn(username: string, secret: string): Promise<Session> {
  return call('POST', PATHS.login, { body: { username, secret } })
}

/** A fresh token for a still-valid one (spec §2 `POST /api/v1/token`). */
export function refreshToken(token: string): Promise<Session> {
  return call('POST', PATHS.token, { token })
}

/** The logged-in user with their role (spec §5: the only user object that has one). */
export function fetchMe(token: string): Promise<Me> {
  return call('GET', PATHS.me, { token })
}

/** Changes the password; the answer's token is then the only valid one (spec §5). */
export function changePassword(token: string, secret: string, newSecret: string): Promise<Session> {
  return call('PUT', ACCOUNT_PATHS.password, { token, body: { secret, newSecret } })
}

/** Ends every session of this user, on every device. */
export function logOutEverywhere(token: string): Promise<void> {
  return call('POST', ACCOUNT_PATHS.logout, { token })
}

export function deleteAccount(token: string, secret: string): Promise<void> {
  return call('DELETE', PATHS.me, { token, body: { secret } })
}

export function listUsers(token: string, q: string, after?: number): Promise<AdminUserPage> {
  const query = new URLSearchParams({ q, limit: '50' })
  if (after !== undefined) query.set('after', String(after))
  return call('GET', `${ACCOUNT_PATHS.users}?${query}`, { token })
}

export function setRole(token: string, id: number, role: Role): Promise<Pick<AdminUser, 'id' | 'username' | 'role'>> {
  return call('PUT', ACCOUNT_PATHS.role(id), { token, body: { role } })
}

export function banUser(token: string, id: number, reason?: string): Promise<void> {
  return call('PUT', ACCOUNT_PATHS.ban(id), { token, body: reason ? { reason } : {} })
}

export function unbanUser(token: string, id: number): Promise<void> {
  return call('DELETE', ACCOUNT_PATHS.ban(id), { token })
}

export function resetPassword(token: string, id: number, newSecret: string): Promise<void> {
  return call('PUT', ACCOUNT_PATHS.resetPassword(id), { token, body: { newSecret } })
}

export async function listInvites(token: string): Promise<Invite[]> {
  return (await call<{ invites: Invite[] }>('GET', ACCOUNT_PATHS.invites, { token })).invites
}

/** `expiresIn` in seconds; undefined for an invite that never expires. */
export function createInvite(token: string, uses: number, expiresIn?: number): Promise<Invite> {
  return call('POST', ACCOUNT_PATHS.invites, { token, body: expiresIn === undefined ? { uses } : { uses, expiresIn } })
}

export function revokeInvite(token: string, code: string): Promise<void> {
  return call('DELETE', ACCOUNT_PATHS.invite(code), { token })
}

export async function getRegistration(token: string): Promise<RegistrationMode> {
  return (await call<{ registration: RegistrationMode }>('GET', ACCOUNT_PATHS.settings, { token })).registration
}

export async function setRegistration(token: string, registration: RegistrationMode): Promise<RegistrationMode> {
  return (await call<{ registration: RegistrationMode }>('PUT', ACCOUNT_PATHS.settings, { token, body: { registration } })).registration
}

export function listAudit(token: string, before?: number): Promise<AuditPage> {
  const query = new URLSearchParams({ limit: '50' })
  if (before !== undefined) query.set('before', String(before))
  return call('GET', `${ACCOUNT_PATHS.audit}?${query}`, { token })
}

/** The first page of the room list: the sidebar shows the 50 most recently active rooms, not every one. */
export async function listRooms(): Promise<RoomSummary[]> {
  return (await call<RoomPage>('GET', PATHS.rooms)).rooms
}

/** Up to `limit` messages older than `before`, oldest first; a private room's history needs a member's token (spec §6). */
export function listMessages(room: string, before: number, limit: number = LIMITS.PAGE_DEFAULT, token?: string): Promise<MessagePage> {
  return call('GET', `${PATHS.roomMessages(room)}?before=${before}&limit=${limit}`, { token })
}
