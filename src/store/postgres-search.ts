/**
 * The PostgreSQL store's search (spec §7): a case-insensitive substring match (ILIKE) answered from
 * partial trigram indexes of messages that are not deleted (migrations 0010, 0013), so any script and any
 * substring of 3 or more characters match, as SQLite's trigram index does. The indexes follow the
 * row: an edit replaces the text they know, a deletion takes the row out of them.
 *
 * A room's visibility never changes once it has messages, so each message carries `private` from its
 * insert, and public and private messages are searched apart, in one statement that asks for one
 * page: public rooms' messages from their own index, and private rooms' only in the rooms the caller
 * is a member of now, one room at a time. A message in others' private rooms and DMs is never read.
 * Public messages are matched as an expression with statistics of its own: judged by all messages, a
 * string frequent only in private rooms looks common to the planner, which then walks the primary key
 * down through the whole table (seconds on 1 M messages; see bench/search.ts, `other private`).
 */
import { sql, type SQL } from 'drizzle-orm'
import type { BunSQLDatabase } from 'drizzle-orm/bun-sql'
import type * as schema from '../../db/schema.pg.ts'
import type { Message } from '../protocol.ts'
import { guard } from './postgres-connection.ts'
import type { SearchQuery, SearchStore } from './search.ts'
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
 * - Public rooms: the text as `CASE WHEN private THEN NULL ELSE text END`, the expression of the
 *   index `messages_public_text_trgm` and of the statistics `messages_public_text`, so the planner
 *   judges the pattern by public messages alone: it reads a rare string from the trigram index and
 *   walks the primary key down for a common one. `kind = 'message' AND NOT deleted AND NOT private`
 *   repeat the partial index's predicate, without which the planner could not use it.
 * - Private rooms: for each private room the caller is a member of, its newest matches, read from
 *   `messages_private_room_trgm` (migration 0013), whose keys are the room's own trigrams
 *   (`messages_search_keys`: a hash of the room and a trigram), so a search reads that room's short
 *   posting lists, as long on 10 M messages as on 100 k; the room and the text are checked again on
 *   each candidate, so a hash that collides costs a read, never an answer (`privateFromKeys`; `trigrams`
 *   are the pattern's and `walk` whether busy rooms are walked first, from `preludeStatement`). `private`
 *   has no statistics (migration 0010), so that the planner does not count the share of private
 *   messages against a room all of whose messages are private.
 *
 * `trigrams` is empty for a string without a word of 3 characters (emoji, punctuation; what pg_trgm
 * takes for a word's character also depends on the database's locale): it has no trigram to look up,
 * and a trigram index would be read whole for it, so the text is matched as an expression no index
 * has and the primary key and the rooms' indexes are walked instead (a CASE, which the planner
 * estimates at one row in two: a room is walked down, not read whole to be sorted).
 *
 * The access rule is checked again on the page, as every read of messages checks it. Exported so a
 * test can read its plan.
 */
