/**
 * The PostgreSQL store's webhook delivery queue (src/store/webhooks.ts), shared by every instance: a
 * claim is one UPDATE whose rows are picked FOR UPDATE SKIP LOCKED and whose due time moves to the
 * lease's end, so two instances never claim the same delivery, and a claim whose instance dies comes
 * due again when the lease runs out.
 */
import { and, desc, eq, gte, inArray, lt, lte, sql } from 'drizzle-orm'
import type { BunSQLDatabase } from 'drizzle-orm/bun-sql'
import * as schema from '../../db/schema.pg.ts'
import { guard } from './postgres-connection.ts'
import type { DeliveryEvent, DeliveryStatus, WebhookStore } from './webhooks.ts'

const { webhookDeliveries } = schema

export type DeliveryMethods = 'queueDeliveries' | 'claimDeliveries' | 'releaseDeliveries' | 'finishDelivery' | 'listDeliveries' | 'pruneDeliveries'

// Bun's driver may hand bigint columns back as strings: every id, count and time read goes through Number.
const orNull = (value: unknown) => (value === null || value === undefined ? null : Number(value))

const deliveryColumns = {
  id: webhookDeliveries.id,
  event: webhookDeliveries.event,
  room: webhookDeliveries.room,
  messageId: webhookDeliveries.messageId,
  status: webhookDeliveries.status,
  attempts: webhookDeliveries.attempts,
  responseStatus: webhookDeliveries.responseStatus,
  error: webhookDeliveries.error,
  nextAttemptAt: webhookDeliveries.nextAttemptAt,
  createdAt: webhookDeliveries.createdAt,
  updatedAt: webhookDeliveries.updatedAt,
}

export function postgresDeliveries(db: BunSQLDatabase<typeof schema>): Pick<WebhookStore, DeliveryMethods> {
  return {
    queueDeliveries: (deliveries, at) =>
      guard(async () => {
        if (deliveries.length === 0) return
        await db.insert(webhookDeliveries).values(
          deliveries.map((d) => ({
            webhookId: d.webhookId,
            event: d.event,
            room: d.room,
            messageId: d.messageId,
            payload: d.payload,
            status: 'pending',
            attempts: 0,
            nextAttemptAt: at,
            createdAt: at,
            updatedAt: at,
          })),
        )
      }),
    claimDeliveries: (now, leaseUntil, limit, skip = []) =>
      guard(async () => {
        // One statement: the rows it picks are locked until it commits, and SKIP LOCKED makes another
        // instance's claim at the same moment pass them by (and then find them due later than now).
        const claimed = (await db.execute(
          sql`WITH due AS (
              SELECT id, next_attempt_at FROM webhook_deliveries
              WHERE status = 'pending' AND next_attempt_at <= ${now}
                AND NOT (webhook_id = ANY(${`{${skip.join(',')}}`}::bigint[]))
              ORDER BY next_attempt_at, id LIMIT ${limit}
              FOR UPDATE SKIP LOCKED)
            UPDATE webhook_deliveries d SET next_attempt_at = ${leaseUntil} FROM due WHERE d.id = due.id
            RETURNING d.id, d.webhook_id, d.payload, d.attempts, due.next_attempt_at AS due_at`,
        )) as unknown as Record<string, unknown>[]
        return claimed
          .map((r) => ({
            id: Number(r.id),
            webhookId: Number(r.webhook_id),
            payload: String(r.payload),
            attempts: Number(r.attempts),
            dueAt: Number(r.due_at),
          }))
          .sort((a, b) => a.dueAt - b.dueAt || a.id - b.id)
          .map(({ dueAt: _, ...delivery }) => delivery)
      }),
    releaseDeliveries: (ids, dueAt) =>
      guard(async () => {
        if (ids.length === 0) return
        await db
          .update(webhookDeliveries)
          .set({ nextAttemptAt: dueAt })
          .where(and(inArray(webhookDeliveries.id, ids), eq(webhookDeliveries.status, 'pending')))
      }),
    finishDelivery: (id, outcome) =>
      guard(async () => {
        await db
          .update(webhookDeliveries)
          .set({
            status: outcome.status,
            attempts: outcome.attempts,
            responseStatus: outcome.responseStatus,
            error: outcome.error,
            nextAttemptAt: outcome.nextAttemptAt,
            updatedAt: outcome.at,
          })
          .where(eq(webhookDeliveries.id, id))
      }),
    listDeliveries: (webhookId, { before, limit }) =>
      guard(async () =>
        (
          await db
            .select(deliveryColumns)
            .from(webhookDeliveries)
            // The webhook as a range of one, ordered as webhook_deliveries_webhook_id is: with `webhook_id = $1`
            // the planner drops webhook_id from the order (it is constant) and, for a webhook holding most
            // rows, walks the primary key down instead, reading the other webhooks' deliveries on its way.
            .where(
              and(
                gte(webhookDeliveries.webhookId, webhookId),
                lte(webhookDeliveries.webhookId, webhookId),
                before === undefined ? undefined : lt(webhookDeliveries.id, before),
              ),
            )
            .orderBy(desc(webhookDeliveries.webhookId), desc(webhookDeliveries.id))
            .limit(limit)
        ).map((d) => ({
          id: Number(d.id),
          event: d.event as DeliveryEvent,
          room: d.room,
          messageId: Number(d.messageId),
          status: d.status as DeliveryStatus,
          attempts: Number(d.attempts),
          responseStatus: orNull(d.responseStatus),
          error: d.error,
          nextAttemptAt: orNull(d.nextAttemptAt),
          createdAt: Number(d.createdAt),
          updatedAt: Number(d.updatedAt),
        })),
      ),
    pruneDeliveries: (before) =>
      guard(async () => {
        await db.delete(webhookDeliveries).where(lt(webhookDeliveries.createdAt, before))
      }),
  }
}
