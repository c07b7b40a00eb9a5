/**
 * The PostgreSQL store's search (spec §7): a case-insensitive substring match (ILIKE) answered from
 * partial trigram indexes of messages that are not deleted (migrations 0010, 0013), so any script and any
 * substring of 3 or more characters match, as SQLite's trigram index does. The indexes follow the
 * row: an edit replaces the text they know, a deletion takes the row out of them.
 *
 * A room's visibility never changes once it has messages, so each message carries `private` from its
 * insert, and public and private messages are searched apart, in one statement that asks for one
 * page: public rooms' messages from their own index (migration 0020), and private rooms' only in the
 * rooms the caller is a member of now, one room at a time. A message in others' private rooms and DMs
 * is never read. Public messages are matched as an expression with statistics of its own: judged by
 * all messages, a string frequent only in private rooms would look common, and be walked down the
 * primary key through the whole table (seconds on 1 M messages; see bench/search.ts, `other private`).
 */
import { sql, type SQL } from 'drizzle-orm'
import type { BunSQLDatabase } from 'drizzle-orm/bun-sql'
import type * as schema from '../../db/schema.pg.ts'
import type { Message } from '../protocol.ts'
import { guard } from './postgres-connection.ts'
import type { SearchQuery, SearchStore } from './search.ts'
import { BUSY_ROOM, searchPlanner, WALK, type SearchPlan } from './postgres-search-plan.ts'
import { quoteOf, toMessage, type MessageRow } from './stream.ts'

type Db = BunSQLDatabase<typeof schema>

/** `q` as a LIKE pattern that matches it anywhere, literally: `\`, `%` and `_` are escaped (`\` is LIKE's default escape). */
export function likePattern(q: string): string {
  return `%${q.replace(/[\\%_]/g, (c) => `\\${c}`)}%`
}

/**
 * One page: the newest `limit` messages below `before` whose text contains `q`, that the caller may
 * read (a public room, or one they are a member of; a null user is nobody's member), in `room` when
 * given, with the columns history reads and the original of a reply for its quote.
 *
 * - Public rooms, a string rare in them: bucket by bucket, newest first, from
 *   `messages_public_bucket_trgm` (migration 0020, `publicFromBuckets`), until a page is found.
 * - Public rooms, a common string or a small room (`plan.publicWalk`), or a string without a trigram:
 *   the primary key (or the room's messages) walked down, each row tested, which finds a page of a common string in a few
 *   times its length. The text is tested as `CASE WHEN private THEN NULL ELSE text END`, the
 *   expression of the statistics `messages_public_text`, so the planner judges the pattern by public
 *   messages alone. `kind = 'message' AND NOT deleted AND NOT private` repeat the public index's
 *   predicate, without which the planner could not use it.
 * - Private rooms: for each private room the caller is a member of, its newest matches, read from
 *   `messages_private_room_trgm` (migration 0013), whose keys are the room's own trigrams
 *   (`messages_search_keys`: a hash of the room and a trigram), so a search reads that room's short
 *   posting lists, as long on 10 M messages as on 100 k; the room and the text are checked again on
 *   each candidate, so a hash that collides costs a read, never an answer (`privateFromKeys`). `private`
 *   has no statistics (migration 0010), so that the planner does not count the share of private
 *   messages against a room all of whose messages are private.
 *
 * `trigrams` is empty for a string without a word of 3 characters (emoji, punctuation; what pg_trgm
 * takes for a word's character also depends on the database's locale): it has no trigram to look up,
 * so the text is matched as an expression no index has and the primary key and the rooms' indexes are
 * walked instead (a CASE, which the planner estimates at one row in two: a room is walked down, not
 * read whole to be sorted).
 *
 * The access rule is checked again on the page, as every read of messages checks it. Exported so a
 * test can read its plan.
 */
