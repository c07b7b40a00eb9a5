/** The SQLite store's bots-and-webhooks tables (src/store/webhooks.ts). One instance alone: a claim needs no locking. */
import type { Database } from 'bun:sqlite'
import { and, asc, desc, eq, inArray, lt, lte, notInArray } from 'drizzle-orm'
import type { BunSQLiteDatabase } from 'drizzle-orm/bun-sqlite'
import * as schema from '../../db/schema.ts'
import type { AuditAction } from '../protocol.ts'
import type { Actor } from './accounts.ts'
import { whenFree } from './sqlite-file.ts'
import type { DeliveryEvent, DeliveryStatus, OutgoingWebhookRecord, WebhookStore } from './webhooks.ts'

const { users, audit, incomingWebhooks, outgoingWebhooks, outgoingWebhookRooms, webhookDeliveries } = schema

const incomingColumns = {
  id: incomingWebhooks.id,
  name: incomingWebhooks.name,
  room: incomingWebhooks.room,
  botId: users.id,
  botName: users.username,
  createdAt: incomingWebhooks.createdAt,
}

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

type IncomingRow = { id: number; name: string; room: string; botId: number; botName: string; createdAt: number }
const toIncoming = ({ botId, botName, ...row }: IncomingRow) => ({ ...row, bot: { id: botId, username: botName } })

