/**
 * What a PostgreSQL search is given before its statement (src/store/postgres-search.ts): the pattern's
 * trigrams and the caller's rooms, read by a prelude, and how common the pattern is, judged from
 * ANALYZE's samples of the messages' text as the planner would judge it. These decide whether the
 * statement walks messages down or looks the pattern up in a trigram index.
 */
import { sql, type SQL } from 'drizzle-orm'
import type { BunSQLDatabase } from 'drizzle-orm/bun-sql'
import type * as schema from '../../db/schema.pg.ts'
import type { SearchQuery } from './search.ts'

type Db = BunSQLDatabase<typeof schema>

/** A room holding more messages than this is walked first for a common word (`privateFromKeys`), and one holding at most this many is walked whole for any. */
export const BUSY_ROOM = 1000
/** How many times `limit` messages a busy private room's walk reads at most: as many as hold `limit` matches of a word in 1 message of WALK. */
export const WALK = 10

/** What the store decided for a search before its statement (`postgresSearch`). */
export interface SearchPlan {
  /** The pattern's trigrams, from `preludeStatement`; empty when it has no word of 3 characters. */
  trigrams: string[]
  /** Whether the caller's busy private rooms are walked first (`privateFromKeys`). */
  walk: boolean
  /**
   * Whether public messages are walked down rather than looked up bucket by bucket: the pattern is
   * common in public rooms (`commonWords`), or the search is in a room of at most BUSY_ROOM messages.
   */
  publicWalk: boolean
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
 * - `small`: whether `room` is given and holds at most BUSY_ROOM messages, which are walked whole
 *   sooner than each bucket's matches of the whole server are read for them.
 */
function preludeStatement({ q, userId, room }: SearchQuery): SQL {
  const trigrams = /[\p{L}\p{N}]{3}/u.test(q)
    ? sql`ARRAY(SELECT t FROM unnest(show_trgm(p.q)) t WHERE strpos(t, ' ') = 0
        AND t <> ALL (ARRAY(SELECT unnest(show_trgm(substr(p.q, i, 2))) FROM generate_series(1, length(p.q)) i)))`
    : sql`'{}'::text[]`
  // The driver prepares statements, and after five runs PostgreSQL may keep one generic plan for every
  // pattern: a walk down the primary key that suits a common word and reads the whole table for a rare
  // one (seconds on 1 M messages). Each search is planned for its own pattern. Nor is it compiled (JIT):
  // the planner cannot tell how few messages a room's keys hold, so on a large table its estimate passes
  // jit_above_cost, and compiling took ~40 ms of a search of a few. Nor is it run in parallel, whose
  // gathering would not keep the public buckets' order (`publicFromBuckets`).
  return sql`SELECT set_config('plan_cache_mode', 'force_custom_plan', true) AS plans, set_config('jit', 'off', true) AS jit,
      set_config('max_parallel_workers_per_gather', '0', true) AS parallel,
      ${trigrams} AS trigrams,
      EXISTS (SELECT 1 FROM room_members rm JOIN rooms pr ON pr.name = rm.room AND pr.visibility = 'private'
        WHERE rm.user_id = ${userId} AND pr.message_count > ${BUSY_ROOM} ${room === undefined ? sql`` : sql`AND rm.room = ${room}`}) AS busy,
      ${room === undefined ? sql`false` : sql`coalesce((SELECT r.message_count <= ${BUSY_ROOM} FROM rooms r WHERE r.name = ${room}), true)`} AS small
    FROM (SELECT ${q}::text AS q) p`
}

/**
 * What a search's statement is given (`SearchPlan`): the prelude's trigrams, busy rooms and small room,
 * and how common the pattern is. Exported so a test can plan a statement as the store does.
 */
export function searchPlanner(): (tx: Pick<Db, 'execute'>, query: SearchQuery) => Promise<SearchPlan> {
  const common = commonWords()
  return async (tx, query) => {
    const [{ trigrams, busy, small }] = (await tx.execute(preludeStatement(query))) as unknown as [{ trigrams: string[]; busy: boolean; small: boolean }]
    const judged = trigrams.length > 0 ? await common(tx, query.q) : { private: false, public: false }
    return { trigrams, walk: busy && judged.private, publicWalk: small || judged.public }
  }
}

/** How long ANALYZE's samples of the messages' text (`commonWords`) are kept before they are read again. */
const SAMPLE_MS = 10 * 60_000
/**
 * The share of public messages from which a string is walked down rather than looked up bucket by
 * bucket: a page of 20 of a string in 1 of 200 public messages is ~4 000 rows walked, as many as a
 * bucket holds of its matches (~700 000 public messages a bucket on the bench's data): rarer strings
 * cost less looked up, commoner ones walked. One text of the sample's histogram is about 1 %, so in
 * practice a string the sample holds at all is walked.
 */
const PUBLIC_COMMON = 1 / 200

/** ANALYZE's samples as `commonWords` reads them; every text in lower case. */
interface Samples {
  /** The histogram of all messages' text (~100 texts). */
  all: string[]
  /** Of the public messages' text (the statistics `messages_public_text`): its histogram, its most common values and their shares, and the share of private messages (NULL). */
  publicBounds: string[]
  publicValues: string[]
  publicShares: number[]
  privateShare: number
}

/**
 * Whether a pattern is common, as the planner judges one, from ANALYZE's samples, read at most every
 * SAMPLE_MS (reading them costs a few ms; comparing with them, nothing):
 *
 * - `private`: held by at least 1 of WALK of the histogram's texts of all messages, for a caller in a
 *   busy private room (`privateFromKeys`). Without a sample (never analysed) every pattern counts as
 *   common there: the walk is bounded, the index read is not.
 * - `public`: held by at least PUBLIC_COMMON of public messages, estimated as the planner does from
 *   the most common values' shares and the histogram's texts. Without a sample it is not: a bucket is
 *   bounded, the walk down the primary key is not.
 */
function commonWords(): (tx: Pick<Db, 'execute'>, q: string) => Promise<{ private: boolean; public: boolean }> {
  let samples: Samples = { all: [], publicBounds: [], publicValues: [], publicShares: [], privateShare: 0 }
  let readAt = -Infinity
  return async (tx, q) => {
    if (performance.now() - readAt > SAMPLE_MS) {
      readAt = performance.now()
      // messages has no children, so its expression statistics are its own (PostgreSQL 14's view has no `inherited`).
      const ofPublic = sql`s.schemaname = current_schema() AND s.tablename = 'messages' AND s.statistics_name = 'messages_public_text'`
      const [row] = (await tx.execute(sql`SELECT
          ARRAY(SELECT lower(v) FROM pg_stats s, unnest(s.histogram_bounds::text::text[]) v
            WHERE s.schemaname = current_schema() AND s.tablename = 'messages' AND s.attname = 'text' AND NOT s.inherited) AS "all",
          ARRAY(SELECT lower(v) FROM pg_stats_ext_exprs s, unnest(s.histogram_bounds::text::text[]) v WHERE ${ofPublic}) AS "publicBounds",
          ARRAY(SELECT lower(v) FROM pg_stats_ext_exprs s, unnest(s.most_common_vals::text::text[]) v WHERE ${ofPublic}) AS "publicValues",
          ARRAY(SELECT v::float8 FROM pg_stats_ext_exprs s, unnest(s.most_common_freqs) v WHERE ${ofPublic}) AS "publicShares",
          coalesce((SELECT s.null_frac::float8 FROM pg_stats_ext_exprs s WHERE ${ofPublic}), 0) AS "privateShare"`)) as unknown as [Samples]
      samples = row
    }
    const needle = q.toLowerCase()
    const { all, publicBounds, publicValues, publicShares, privateShare } = samples
    const valuesHolding = publicValues.reduce((sum, text, i) => sum + (text.includes(needle) ? publicShares[i]! : 0), 0)
    const rest = Math.max(0, 1 - privateShare - publicShares.reduce((sum, share) => sum + share, 0))
    const boundsHolding = publicBounds.length === 0 ? 0 : (publicBounds.filter((text) => text.includes(needle)).length / publicBounds.length) * rest
    return {
      private: all.filter((text) => text.includes(needle)).length * WALK >= all.length,
      public: privateShare < 1 && (valuesHolding + boundsHolding) / (1 - privateShare) >= PUBLIC_COMMON,
    }
  }
}
