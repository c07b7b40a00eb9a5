/**
 * Webhooks, put together (docs/BOTS.md): the in-memory outgoing webhooks a new message is matched
 * against, the delivery worker that sends what they queue, and the admin's side, which tells the
 * first to read the webhooks again after a change.
 */
import type { Logger } from '../log.ts'
import type { Store } from '../store/store.ts'
import { OutgoingWebhooks } from './outgoing-webhooks.ts'
import type { RoomGate } from './room-access.ts'
import { DeliveryWorker } from './webhook-delivery.ts'
import type { WebhookAdminDeps } from './webhooks-admin.ts'

export interface Webhooks {
  outgoing: OutgoingWebhooks
  worker: DeliveryWorker
  admin: WebhookAdminDeps
}

export function createWebhooks(opts: { store: Store; gate: RoomGate; log: Logger; now: () => number; retryDelaysMs?: number[] }): Webhooks {
  const { store, gate, log, now } = opts
  const worker = new DeliveryWorker({ store, webhook: (id) => outgoing.find(id), log, now, retryDelaysMs: opts.retryDelaysMs })
  const outgoing = new OutgoingWebhooks(store, gate, log, now, () => worker.kick())
  return { outgoing, worker, admin: { store, gate, now, onChange: () => outgoing.invalidate() } }
}
