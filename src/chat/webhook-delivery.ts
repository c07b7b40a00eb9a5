/**
 * Sends queued outgoing-webhook deliveries (docs/BOTS.md), signed the Standard Webhooks way: an
 * HMAC-SHA256 of `id.timestamp.body` under the webhook's secret, so a receiver can tell the POST came
 * from this server and refuse a replay of an old one. The queue is the database table: each instance
 * claims due rows for a lease, so a delivery survives a restart and two instances never send the
 * same one at once; a failed attempt is tried again later (RETRY_DELAYS_MS), then given up on.
 * People never wait for any of this: a slow receiver holds two of a few sending slots, nothing else.
 */
import { createHmac } from 'node:crypto'
import type { Logger } from '../log.ts'
import { WEBHOOK_HEADERS, WEBHOOK_SECRET_PREFIX } from '../protocol-bots.ts'
import type { ClaimedDelivery, DeliveryOutcome, OutgoingWebhookRecord, Store } from '../store/store.ts'

/** Wait after the 1st, 2nd, … failed attempt; one attempt more than delays, then the delivery fails for good. */
export const RETRY_DELAYS_MS = [1_000, 5_000, 30_000, 120_000, 600_000]
/** A receiver must answer within this. */
export const ATTEMPT_TIMEOUT_MS = 10_000
/** A claimed delivery is not claimed again before this (longer than an attempt can take). */
const LEASE_MS = 60_000
/** Attempts in flight at once per instance, and per webhook (so one slow receiver cannot hold them all). */
const SLOTS = 8
const SLOTS_PER_WEBHOOK = 2
/** How often the queue is looked at when nothing kicks it (retries coming due, other instances' rows). */
const POLL_MS = 1_000
/** The delivery log keeps a week. */
export const DELIVERY_KEEP_MS = 7 * 86_400_000
const PRUNE_EVERY_MS = 3_600_000

export interface DeliveryDeps {
  store: Pick<Store, 'claimDeliveries' | 'releaseDeliveries' | 'finishDelivery' | 'pruneDeliveries'>
  /** The webhook a delivery belongs to (undefined once deleted). */
  webhook: (id: number) => Promise<OutgoingWebhookRecord | undefined>
  log: Logger
  now: () => number
  /** Told what each attempt came to: delivered, retry or failed. */
  counted?: (result: 'delivered' | 'retry' | 'failed') => void
  /** Injected by tests: shorter waits between attempts. */
  retryDelaysMs?: number[]
}

/** The `webhook-signature` header's value for one POST. */
export function signWebhook(secret: string, id: string, timestamp: number, body: string): string {
  const key = Buffer.from(secret.startsWith(WEBHOOK_SECRET_PREFIX) ? secret.slice(WEBHOOK_SECRET_PREFIX.length) : secret, 'base64')
  return `v1,${createHmac('sha256', key).update(`${id}.${timestamp}.${body}`).digest('base64')}`
}

export class DeliveryWorker {
  private busy = 0
  /** Attempts in flight per webhook id. */
  private readonly busyHooks = new Map<number, number>()
  private timer: ReturnType<typeof setTimeout> | undefined
  private ticking: Promise<void> | undefined
  private stopped = false
  private lastPrune = 0
  private readonly inFlight = new Set<Promise<void>>()
  private readonly shutdown = new AbortController()
  private readonly delays: number[]

  constructor(private readonly deps: DeliveryDeps) {
    this.delays = deps.retryDelaysMs ?? RETRY_DELAYS_MS
  }

  start(): void {
    this.schedule(0)
  }

  /** Deliveries were queued: look now rather than at the next poll. */
  kick(): void {
    if (!this.stopped && !this.ticking) this.schedule(0)
  }

  /** Stops claiming, and ends the attempts in flight (they are tried again, uncounted, after a restart). */
  async stop(): Promise<void> {
    this.stopped = true
    clearTimeout(this.timer)
    this.shutdown.abort()
    await this.ticking
    await Promise.allSettled([...this.inFlight])
  }

  private schedule(ms: number): void {
    clearTimeout(this.timer)
    this.timer = setTimeout(() => void this.tick(), ms)
    this.timer.unref?.()
  }

  private async tick(): Promise<void> {
    if (this.stopped || this.ticking) return
    const run = this.claim()
    this.ticking = run
    await run
    this.ticking = undefined
    if (!this.stopped) this.schedule(POLL_MS)
  }

