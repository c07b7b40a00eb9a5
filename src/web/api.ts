/** REST calls: the envelope (spec §1), typed errors, and the words a person reads for each error type. */
import { LIMITS, PATHS, type Envelope, type ErrorType, type MessagePage, type RoomPage, type RoomSummary, type Session, type User } from '../protocol.ts'

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
  UNAVAILABLE: 'The server is having trouble right now. Try again in a moment.',
  INTERNAL: 'Something went wrong on the server. Try again in a moment.',
  NETWORK: 'Cannot reach the server. Check your connection and try again.',
}

/** A sentence for a person, never a raw error code. */
export function describeError(err: unknown): string {
  if (!(err instanceof ApiError)) return PLAIN_WORDS.NETWORK!
  if (err.type === 'RATE_LIMITED') {
    const wait = err.retryAfter ? ` Try again in ${formatSeconds(err.retryAfter)}.` : ' Try again in a minute.'
    return `Too many failed attempts.${wait}`
  }
  return PLAIN_WORDS[err.type] ?? err.message
}

function formatSeconds(seconds: number): string {
  return seconds < 90 ? `${seconds} seconds` : `${Math.ceil(seconds / 60)} minutes`
}

async function call<T>(method: string, path: string, opts: { body?: unknown; token?: string } = {}): Promise<T> {
  const headers: Record<string, string> = {}
  if (opts.body !== undefined) headers['Content-Type'] = 'application/json'
  if (opts.token !== undefined) headers.Authorization = `Bearer ${opts.token}`
  let res: Response
  try {
    res = await fetch(path, { method, headers, body: opts.body === undefined ? undefined : JSON.stringify(opts.body) })
  } catch {
    throw new ApiError('NETWORK', 'the server could not be reached', 0)
  }
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

export function signUp(username: string, secret: string): Promise<User> {
  return call('POST', PATHS.users, { body: { username, secret } })
}

export function logIn(username: string, secret: string): Promise<Session> {
  return call('POST', PATHS.login, { body: { username, secret } })
}

/** A fresh token for a still-valid one (spec §2 `POST /api/v1/token`). */
export function refreshToken(token: string): Promise<Session> {
  return call('POST', PATHS.token, { token })
}

export function fetchMe(token: string): Promise<User> {
  return call('GET', PATHS.me, { token })
}

/** The first page of the room list: the sidebar shows the 50 most recently active rooms, not every one. */
export async function listRooms(): Promise<RoomSummary[]> {
  return (await call<RoomPage>('GET', PATHS.rooms)).rooms
}

/** Up to `limit` messages older than `before`, oldest first. */
export function listMessages(room: string, before: number, limit = LIMITS.PAGE_DEFAULT): Promise<MessagePage> {
  return call('GET', `${PATHS.roomMessages(room)}?before=${before}&limit=${limit}`)
}
