/**
 * The PostgreSQL store's bots and webhooks (src/store/webhooks.ts). A webhook's rows (its rooms, its
 * deliveries) and its audit entry are written in one transaction. The delivery queue is in
 * postgres-deliveries.ts.
 */
import { asc, eq, inArray, sql, type SQL } from 'drizzle-orm'
import type { BunSQLDatabase } from 'drizzle-orm/bun-sql'
import * as schema from '../../db/schema.pg.ts'
import type { AuditAction, User } from '../protocol.ts'
import type { Actor } from './accounts.ts'
import { guard } from './postgres-connection.ts'
import type { DeliveryMethods } from './postgres-deliveries.ts'
import type { IncomingWebhookRecord, OutgoingWebhookRecord, WebhookStore } from './webhooks.ts'

const { users, audit, incomingWebhooks, outgoingWebhooks, outgoingWebhookRooms, webhookDeliveries } = schema

type Db = BunSQLDatabase<typeof schema>
type Tx = Parameters<Parameters<Db['transaction']>[0]>[0]
type Runner = Pick<Tx, 'execute'>

// Bun's driver may hand bigint columns back as strings: every id, count and time read goes through Number.
type Row = Record<string, unknown>
const rows = async (run: Runner, query: SQL) => (await run.execute(query)) as unknown as Row[]

/** The audit target of a webhook: the same shape in every store. */
const webhookTarget = (kind: 'incoming' | 'outgoing', hook: { id: number; name: string }) => ({ kind, id: Number(hook.id), name: hook.name })

const incomingColumns = {
  id: incomingWebhooks.id,
  name: incomingWebhooks.name,
  room: incomingWebhooks.room,
  createdAt: incomingWebhooks.createdAt,
  botId: users.id,
  botName: users.username,
}

const toIncoming = (row: { id: number; name: string; room: string; createdAt: number; botId: number; botName: string }): IncomingWebhookRecord => ({
  id: Number(row.id),
  name: row.name,
  room: row.room,
  bot: { id: Number(row.botId), username: row.botName },
  createdAt: Number(row.createdAt),
})

/** A webhook's bot, read with the change that names it; undefined when there is no such user (the caller checks first). */
async function readBot(tx: Tx, botId: number): Promise<User | undefined> {
  const [bot] = await tx.select({ id: users.id, username: users.username }).from(users).where(eq(users.id, botId))
  return bot && { id: Number(bot.id), username: bot.username }
}

/** Deletes the rooms and deliveries of the outgoing webhooks `ids` (whose rows the caller deleted). */
async function deleteOutgoingRows(tx: Tx, ids: number[]): Promise<void> {
  if (ids.length === 0) return
  await tx.delete(outgoingWebhookRooms).where(inArray(outgoingWebhookRooms.webhookId, ids))
  await tx.delete(webhookDeliveries).where(inArray(webhookDeliveries.webhookId, ids))
}

