/**
 * How common a searched string is, judged from ANALYZE's samples of the messages' text, as the planner
 * would judge it: what decides whether a PostgreSQL search walks messages down or looks the string up in
 * a trigram index (src/store/postgres-search.ts).
 */
import { sql } from 'drizzle-orm'
import type { BunSQLDatabase } from 'drizzle-orm/bun-sql'
import type * as schema from '../../db/schema.pg.ts'

type Db = BunSQLDatabase<typeof schema>

/** How many times `limit` messages a busy private room's walk reads at most: as many as hold `limit` matches of a word in 1 message of WALK. */
export const WALK = 10

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
export function commonWords(): (tx: Pick<Db, 'execute'>, q: string) => Promise<{ private: boolean; public: boolean }> {
  let samples: Samples = { all: [], publicBounds: [], publicValues: [], publicShares: [], privateShare: 0 }
  let readAt = -Infinity
  return async (tx, q) => {
    if (performance.now() - readAt > SAMPLE_MS) {
      readAt = performance.now()
      const ofPublic = sql`s.schemaname = current_schema() AND s.tablename = 'messages' AND s.statistics_name = 'messages_public_text' AND NOT s.inherited`
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
    const rest = 1 - privateShare - publicShares.reduce((sum, share) => sum + share, 0)
    const boundsHolding = publicBounds.length === 0 ? 0 : (publicBounds.filter((text) => text.includes(needle)).length / publicBounds.length) * rest
    return {
      private: all.filter((text) => text.includes(needle)).length * WALK >= all.length,
      public: privateShare < 1 && (valuesHolding + boundsHolding) / (1 - privateShare) >= PUBLIC_COMMON,
    }
  }
}