export function searchStatement({ q, userId, room, before, limit }: SearchQuery, { trigrams, walk, publicWalk }: SearchPlan): SQL {
  const pattern = likePattern(q)
  const trigram = trigrams.length > 0
  const below = before ?? Number.MAX_SAFE_INTEGER
  // Without a trigram each row on the walk is tested; a string with no cased letter (emoji, punctuation)
  // matches the same folded or not, so it is a byte search (strpos) rather than ILIKE, which lowercases
  // every row's text first (several times dearer: ~60 ms against a few for a page of a rare emoji).
  const caseless = isCaseless(q)
  const publicMatch = trigram
    ? sql`(CASE WHEN m.private THEN NULL ELSE m.text END) ILIKE ${pattern}`
    : caseless
      ? sql`strpos(m.text, ${q}) > 0`
      : sql`(m.text || '') ILIKE ${pattern}`
  const privateMatch = trigram
    ? sql`m.text ILIKE ${pattern}`
    : sql`(CASE WHEN ${caseless ? sql`strpos(m.text, ${q}) > 0` : sql`m.text ILIKE ${pattern}`} THEN true ELSE false END)`
  const publicFound =
    trigram && !publicWalk
      ? publicFromBuckets(trigrams, publicMatch, below, room, limit)
      : sql`(SELECT m.id FROM messages m
        WHERE ${publicMatch} AND m.kind = 'message' AND NOT m.deleted AND NOT m.private
          AND m.id < ${below} ${room === undefined ? sql`` : sql`AND m.room = ${room}`}
        ORDER BY m.id DESC LIMIT ${limit})`
  return sql`WITH found AS (
      ${publicFound}
      UNION ALL
      (SELECT p.id FROM room_members rm JOIN rooms pr ON pr.name = rm.room AND pr.visibility = 'private'
        CROSS JOIN LATERAL ${trigram ? privateFromKeys(trigrams, walk, privateMatch, below, limit) : privateWalked(privateMatch, below, limit)} p
        WHERE rm.user_id = ${userId} ${room === undefined ? sql`` : sql`AND rm.room = ${room}`})
    )
    SELECT m.id, m.room, m.user_id AS "userId", m.username, m.text, m.nonce, m.created_at AS "createdAt",
      m.edited_at AS "editedAt", m.deleted, m.mentions, m.reply_to AS "replyTo", m.attachments,
      o.user_id AS "quoteUserId", o.username AS "quoteUsername", o.text AS "quoteText", o.deleted AS "quoteDeleted"
    FROM found f JOIN messages m ON m.id = f.id LEFT JOIN rooms r ON r.name = m.room LEFT JOIN messages o ON o.id = m.reply_to
    WHERE coalesce(r.visibility, 'public') = 'public' OR EXISTS (SELECT 1 FROM room_members rm WHERE rm.room = m.room AND rm.user_id = ${userId})
    ORDER BY m.id DESC LIMIT ${limit}`
}

/** The index keys (`messages_search_keys`) of `trigrams` in `scope`: a room's name, or a public bucket's number as text. */
const keysOf = (scope: SQL, trigrams: string[]) =>
  sql`messages_search_keys(${scope}, ARRAY[${sql.join(
    trigrams.map((t) => sql`${t}`),
    sql`, `,
  )}]::text[])`

/** A public message's bucket is its id shifted right by this (migration 0020's index): blocks of 2^20 ids, ~1 M messages. */
const BUCKET_BITS = 20

/**
 * The newest `limit` public messages below `below` that `match`, in `room` when given, from
 * `messages_public_bucket_trgm` (migration 0020): the buckets from the newest down, each one's messages
 * holding its keys of every trigram of the pattern, checked for their bucket and text and sorted; the
 * LIMIT stops the walk at the first buckets that hold a page, so a rare string reads at most a bucket's
 * matches more than it keeps. A string found nowhere looks up each bucket's few short lists (~10 on
 * 10 M messages).
 *
 * As in `privateFromKeys`, the keys are the index subquery's only condition (OFFSET 0 keeps the others
 * out of it): with a bound on the id or the room in it, the planner could read a bucket's rows down the
 * primary key or the room's messages, once a bucket. The buckets come in order because a nested loop
 * yields its outer rows' results in their order, and a LATERAL subquery can only be joined by one; the
 * prelude turns parallel plans off, whose gathering would not keep it. The shift is written into the
 * statement, not bound, as the index's expression must be matched as written.
 */
function publicFromBuckets(trigrams: string[], match: SQL, below: number, room: string | undefined, limit: number): SQL {
  const shift = sql.raw(String(BUCKET_BITS))
  const keys = keysOf(sql`b.n::text`, trigrams)
  return sql`(SELECT x.id FROM generate_series((SELECT coalesce(max(n.id), 0) FROM messages n WHERE n.id < ${below}) >> ${shift}, 0, -1) b(n)
      CROSS JOIN LATERAL (SELECT k.id FROM (SELECT m.id, m.room FROM messages m
          WHERE m.kind = 'message' AND NOT m.deleted AND NOT m.private
            AND messages_search_keys((m.id >> ${shift})::text, show_trgm(m.text)) OPERATOR(pg_catalog.@>) ${keys} AND ${match} OFFSET 0) k
        WHERE (k.id >> ${shift}) = b.n AND k.id < ${below} ${room === undefined ? sql`` : sql`AND k.room = ${room}`}
        ORDER BY k.id DESC LIMIT ${limit}) x
      LIMIT ${limit})`
}

