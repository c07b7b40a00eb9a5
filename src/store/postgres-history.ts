/** The PostgreSQL store's history reads (spec §3, §7): pages of a room's messages, stretches of its stream, reactions. */
import { and, desc, eq, gt, lt, lte, sql, type SQL as Condition } from 'drizzle-orm'
import type { BunSQLDatabase } from 'drizzle-orm/bun-sql'
import * as schema from '../../db/schema.pg.ts'
import { guard } from './postgres-connection.ts'
import { postgresConversationReads } from './postgres-conversation.ts'
import { toMessage, toStreamEvent, type MessageQuery, type StreamStore } from './stream.ts'

const { messages } = schema

/**
 * A room's messages and its events are in two partial indexes (db/schema.pg.ts). Their predicates are
 * written into the query's text: a bound parameter would not prove to a generic plan that it implies
 * the index's predicate, and that plan would leave both indexes aside.
 */
const IS_MESSAGE = sql`${messages.kind} = 'message'`
const IS_EVENT = sql`${messages.kind} <> 'message'`

/** `room` and an id range, for both history queries. */
function rangeOf(room: string, q: MessageQuery): Condition[] {
  const where: Condition[] = [eq(messages.room, room)]
  if (q.before !== undefined) where.push(lt(messages.id, q.before))
  if (q.after !== undefined) where.push(gt(messages.id, q.after))
  return where
}

export function postgresHistory(db: BunSQLDatabase<typeof schema>): Pick<StreamStore, 'listMessages' | 'listStream' | 'listReactions'> {
  const reads = postgresConversationReads(db)
  /** The id of the message just before the room's newest `n` (0 when it has no more), from the index of the room's messages. */
  const beforeNewest = async (room: string, n: number): Promise<number> => {
    const [row] = await db
      .select({ id: messages.id })
      .from(messages)
      .where(and(eq(messages.room, room), IS_MESSAGE))
      .orderBy(desc(messages.id))
      .limit(1)
      .offset(n)
    return row?.id ?? 0
  }
  return {
    listMessages: (room, q) =>
      guard(async () => {
        const rows = await db
          .select()
          .from(messages)
          .where(and(...rangeOf(room, q), IS_MESSAGE))
          .orderBy(desc(messages.id))
          .limit(q.limit)
        const quotes = await reads.quotes(rows.flatMap((r) => (r.replyTo ? [r.replyTo] : [])))
        return rows.reverse().map((row) => toMessage(row, row.replyTo ? quotes.get(row.replyTo) : undefined))
      }),
    listStream: (room, q) =>
      guard(async () => {
        const changes = and(eq(messages.deleted, false), q.changesUpTo === undefined ? undefined : lte(messages.targetId, q.changesUpTo))
        const start = q.fromNewest === undefined ? 0 : await beforeNewest(room, q.fromNewest)
        const range = rangeOf(room, { ...q, after: Math.max(q.after ?? 0, start) })
        // The messages' index and the events', never the table: merged by id (a Merge Append, which
        // the limit stops early) or, for a stretch the planner expects to be short, fetched and sorted.
        const rows = await db
          .select()
          .from(messages)
          .where(and(...range, IS_MESSAGE))
          .unionAll(
            db
              .select()
              .from(messages)
              .where(and(...range, IS_EVENT, changes)),
          )
          .orderBy(desc(messages.id))
          .limit(q.limit)
        const quotes = await reads.quotes(rows.flatMap((r) => (r.replyTo ? [r.replyTo] : [])))
        return rows.reverse().map((row) => toStreamEvent(row, row.replyTo ? quotes.get(row.replyTo) : undefined))
      }),
    listReactions: (ids) => guard(() => reads.listReactions(ids)),
  }
}
