/**
 * A room's recent stream, kept while the room has sockets here, and the history a welcome carries
 * (spec §3, §5): the newest HISTORY_SIZE messages as they are now, or with `?since=` every later
 * message and the changes (edits, deletions) to those at or before the cursor, the newest RESUME_MAX
 * of both (`truncated` if there were more). Served from memory when it covers the range, else from
 * the store, with what memory holds past the store's answer applied on top. Reactions (spec §7) are
 * kept beside the messages and shown to each reader with their own `me`.
 */
import { toReactors, withReactions, type Reactors } from '../chat/reactions.ts'
import type { Logger } from '../log.ts'
import type { Change, Message, User } from '../protocol.ts'
import type { StreamEvent, Store } from '../store/store.ts'
import { applyChange, byId, cutToNewest, renameUser } from './message-changes.ts'

export interface History {
  history: Message[]
  changes: Change[]
  truncated: boolean
  /** The three above as JSON.stringify writes them (`"history":…,"truncated":…`), when every reader sees the same (frames.ts encodeWelcome). */
  json?: string
}

export interface HistoryOptions {
  store: Pick<Store, 'listMessages' | 'listStream' | 'listReactions'>
  log: Logger
  historySize: number
  resumeMax: number
}

/** Retries when a burst evicted the cache between a history query and its merge; each retry is a fresh query. */
const HISTORY_ATTEMPTS = 5
/** Welcomes kept serialised per room (one per cursor asked for), until the room's stream moves. */
const ANSWERS_MAX = 8

export class RoomHistory {
  /** The room's newest messages as they are now, oldest first. */
  private recent: Message[] = []
  /** Changes that still stand (an edit goes when its message is deleted), oldest first. */
  private changes: Change[] = []
  /** Every entry of the room's stream with an id above this is here; undefined until loaded. */
  private coveredFrom: number | undefined
  /** Entries delivered while loading, applied after what the store gave. */
  private early: StreamEvent[] = []
  private newest = 0
  /** Who reacted how to the messages held here (messages above coveredFrom). */
  private reactors: Reactors = new Map()
  private loading: Promise<void> | undefined
  /** The most messages (and, apart, changes) held: new ones push the oldest out. */
  private readonly cacheSize: number
  /** The messages a first load reads, with the changes that followed the oldest of them. */
  private readonly loadSize: number
  /** What memory answered, serialised, by cursor (-1: none): sockets resuming from the same place share it. Emptied by every entry. */
  private readonly answers = new Map<number, History>()

  constructor(
    readonly room: string,
    private readonly opts: HistoryOptions,
  ) {
    this.cacheSize = Math.max(opts.historySize, 100)
    this.loadSize = Math.max(opts.historySize, 1)
  }

  get loaded(): boolean {
    return this.coveredFrom !== undefined
  }

  /** The newest stream id known here, message or change (0 if none). */
  get newestId(): number {
    return this.newest
  }

