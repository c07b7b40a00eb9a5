/**
 * The SQLite store's search (spec §7): the FTS5 trigram index `messages_fts` (migration 0009, kept by
 * the message writer in each message's transaction) gives the ids of messages whose current text
 * contains the query, newest first; the messages table and the rooms' access rules (spec §6) decide
 * which of them the caller may see.
 *
 * bun:sqlite is synchronous, and a common string in 1 M messages matches a great many of them, most of
 * which a caller may not be able to read (another's private rooms) or not want (`room`). So the index
 * is read a bounded stretch of ids at a time (at most SEARCH_CHUNK candidates), each stretch two short
 * statements, with the event loop free between stretches: no single step blocks it for more than ~20 ms
 * on 1 M messages, however many messages match.
 */
import type { Database } from 'bun:sqlite'
import type { Message } from '../protocol.ts'
import type { SearchStore } from './search.ts'
import { quoteOf, toMessage, type MessageRow } from './stream.ts'

/**
 * Candidates read from the index per step: the first step's, and the most any later step reads. On
 * 1 M messages a step of 1024 costs ~2–22 ms (index; most for a phrase of common words, deep in the
 * ids) + ~4 ms (access check); see bench/search.ts.
 */
export const SEARCH_FIRST_CHUNK = 256
export const SEARCH_CHUNK = 1024
/** The least a step reads, however slow the index is for a phrase (a long one of common words). */
const SEARCH_MIN_CHUNK = 128
/** A step that took longer than this is not followed by a larger one; one that took twice as long, by a smaller one. */
const STEP_BUDGET_MS = 8

/**
 * The newest `chunk` ids below `before` whose text contains the phrase, walking the index in
 * descending rowid order (FTS5 answers ORDER BY rowid DESC and the rowid bound itself).
 */
export const SEARCH_CANDIDATES_SQL = `SELECT rowid AS id FROM messages_fts
  WHERE messages_fts MATCH $match AND rowid < $before
  ORDER BY rowid DESC LIMIT $chunk`

/**
 * Those of the candidates (a JSON array of ids) that the caller may read, by primary key: messages
 * only (never an event), not deleted, in `room` when given, in a public room (no rooms row, or
 * 'public') or one the caller is a member of. A null `user` (anonymous) is nobody's member. With
 * the columns history reads, and the original of a reply for its quote (spec §7).
 */
export const SEARCH_READABLE_SQL = `SELECT m.id, m.room, m.user_id AS userId, m.username, m.text, m.nonce, m.created_at AS createdAt,
    m.edited_at AS editedAt, m.deleted, m.mentions, m.reply_to AS replyTo, m.attachments,
    o.user_id AS quoteUserId, o.username AS quoteUsername, o.text AS quoteText, o.deleted AS quoteDeleted
  FROM json_each($ids) c JOIN messages m ON m.id = c.value LEFT JOIN rooms r ON r.name = m.room
    LEFT JOIN messages o ON o.id = m.reply_to
  WHERE m.kind = 'message' AND m.deleted = 0 AND ($room IS NULL OR m.room = $room)
    AND (coalesce(r.visibility, 'public') = 'public' OR EXISTS (SELECT 1 FROM room_members rm WHERE rm.room = m.room AND rm.user_id = $user))
  ORDER BY m.id DESC LIMIT $limit`

/** An FTS5 query that matches `q` as one phrase, whatever it holds: double quotes are doubled inside it. */
export function ftsPhrase(q: string): string {
  return `"${q.replaceAll('"', '""')}"`
}

type Row = Omit<MessageRow, 'deleted'> & { deleted: number } & QuoteColumns
type QuoteColumns = { quoteUserId: number | null; quoteUsername: string; quoteText: string; quoteDeleted: number }

/** A found row as history shows it, with its reply's quote. */
function toFound({ quoteUserId, quoteUsername, quoteText, quoteDeleted, ...row }: Row): Message {
  const { replyTo } = row
  const quote =
    replyTo && quoteUserId !== null
      ? quoteOf({ id: replyTo, userId: quoteUserId, username: quoteUsername, text: quoteText, deleted: quoteDeleted === 1 })
      : undefined
  return toMessage({ ...row, deleted: row.deleted === 1 }, quote)
}

/** Lets whatever else is waiting on the event loop (sockets, other requests) run. */
const yieldTurn = () => new Promise<void>((resolve) => setImmediate(resolve))

export function sqliteSearch(client: Database): SearchStore {
  const candidates = client.query<{ id: number }, { match: string; before: number; chunk: number }>(SEARCH_CANDIDATES_SQL)
  const readable = client.query<Row, { ids: string; room: string | null; user: number | null; limit: number }>(SEARCH_READABLE_SQL)

  return {
    async searchMessages({ q, userId, room, before, limit }) {
      const match = ftsPhrase(q)
      const found: Message[] = []
      let below = before ?? Number.MAX_SAFE_INTEGER
      // Most searches are answered by the first, small step; a sparse one reads larger ones while they stay
      // quick. One room's matches are sparse among all, so its search starts with the largest.
      for (let chunk = room === undefined ? Math.max(SEARCH_FIRST_CHUNK, limit * 2) : SEARCH_CHUNK; ;) {
        const started = performance.now()
        const ids = candidates.all({ match, before: below, chunk }).map((r) => r.id)
        if (ids.length > 0) {
          const rows = readable.all({ ids: JSON.stringify(ids), room: room ?? null, user: userId, limit: limit - found.length })
          for (const row of rows) found.push(toFound(row))
        }
        if (found.length >= limit || ids.length < chunk) return found
        below = ids.at(-1)!
        const took = performance.now() - started
        if (took < STEP_BUDGET_MS) chunk = Math.min(chunk * 2, SEARCH_CHUNK)
        else if (took > 2 * STEP_BUDGET_MS) chunk = Math.max(chunk / 2, SEARCH_MIN_CHUNK)
        await yieldTurn()
      }
    },
  }
}