/** One private room's (`rm.room`) newest `limit` messages below `below` that `match`, walking the room down. */
const privateWalked = (match: SQL, below: number, limit: number) =>
  sql`(SELECT m.id FROM messages m
    WHERE m.room = rm.room AND m.kind = 'message' AND ${match} AND NOT m.deleted AND m.private AND m.id < ${below}
    ORDER BY m.id DESC LIMIT ${limit})`

/**
 * One private room's (`rm.room`, of `pr`) newest `limit` messages below `below` that `match`, from
 * `messages_private_room_trgm`: the messages that hold the room's keys of every trigram of the pattern
 * (`OPERATOR(pg_catalog.@>)`: the array operator of the index's opclass, even where intarray's `@>` for
 * int[] is installed), then their room, id and text are checked. That is the only condition the index
 * subquery has (OFFSET 0 keeps the others out of it), so the planner cannot read the room's rows by
 * `messages_room_message_id` instead, nor the primary key down: either reads as much as the room or the table.
 *
 * The index yields a room's matches unordered, so in a busy room a common word would read thousands to
 * keep `limit`. When `walk` (the caller is in a busy room, and the word is common: `commonWords`),
 * the newest `WALK × limit` messages of a room of more than BUSY_ROOM are walked first (ids from
 * `messages_room_message_id` alone, then each row by id), and when they hold `limit` matches those are the
 * answer and the index is not read. Smaller rooms (nearly all) go to the index at once: a walk would read
 * their rows, which lie spread over the whole table; so does a rarer word, which a walk would not find.
 */
function privateFromKeys(trigrams: string[], walk: boolean, match: SQL, below: number, limit: number): SQL {
  const keys = keysOf(sql`rm.room`, trigrams)
  const found = (gate: SQL) => sql`(SELECT k.id FROM (SELECT m.id, m.room FROM messages m
      WHERE ${gate} m.kind = 'message' AND NOT m.deleted AND m.private
        AND messages_search_keys(m.room, show_trgm(m.text)) OPERATOR(pg_catalog.@>) ${keys} AND ${match} OFFSET 0) k
    WHERE k.room = rm.room AND k.id < ${below} ORDER BY k.id DESC LIMIT ${limit})`
  if (!walk) return found(sql``)
  return sql`(SELECT x.id FROM (SELECT CASE WHEN pr.message_count > ${BUSY_ROOM} THEN ARRAY(
        SELECT w.id FROM (SELECT n.id FROM messages n WHERE n.room = rm.room AND n.kind = 'message' AND n.id < ${below}
          ORDER BY n.id DESC LIMIT ${WALK * limit}) w JOIN messages m ON m.id = w.id
        WHERE ${match} AND NOT m.deleted AND m.private ORDER BY w.id DESC LIMIT ${limit}) END AS ids OFFSET 0) walked
    CROSS JOIN LATERAL (SELECT unnest(walked.ids) AS id WHERE cardinality(walked.ids) = ${limit}
      UNION ALL ${found(sql`coalesce(cardinality(walked.ids), 0) < ${limit} AND`)}) x)`
}

/** True when folding case changes nothing in `q`: it has no cased letter. */
const isCaseless = (q: string) => q.toLowerCase() === q && q.toUpperCase() === q

/** A found row as history shows it, with its reply's quote. Bun's driver hands bigint columns back as strings. */
function toFound(row: Record<string, unknown>): Message {
  const { quoteUserId, quoteUsername, quoteText, quoteDeleted, ...rest } = row
  const replyTo = rest.replyTo === null ? null : Number(rest.replyTo)
  const message = {
    ...(rest as unknown as MessageRow),
    id: Number(rest.id),
    userId: Number(rest.userId),
    createdAt: Number(rest.createdAt),
    editedAt: rest.editedAt === null ? null : Number(rest.editedAt),
    replyTo,
  }
  const quote =
    replyTo !== null && quoteUserId !== null
      ? quoteOf({ id: replyTo, userId: Number(quoteUserId), username: String(quoteUsername), text: String(quoteText), deleted: quoteDeleted === true })
      : undefined
  return toMessage(message, quote)
}

export function postgresSearch(db: Db): SearchStore {
  const plan = searchPlanner()
  return {
    searchMessages: (query) =>
      guard(async () => {
        const rows = await db.transaction(
          async (tx) => (await tx.execute(searchStatement(query, await plan(tx, query)))) as unknown as Record<string, unknown>[],
        )
        return rows.map(toFound)
      }),
  }
}
