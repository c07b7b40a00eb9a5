/**
 * The user stream `GET /api/v1/users/me/ws` (spec §6): badges, mentions, read markers and membership
 * changes wherever the user is. Reconnects with back-off and resumes mentions with `?since=` (the
 * largest message id seen in a mention); 4001 and 4003 are never retried with the same token.
 */
import { CLOSE } from '../protocol.ts'
import { ROOM_PATHS, type MentionEvent, type ReadEvent, type RoomEvent, type StreamWelcome, type UnreadEvent, type UserStreamFrame } from '../protocol-rooms.ts'
import { backoffDelay, BACKOFF_BASE_MS, BACKOFF_MAX_MS, BUSY_BASE_MS, BUSY_MAX_MS, PING_EVERY_MS, PONG_TIMEOUT_MS, socketUrl } from './reconnect.ts'

export interface UserStreamEvents {
  onWelcome(welcome: StreamWelcome): void
  onUnread(event: UnreadEvent): void
  onRead(event: ReadEvent): void
  onRoom(event: RoomEvent): void
  /** `replayed`: from a resumed welcome's `mentions` rather than live. */
  onMention(event: MentionEvent, replayed: boolean): void
  /** 4001 with this token: the owner refreshes or ends the session, then calls reconnectNow(). */
  onTokenRejected(token: string, reason: string): void
  /** 4003: the user is banned; not retried. */
  onBanned(token: string): void
}

export class UserStream {
  /** The largest message id seen in a `mention`: the resume cursor. */
  lastMentionId = 0
  /** True between a welcome and the close. */
  open = false
  private ws: WebSocket | undefined
  private attempt = 0
  private running = false
  private retryTimer: ReturnType<typeof setTimeout> | undefined
  private pingTimer: ReturnType<typeof setInterval> | undefined
  private pongTimer: ReturnType<typeof setTimeout> | undefined
  private readonly onOnline = () => this.reconnectNow()

  constructor(
    private readonly getToken: () => string | undefined,
    private readonly events: UserStreamEvents,
  ) {}

  /** Connects (if there is a session) and keeps connected until stop(). */
  start(): void {
    if (!this.running) window.addEventListener('online', this.onOnline)
    this.running = true
    this.reconnectNow()
  }

  stop(): void {
    this.running = false
    window.removeEventListener('online', this.onOnline)
    this.drop()
    this.lastMentionId = 0
  }

  /** Connects again at once with the session's token now (login, refresh, network back). */
  reconnectNow(): void {
    if (!this.running) return
    this.drop()
    this.attempt = 0
    this.connect()
  }

  private connect(): void {
    const token = this.getToken()
    if (!token) return
    const since = this.lastMentionId > 0 ? `?since=${this.lastMentionId}` : ''
    const ws = new WebSocket(socketUrl(`${ROOM_PATHS.userStream}${since}`), [token])
    this.ws = ws
    ws.onmessage = (e) => {
      if (this.ws === ws) this.handle(String(e.data))
    }
    ws.onclose = (e) => {
      if (this.ws !== ws) return
      this.ws = undefined
      this.open = false
      this.stopPing()
      this.closed(e.code, e.reason, token)
    }
  }

  private handle(raw: string): void {
    clearTimeout(this.pongTimer)
    let frame: UserStreamFrame
    try {
      frame = JSON.parse(raw)
    } catch {
      return
    }
    switch (frame.type) {
      case 'welcome':
        this.open = true
        this.attempt = 0
        this.events.onWelcome(frame.data)
        for (const m of frame.data.mentions ?? []) this.mention(m, true)
        this.startPing()
        break
      case 'mention':
        this.mention(frame.data, false)
        break
      case 'unread':
        this.events.onUnread(frame.data)
        break
      case 'read':
        this.events.onRead(frame.data)
        break
      case 'room':
        this.events.onRoom(frame.data)
        break
    }
  }

  private mention(event: MentionEvent, replayed: boolean): void {
    this.lastMentionId = Math.max(this.lastMentionId, event.message.id)
    this.events.onMention(event, replayed)
  }

  private closed(code: number, reason: string, token: string): void {
    if (!this.running) return
    switch (code) {
      case CLOSE.TOKEN_INVALID.code:
        return this.events.onTokenRejected(token, reason)
      case CLOSE.BANNED.code:
        return this.events.onBanned(token)
      case CLOSE.CONNECTION_LIMIT.code:
        return this.retryLater(BUSY_BASE_MS, BUSY_MAX_MS)
      default:
        return this.retryLater(BACKOFF_BASE_MS, BACKOFF_MAX_MS)
    }
  }

  private retryLater(baseMs: number, maxMs: number): void {
    clearTimeout(this.retryTimer)
    this.retryTimer = setTimeout(() => this.connect(), backoffDelay(this.attempt++, baseMs, maxMs))
  }

  private drop(): void {
    clearTimeout(this.retryTimer)
    this.stopPing()
    this.open = false
    const ws = this.ws
    this.ws = undefined
    if (ws) {
      ws.onclose = ws.onmessage = null
      ws.close(CLOSE.NORMAL.code)
    }
  }

  private startPing(): void {
    this.stopPing()
    this.pingTimer = setInterval(() => {
      if (this.ws?.readyState !== WebSocket.OPEN) return
      this.ws.send(JSON.stringify({ type: 'ping' }))
      clearTimeout(this.pongTimer)
      this.pongTimer = setTimeout(() => {
        this.drop()
        this.retryLater(BACKOFF_BASE_MS, BACKOFF_MAX_MS)
      }, PONG_TIMEOUT_MS)
    }, PING_EVERY_MS)
  }

  private stopPing(): void {
    clearInterval(this.pingTimer)
    clearTimeout(this.pongTimer)
  }
}
