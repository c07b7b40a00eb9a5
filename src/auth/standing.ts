/**
 * Each instance's view of its users' standing (token version, role, ban), so that checking a token
 * costs no database round trip (spec §5): filled on first use, and kept true by the change feed.
 * Every instance reads the `user_changes` rows newer than the last it saw every POLL_MS and reloads
 * the users they name, whichever instance or CLI made the change; the sweeper (ws/sweeper.ts) then
 * closes the sockets that are no longer valid.
 */
import type { Logger } from '../log.ts'
import type { Standing, Store } from '../store/store.ts'

/** How often the change feed is read: a change reaches every instance's sockets well within 2 s. */
export const POLL_MS = 500
/**
 * Ids below the newest seen that are read again: PostgreSQL hands out ids before commit, so a
 * change can become visible after a later one. Each id is handled once (`recent`).
 */
const LOOKBACK = 100
/** New changes read per poll; a longer backlog is read over the next polls. */
const PAGE = 1000
/** Most users read by one query (users asked for in one turn of the event loop beyond it take more). */
const READ_MAX = 500
/** Users kept; past it the oldest entry is dropped (and read again if used). */
const MAX_ENTRIES = 100_000
const PRUNE_EVERY_MS = 3600_000
/** Changes older than this are removed from the feed: every instance has read them long since. */
export const FEED_KEEP_MS = 86_400_000

export type StandingStore = Pick<Store, 'findStandings' | 'lastUserChangeId' | 'listUserChanges' | 'pruneUserChanges'>

export class StandingCache {
  /** null: the user no longer exists (ids are never reused, so that never changes). */
  private readonly entries = new Map<number, Standing | null>()
  private readonly loading = new Map<number, Promise<Standing | null>>()
  /** Users asked for during this turn of the event loop: read together at its end (a reconnect storm asks for many). */
  private queued: Map<number, PromiseWithResolvers<Standing | null>> | undefined
  /** The ticket of the newest read of each user on its way; a read whose ticket was replaced or dropped is not kept. */
  private readonly pending = new Map<number, number>()
  private tickets = 0
  private last = 0
  private readonly recent = new Set<number>()
  private timer: ReturnType<typeof setTimeout> | undefined
  private polling: Promise<void> | undefined
  private stopped = false
  private failing = false
  private lastPrune = 0
  private gone: (id: number) => void = () => {}

  constructor(
    private readonly store: StandingStore,
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
  ) {}

  /** The cached standing: undefined when not cached (see get), null when the user no longer exists. */
  peek(id: number): Standing | null | undefined {
    return this.entries.get(id)
  }

  /**
   * The cached standing, or read from the store: reads of one user at once share one query, and the
   * users asked for in one turn of the event loop are read by one query at its end.
   */
  get(id: number): Promise<Standing | null> {
    const cached = this.entries.get(id)
    if (cached !== undefined) return Promise.resolve(cached)
    const loading = this.loading.get(id)
    if (loading) return loading
    if (!this.queued) {
      this.queued = new Map()
      setImmediate(() => this.readQueued())
    }
    // A read queued but not started yet is still to come: it serves a reload too.
    let wanted = this.queued.get(id)
    if (!wanted) this.queued.set(id, (wanted = Promise.withResolvers()))
    const read = wanted.promise
    this.loading.set(id, read)
    void read.finally(() => this.loading.get(id) === read && this.loading.delete(id)).catch(() => {})
    return read
  }

  /** Reads the users queued by get(), READ_MAX to a query, and answers those who asked. */
  private readQueued(): void {
    const queued = [...this.queued!]
    this.queued = undefined
    for (let at = 0; at < queued.length; at += READ_MAX) {
      const part = queued.slice(at, at + READ_MAX)
      this.fetch(part.map(([id]) => id)).then(
        (found) => part.forEach(([id, wanted]) => wanted.resolve(found.get(id) ?? null)),
        (err: unknown) => part.forEach(([, wanted]) => wanted.reject(err)),
      )
    }
  }