export function postgresWebhooks(db: Db): Omit<WebhookStore, DeliveryMethods> {
  const writeAudit = (tx: Tx, at: number, actor: Actor, action: AuditAction, target: Record<string, unknown>) =>
    tx.insert(audit).values({ at, actorId: actor?.id ?? null, actorName: actor?.username ?? null, action, target: JSON.stringify(target) })

  return {
    createIncomingWebhook: ({ name, room, botId, tokenHash, at, audit: note }) =>
      guard(() =>
        db.transaction(async (tx) => {
          const bot = await readBot(tx, botId)
          // An incoming webhook posts as its bot: without one it would be a record with no `bot`.
          if (!bot) throw new Error(`no user ${botId} to be the webhook's bot`)
          const [row] = await tx
            .insert(incomingWebhooks)
            .values({ name, room, botId, tokenHash, createdBy: note.actor?.id ?? null, createdAt: at })
            .returning({ id: incomingWebhooks.id })
          const id = Number(row!.id)
          await writeAudit(tx, at, note.actor, 'webhook.create', webhookTarget('incoming', { id, name }))
          return { id, name, room, bot, createdAt: at }
        }),
      ),
    listIncomingWebhooks: () =>
      guard(async () =>
        (await db.select(incomingColumns).from(incomingWebhooks).innerJoin(users, eq(users.id, incomingWebhooks.botId)).orderBy(asc(incomingWebhooks.id))).map(
          toIncoming,
        ),
      ),
    findIncomingWebhook: (tokenHash) =>
      guard(async () => {
        const [row] = await db
          .select(incomingColumns)
          .from(incomingWebhooks)
          .innerJoin(users, eq(users.id, incomingWebhooks.botId))
          .where(eq(incomingWebhooks.tokenHash, tokenHash))
        return row && toIncoming(row)
      }),
    deleteIncomingWebhook: (id, { at, audit: note }) =>
      guard(() =>
        db.transaction(async (tx) => {
          const [gone] = await tx
            .delete(incomingWebhooks)
            .where(eq(incomingWebhooks.id, id))
            .returning({ id: incomingWebhooks.id, name: incomingWebhooks.name })
          if (!gone) return false
          await writeAudit(tx, at, note.actor, 'webhook.delete', webhookTarget('incoming', gone))
          return true
        }),
      ),

    createOutgoingWebhook: ({ name, url, secret, rooms, botId, at, audit: note }) =>
      guard(() =>
        db.transaction(async (tx): Promise<OutgoingWebhookRecord> => {
          // As listOutgoingWebhooks would show it: a bot that is not there is none.
          const bot = botId === null ? null : ((await readBot(tx, botId)) ?? null)
          const [row] = await tx
            .insert(outgoingWebhooks)
            .values({ name, url, secret, botId, createdBy: note.actor?.id ?? null, createdAt: at })
            .returning({ id: outgoingWebhooks.id })
          const id = Number(row!.id)
          // Room names are ASCII (ROOM_NAME): JavaScript's order is the bytewise order listOutgoingWebhooks uses.
          const named = [...new Set(rooms)].sort()
          if (named.length > 0) await tx.insert(outgoingWebhookRooms).values(named.map((room) => ({ webhookId: id, room })))
          await writeAudit(tx, at, note.actor, 'webhook.create', webhookTarget('outgoing', { id, name }))
          return { id, name, url, secret, rooms: named, bot, createdAt: at }
        }),
      ),
    listOutgoingWebhooks: () =>
      guard(async () => {
        // One statement, so a webhook is never seen without the rooms written with it. COLLATE "C":
        // name order is bytewise, as in SQLite, whatever the database's locale.
        const found = await rows(
          db,
          sql`SELECT w.id, w.name, w.url, w.secret, w.created_at, u.id AS bot_id, u.username AS bot_name,
              COALESCE((SELECT json_agg(r.room ORDER BY r.room COLLATE "C") FROM outgoing_webhook_rooms r WHERE r.webhook_id = w.id), '[]')::text AS rooms
            FROM outgoing_webhooks w LEFT JOIN users u ON u.id = w.bot_id
            ORDER BY w.id`,
        )
        return found.map((r): OutgoingWebhookRecord => ({
          id: Number(r.id),
          name: String(r.name),
          url: String(r.url),
          secret: String(r.secret),
          rooms: JSON.parse(String(r.rooms)) as string[],
          bot: r.bot_id === null ? null : { id: Number(r.bot_id), username: String(r.bot_name) },
          createdAt: Number(r.created_at),
        }))
      }),
    deleteOutgoingWebhook: (id, { at, audit: note }) =>
      guard(() =>
        db.transaction(async (tx) => {
          const [gone] = await tx
            .delete(outgoingWebhooks)
            .where(eq(outgoingWebhooks.id, id))
            .returning({ id: outgoingWebhooks.id, name: outgoingWebhooks.name })
          if (!gone) return false
          await deleteOutgoingRows(tx, [id])
          await writeAudit(tx, at, note.actor, 'webhook.delete', webhookTarget('outgoing', gone))
          return true
        }),
      ),
    deleteBotWebhooks: (botId) =>
      guard(() =>
        db.transaction(async (tx) => {
          await tx.delete(incomingWebhooks).where(eq(incomingWebhooks.botId, botId))
          const gone = await tx.delete(outgoingWebhooks).where(eq(outgoingWebhooks.botId, botId)).returning({ id: outgoingWebhooks.id })
          await deleteOutgoingRows(
            tx,
            gone.map((g) => Number(g.id)),
          )
        }),
      ),
  }
}
