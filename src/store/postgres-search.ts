/**
 * The PostgreSQL store's search (spec §7): a case-insensitive substring match (ILIKE) answered from
 * the partial trigram index `messages_text_trgm` (migration 0009: messages that are not deleted), so
 * any script and any substring of 3 or more characters match, as SQLite's trigram index does. The
 * index follows the row: an edit replaces the text it knows, a deletion takes the row out of it.
 * The rooms' access rules (spec §6) are part of the same statement, which asks for one page.
 *
 * Known limit: the planner estimates how often a pattern matches, not how many of the matches the
 * caller may read. A string found only in others' private rooms is answered by walking the primary
 * key down the whole table (seconds on 1 M messages; see bench/search.ts, `other private`). A bounded
 * walk (sqlite-search.ts's stretches) was measured here too: it halves that case but makes every
 * ordinary search slower, since each stretch is planned without the page's LIMIT.
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
 * given, with the columns history reads and the original of a reply for its quote. `kind = 'message'
 * AND NOT deleted` repeat the partial index's own predicate, without which the planner could not use
 * it: it reads a rare string from the trigram index and walks the primary key down for a common one.
 * Exported so a test can read its plan.
 */
export function searchStatement({ q, userId, room, before, limit }: SearchQuery): SQL {
  return sql`SELECT m.id, m.room, m.user_id AS "userId", m.username, m.text, m.nonce, m.created_at AS "createdAt",
      m.edited_at AS "editedAt", m.deleted, m.mentions, m.reply_to AS "replyTo", m.attachments,
      o.user_id AS "quoteUserId", o.username AS "quoteUsername", o.text AS "quoteText", o.deleted AS "quoteDeleted"
    FROM messages m LEFT JOIN rooms r ON r.name = m.room LEFT JOIN messages o ON o.id = m.reply_to
    WHERE m.text ILIKE ${likePattern(q)} AND m.kind = 'message' AND NOT m.deleted
      AND m.id < ${before ?? Number.MAX_SAFE_INTEGER}
      ${room === undefined ? sql`` : sql`AND m.room = ${room}`}
      AND (coalesce(r.visibility, 'public') = 'public'
        OR EXISTS (SELECT 1 FROM room_members rm WHERE rm.room = m.room AND rm.user_id = ${userId}))
    ORDER BY m.id DESC LIMIT ${limit}`
}

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
  return {
    searchMessages: (query) =>
      guard(async () => {
        const rows = await db.transaction(async (tx) => {
          // The driver prepares statements, and after five runs PostgreSQL may keep one generic plan for
          // every pattern: a walk down the primary key that suits a common word and reads the whole
          // table for a rare one (seconds on 1 M messages). Each search is planned for its own pattern.
          await tx.execute(sql`SET LOCAL plan_cache_mode = force_custom_plan`)
          return (await tx.execute(searchStatement(query))) as unknown as Record<string, unknown>[]
        })
        return rows.map(toFound)
      }),
  }
}