  /**
   * Told of each changed user found deleted (spec §5: their name then shows as a placeholder), by a
   * reload or by the change feed; maybe more than once for one user.
   */
  onGone(listener: (id: number) => void): void {
    this.gone = listener
  }

  /** Forgets the user and reads them again: after a change made here or told by another instance, or a token newer than the cache. */
  async reload(id: number): Promise<Standing | null> {
    this.forget(id)
    const standing = await this.get(id)
    if (standing === null) this.gone(id)
    return standing
  }

  /** Reads the feed from its current end, then every POLL_MS until stop(). */
  async start(): Promise<void> {
    this.last = await this.store.lastUserChangeId()
    const loop = async () => {
      this.polling = this.poll()
      await this.polling
      this.polling = undefined
      if (!this.stopped) this.schedule(loop)
    }
    this.schedule(loop)
  }

  /** Stops polling; resolves once a read on its way is done (before the store closes). */
  async stop(): Promise<void> {
    this.stopped = true
    clearTimeout(this.timer)
    await this.polling
  }

  private schedule(loop: () => Promise<void>): void {
    this.timer = setTimeout(loop, POLL_MS)
    // The server keeps the process alive; the feed alone must not (a failed start-up exits).
    this.timer.unref?.()
  }

  /** One read of the change feed: the users it names are forgotten, and those that were cached read again. */
  async poll(): Promise<void> {
    let changes
    try {
      changes = await this.store.listUserChanges(Math.max(0, this.last - LOOKBACK), LOOKBACK + PAGE)
      await this.prune()
    } catch (err) {
      if (!this.failing) this.log.warn('cannot read the user change feed; retrying', { err })
      this.failing = true
      return
    }
    if (this.failing) this.log.info('reading the user change feed again')
    this.failing = false
    const changed = new Set<number>()
    for (const { id, userId } of changes) {
      if (this.recent.has(id)) continue
      this.recent.add(id)
      this.last = Math.max(this.last, id)
      changed.add(userId)
    }
    for (const id of this.recent) if (id <= this.last - LOOKBACK) this.recent.delete(id)
    const cached = new Set([...changed].filter((id) => this.entries.has(id) || this.loading.has(id)))
    for (const id of changed) this.forget(id)
    if (changed.size === 0) return
    // Every changed user is read, but only those cached here are kept: one deleted may be named in the rooms held here.
    try {
      for (const [id, standing] of await this.fetch([...changed], cached)) if (standing === null) this.gone(id)
    } catch (err) {
      this.log.warn('cannot reload changed users', { err })
    }
  }

  private forget(id: number): void {
    this.entries.delete(id)
    this.loading.delete(id)
    this.pending.delete(id)
  }

  /** Reads `ids` and caches each (of `keep`), unless it was forgotten or read again while this read was on its way. */
  private async fetch(ids: number[], keep?: Set<number>): Promise<Map<number, Standing | null>> {
    const tickets = ids.map((id) => {
      const ticket = ++this.tickets
      this.pending.set(id, ticket)
      return ticket
    })
    const found = new Map<number, Standing | null>()
    try {
      const rows = await this.store.findStandings(ids)
      for (const row of rows) found.set(row.id, row)
      ids.forEach((id, i) => {
        if (!found.has(id)) found.set(id, null)
        if (this.pending.get(id) === tickets[i] && (keep?.has(id) ?? true)) this.remember(id, found.get(id)!)
      })
      return found
    } finally {
      ids.forEach((id, i) => this.pending.get(id) === tickets[i] && this.pending.delete(id))
    }
  }

  private remember(id: number, standing: Standing | null): void {
    this.entries.delete(id)
    if (this.entries.size >= MAX_ENTRIES) this.entries.delete(this.entries.keys().next().value!)
    this.entries.set(id, standing)
  }

  private async prune(): Promise<void> {
    const now = this.now()
    if (now - this.lastPrune < PRUNE_EVERY_MS) return
    this.lastPrune = now
    await this.store.pruneUserChanges(now - FEED_KEEP_MS)
  }
}
