/**
 * The PostgreSQL store's search (spec §7): a case-insensitive substring match (ILIKE) answered from
 * partial trigram indexes of messages that are not deleted (migration 0010), so any script and any
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
 * - Private rooms: for each private room the caller is a member of, its newest matches, walking
 *   `messages_room_kind_id` down (a common string) or reading the room's matches from
 *   `messages_private_text_trgm` (a rare one; room and trigrams in one GIN index, so only that room's
 *   are read). `private` has no statistics (migration 0010), so that the planner does not count the
 *   share of private messages against a room all of whose messages are private.
 *
 * `trigram` is false for a string without a word of 3 characters (emoji, punctuation; what pg_trgm
 * takes for a word's character also depends on the database's locale): it has no trigram to look up,
 * and a trigram index would be read whole for it, so the text is matched as an expression no index
 * has and the primary key and the rooms' indexes are walked instead (a CASE, which the planner
 * estimates at one row in two: a room is walked down, not read whole to be sorted).
 *
 * The access rule is checked again on the page, as every read of messages checks it. Exported so a
 * test can read its plan.
 */
export function searchStatement({ q, userId, room, before, limit }: SearchQuery, trigram: boolean): SQL {
  const pattern = likePattern(q)
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
        CROSS JOIN LATERAL (SELECT m.id FROM messages m
          WHERE m.room = rm.room AND m.kind = 'message' AND ${privateMatch} AND NOT m.deleted AND m.private AND m.id < ${below}
          ORDER BY m.id DESC LIMIT ${limit}) p
        WHERE rm.user_id = ${userId} ${room === undefined ? sql`` : sql`AND rm.room = ${room}`})
    )
    SELECT m.id, m.room, m.user_id AS "userId", m.username, m.text, m.nonce, m.created_at AS "createdAt",
      m.edited_at AS "editedAt", m.deleted, m.mentions, m.reply_to AS "replyTo", m.attachments,
      o.user_id AS "quoteUserId", o.username AS "quoteUsername", o.text AS "quoteText", o.deleted AS "quoteDeleted"
    FROM found f JOIN messages m ON m.id = f.id LEFT JOIN rooms r ON r.name = m.room LEFT JOIN messages o ON o.id = m.reply_to
    WHERE coalesce(r.visibility, 'public') = 'public' OR EXISTS (SELECT 1 FROM room_members rm WHERE rm.room = m.room AND rm.user_id = ${userId})
    ORDER BY m.id DESC LIMIT ${limit}`
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
 * Whether `q` holds a word of 3 characters whose trigrams pg_trgm extracts in this database (a trigram
 * without a blank is one of a word's own; a padded one is not looked up for a substring).
 */
async function hasTrigram(tx: Pick<Db, 'execute'>, q: string): Promise<boolean> {
  if (!/[\p{L}\p{N}]{3}/u.test(q)) return false
  const [row] = (await tx.execute(sql`SELECT EXISTS (SELECT 1 FROM unnest(show_trgm(${q})) t WHERE position(' ' IN t) = 0) AS found`)) as unknown as {
    found: boolean
  }[]
  return row?.found === true
}

export function postgresSearch(db: Db): SearchStore {
  return {
    searchMessages: (query) =>
      guard(async () => {
        const rows = await db.transaction(async (tx) => {
          // The driver prepares statements, and after five runs PostgreSQL may keep one generic plan for
          // every pattern: a walk down the primary key that suits a common word and reads the whole
          // table for a rare one (seconds on 1 M messages). Each search is planned for its own pattern.
          await tx.execute(sql`SET LOCAL plan_cache_mode = force_custom_plan`)
          return (await tx.execute(searchStatement(query, await hasTrigram(tx, query.q)))) as unknown as Record<string, unknown>[]
        })
        return rows.map(toFound)
      }),
  }
}
