/** The bots-and-webhooks part of the store contract (src/chat/webhooks.ts), implemented by every store. */
import type { User } from '../protocol.ts'
import type { AuditNote } from './accounts.ts'

export interface IncomingWebhookRecord {
  id: number
  name: string
  room: string
  bot: User
  /** Epoch ms. */
  createdAt: number
}

export interface OutgoingWebhookRecord {
  id: number
  name: string
  url: string
  /** The signing secret (`whsec_…`). */
  secret: string
  /** Rooms whose new messages it is sent, in name order. */
  rooms: string[]
  /** The bot whose mentions it is sent; null for none. */
  bot: User | null
  createdAt: number
}

export type DeliveryEvent = 'message' | 'mention'
export type DeliveryStatus = 'pending' | 'delivered' | 'failed'

export interface NewDelivery {
  webhookId: number
  event: DeliveryEvent
  room: string
  messageId: number
  payload: string
}

/** A delivery claimed for an attempt. */
export interface ClaimedDelivery {
  id: number
  webhookId: number
  payload: string
  /** Attempts made before this one. */
  attempts: number
}

/** What an attempt came to. `pending` again (with nextAttemptAt) is a retry to come. */
export interface DeliveryOutcome {
  status: DeliveryStatus
  attempts: number
  responseStatus: number | null
  error: string | null
  nextAttemptAt: number | null
  at: number
}

export interface DeliveryRecord extends Omit<DeliveryOutcome, 'at'> {
  id: number
  event: DeliveryEvent
  room: string
  messageId: number
  createdAt: number
  updatedAt: number
}

export interface WebhookStore {
  /** Audited as `webhook.create`. */
  createIncomingWebhook(hook: { name: string; room: string; botId: number; tokenHash: string; at: number; audit: AuditNote }): Promise<IncomingWebhookRecord>
  listIncomingWebhooks(): Promise<IncomingWebhookRecord[]>
  /** The webhook whose token has this hash, while its bot exists. */
  findIncomingWebhook(tokenHash: string): Promise<IncomingWebhookRecord | undefined>
  /** Audited as `webhook.delete`; false: no such webhook. */
  deleteIncomingWebhook(id: number, opts: { at: number; audit: AuditNote }): Promise<boolean>

  createOutgoingWebhook(hook: {
    name: string
    url: string
    secret: string
    rooms: string[]
    botId: number | null
    at: number
    audit: AuditNote
  }): Promise<OutgoingWebhookRecord>
  /** Every outgoing webhook, in id order (each instance keeps them all in memory). */
  listOutgoingWebhooks(): Promise<OutgoingWebhookRecord[]>
  /** Removes the webhook, its rooms and its deliveries (its log goes with it); false: no such webhook. */
  deleteOutgoingWebhook(id: number, opts: { at: number; audit: AuditNote }): Promise<boolean>
  /** Removes every webhook, incoming or outgoing, of the bot (it is being deleted). */
  deleteBotWebhooks(botId: number): Promise<void>

  /** Queues the deliveries, due at once. */
  queueDeliveries(deliveries: NewDelivery[], at: number): Promise<void>
  /**
   * Takes up to `limit` pending deliveries due at `now`, oldest due first, of webhooks other than
   * `skip`, and moves each one's due time to `leaseUntil`: no other claim takes it before then, and
   * if this instance dies it comes due again. With PostgreSQL two instances never claim the same one
   * (SKIP LOCKED).
   */
  claimDeliveries(now: number, leaseUntil: number, limit: number, skip?: number[]): Promise<ClaimedDelivery[]>
  /** Gives claimed deliveries back, due at `dueAt`, their attempts untouched. */
  releaseDeliveries(ids: number[], dueAt: number): Promise<void>
  finishDelivery(id: number, outcome: DeliveryOutcome): Promise<void>
  /** The webhook's deliveries with an id below `before`, newest first. */
  listDeliveries(webhookId: number, query: { before?: number; limit: number }): Promise<DeliveryRecord[]>
  /** Removes deliveries created before `before` (epoch ms), whatever their status. */
  pruneDeliveries(before: number): Promise<void>
}
