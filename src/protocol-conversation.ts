/**
 * The wire protocol of spec §7 beside protocol.ts: search results, conversation limits and paths.
 * (Replies, reactions and attachments on messages are in protocol.ts, with the Message they belong to.)
 * Imports nothing but the protocol.
 */
import type { Message } from './protocol.ts'

/** Where a search matched: `text` a plain-text window of the message, `highlights` code-point ranges [start, end) into it. */
export interface Excerpt {
  text: string
  highlights: [number, number][]
}

/** `GET /api/v1/search` (spec §7): matches the caller may read, newest first. */
export interface SearchPage {
  messages: (Message & { excerpt: Excerpt })[]
  hasMore: boolean
}

/** Limits of spec §7. */
export const CONVERSATION_LIMITS = {
  /** A reply's quote of its original, in code points, the final `…` included. */
  QUOTE_MAX_LENGTH: 200,
  /** Different emoji on one message; the next one is refused. */
  REACTIONS_MAX: 20,
  /** Search page size: default and most (`?limit=`). */
  SEARCH_PAGE_DEFAULT: 20,
  SEARCH_PAGE_MAX: 100,
  /** A search needs at least this many characters (code points): the index is of trigrams. */
  SEARCH_MIN_LENGTH: 3,
  SEARCH_MAX_LENGTH: 200,
  /** The largest upload by default (ATTACHMENT_MAX_BYTES). */
  ATTACHMENT_MAX_BYTES: 10 * 1024 * 1024,
  /** Attachments one message may carry. */
  ATTACHMENTS_PER_MESSAGE: 10,
} as const

/** Paths of spec §7, for clients that build URLs. */
export const CONVERSATION_PATHS = {
  search: '/api/v1/search',
  /** `POST` the raw bytes, `?filename=` the name to show. */
  upload: (room: string) => `/api/v1/rooms/${encodeURIComponent(room)}/attachments`,
  /** Where an attachment is served (the `url` an upload answers). */
  attachment: (id: string) => `/api/v1/attachments/${encodeURIComponent(id)}`,
} as const