export function searchStatement({ q, userId, room, before, limit }: SearchQuery, trigrams: string[], walk: boolean): SQL {
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
  return sql`WITH found AS (
      (SELECT m.id FROM messages m
        WHERE ${publicMatch} AND m.kind = 'message' AND NOT m.deleted AND NOT m.private
          AND m.id < ${below} ${room === undefined ? sql`` : sql`AND m.room = ${room}`}
        ORDER BY m.id DESC LIMIT ${limit})
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

/** A room holding more messages than this is walked first for a common word (`privateFromKeys`). */
const BUSY_ROOM = 1000
/** How many times `limit` messages that walk reads at most: as many as hold `limit` matches of a word in 1 message of WALK. */
const WALK = 10

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
  const keys = sql`messages_search_keys(rm.room, ARRAY[${sql.join(
    trigrams.map((t) => sql`${t}`),
    sql`, `,
  )}]::text[])`
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

/**
 * What the search statement is given, read in one statement with the transaction's settings (below):
 *
 * - `trigrams`: those every text holding `q` has, in pg_trgm's form (show_trgm): those inside a word of
 *   `q`, which a text holding it has whatever surrounds it. A trigram pg_trgm pads at a word's edge (a
 *   blank beside the word) is left out: in the text the word may go on. Which are padded cannot be told
 *   from show_trgm alone (a trigram of a character of several bytes is shown as its hash), so those of
 *   each pair of `q`'s characters, which are all padded, are taken away. Empty when `q` has no word of
 *   3 characters in this database's locale.
 * - `busy`: whether the caller is in a private room of more than BUSY_ROOM messages (in `room` when
 *   given), which a common word walks first (`privateFromKeys`).
 *
 * Exported so a test can give `searchStatement` what the store would.
 */
export function preludeStatement({ q, userId, room }: SearchQuery): SQL {
  const trigrams = /[\p{L}\p{N}]{3}/u.test(q)
    ? sql`ARRAY(SELECT t FROM unnest(show_trgm(p.q)) t WHERE strpos(t, ' ') = 0
        AND t <> ALL (ARRAY(SELECT unnest(show_trgm(substr(p.q, i, 2))) FROM generate_series(1, length(p.q)) i)))`
    : sql`'{}'::text[]`
  // The driver prepares statements, and after five runs PostgreSQL may keep one generic plan for every
  // pattern: a walk down the primary key that suits a common word and reads the whole table for a rare
  // one (seconds on 1 M messages). Each search is planned for its own pattern. Nor is it compiled (JIT):
  // the planner cannot tell how few messages a room's keys hold, so on a large table its estimate passes
  // jit_above_cost, and compiling took ~40 ms of a search of a few.
  return sql`SELECT set_config('plan_cache_mode', 'force_custom_plan', true) AS plans, set_config('jit', 'off', true) AS jit,
      ${trigrams} AS trigrams,
      EXISTS (SELECT 1 FROM room_members rm JOIN rooms pr ON pr.name = rm.room AND pr.visibility = 'private'
        WHERE rm.user_id = ${userId} AND pr.message_count > ${BUSY_ROOM} ${room === undefined ? sql`` : sql`AND rm.room = ${room}`}) AS busy
    FROM (SELECT ${q}::text AS q) p`
}

/** How long ANALYZE's sample of the messages' text (`commonWords`) is kept before it is read again. */
const SAMPLE_MS = 10 * 60_000

/**
 * Whether a pattern is common, as the planner judges one: held by at least 1 of WALK of the texts of
 * ANALYZE's sample of the column (its histogram, ~100 messages), read at most every SAMPLE_MS, and only
 * for a caller in a busy room (reading it costs a few ms; comparing with it, nothing). Without a sample
 * (never analysed) every pattern counts as common: the walk is bounded, the index read is not.
 */
function commonWords(): (tx: Pick<Db, 'execute'>, q: string) => Promise<boolean> {
  let sample: string[] = []
  let readAt = -Infinity
  return async (tx, q) => {
    if (performance.now() - readAt > SAMPLE_MS) {
      readAt = performance.now()
      const rows = (await tx.execute(sql`SELECT lower(v) AS v FROM pg_stats s, unnest(s.histogram_bounds::text::text[]) v
        WHERE s.schemaname = current_schema() AND s.tablename = 'messages' AND s.attname = 'text' AND NOT s.inherited`)) as unknown as { v: string }[]
      sample = rows.map((r) => r.v)
    }
    const needle = q.toLowerCase()
    return sample.filter((text) => text.includes(needle)).length * WALK >= sample.length
  }
}

export function postgresSearch(db: Db): SearchStore {
  const common = commonWords()
  return {
    searchMessages: (query) =>
      guard(async () => {
        const rows = await db.transaction(async (tx) => {
          const [{ trigrams, busy }] = (await tx.execute(preludeStatement(query))) as unknown as [{ trigrams: string[]; busy: boolean }]
          const walk = busy && trigrams.length > 0 && (await common(tx, query.q))
          return (await tx.execute(searchStatement(query, trigrams, walk))) as unknown as Record<string, unknown>[]
        })
        return rows.map(toFound)
      }),
  }
}