  private async claim(): Promise<void> {
    const { store, log, now } = this.deps
    try {
      await this.prune()
      const free = SLOTS - this.busy
      if (free <= 0) return
      const at = now()
      const full = [...this.busyHooks].filter(([, n]) => n >= SLOTS_PER_WEBHOOK).map(([id]) => id)
      const back: number[] = []
      for (const delivery of await store.claimDeliveries(at, at + LEASE_MS, free, full)) {
        // More of one webhook than it may have in flight: given back, and not claimed while it is busy.
        if ((this.busyHooks.get(delivery.webhookId) ?? 0) >= SLOTS_PER_WEBHOOK) {
          back.push(delivery.id)
          continue
        }
        const attempt = this.attempt(delivery).catch((err: unknown) =>
          log.warn('a webhook delivery attempt failed unexpectedly', { err, delivery: delivery.id }),
        )
        this.inFlight.add(attempt)
        void attempt.finally(() => this.inFlight.delete(attempt))
      }
      await store.releaseDeliveries(back, at)
    } catch (err) {
      log.warn('cannot read the webhook delivery queue; retrying', { err })
    }
  }

  private async attempt(delivery: ClaimedDelivery): Promise<void> {
    const { store, now } = this.deps
    const { webhookId } = delivery
    this.busy++
    this.busyHooks.set(webhookId, (this.busyHooks.get(webhookId) ?? 0) + 1)
    try {
      const hook = await this.deps.webhook(delivery.webhookId)
      // Its webhook was deleted meanwhile (and the row with it): nothing to send or record.
      if (!hook) return
      const sent = await this.send(hook, delivery)
      if (sent === 'interrupted') {
        await store.finishDelivery(delivery.id, { ...this.retry(delivery.attempts, 0), error: 'interrupted: the server was shutting down' })
        return
      }
      const attempts = delivery.attempts + 1
      const outcome: DeliveryOutcome = sent.ok
        ? { status: 'delivered', attempts, responseStatus: sent.status, error: null, nextAttemptAt: null, at: now() }
        : attempts > this.delays.length
          ? { status: 'failed', attempts, responseStatus: sent.status, error: sent.error, nextAttemptAt: null, at: now() }
          : { ...this.retry(attempts, this.delays[attempts - 1]!), responseStatus: sent.status, error: sent.error }
      await store.finishDelivery(delivery.id, outcome)
      this.deps.counted?.(outcome.status === 'pending' ? 'retry' : outcome.status)
      // A retry due before the next poll is looked for when it is due.
      if (outcome.nextAttemptAt !== null && outcome.nextAttemptAt - now() < POLL_MS) setTimeout(() => this.kick(), outcome.nextAttemptAt - now()).unref?.()
    } finally {
      this.busy--
      const left = this.busyHooks.get(webhookId)! - 1
      if (left === 0) this.busyHooks.delete(webhookId)
      else this.busyHooks.set(webhookId, left)
      this.kick()
    }
  }

  /** Pending again, due after `delay` give or take a fifth (so retries of many deliveries spread out). */
  private retry(attempts: number, delay: number): DeliveryOutcome {
    const at = this.deps.now()
    return { status: 'pending', attempts, responseStatus: null, error: null, nextAttemptAt: at + Math.round(delay * (0.8 + Math.random() * 0.4)), at }
  }

  private async send(
    hook: OutgoingWebhookRecord,
    delivery: ClaimedDelivery,
  ): Promise<{ ok: boolean; status: number | null; error: string | null } | 'interrupted'> {
    const id = String(delivery.id)
    const timestamp = Math.floor(this.deps.now() / 1000)
    try {
      const res = await fetch(hook.url, {
        method: 'POST',
        body: delivery.payload,
        headers: {
          'Content-Type': 'application/json',
          'User-Agent': 'bun-chat-server-webhooks',
          [WEBHOOK_HEADERS.id]: id,
          [WEBHOOK_HEADERS.timestamp]: String(timestamp),
          [WEBHOOK_HEADERS.signature]: signWebhook(hook.secret, id, timestamp, delivery.payload),
        },
        // A redirect is a failure to deliver: following one would send the signed body somewhere the admin did not choose.
        redirect: 'manual',
        signal: AbortSignal.any([AbortSignal.timeout(ATTEMPT_TIMEOUT_MS), this.shutdown.signal]),
      })
      // Only the status matters; the body is not read.
      await res.body?.cancel().catch(() => {})
      const ok = res.status >= 200 && res.status < 300
      return { ok, status: res.status, error: ok ? null : `the receiver answered ${res.status}` }
    } catch (err) {
      if (this.shutdown.signal.aborted) return 'interrupted'
      const timedOut = err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError')
      const error = timedOut
        ? `no answer within ${ATTEMPT_TIMEOUT_MS / 1000} s`
        : `could not reach the receiver: ${err instanceof Error ? err.message : String(err)}`
      return { ok: false, status: null, error }
    }
  }

  private async prune(): Promise<void> {
    const at = this.deps.now()
    if (at - this.lastPrune < PRUNE_EVERY_MS) return
    this.lastPrune = at
    await this.deps.store.pruneDeliveries(at - DELIVERY_KEEP_MS)
  }
}