  /** Fills the cache from the store once; entries delivered meanwhile are applied after it, not lost. */
  load(): Promise<void> {
    if (this.loaded) return Promise.resolve()
    const read = async () => {
      // The welcome's messages and what followed them: on a big database each row is a page read of
      // its own (a room's rows lie far apart), so the first welcome reads no more than it shows.
      const limit = 2 * this.cacheSize
      const entries = await this.opts.store.listStream(this.room, { fromNewest: this.loadSize, limit })
      const messages = entries.filter((e) => e.type === 'message').length
      // Fewer messages than asked for, and no entry cut off by the limit: that is the room's whole stream.
      const whole = entries.length < limit && messages < this.loadSize
      // Every reaction is a stream entry after its message, written with it, so a message that no entry
      // read here reacted to has none: only the others' reactions are looked up (a page each on a big database).
      const reacted = new Set(entries.flatMap((e) => (e.type === 'reaction' ? [e.data.messageId] : [])))
      const ids = entries.flatMap((e) => (e.type === 'message' && reacted.has(e.data.id) ? [e.data.id] : []))
      return { entries, whole, reactors: toReactors(await this.opts.store.listReactions(ids)) }
    }
    this.loading ??= read().then(
      ({ entries, whole, reactors }) => {
        this.reactors = reactors
        this.coveredFrom = whole ? 0 : entries[0]!.data.id - 1
        for (const entry of entries) this.apply(entry)
        // What the store read already had is in it; only later entries are news.
        const read = this.newest
        for (const entry of this.early.sort((a, b) => a.data.id - b.data.id)) if (entry.data.id > read) this.apply(entry)
        this.early = []
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

  /** An entry delivered to the room (a message, an edit, a deletion); called in id order. */
  remember(entry: StreamEvent): void {
    if (!this.loaded) return void this.early.push(entry)
    this.apply(entry)
    this.trim()
  }

  /** spec §5: an account deleted, shown from now on as `gone` (its placeholder) in what is held here, as in the store. */
  rename(gone: User): void {
    this.answers.clear()
    this.recent = this.recent.map((m) => renameUser(m, gone))
    this.changes = this.changes.map((c) => renameUser(c, gone))
    this.early = this.early.map((e) => ({ ...e, data: renameUser(e.data, gone) }) as StreamEvent)
  }

  /** The welcome's history for `reader` (null: anonymous), who asked for everything after `since` (or the newest). */
  async welcome(since: number | undefined, reader: number | null): Promise<History> {
    const found = await this.history(since)
    // Messages read from the store (older than what is held here) have their reactions read with them.
    const older = found.history.filter((m) => m.id <= this.coveredFrom!).map((m) => m.id)
    const reactors = older.length === 0 ? this.reactors : new Map([...this.reactors, ...toReactors(await this.opts.store.listReactions(older))])
    return { ...found, history: withReactions(found.history, reactors, reader) }
  }

  /**
   * welcome(), at once when memory answers (the room was loaded, which a welcome does only once `ready`,
   * the broker following the room, has resolved), else once `ready` has resolved.
   */
  welcomeSoon(since: number | undefined, reader: number | null, ready: Promise<void>): History | Promise<History> {
    return this.welcomeNow(since, reader) ?? ready.then(() => this.welcome(since, reader))
  }

  /** welcome() without waiting, when memory alone answers: the room is loaded and holds what was asked for (a resume within the cache included). */
  welcomeNow(since: number | undefined, reader: number | null): History | undefined {
    const kept = this.answers.get(since ?? -1)
    if (kept) return kept
    const found = this.loaded ? this.fromMemory(since) : undefined
    if (!found) return undefined
    // Everything held here is above coveredFrom, so its reactions are all in this.reactors; with none, every reader sees the same.
    if (found.history.some((m) => (this.reactors.get(m.id)?.size ?? 0) > 0)) return { ...found, history: withReactions(found.history, this.reactors, reader) }
    const answer = { ...found, json: JSON.stringify(found).slice(1, -1) }
    if (this.answers.size >= ANSWERS_MAX) this.answers.clear()
    this.answers.set(since ?? -1, answer)
    return answer
  }

  /** The history from what memory holds, when that covers it. */
  private fromMemory(since: number | undefined): History | undefined {
    if (since === undefined) {
      // Many changes can crowd the messages out of the cache: then the store has the rest.
      if (this.recent.length >= this.opts.historySize || this.coveredFrom === 0) return { history: this.newestOf(this.recent), changes: [], truncated: false }
      return undefined
    }
    if (since >= this.coveredFrom!)
      return cutToNewest(
        this.opts.resumeMax,
        this.recent.filter((m) => m.id > since),
        this.changesAfter(since, since),
      )
    return undefined
  }

  /** The newest HISTORY_SIZE of `messages`; not slice(-historySize): with HISTORY_SIZE=0 that would be slice(-0), all of them. */
  private newestOf(messages: Message[]): Message[] {
    return messages.slice(Math.max(0, messages.length - this.opts.historySize))
  }

  private async history(since: number | undefined): Promise<History> {
    await this.load()
    const { historySize, resumeMax } = this.opts
    for (let attempt = 1; ; attempt++) {
      const held = this.fromMemory(since)
      if (held) return held
      if (since === undefined) {
        const rows = await this.opts.store.listMessages(this.room, { limit: historySize })
        const last = rows.at(-1)?.id ?? 0
        if (this.covers(last, attempt)) return { history: this.newestOf(this.merge(rows, last)), changes: [], truncated: false }
        continue
      }
      const entries = await this.opts.store.listStream(this.room, { after: since, changesUpTo: since, limit: resumeMax + 1 })
      const last = entries.at(-1)?.data.id ?? since
      if (this.covers(last, attempt)) {
        const rows = entries.flatMap((e) => (e.type === 'message' ? [e.data] : []))
        const changes = entries.flatMap((e): Change[] => (e.type === 'message' ? [] : [{ type: e.type, ...e.data } as Change]))
        return cutToNewest(this.opts.resumeMax, this.merge(rows, last), [...changes, ...this.changesAfter(last, since)])
      }
    }
  }

  /** Whether memory holds everything after a store read that ended at `last` (else read again, a few times). */
  private covers(last: number, attempt: number): boolean {
    if (this.coveredFrom! <= last) return true
    if (attempt < HISTORY_ATTEMPTS) return false
    this.opts.log.warn('resume history may have a gap under heavy traffic', { room: this.room })
    return true
  }

  /** Changes here with an id above `after` to messages up to `upTo`. */
  private changesAfter(after: number, upTo: number): Change[] {
    return this.changes.filter((c) => c.id > after && c.messageId <= upTo)
  }

  /** Messages the store read up to `last`, brought up to date with what memory holds past it. */
  private merge(rows: Message[], last: number): Message[] {
    const later = new Map<number, Change[]>()
    for (const c of this.changes) if (c.id > last) later.set(c.messageId, [...(later.get(c.messageId) ?? []), c])
    // A row's own changes, and those to the message it quotes.
    const concerning = (m: Message) => [...(later.get(m.id) ?? []), ...((m.replyTo && later.get(m.replyTo.id)) ?? [])].sort(byId)
    const updated = rows.map((m) => concerning(m).reduce(applyChange, m))
    return [...updated, ...this.recent.filter((m) => m.id > last)]
  }

  private apply(entry: StreamEvent): void {
    this.answers.clear()
    this.newest = Math.max(this.newest, entry.data.id)
    if (entry.type === 'message') {
      const m = entry.data
      if (m.id > (this.recent.at(-1)?.id ?? 0)) this.recent.push(m)
      else if (!this.recent.some((r) => r.id === m.id)) this.recent = [...this.recent, m].sort(byId)
      return
    }
    const change = { type: entry.type, ...entry.data } as Change
    if (change.type === 'reaction') this.react(change)
    const i = this.recent.findLastIndex((m) => m.id === change.messageId)
    if (i >= 0) this.recent[i] = applyChange(this.recent[i]!, change)
    // Replies held here quote the message as it is now.
    if (change.type !== 'reaction') this.recent = this.recent.map((m) => (m.replyTo?.id === change.messageId ? applyChange(m, change) : m))
    // As the store erases them (spec §5, §7): a deleted message's edits and reactions are gone, texts and all.
    if (change.type === 'deleted') this.changes = this.changes.filter((c) => c.type === 'deleted' || c.messageId !== change.messageId)
    this.changes.push(change)
  }

  /** A reaction toggled: idempotent, as the store's answer at load may already hold it. */
  private react(change: Extract<Change, { type: 'reaction' }>): void {
    if (change.messageId <= (this.coveredFrom ?? 0)) return
    let emojis = this.reactors.get(change.messageId)
    if (!emojis) this.reactors.set(change.messageId, (emojis = new Map()))
    const users = (emojis.get(change.emoji) ?? []).filter((id) => id !== change.user.id)
    if (change.on) users.push(change.user.id)
    if (users.length > 0) emojis.set(change.emoji, users)
    else emojis.delete(change.emoji)
  }

  private trim(): void {
    const messages = this.recent.length - this.cacheSize
    if (messages > 0) this.coveredFrom = Math.max(this.coveredFrom!, this.recent.splice(0, messages).at(-1)!.id)
    const changes = this.changes.length - this.cacheSize
    if (changes > 0) this.coveredFrom = Math.max(this.coveredFrom!, this.changes.splice(0, changes).at(-1)!.id)
    for (const id of this.reactors.keys()) if (id <= this.coveredFrom!) this.reactors.delete(id)
  }
}
