/**
 * Search (spec §7): checking a query, and the excerpt each match is shown with. Which messages match,
 * and which of them the caller may read (spec §6), is the store's to answer in one query.
 */
import type { AttemptLimiter } from '../auth/rate-limit.ts'
import { AppError } from '../errors.ts'
import { CONVERSATION_LIMITS, type Excerpt, type SearchPage } from '../protocol-conversation.ts'
import type { Message } from '../protocol.ts'
import type { Store } from '../store/store.ts'
import { toReactors, withReactions } from './reactions.ts'
import { checkRoomName } from './rooms.ts'
import { rateLimited } from './users.ts'

const { SEARCH_MIN_LENGTH, SEARCH_MAX_LENGTH, SEARCH_PAGE_DEFAULT } = CONVERSATION_LIMITS

/** The most code points an excerpt shows, its `…` marks included. */
export const EXCERPT_LENGTH = 160
const ELLIPSIS = '…'

export interface SearchRequest {
  /** As given (`?q=`); null when absent. */
  q: string | null
  /** `?room=`: only this room; undefined for every room the caller may read. */
  room?: string
  /** `?before=`: only messages with a smaller id. */
  before?: number
  limit?: number
}

/** `q` trimmed, if it is 3–200 code points; else BAD_QUERY. NUL, which no database text holds, is refused too. */
export function checkSearchText(q: string | null): string {
  const text = q?.trim() ?? ''
  const length = [...text].length
  if (length < SEARCH_MIN_LENGTH || length > SEARCH_MAX_LENGTH)
    throw new AppError('BAD_QUERY', `q must be ${SEARCH_MIN_LENGTH} to ${SEARCH_MAX_LENGTH} characters, not counting spaces around it`)
  if (text.includes('\u0000')) throw new AppError('BAD_QUERY', 'q must not contain NUL')
  return text
}

/**
 * Counts one search against the caller's budget (SEARCH_LIMIT_PER_MINUTE): a logged-in caller's own,
 * whatever address they search from; an anonymous caller's address's. Past it, 429 RATE_LIMITED with
 * Retry-After. Each search is bounded already; this bounds how many one caller makes the server run.
 */
export async function admitSearch(limit: AttemptLimiter, userId: number | null, address: string): Promise<void> {
  const taken = await limit.take(userId === null ? `address:${address}` : `user:${userId}`)
  if (!taken.ok) throw rateLimited('too many searches', taken.retryAfter)
}

/**
 * The messages `userId` (null: anonymous) may read whose text contains `q`, newest first, each as
 * history shows it (reactions with `me` for the caller) with its excerpt. A room the caller may not
 * read, or that does not exist, simply has no matches: the answer is the same either way (spec §6: a
 * private room is in no search result).
 */
export async function searchMessages(
  store: Pick<Store, 'searchMessages' | 'listReactions'>,
  userId: number | null,
  request: SearchRequest,
): Promise<SearchPage> {
  const q = checkSearchText(request.q)
  if (request.room !== undefined) checkRoomName(request.room)
  const limit = request.limit ?? SEARCH_PAGE_DEFAULT
  const found = await store.searchMessages({ q, userId, room: request.room, before: request.before, limit: limit + 1 })
  const hasMore = found.length > limit
  const page = found.slice(0, limit)
  // As history shows them (spec §7): reactions with `me` for this reader.
  const reactors = toReactors(page.length === 0 ? [] : await store.listReactions(page.map((m) => m.id)))
  const messages = withReactions(page, reactors, userId).map((message) => ({ ...message, excerpt: excerptOf(message, q) }))
  return { messages, hasMore }
}

function excerptOf(message: Message, q: string): Excerpt {
  return excerpt(message.text ?? '', q)
}

/** A code point compared as search compares it: case-insensitively. */
const fold = (c: string) => c.toLowerCase()

/** Start offsets (in code points) of the occurrences of `needle` in `hay`, left to right, none overlapping the one before (Knuth–Morris–Pratt: linear in both). */
function occurrences(hay: string[], needle: string[]): number[] {
  const fail = new Array<number>(needle.length).fill(0)
  for (let i = 1, k = 0; i < needle.length; i++) {
    while (k > 0 && needle[i] !== needle[k]) k = fail[k - 1]!
    if (needle[i] === needle[k]) k++
    fail[i] = k
  }
  const starts: number[] = []
  for (let i = 0, k = 0; i < hay.length; i++) {
    while (k > 0 && hay[i] !== needle[k]) k = fail[k - 1]!
    if (hay[i] === needle[k]) k++
    if (k === needle.length) {
      starts.push(i - k + 1)
      k = 0
    }
  }
  return starts
}

/**
 * A plain-text window of `text` of at most EXCERPT_LENGTH code points around the first occurrence of
 * `q` (case-insensitive), with `…` where it was cut, and `highlights`: the [start, end) code-point
 * ranges of every occurrence inside it (one that runs past the window's edge is cut there). Without
 * an occurrence (the database folds case a little differently), the text's beginning, nothing lit.
 */
export function excerpt(text: string, q: string): Excerpt {
  const chars = [...text]
  const needle = [...q].map(fold)
  const starts = occurrences(chars.map(fold), needle)
  if (chars.length <= EXCERPT_LENGTH) return { text, highlights: starts.map((s) => [s, s + needle.length]) }
  // Centre the first occurrence in what is left after the two marks, then keep the window inside the text.
  const room = EXCERPT_LENGTH - 2
  const first = starts[0] ?? 0
  let from = Math.max(0, first - Math.max(0, Math.floor((room - needle.length) / 2)))
  from = Math.min(from, chars.length - room)
  let to = from + room
  // A window at either end needs no mark there, which leaves one more code point for text.
  if (from === 0) to++
  else if (to === chars.length) from--
  const lead = from > 0 ? ELLIPSIS : ''
  const shown = lead + chars.slice(from, to).join('') + (to < chars.length ? ELLIPSIS : '')
  const offset = lead.length - from
  const highlights: [number, number][] = []
  for (const s of starts) {
    const start = Math.max(s, from)
    const end = Math.min(s + needle.length, to)
    if (start < end) highlights.push([start + offset, end + offset])
  }
  return { text: shown, highlights }
}
