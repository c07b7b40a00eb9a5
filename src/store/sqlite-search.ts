/**
 * The SQLite store's search (spec §7): two FTS5 trigram indexes (migration 0010, kept by the message
 * writer in each message's transaction) of messages' current text, one for public rooms and one for
 * private rooms and DMs, give the ids of messages whose text contains the query, newest first; the
 * messages table and the rooms' access rules (spec §6) decide which of them the caller may see.
 *
 * A room's visibility never changes once it has messages, so each message is indexed in the part it
 * belongs to for good, with its room's scope token beside its text. Membership does change, so the
 * caller's private rooms are read at each search and the private index is asked for the text AND one
 * of their tokens: a message in others' private rooms and DMs is never a candidate, never read. The
 * access check stays, for the tokens' rare collisions.
 *
 * bun:sqlite is synchronous, and a common string in 1 M messages matches a great many of them. So the
 * index is read a bounded stretch of ids at a time (at most SEARCH_CHUNK candidates), each stretch two
 * short statements, with the event loop free between stretches. What a stretch cannot bound is the
 * walk of a text AND a scope to their next common id: when the text is frequent only in others'
 * private rooms, it meets none of the caller's tokens and is walked to its end (~11 ms on 1 M messages
 * for a string in 5 % of them; see bench/search.ts, `other private`). A rowid bound does not shorten
 * it: FTS5 applies it to what the AND yields, not to its walk.
 */
import type { Database } from 'bun:sqlite'
import type { Message } from '../protocol.ts'
import type { SearchStore } from './search.ts'
import { quoteOf, toMessage, type MessageRow } from './stream.ts'

/**
 * The most candidates a step reads (the first reads a page's worth: nearly every candidate is
 * readable). On 1 M messages a step of 1024 costs ~2–22 ms (index; most for a phrase of common words,
 * deep in the ids) + ~4 ms (access check); see bench/search.ts.
 */
export const SEARCH_CHUNK = 1024
/** The least a step reads, however slow the index is for a phrase (a long one of common words). */
const SEARCH_MIN_CHUNK = 128
/** A step that took longer than this is not followed by a larger one; one that took twice as long, by a smaller one. */
const STEP_BUDGET_MS = 8

/**
 * A room's token in the indexes' `scope` column: the 32-bit FNV-1a of its name as three characters of
 * Unicode's private use area (11, 11 and 10 bits from U+E000), which no case folding changes. Three
 * characters are one trigram: matching a token is reading one term's list, with no phrase to check.
 * Two rooms' tokens may collide, which only costs work. Migration 0010 computes the same in SQL.
 */
export function searchScope(room: string): string {
  let hash = 2166136261
  for (let i = 0; i < room.length; i++) hash = Math.imul(hash ^ room.charCodeAt(i), 16777619) >>> 0
  return String.fromCharCode(0xe000 + (hash >>> 21), 0xe000 + ((hash >>> 10) & 0x7ff), 0xe000 + (hash & 0x3ff))
}

/**
 * The newest `chunk` ids below `before` that match, walking the index in descending rowid order (FTS5
 * answers ORDER BY rowid DESC and the rowid bound itself): public rooms alone, or merged with the
 * private index (no sort: each side comes in order).
 */
export const SEARCH_PUBLIC_SQL = `SELECT rowid AS id FROM messages_public_fts
  WHERE messages_public_fts MATCH $public AND rowid < $before
  ORDER BY rowid DESC LIMIT $chunk`
export const SEARCH_BOTH_SQL = `SELECT rowid AS id FROM messages_public_fts WHERE messages_public_fts MATCH $public AND rowid < $before
  UNION ALL SELECT rowid AS id FROM messages_private_fts WHERE messages_private_fts MATCH $private AND rowid < $before
  ORDER BY id DESC LIMIT $chunk`

/** The private rooms and DMs the caller is a member of now. */
const PRIVATE_ROOMS_SQL = `SELECT rm.room FROM room_members rm JOIN rooms r ON r.name = rm.room
  WHERE rm.user_id = $user AND r.visibility = 'private'`

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

