/**
 * One room's WebSocket: read-only or with the token as subprotocol, resume with ?since= (messages and
 * §5 events), `typing` frames (spec §6), and the spec's close-code table (spec §3, 4004 of §6).
 */
import { CLOSE, PATHS, type Change, type ClientFrame, type Message, type ServerFrame, type User, type Welcome } from '../protocol.ts'
import { backoffDelay, BACKOFF_BASE_MS, BACKOFF_MAX_MS, BUSY_BASE_MS, BUSY_MAX_MS, PING_EVERY_MS, PONG_TIMEOUT_MS, socketUrl } from './reconnect.ts'

export type ConnectionState =
  | { kind: 'connecting'; attempt: number }
  | { kind: 'open' }
  /** A retry is scheduled at `until` (epoch ms); `busy` is the server's connection cap (4029). */
  | { kind: 'waiting'; until: number; why: 'network' | 'busy' | 'offline' }
  /** Not connected and not retrying: stopped, closed normally, or the token was refused. */
  | { kind: 'idle' }
  /** 4004 (spec §6): a private room this user may not read (or no longer may); not retried. */
  | { kind: 'gone' }

export interface RoomSocketEvents {
  onState(state: ConnectionState): void
  /** `resumed` is true for every welcome after the first: its history starts after `lastId`. */
  onWelcome(welcome: Welcome, resumed: boolean): void
  onMessage(message: Message): void
  /** An `edited` or `deleted` event (spec §5) or a `reaction` (spec §7), live or from a resume's `welcome.changes`. */
  onChange(change: Change): void
  onPresence(kind: 'join' | 'leave', user: User): void
  /** Someone else in the room is typing (spec §6). */
  onTyping(user: User): void
  /** 4004 ROOM_NOT_FOUND: a private room this user is not (or no longer) a member of; the socket does not reconnect. */
  onNotFound(): void
  onError(type: string, message: string): void
  /**
   * 4001: the token this connection offered was refused (`reason` TOKEN_INVALID, TOKEN_EXPIRED or
   * TOKEN_REVOKED). The socket stays idle until `reconnectNow()`.
   */
  onTokenRejected(token: string | undefined, reason: string): void
  /** 4003 BANNED: the user was banned; the socket does not reconnect (spec §3). */
  onBanned(token: string | undefined): void
  /** 1008 READ_ONLY: the connection had no token but tried to post. */
  onReadOnly(): void
}

export class RoomSocket {
  /** The highest id seen in any event (messages, edits, deletions): the resume cursor for `?since=` (spec §5). */
  lastId = 0
  private ws: WebSocket | undefined
  /** True between this connection's welcome and its close: only then may frames be sent. */
  private ready = false
  private welcomedBefore = false
  private attempt = 0
  private stopped = false
  private retryTimer: ReturnType<typeof setTimeout> | undefined
  private pingTimer: ReturnType<typeof setInterval> | undefined
  private pongTimer: ReturnType<typeof setTimeout> | undefined
  private readonly onOnline = () => this.reconnectNow()
  /** Back from sleep or a background tab: find out now whether the connection survived. */
  private readonly onVisible = () => {
    if (document.visibilityState === 'visible') this.checkAlive()
  }
  private readonly onOffline = () => {
    this.drop()
    this.events.onState({ kind: 'waiting', until: Infinity, why: 'offline' })
  }

  constructor(
    readonly room: string,
    private readonly getToken: () => string | undefined,
    private readonly events: RoomSocketEvents,
  ) {}

  start(): void {
    window.addEventListener('online', this.onOnline)
    window.addEventListener('offline', this.onOffline)
    document.addEventListener('visibilitychange', this.onVisible)
    this.connect()
  }

  stop(): void {
    this.stopped = true
    window.removeEventListener('online', this.onOnline)
    window.removeEventListener('offline', this.onOffline)
    document.removeEventListener('visibilitychange', this.onVisible)
    this.drop()
    this.events.onState({ kind: 'idle' })
  }

  /** Drops any connection or pending retry and connects at once (new token, network back). */
  reconnectNow(): void {
    if (this.stopped) return
    this.drop()
    this.attempt = 0
    this.connect()
  }

  /**
   * Connects again for a fresh timeline: no `?since=`, and the next welcome counts as a first one
   * (another person logged in here: what they see, `me` of reactions included, is theirs).
   */
  restartFresh(): void {
    this.lastId = 0
    this.welcomedBefore = false
    this.reconnectNow()
  }

  /** Sends when the room is joined; false when it is not (offline, between connections). */
  send(frame: ClientFrame): boolean {
    if (!this.ready || this.ws?.readyState !== WebSocket.OPEN) return false
    this.ws.send(JSON.stringify(frame))
    return true
  }

  get isOpen(): boolean {
    return this.ready
  }

