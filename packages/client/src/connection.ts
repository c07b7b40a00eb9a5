/**
 * One managed WebSocket, shared by room sockets and the user stream: connects with the token as the
 * first subprotocol, keeps the connection proven alive with pings, and after a close does what the
 * close-code table says (docs/PROTOCOL.md "Close codes"): back off with jitter and reconnect, or stop
 * for good. The owner builds the URL (with `?since=`) and reads the frames.
 */
import { CLOSE, splitFrames } from './protocol.ts'

/** The constructor of a WHATWG-style WebSocket: the global one (browsers, Bun, Node 22+) or `ws`'s. */
export type WebSocketConstructor = new (url: string, protocols?: string | string[]) => WebSocketLike

/**
 * What the SDK uses of a WebSocket instance. The handlers' parameters are `never` so that any
 * runtime's handler type fits; the SDK reads `event.data` of a message and `code`/`reason` of a close.
 */
export interface WebSocketLike {
  readonly readyState: number
  onmessage: ((event: never) => void) | null
  onclose: ((event: never) => void) | null
  onerror: ((event: never) => void) | null
  send(data: string): void
  close(code?: number, reason?: string): void
}

/** Timings of the reconnect policy, all in ms; every one has a default. */
export interface ReconnectOptions {
  /** First back-off after a drop (1001, 1006, 1011, 1013, ...); doubles per failed attempt up to `maxMs`. */
  baseMs: number
  maxMs: number
  /** Back-off after 4029 CONNECTION_LIMIT: the server is full, come back much later. */
  busyBaseMs: number
  busyMaxMs: number
  /** An application `ping` this often while connected... */
  pingEveryMs: number
  /** ...and a connection that stays silent this long after it (or after connecting, until `welcome`) is dropped and reconnected. */
  pongTimeoutMs: number
}

export const DEFAULT_RECONNECT: ReconnectOptions = {
  baseMs: 500,
  maxMs: 30_000,
  busyBaseMs: 15_000,
  busyMaxMs: 5 * 60_000,
  pingEveryMs: 25_000,
  pongTimeoutMs: 10_000,
}

/** Exponential back-off with jitter: a delay in the upper half of min(max, base·2^attempt). */
export function backoffDelay(attempt: number, baseMs: number, maxMs: number, random = Math.random()): number {
  const ceiling = Math.min(maxMs, baseMs * 2 ** attempt)
  return ceiling / 2 + (random * ceiling) / 2
}

/**
 * Why a socket stopped for good: `client` (close() was called), `normal` (the server closed with
 * 1000), `token` (4001: the token was refused, expired or revoked, and the client has no other),
 * `banned` (4003), `not-found` (4004: a private room this user may not read), `read-only` (1008: sent
 * without a token), `protocol` (1003, 1009: the client sent what the server does not take).
 */
export type StopReason = 'client' | 'normal' | 'token' | 'banned' | 'not-found' | 'read-only' | 'protocol'

export type SocketState =
  | { kind: 'connecting'; attempt: number }
  /** Welcomed: frames may be sent. */
  | { kind: 'open' }
  /** Dropped; the next attempt starts after `delayMs`. `code`/`reason` are of the close that caused it. */
  | { kind: 'waiting'; attempt: number; delayMs: number; code: number; reason: string }
  /** Not connected and not retrying until `reconnect()`. */
  | { kind: 'closed'; why: StopReason; code: number; reason: string }

export interface ConnectionDeps {
  /** ws:// or wss:// origin of the server. */
  wsBase: string
  WebSocket: WebSocketConstructor | undefined
  /** The token to connect with now; undefined to connect read-only. */
  token(): string | undefined
  /** A request of this client's in flight that revokes its token and answers with a new one (a password change). */
  tokenChanging?(): Promise<unknown> | undefined
  reconnect: ReconnectOptions
}

export interface ConnectionHooks {
  /** The path and query to connect to now (the owner adds `?since=`). */
  path(): string
  /** Every parsed frame, in order. */
  frame(frame: { type: string; error: { type: string; message: string } | null; data: unknown }): void
  state(state: SocketState): void
  /** Whether to connect at all without a token (the user stream needs one). */
  needsToken: boolean
}

const OPEN = 1

export class Connection {
  state: SocketState = { kind: 'closed', why: 'client', code: CLOSE.NORMAL.code, reason: '' }
  private ws: WebSocketLike | undefined
  private ready = false
  private attempt = 0
  private retryTimer: ReturnType<typeof setTimeout> | undefined
  private pingTimer: ReturnType<typeof setInterval> | undefined
  private silenceTimer: ReturnType<typeof setTimeout> | undefined

  constructor(
    private readonly deps: ConnectionDeps,
    private readonly hooks: ConnectionHooks,
  ) {}

  /** True between a `welcome` and the close: only then are frames sent. */
  get isOpen(): boolean {
    return this.ready && this.ws?.readyState === OPEN
  }

  /** Drops any connection or pending retry and connects now, the back-off reset. */
  reconnect(): void {
    this.drop()
    this.attempt = 0
    this.connect()
  }

  /** Stops for good (state `closed`, why `client`): the socket is closed with 1000 and nothing is retried. */
  close(): void {
    this.drop()
    this.setState({ kind: 'closed', why: 'client', code: CLOSE.NORMAL.code, reason: '' })
  }

  /** Sends `frame` if welcomed; false otherwise (nothing is queued here). */
  send(frame: unknown): boolean {
    if (!this.isOpen) return false
    this.ws!.send(JSON.stringify(frame))
    return true
  }