/** An FTS5 phrase that matches `q` literally, whatever it holds: double quotes are doubled inside it. */
export function ftsPhrase(q: string): string {
  return `"${q.replaceAll('"', '""')}"`
}

/**
 * An FTS5 query: `q` in the text column (never in `scope`), and when `rooms` are given, in one of
 * their scopes.
 */
export function ftsQuery(q: string, rooms?: string[]): string {
  const text = `text : ${ftsPhrase(q)}`
  return rooms === undefined ? text : `${text} AND scope : (${[...new Set(rooms.map(searchScope))].map(ftsPhrase).join(' OR ')})`
}

/**
 * The writer's half, called in the message's transaction after its row is written: a new message is
 * marked private when its room is, and its text goes to the index of its room's visibility with its
 * scope; an edit replaces it, a deletion removes it.
 */
export function sqliteSearchIndex(client: Database) {
  const isPrivate = client.query<{ one: number }, { room: string }>(`SELECT 1 AS one FROM rooms WHERE name = $room AND visibility = 'private'`)
  const markPrivate = client.query(`UPDATE messages SET private = 1 WHERE id = $id`)
  const placeOf = client.query<{ room: string; private: number }, { id: number }>(`SELECT room, private FROM messages WHERE id = $id`)
  const tables = ['messages_public_fts', 'messages_private_fts']
  const add = tables.map((table) => client.query(`INSERT INTO ${table} (rowid, text, scope) VALUES ($id, $text, $scope)`))
  const remove = tables.map((table) => client.query(`DELETE FROM ${table} WHERE rowid = $id`))
  return {
    /** A new message of `room`: one look-up of the room's visibility (a message in a public room writes nothing more than its index entry). */
    stored(id: number, room: string, text: string): void {
      const inPrivate = isPrivate.get({ room }) ? 1 : 0
      if (inPrivate) markPrivate.run({ id })
      add[inPrivate]!.run({ id, text, scope: searchScope(room) })
    },
    edited(id: number, text: string): void {
      const { room, private: inPrivate } = placeOf.get({ id })!
      remove[inPrivate]!.run({ id })
      add[inPrivate]!.run({ id, text, scope: searchScope(room) })
    },
    deleted(id: number): void {
      remove[placeOf.get({ id })!.private]!.run({ id })
    },
  }
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

type CandidateParams = { public: string; private?: string; before: number; chunk: number }

export function sqliteSearch(client: Database): SearchStore {
  const publicOnly = client.query<{ id: number }, CandidateParams>(SEARCH_PUBLIC_SQL)
  const both = client.query<{ id: number }, CandidateParams>(SEARCH_BOTH_SQL)
  const privateRooms = client.query<{ room: string }, { user: number }>(PRIVATE_ROOMS_SQL)
  const readable = client.query<Row, { ids: string; room: string | null; user: number | null; limit: number }>(SEARCH_READABLE_SQL)

  return {
    async searchMessages({ q, userId, room, before, limit }) {
      const mine = userId === null ? [] : privateRooms.all({ user: userId }).map((r) => r.room)
      const inPrivate = room === undefined ? mine : mine.filter((name) => name === room)
      const inPublic = ftsQuery(q, room === undefined ? undefined : [room])
      const [candidates, match] = inPrivate.length === 0 ? [publicOnly, { public: inPublic }] : [both, { public: inPublic, private: ftsQuery(q, inPrivate) }]
      const found: Message[] = []
      let below = before ?? Number.MAX_SAFE_INTEGER
      // Nearly every candidate is readable, so most searches are answered by the first step, a page; one
      // with more to read (unreadable candidates are those of colliding tokens) goes on with larger steps
      // while they stay quick.
      for (let chunk = Math.min(limit, SEARCH_CHUNK); ;) {
        const started = performance.now()
        const ids = candidates.all({ ...match, before: below, chunk }).map((r) => r.id)
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
