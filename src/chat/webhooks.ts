/**
 * Webhooks, put together (docs/BOTS.md): the in-memory outgoing webhooks a new message is matched
 * against, the delivery worker that sends what they queue, and the admin's side, which tells the
 * first to read the webhooks again after a change.
 */
import type { Logger } from '../log.ts'
import type { Store } from '../store/store.ts'
import { OutgoingWebhooks } from './outgoing-webhooks.ts'
import type { RoomGate } from './room-access.ts'
import { DeliveryWorker, type DeliveryDeps } from './webhook-delivery.ts'
import type { WebhookAdminDeps } from './webhooks-admin.ts'

export interface Webhooks {
  outgoing: OutgoingWebhooks
  worker: DeliveryWorker
  admin: WebhookAdminDeps
}

export interface WebhookOptions {
  store: Store
  gate: RoomGate
  log: Logger
  now: () => number
  counted: DeliveryDeps['counted']
  retryDelaysMs?: number[]
}

export function createWebhooks({ store, gate, log, now, counted, retryDelaysMs }: WebhookOptions): Webhooks {
  const worker = new DeliveryWorker({ store, webhook: (id) => outgoing.find(id), log, now, counted, retryDelaysMs })
  const outgoing = new OutgoingWebhooks(store, gate, log, now, () => worker.kick())
  return { outgoing, worker, admin: { store, gate, now, onChange: () => outgoing.invalidate() } }
}