export function sqliteWebhooks(db: BunSQLiteDatabase<typeof schema>, client: Database): WebhookStore {
  const writeAudit = (at: number, actor: Actor, action: AuditAction, target: Record<string, unknown>) =>
    db
      .insert(audit)
      .values({ at, actorId: actor?.id ?? null, actorName: actor?.username ?? null, action, target: JSON.stringify(target) })
      .run()

  const removeOutgoing = (ids: number[]) => {
    if (ids.length === 0) return
    db.delete(webhookDeliveries).where(inArray(webhookDeliveries.webhookId, ids)).run()
    db.delete(outgoingWebhookRooms).where(inArray(outgoingWebhookRooms.webhookId, ids)).run()
    db.delete(outgoingWebhooks).where(inArray(outgoingWebhooks.id, ids)).run()
  }

  const listOutgoing = (): OutgoingWebhookRecord[] => {
    const hooks = db
      .select({
        id: outgoingWebhooks.id,
        name: outgoingWebhooks.name,
        url: outgoingWebhooks.url,
        secret: outgoingWebhooks.secret,
        botId: users.id,
        botName: users.username,
        createdAt: outgoingWebhooks.createdAt,
      })
      .from(outgoingWebhooks)
      .leftJoin(users, eq(users.id, outgoingWebhooks.botId))
      .orderBy(outgoingWebhooks.id)
      .all()
    const rooms = new Map<number, string[]>()
    for (const { webhookId, room } of db.select().from(outgoingWebhookRooms).orderBy(outgoingWebhookRooms.webhookId, outgoingWebhookRooms.room).all())
      rooms.set(webhookId, [...(rooms.get(webhookId) ?? []), room])
    return hooks.map(({ botId, botName, ...h }) => ({ ...h, rooms: rooms.get(h.id) ?? [], bot: botId === null ? null : { id: botId, username: botName! } }))
  }

  const createOutgoing = client.transaction((hook: Parameters<WebhookStore['createOutgoingWebhook']>[0]) => {
    const { id } = db
      .insert(outgoingWebhooks)
      .values({ name: hook.name, url: hook.url, secret: hook.secret, botId: hook.botId, createdBy: hook.audit.actor?.id ?? null, createdAt: hook.at })
      .returning({ id: outgoingWebhooks.id })
      .get()
    if (hook.rooms.length > 0)
      db.insert(outgoingWebhookRooms)
        .values(hook.rooms.map((room) => ({ webhookId: id, room })))
        .run()
    writeAudit(hook.at, hook.audit.actor, 'webhook.create', { kind: 'outgoing', id, name: hook.name })
    return listOutgoing().find((h) => h.id === id)!
  })

  const createIncoming = client.transaction((hook: Parameters<WebhookStore['createIncomingWebhook']>[0]) => {
    const { id } = db
      .insert(incomingWebhooks)
      .values({ name: hook.name, room: hook.room, botId: hook.botId, tokenHash: hook.tokenHash, createdBy: hook.audit.actor?.id ?? null, createdAt: hook.at })
      .returning({ id: incomingWebhooks.id })
      .get()
    writeAudit(hook.at, hook.audit.actor, 'webhook.create', { kind: 'incoming', id, name: hook.name })
    return toIncoming(
      db.select(incomingColumns).from(incomingWebhooks).innerJoin(users, eq(users.id, incomingWebhooks.botId)).where(eq(incomingWebhooks.id, id)).get()!,
    )
  })

  const remove = client.transaction((kind: 'incoming' | 'outgoing', id: number, at: number, actor: Actor) => {
    const table = kind === 'incoming' ? incomingWebhooks : outgoingWebhooks
    const found = db.select({ name: table.name }).from(table).where(eq(table.id, id)).get()
    if (!found) return false
    if (kind === 'incoming') db.delete(incomingWebhooks).where(eq(incomingWebhooks.id, id)).run()
    else removeOutgoing([id])
    writeAudit(at, actor, 'webhook.delete', { kind, id, name: found.name })
    return true
  })

  const removeBot = client.transaction((botId: number) => {
    db.delete(incomingWebhooks).where(eq(incomingWebhooks.botId, botId)).run()
    removeOutgoing(
      db
        .select({ id: outgoingWebhooks.id })
        .from(outgoingWebhooks)
        .where(eq(outgoingWebhooks.botId, botId))
        .all()
        .map((h) => h.id),
    )
  })

  const claim = client.transaction((now: number, leaseUntil: number, limit: number, skip: number[]) => {
    const due = db
      .select({ id: webhookDeliveries.id })
      .from(webhookDeliveries)
      .where(
        and(
          eq(webhookDeliveries.status, 'pending'),
          lte(webhookDeliveries.nextAttemptAt, now),
          skip.length === 0 ? undefined : notInArray(webhookDeliveries.webhookId, skip),
        ),
      )
      .orderBy(asc(webhookDeliveries.nextAttemptAt))
      .limit(limit)
      .all()
      .map((d) => d.id)
    if (due.length === 0) return []
    return db
      .update(webhookDeliveries)
      .set({ nextAttemptAt: leaseUntil })
      .where(inArray(webhookDeliveries.id, due))
      .returning({ id: webhookDeliveries.id, webhookId: webhookDeliveries.webhookId, payload: webhookDeliveries.payload, attempts: webhookDeliveries.attempts })
      .all()
      .sort((a, b) => a.id - b.id)
  })

  return {
    async createIncomingWebhook(hook) {
      return whenFree(() => createIncoming.immediate(hook))
    },
    async listIncomingWebhooks() {
      return db
        .select(incomingColumns)
        .from(incomingWebhooks)
        .innerJoin(users, eq(users.id, incomingWebhooks.botId))
        .orderBy(incomingWebhooks.id)
        .all()
        .map(toIncoming)
    },
    async findIncomingWebhook(tokenHash) {
      const row = db
        .select(incomingColumns)
        .from(incomingWebhooks)
        .innerJoin(users, eq(users.id, incomingWebhooks.botId))
        .where(eq(incomingWebhooks.tokenHash, tokenHash))
        .get()
      return row && toIncoming(row)
    },
    async deleteIncomingWebhook(id, { at, audit: note }) {
      return whenFree(() => remove.immediate('incoming', id, at, note.actor))
    },
    async createOutgoingWebhook(hook) {
      return whenFree(() => createOutgoing.immediate(hook))
    },
    async listOutgoingWebhooks() {
      return listOutgoing()
    },
    async deleteOutgoingWebhook(id, { at, audit: note }) {
      return whenFree(() => remove.immediate('outgoing', id, at, note.actor))
    },
    async deleteBotWebhooks(botId) {
      await whenFree(() => removeBot.immediate(botId))
    },
    async queueDeliveries(deliveries, at) {
      if (deliveries.length === 0) return
      await whenFree(() =>
        db
          .insert(webhookDeliveries)
          .values(deliveries.map((d) => ({ ...d, status: 'pending', attempts: 0, nextAttemptAt: at, createdAt: at, updatedAt: at })))
          .run(),
      )
    },
    async claimDeliveries(now, leaseUntil, limit, skip = []) {
      return whenFree(() => claim.immediate(now, leaseUntil, limit, skip))
    },
    async releaseDeliveries(ids, dueAt) {
      if (ids.length === 0) return
      await whenFree(() =>
        db
          .update(webhookDeliveries)
          .set({ nextAttemptAt: dueAt })
          .where(and(inArray(webhookDeliveries.id, ids), eq(webhookDeliveries.status, 'pending')))
          .run(),
      )
    },
    async finishDelivery(id, { at, ...outcome }) {
      await whenFree(() =>
        db
          .update(webhookDeliveries)
          .set({ ...outcome, updatedAt: at })
          .where(eq(webhookDeliveries.id, id))
          .run(),
      )
    },
    async listDeliveries(webhookId, { before, limit }) {
      return db
        .select(deliveryColumns)
        .from(webhookDeliveries)
        .where(and(eq(webhookDeliveries.webhookId, webhookId), before === undefined ? undefined : lt(webhookDeliveries.id, before)))
        .orderBy(desc(webhookDeliveries.id))
        .limit(limit)
        .all()
        .map((d) => ({ ...d, event: d.event as DeliveryEvent, status: d.status as DeliveryStatus }))
    },
    async pruneDeliveries(before) {
      await whenFree(() => db.delete(webhookDeliveries).where(lt(webhookDeliveries.createdAt, before)).run())
    },
  }
}