  /** The owner saw `welcome`: the connection is usable, the back-off starts over, pings begin. */
  welcomed(): void {
    this.ready = true
    this.attempt = 0
    clearTimeout(this.silenceTimer)
    clearInterval(this.pingTimer)
    this.pingTimer = setInterval(() => this.checkAlive(), this.deps.reconnect.pingEveryMs)
    this.setState({ kind: 'open' })
  }

  private connect(): void {
    const Ctor = this.deps.WebSocket
    if (!Ctor) {
      throw new TypeError(
        'no WebSocket: this runtime has no global WebSocket (Node 20). Pass one as the `WebSocket` option (e.g. from the `ws` package), or run Node 20 with --experimental-websocket',
      )
    }
    const token = this.deps.token()
    if (this.hooks.needsToken && token === undefined) {
      this.setState({ kind: 'closed', why: 'token', code: CLOSE.TOKEN_INVALID.code, reason: 'NO_TOKEN' })
      return
    }
    const url = this.deps.wsBase + this.hooks.path()
    const ws = token === undefined ? new Ctor(url) : new Ctor(url, [token])
    this.ws = ws
    this.ready = false
    this.setState({ kind: 'connecting', attempt: this.attempt })
    this.expectWithin(this.deps.reconnect.pongTimeoutMs)
    ws.onerror = () => {}
    ws.onmessage = (e: { data: unknown }) => {
      if (this.ws !== ws) return
      clearTimeout(this.silenceTimer)
      // A batched room socket's message holds one frame per line (`?batch=`); a plain one, a single frame.
      for (const text of splitFrames(String(e.data))) {
        // A handler may have dropped this connection in the middle of a batch.
        if (this.ws !== ws) return
        let frame
        try {
          frame = JSON.parse(text)
        } catch {
          continue
        }
        if (typeof frame === 'object' && frame !== null && typeof frame.type === 'string') this.hooks.frame(frame)
      }
    }
    ws.onclose = (e: { code: number; reason: string }) => {
      if (this.ws !== ws) return
      this.forget()
      this.closed(e.code, e.reason, token)
    }
  }

  /** What to do after the server (or the network) closed the connection: the close-code table. */
  private closed(code: number, reason: string, token: string | undefined): void {
    const stop = (why: StopReason) => this.setState({ kind: 'closed', why, code, reason })
    switch (code) {
      case CLOSE.NORMAL.code:
        return stop('normal')
      case CLOSE.TOKEN_INVALID.code: {
        // Never again with the same token; a newer one (refreshed or logged in since) is used at once.
        const now = this.deps.token()
        if (now !== undefined && now !== token) return this.reconnect()
        // This client's own password change revoked it, and its answer, with the new token, may arrive
        // after the close: decide once it has (unless the connection was closed or restarted meanwhile).
        const changing = this.deps.tokenChanging?.()
        if (!changing) return stop('token')
        const before = this.state
        const decide = () => {
          if (this.state !== before || this.ws !== undefined) return
          const fresh = this.deps.token()
          if (fresh !== undefined && fresh !== token) this.reconnect()
          else stop('token')
        }
        void changing.then(decide, decide)
        return
      }
      case CLOSE.BANNED.code:
        return stop('banned')
      case CLOSE.ROOM_NOT_FOUND.code:
        return stop('not-found')
      case CLOSE.READ_ONLY.code:
        // "log in, then reconnect with a token": at once if there is one now.
        if (token === undefined && this.deps.token() !== undefined) return this.reconnect()
        return stop('read-only')
      case CLOSE.BINARY_UNSUPPORTED.code:
      case CLOSE.TOO_LARGE.code:
        return stop('protocol')
      case CLOSE.CONNECTION_LIMIT.code:
        return this.retryLater(code, reason, this.deps.reconnect.busyBaseMs, this.deps.reconnect.busyMaxMs)
      default:
        // 1001 SHUTDOWN, 1011 INTERNAL, 1013 SLOW_CONSUMER, 1006 (network, refused upgrade), anything else.
        return this.retryLater(code, reason, this.deps.reconnect.baseMs, this.deps.reconnect.maxMs)
    }
  }

  private retryLater(code: number, reason: string, baseMs: number, maxMs: number): void {
    const delayMs = backoffDelay(this.attempt, baseMs, maxMs)
    this.attempt++
    clearTimeout(this.retryTimer)
    this.retryTimer = setTimeout(() => this.connect(), delayMs)
    this.setState({ kind: 'waiting', attempt: this.attempt, delayMs, code, reason })
  }

  /**
   * Pings now (when welcomed); any frame counts as the answer. A connection that stays silent is
   * dead even if the runtime has not noticed: it is dropped and reconnected.
   */
  checkAlive(): void {
    if (this.send({ type: 'ping' })) this.expectWithin(this.deps.reconnect.pongTimeoutMs)
  }

  private expectWithin(ms: number): void {
    clearTimeout(this.silenceTimer)
    this.silenceTimer = setTimeout(() => {
      this.drop()
      this.retryLater(1006, 'NO_ANSWER', this.deps.reconnect.baseMs, this.deps.reconnect.maxMs)
    }, ms)
  }

  /** Clears the timers of the current connection and forgets it, without closing it. */
  private forget(): void {
    clearInterval(this.pingTimer)
    clearTimeout(this.silenceTimer)
    this.ws = undefined
    this.ready = false
  }

  /** Forgets the current connection (closing it with 1000, its close unheard) and any pending retry. */
  private drop(): void {
    clearTimeout(this.retryTimer)
    const ws = this.ws
    this.forget()
    if (!ws) return
    ws.onmessage = null
    ws.onclose = null
    try {
      ws.close(CLOSE.NORMAL.code)
    } catch {
      // already closing
    }
  }

  private setState(state: SocketState): void {
    this.state = state
    this.hooks.state(state)
  }
}