  private connect(): void {
    const token = this.getToken()
    const since = this.lastId > 0 ? `?since=${this.lastId}` : ''
    const url = socketUrl(`${PATHS.roomSocket(this.room)}${since}`)
    const ws = token ? new WebSocket(url, [token]) : new WebSocket(url)
    this.ws = ws
    this.ready = false
    this.events.onState({ kind: 'connecting', attempt: this.attempt })
    ws.onmessage = (e) => {
      if (this.ws === ws) this.handle(String(e.data))
    }
    ws.onclose = (e) => {
      if (this.ws !== ws) return
      this.ws = undefined
      this.ready = false
      this.stopPing()
      this.closed(e.code, e.reason, token)
    }
  }

  private handle(raw: string): void {
    clearTimeout(this.pongTimer)
    let frame: ServerFrame
    try {
      frame = JSON.parse(raw)
    } catch {
      return
    }
    switch (frame.type) {
      case 'welcome': {
        const resumed = this.welcomedBefore
        this.welcomedBefore = true
        this.ready = true
        this.attempt = 0
        for (const m of frame.data.history) this.lastId = Math.max(this.lastId, m.id)
        for (const c of frame.data.changes ?? []) this.lastId = Math.max(this.lastId, c.id)
        this.events.onWelcome(frame.data, resumed)
        this.events.onState({ kind: 'open' })
        this.startPing()
        break
      }
      case 'message':
        this.lastId = Math.max(this.lastId, frame.data.id)
        this.events.onMessage(frame.data)
        break
      case 'edited':
      case 'deleted':
      case 'reaction':
        this.lastId = Math.max(this.lastId, frame.data.id)
        this.events.onChange({ type: frame.type, ...frame.data } as Change)
        break
      case 'join':
      case 'leave':
        this.events.onPresence(frame.type, frame.data.user)
        break
      case 'typing':
        this.events.onTyping(frame.data.user)
        break
      case 'error':
        // ROOM_NOT_FOUND comes right before close 4004, which says the same.
        if (frame.error.type !== 'ROOM_NOT_FOUND') this.events.onError(frame.error.type, frame.error.message)
        break
    }
  }

  /** What to do after a close, per the spec's close-code table (spec §3). */
  private closed(code: number, reason: string, token: string | undefined): void {
    if (this.stopped) return
    switch (code) {
      case CLOSE.NORMAL.code:
        this.events.onState({ kind: 'idle' })
        return
      case CLOSE.TOKEN_INVALID.code:
        // Never retried with the same token: the owner gets a new one or goes read-only.
        this.events.onState({ kind: 'idle' })
        this.events.onTokenRejected(token, reason)
        return
      case CLOSE.BANNED.code:
        this.events.onState({ kind: 'idle' })
        this.events.onBanned(token)
        return
      case CLOSE.ROOM_NOT_FOUND.code:
        // spec §6: don't reconnect to this room.
        this.events.onState({ kind: 'gone' })
        this.events.onNotFound()
        return
      case CLOSE.CONNECTION_LIMIT.code:
        return this.retryLater(BUSY_BASE_MS, BUSY_MAX_MS, 'busy')
      case CLOSE.READ_ONLY.code:
        this.events.onReadOnly()
        return this.retryLater(BACKOFF_BASE_MS, BACKOFF_MAX_MS, 'network')
      default:
        // 1001 SHUTDOWN, 1011, 1013, and 1006 (network, refused upgrade): back off, then resume.
        return this.retryLater(BACKOFF_BASE_MS, BACKOFF_MAX_MS, 'network')
    }
  }

  private retryLater(baseMs: number, maxMs: number, why: 'network' | 'busy'): void {
    const delay = backoffDelay(this.attempt++, baseMs, maxMs)
    clearTimeout(this.retryTimer)
    this.retryTimer = setTimeout(() => this.connect(), delay)
    this.events.onState({ kind: 'waiting', until: Date.now() + delay, why })
  }

  /** Forgets the current connection without reacting to its close. */
  private drop(): void {
    clearTimeout(this.retryTimer)
    this.stopPing()
    const ws = this.ws
    this.ws = undefined
    this.ready = false
    if (ws) {
      ws.onclose = ws.onmessage = null
      ws.close(CLOSE.NORMAL.code)
    }
  }

  private startPing(): void {
    this.stopPing()
    this.pingTimer = setInterval(() => this.checkAlive(), PING_EVERY_MS)
  }

  /** Pings; a connection that stays silent past the timeout is dead even if the browser has not noticed. */
  private checkAlive(): void {
    if (!this.send({ type: 'ping' })) return
    clearTimeout(this.pongTimer)
    this.pongTimer = setTimeout(() => {
      this.drop()
      this.retryLater(BACKOFF_BASE_MS, BACKOFF_MAX_MS, 'network')
    }, PONG_TIMEOUT_MS)
  }

  private stopPing(): void {
    clearInterval(this.pingTimer)
    clearTimeout(this.pongTimer)
  }
}
