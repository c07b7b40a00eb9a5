/**
 * The SQLite store's search (spec §7): two FTS5 trigram indexes of messages' current text (written in
 * batches after the messages' commits, sqlite-search-indexer.ts), one for public rooms and one for private rooms and
 * DMs, give the ids of messages whose text contains the query, newest first; the messages table and the
 * rooms' access rules (spec §6) decide which of them the caller may see.
 *
 * A room's visibility never changes once it has messages, so each message is indexed in the part it
 * belongs to for good. Public messages are indexed by id, with their room's scope token beside the
 * text (for a search in one room). Private ones are indexed by a rowid that puts each room's messages
 * in a stretch of their own (migration 0013, privateRowid), and a search reads the stretch of each
 * private room the caller is a member of now, by rowid range: FTS5 seeks to the stretch in every list
 * it walks, so what it reads grows with the caller's rooms, not with everyone's private messages. A
 * message in others' private rooms and DMs is never a candidate, never read; the access check stays,
 * for rooms that share a stretch.
 *
 * bun:sqlite is synchronous, and a common string in 1 M messages matches a great many of them. So the
 * indexes are read a bounded stretch of ids at a time (at most SEARCH_CHUNK candidates), with the
 * event loop free between stretches. What a stretch cannot bound is a search in one public room of a
 * text frequent elsewhere: the text AND the room's token is walked to their next common id.
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

/** The 32-bit FNV-1a of a room's name (its scope token and its stretch; migrations 0010 and 0013 compute the same in SQL). */
function fnv1a(room: string): number {
  let hash = 2166136261
  for (let i = 0; i < room.length; i++) hash = Math.imul(hash ^ room.charCodeAt(i), 16777619) >>> 0
  return hash
}

/**
 * A room's token in the public index's `scope` column: its FNV-1a as three characters of Unicode's
 * private use area (11, 11 and 10 bits from U+E000), which no case folding changes. Three characters
 * are one trigram: matching a token is reading one term's list, with no phrase to check. Two rooms'
 * tokens may collide, which only costs work.
 */
export function searchScope(room: string): string {
  const hash = fnv1a(room)
  return String.fromCharCode(0xe000 + (hash >>> 21), 0xe000 + ((hash >>> 10) & 0x7ff), 0xe000 + (hash & 0x3ff))
}

/**
 * Each private room's stretch of the private index: the 2^33 rowids above its base, the top 20 bits of
 * its FNV-1a times 2^33. A message's rowid counts down from the stretch's end by its id, newest first,
 * because FTS5 seeks to a rowid bound in its lists only walking up (walking down, it steps through
 * every entry above the bound: ~7 ms against ~0.5 for a common word on 10 M messages). 20 + 33 bits
 * stay within a JS number's 2^53. Ids past 2^33 (8.6 billion messages) would spill into the previous
 * stretch, where the access check drops them: they would go unfound, never shown to others. Rooms
 * whose names share a base (1 in ~1 M pairs) share a stretch, which only costs work.
 */
export const STRETCH = 2 ** 33
export const privateBase = (room: string): number => (fnv1a(room) >>> 12) * STRETCH

/**
 * A public message's rowid in the public index: its id down from 2^53 - 1, so that newest first is
 * ascending rowids, the one direction FTS5 seeks in (migration 0018). Read descending, as ids were,
 * a common word's page stepped back through the lists: 0.77 against 0.26 ms on 10 M messages.
 */
export const PUBLIC_TOP = Number.MAX_SAFE_INTEGER
export const publicRowid = (id: number): number => PUBLIC_TOP - id

/**
 * The newest `chunk` ids below `before` that match, as FTS5 walks the index (it answers the ORDER BY
 * and the rowid bounds itself, no sorter): the public index up from the rowid of `before`, and one
 * private room's stretch up from the rowid of `before` (`from`) to its end.
 */
export const SEARCH_PUBLIC_SQL = `SELECT ${PUBLIC_TOP} - rowid AS id FROM messages_public_fts
  WHERE messages_public_fts MATCH $public AND rowid > ${PUBLIC_TOP} - $before
  ORDER BY rowid LIMIT $chunk`
export const SEARCH_STRETCH_SQL = `SELECT $end - rowid AS id FROM messages_private_fts
  WHERE messages_private_fts MATCH $text AND rowid > $from AND rowid < $end
  ORDER BY rowid LIMIT $chunk`

/**
 * The private rooms and DMs the caller is a member of now, with each one's newest message id (one
 * seek of `messages_room_message_id`; read from the messages themselves, which the index holds, rather
 * than from the room's row): the caller's memberships first, then each room's row. CROSS JOIN holds
 * that order: without statistics the planner may instead walk every private room in the
 * (visibility, …) index and probe the caller's membership of each.
 */
