/** The PostgreSQL store's history reads (spec §3, §7): pages of a room's messages, stretches of its stream, reactions. */
import { and, desc, eq, gt, lt, lte, or, type SQL as Condition } from 'drizzle-orm'
import type { BunSQLDatabase } from 'drizzle-orm/bun-sql'
import * as schema from '../../db/schema.pg.ts'
import { guard } from './postgres-connection.ts'
import { postgresConversationReads } from './postgres-conversation.ts'
import { toMessage, toStreamEvent, type MessageQuery, type StreamStore } from './stream.ts'

const { messages } = schema

/** `room` and an id range, for both history queries. */
function rangeOf(room: string, q: MessageQuery): Condition[] {
  const where: Condition[] = [eq(messages.room, room)]
  if (q.before !== undefined) where.push(lt(messages.id, q.before))
  if (q.after !== undefined) where.push(gt(messages.id, q.after))
  return where
}

export function postgresHistory(db: BunSQLDatabase<typeof schema>): Pick<StreamStore, 'listMessages' | 'listStream' | 'listReactions'> {
  const reads = postgresConversationReads(db)
  /** The id of the message just before the room's newest `n` (0 when it has no more), from the (room, kind, id) index. */
  const beforeNewest = async (room: string, n: number): Promise<number> => {
    const [row] = await db
      .select({ id: messages.id })
      .from(messages)
      .where(and(eq(messages.room, room), eq(messages.kind, 'message')))
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
          .where(and(...rangeOf(room, q), eq(messages.kind, 'message')))
          .orderBy(desc(messages.id))
          .limit(q.limit)
        const quotes = await reads.quotes(rows.flatMap((r) => (r.replyTo ? [r.replyTo] : [])))
        return rows.reverse().map((row) => toMessage(row, row.replyTo ? quotes.get(row.replyTo) : undefined))
      }),
    listStream: (room, q) =>
      guard(async () => {
        const changes = and(eq(messages.deleted, false), q.changesUpTo === undefined ? undefined : lte(messages.targetId, q.changesUpTo))
        const start = q.fromNewest === undefined ? 0 : await beforeNewest(room, q.fromNewest)
        const rows = await db
          .select()
          .from(messages)
          .where(and(...rangeOf(room, { ...q, after: Math.max(q.after ?? 0, start) }), or(eq(messages.kind, 'message'), changes)))
          .orderBy(desc(messages.id))
          .limit(q.limit)
        const quotes = await reads.quotes(rows.flatMap((r) => (r.replyTo ? [r.replyTo] : [])))
        return rows.reverse().map((row) => toStreamEvent(row, row.replyTo ? quotes.get(row.replyTo) : undefined))
      }),
    listReactions: (ids) => guard(() => reads.listReactions(ids)),
  }
}
