/** The words a person reads for each error type: never a raw error code. */
import { ChatError, LIMITS, type ChatErrorType } from '../../packages/client/src/index.ts'

const PLAIN_WORDS: Partial<Record<ChatErrorType, string>> = {
  USER_EXISTS: 'That username is taken. Pick another one.',
  USER_NOT_FOUND: 'There is no account with that username.',
  PASSWORD_MATCH_FAILED: 'That username and password do not match.',
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
  if (!(err instanceof ChatError)) return PLAIN_WORDS.NETWORK!
  if (err.type === 'RATE_LIMITED') {
    const wait = err.retryAfter ? ` Try again in ${formatSeconds(err.retryAfter)}.` : ' Try again in a minute.'
    return `Too many attempts.${wait}`
  }
  // The server says which of the name rules this one breaks (length, spaces, invisible characters, brackets, …).
  if (err.type === 'BAD_USERNAME') return `That username can't be used: ${err.message}.`
  return PLAIN_WORDS[err.type] ?? err.message
}

/** The sentence for an error type from a WebSocket `error` frame (or `fallback`, the server's own sentence). */
export function describeErrorType(type: string, fallback: string): string {
  return PLAIN_WORDS[type as ChatErrorType] ?? fallback
}

function formatSeconds(seconds: number): string {
  return seconds < 90 ? `${seconds} seconds` : `${Math.ceil(seconds / 60)} minutes`
}