const PRIVATE_ROOMS_SQL = `SELECT rm.room, (SELECT max(m.id) FROM messages m WHERE m.room = rm.room AND m.kind = 'message') AS newest
  FROM room_members rm CROSS JOIN rooms r ON r.name = rm.room
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
 * An FTS5 query: `q` in the text column (never in `scope`), and when `room` is given, in its scope.
 */
export function ftsQuery(q: string, room?: string): string {
  const text = `text : ${ftsPhrase(q)}`
  return room === undefined ? text : `${text} AND scope : ${ftsPhrase(searchScope(room))}`
}

/**
 * A public message's entry: its rowid (publicRowid), its text and its room's scope; a private one's: its
 * rowid (privateRowid) and its text. FTS5 writes out what it holds whenever a rowid is not above the one
 * before, so many entries are added in ascending rowids (sqlite-search-indexer.ts, sortedForIndex).
 */
export const INDEX_PUBLIC_SQL = `INSERT INTO messages_public_fts (rowid, text, scope) VALUES ($rowid, $text, $scope)`
export const INDEX_PRIVATE_SQL = `INSERT INTO messages_private_fts (rowid, text) VALUES ($rowid, $text)`

/** A private message's rowid in the private index: in its room's stretch, its id down from the end. */
export const privateRowid = (room: string, id: number): number => privateBase(room) + STRETCH - id

/**
 * The writer's half, called in the change's transaction: an edit of an indexed message replaces its
 * entry, a deletion removes it. One not indexed yet is left to the indexer (sqlite-search-indexer.ts),
 * which reads it as it is then. A new message is written with `private` set from its room's row
 * (sqlite-stream.ts), and the indexer adds it to the index of that visibility.
 */
export function sqliteSearchIndex(client: Database, indexer: { covers(id: number): boolean }) {
  const placeOf = client.query<{ room: string; private: number }, { id: number }>(`SELECT room, private FROM messages WHERE id = $id`)
  const addPublic = client.query(INDEX_PUBLIC_SQL)
  const addPrivate = client.query(INDEX_PRIVATE_SQL)
  const removePublic = client.query(`DELETE FROM messages_public_fts WHERE rowid = $rowid`)
  const removePrivate = client.query(`DELETE FROM messages_private_fts WHERE rowid = $rowid`)
  const remove = (id: number, room: string, inPrivate: boolean) =>
    inPrivate ? removePrivate.run({ rowid: privateRowid(room, id) }) : removePublic.run({ rowid: publicRowid(id) })
  return {
    edited(id: number, text: string): void {
      if (!indexer.covers(id)) return
      const { room, private: inPrivate } = placeOf.get({ id })!
      remove(id, room, inPrivate === 1)
      if (inPrivate === 1) addPrivate.run({ rowid: privateRowid(room, id), text })
      else addPublic.run({ rowid: publicRowid(id), text, scope: searchScope(room) })
    },
    deleted(id: number): void {
      if (!indexer.covers(id)) return
      const { room, private: inPrivate } = placeOf.get({ id })!
      remove(id, room, inPrivate === 1)
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

export function sqliteSearch(client: Database, indexer: { catchUp(): Promise<void> }): SearchStore {
  const publicIndex = client.query<{ id: number }, { public: string; before: number; chunk: number }>(SEARCH_PUBLIC_SQL)
  const stretch = client.query<{ id: number }, { text: string; from: number; end: number; chunk: number }>(SEARCH_STRETCH_SQL)
  const privateRooms = client.query<{ room: string; newest: number | null }, { user: number }>(PRIVATE_ROOMS_SQL)
  const readable = client.query<Row, { ids: string; room: string | null; user: number | null; limit: number }>(SEARCH_READABLE_SQL)

  return {
    async searchMessages({ q, userId, room, before, limit }) {
      // What was posted before the search is found by it.
      await indexer.catchUp()
      const mine = userId === null ? [] : privateRooms.all({ user: userId })
      const inPrivate = room === undefined ? mine : mine.filter((r) => r.room === room)
      // Each stretch to read, with the newest message id of the caller's rooms in it (rooms whose names share a stretch share its read).
      const stretches = new Map<number, number>()
      for (const r of inPrivate) {
        const end = privateBase(r.room) + STRETCH
        stretches.set(end, Math.max(stretches.get(end) ?? 0, r.newest ?? 0))
      }
      // A search in one of the caller's private rooms has nothing to find in the public index.
      const inPublic = room === undefined || inPrivate.length === 0 ? ftsQuery(q, room) : undefined
      const text = ftsQuery(q)
      /** The newest `chunk` candidates below `below`: each source's newest, merged. */
      const candidates = (below: number, chunk: number): number[] => {
        const ids = inPublic === undefined ? [] : publicIndex.all({ public: inPublic, before: below, chunk }).map((r) => r.id)
        if (stretches.size === 0) return ids
        // With a full chunk from the public index, a stretch whose rooms' newest message is older than
        // the last of it has nothing for this chunk: its read, a seek in every segment of each of the
        // text's trigram lists, is skipped (most of a common word's search on a large index). A room
        // with no message has nothing at all.
        const floor = ids.length === chunk ? ids[chunk - 1]! : 0
        for (const [end, newest] of stretches) {
          if (newest <= floor) continue
          for (const { id } of stretch.all({ text, from: end - Math.min(below, STRETCH), end, chunk })) ids.push(id)
        }
        return ids.sort((x, y) => y - x).slice(0, chunk)
      }
      const found: Message[] = []
      let below = before ?? Number.MAX_SAFE_INTEGER
      // Nearly every candidate is readable, so most searches are answered by the first step, a page; one
      // with more to read (unreadable candidates are those of rooms sharing a scope or a stretch) goes on
      // with larger steps while they stay quick.
      for (let chunk = Math.min(limit, SEARCH_CHUNK); ;) {
        const started = performance.now()
        const ids = candidates(below, chunk)
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
