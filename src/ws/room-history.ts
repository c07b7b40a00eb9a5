/**
 * A room's recent messages, kept while the room has sockets here, and the history a welcome carries
 * (spec §3): the newest HISTORY_SIZE, or with `?since=` every later message (the newest RESUME_MAX,
 * `truncated` if there were more). Served from memory when it covers the range, else from the store.
 */
import type { Logger } from '../log.ts'
import type { Message } from '../protocol.ts'
import type { Store } from '../store/store.ts'

export interface History {
  history: Message[]
  truncated: boolean
}

export interface HistoryOptions {
  store: Pick<Store, 'listMessages'>
  log: Logger
  historySize: number
  resumeMax: number
}

/** Retries when a burst evicted the cache between a history query and its merge; each retry is a fresh query. */
const HISTORY_ATTEMPTS = 5

export class RoomHistory {
  /** The room's newest messages, oldest first. */
  private recent: Message[] = []
  /** Every message of the room with an id above this is in `recent`; undefined until loaded. */
  private coveredFrom: number | undefined
  private loading: Promise<void> | undefined
  private readonly cacheSize: number

  constructor(
    readonly room: string,
    private readonly opts: HistoryOptions,
  ) {
    this.cacheSize = Math.max(opts.historySize, 100)
  }

  get loaded(): boolean {
    return this.coveredFrom !== undefined
  }

  /** The newest message id known here (0 if none). */
  get newestId(): number {
    return this.recent.at(-1)?.id ?? 0
  }

  /** Fills the cache from the store once; messages remembered meanwhile are merged, not lost. */
  load(): Promise<void> {
    if (this.loaded) return Promise.resolve()
    this.loading ??= this.opts.store.listMessages(this.room, { limit: this.cacheSize }).then(
      (rows) => {
        const seen = new Set(this.recent.map((m) => m.id))
        this.recent = [...rows.filter((m) => !seen.has(m.id)), ...this.recent].sort((a, b) => a.id - b.id)
        this.coveredFrom = rows.length < this.cacheSize ? 0 : rows[0]!.id - 1
        this.trim()
        this.loading = undefined
      },
      (err: unknown) => {
        this.loading = undefined
        throw err
      },
    )
    return this.loading
  }

  /** A message delivered to the room; called in id order. */
  remember(message: Message): void {
    this.recent.push(message)
    this.trim()
  }

  /** The welcome's history for a socket that asked for everything after `since` (or the newest). */
  async welcome(since: number | undefined): Promise<History> {
    await this.load()
    for (let attempt = 1; ; attempt++) {
      // Not slice(-historySize): with HISTORY_SIZE=0 that would be slice(-0), the whole cache.
      if (since === undefined) return { history: this.recent.slice(Math.max(0, this.recent.length - this.opts.historySize)), truncated: false }
      if (since >= this.coveredFrom!) return this.cut(this.recent.filter((m) => m.id > since))
      const rows = await this.opts.store.listMessages(this.room, { after: since, limit: this.opts.resumeMax + 1 })
      const last = rows.at(-1)?.id ?? since
      if (this.coveredFrom! <= last || attempt === HISTORY_ATTEMPTS) {
        if (this.coveredFrom! > last) this.opts.log.warn('resume history may have a gap under heavy traffic', { room: this.room })
        return this.cut([...rows, ...this.recent.filter((m) => m.id > last)])
      }
    }
  }

  private cut(messages: Message[]): History {
    const truncated = messages.length > this.opts.resumeMax
    return { history: truncated ? messages.slice(-this.opts.resumeMax) : messages, truncated }
  }

  private trim(): void {
    const excess = this.recent.length - this.cacheSize
    if (excess <= 0) return
    const evicted = this.recent.splice(0, excess)
    if (this.coveredFrom !== undefined) this.coveredFrom = Math.max(this.coveredFrom, evicted.at(-1)!.id)
  }
}
