/**
 * Which outgoing webhooks a new message goes to (docs/BOTS.md). Called after the message is stored
 * and delivered to people, never awaited by them: matching and queueing happen on their own time.
 * Each instance keeps every webhook in memory, indexed by room and by bot, read again at most once
 * a second while messages flow (a change made on another instance applies within about a second)
 * and at once after a change made here.
 */
import type { Logger } from '../log.ts'
import type { Message } from '../protocol.ts'
import type { WebhookPayload } from '../protocol-bots.ts'
import type { NewDelivery, OutgoingWebhookRecord, Store } from '../store/store.ts'
import type { RoomGate } from './room-access.ts'

/** How stale the in-memory webhooks may be while messages flow. */
export const RELOAD_MS = 1000

interface Index {
  byId: Map<number, OutgoingWebhookRecord>
  byRoom: Map<string, OutgoingWebhookRecord[]>
  byBot: Map<number, OutgoingWebhookRecord[]>
  loadedAt: number
}

export class OutgoingWebhooks {
  private index: Index | undefined
  private loading: Promise<Index> | undefined
  /** Raised by invalidate(): a read begun before it is used once but not kept. */
  private generation = 0

  constructor(
    private readonly store: Pick<Store, 'listOutgoingWebhooks' | 'queueDeliveries'>,
    private readonly gate: Pick<RoomGate, 'canRead'>,
    private readonly log: Logger,
    private readonly now: () => number,
    /** Told when deliveries were queued (the delivery worker). */
    private readonly queued: () => void,
  ) {}

  /** Forgets the webhooks: the next use reads them again (after a change made on this instance). */
  invalidate(): void {
    this.index = undefined
    this.loading = undefined
    this.generation++
  }

  /** The webhook with this id, read again first if this instance does not know it yet. */
  async find(id: number): Promise<OutgoingWebhookRecord | undefined> {
    const found = (await this.current()).byId.get(id)
    if (found) return found
    this.invalidate()
    return (await this.current()).byId.get(id)
  }

  /** Queues a delivery of `message` to every webhook that wants it; failures are logged, never thrown. */
  observe(room: string, message: Message): void {
    void this.match(room, message).catch((err: unknown) => this.log.warn('could not queue webhook deliveries', { err, room, messageId: message.id }))
  }

  private async match(room: string, message: Message): Promise<void> {
    const index = await this.current()
    const wanted = new Map<OutgoingWebhookRecord, WebhookPayload['type']>()
    for (const hook of index.byRoom.get(room) ?? []) wanted.set(hook, 'message')
    for (const { id } of message.mentions ?? []) for (const hook of index.byBot.get(id) ?? []) if (!wanted.has(hook)) wanted.set(hook, 'mention')
    if (wanted.size === 0) return
    const timestamp = new Date(this.now()).toISOString()
    const deliveries: NewDelivery[] = []
    for (const [hook, type] of wanted) {
      // A bot never hears its own messages (no loops), and a private room's messages leave only
      // through a webhook whose bot is a member there: one without a bot watches public rooms alone.
      if (hook.bot?.id === message.user.id) continue
      if (!(await this.gate.canRead(room, hook.bot?.id ?? null))) continue
      const payload: WebhookPayload = { type, timestamp, data: { room, message } }
      deliveries.push({ webhookId: hook.id, event: type, room, messageId: message.id, payload: JSON.stringify(payload) })
    }
    if (deliveries.length === 0) return
    await this.store.queueDeliveries(deliveries, this.now())
    this.queued()
  }

  private async current(): Promise<Index> {
    if (this.index && this.now() - this.index.loadedAt < RELOAD_MS) return this.index
    if (this.loading) return this.loading
    const loading = this.load().finally(() => this.loading === loading && (this.loading = undefined))
    this.loading = loading
    return loading
  }

  private async load(): Promise<Index> {
    const loadedAt = this.now()
    const generation = this.generation
    const hooks = await this.store.listOutgoingWebhooks()
    const index: Index = { byId: new Map(), byRoom: new Map(), byBot: new Map(), loadedAt }
    for (const hook of hooks) {
      index.byId.set(hook.id, hook)
      for (const room of hook.rooms) index.byRoom.set(room, [...(index.byRoom.get(room) ?? []), hook])
      if (hook.bot) index.byBot.set(hook.bot.id, [...(index.byBot.get(hook.bot.id) ?? []), hook])
    }
    if (generation === this.generation) this.index = index
    return index
  }
}
