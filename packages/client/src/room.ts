/**
 * A room's WebSocket (docs/PROTOCOL.md): typed events, resume with `?since=` after any drop, and
 * every message and change delivered to the app once, in id order, whatever the reconnects.
 */
import { Connection, type ConnectionDeps, type SocketState } from './connection.ts'
import { SocketEndpoint } from './socket-endpoint.ts'
import { ChatError } from './errors.ts'
import { BATCH, PATHS, type Change, type ClientFrame, type Message, type ServerFrame, type User, type Welcome } from './protocol.ts'

/**
 * Where a delivered message comes from: `history` (the first welcome's newest messages, already
 * posted before this socket joined), `resume` (missed while disconnected, from a later welcome's
 * history) or `live`.
 */
export type MessageSource = 'history' | 'resume' | 'live'

export type RoomEvents = {
  /** Every accepted connection's first frame; `resumed` for every one after the first. */
  welcome: [welcome: Welcome, info: { resumed: boolean }]
  /** Each message once, in id order: the first welcome's history, then what was missed, then live. */
  message: [message: Message, info: { source: MessageSource }]
  /** An `edited`, `deleted` or `reaction` event, once each, live or replayed from a resume's `welcome.changes`. */
  change: [change: Change, info: { source: 'resume' | 'live' }]
  join: [user: User]
  leave: [user: User]
  /** Someone else in the room is typing. */
  typing: [user: User]
  /** An `error` frame (the connection stays open): MESSAGE_INVALID, RATE_LIMITED, FORBIDDEN, ... */
  error: [error: ChatError]
  state: [state: SocketState]
}

export interface RoomOptions {
  /** Resume after this id (one the app kept): the first welcome then holds only what came after it, as source `resume`. */
  since?: number
  /** Connect without a token even when the client has one. */
  readOnly?: boolean
  /**
   * Batched delivery (docs/PROTOCOL.md): the server may hold the room's frames for up to this many ms
   * (a whole number, 1 to BATCH.MAX_MS) and send them as one WebSocket message, which costs it (and
   * this client) far less in a busy room. Events still come one by one, in the same order. Default 0:
   * each frame as it is made.
   */
  batchMs?: number
}

export interface PostOptions {
  /** A message id of this room to reply to (spec §7). */
  replyTo?: number
  /** Ids of uploads to this room (ChatClient.upload). */
  attachments?: string[]
  /** The tag that matches the stored copy to this send (at most 64 characters); 32 random hex digits by default. */
  nonce?: string
  /** How long to wait for the stored copy (default 10 s). */
  timeoutMs?: number
}

const POST_TIMEOUT_MS = 10_000

type Pending = { resolve(m: Message): void; reject(e: ChatError): void; timer: ReturnType<typeof setTimeout> }

export class RoomSocket extends SocketEndpoint<RoomEvents> {
  /** The largest id seen in any event of the room: the `?since=` cursor. */
  lastId: number
  protected readonly conn: Connection
  private welcomedBefore = false
  private readonly pending = new Map<string, Pending>()
  /** Frames of post() made while not connected, sent right after the next welcome. */
  private queued: ClientFrame[] = []

  constructor(
    readonly room: string,
    deps: ConnectionDeps,
    opts: RoomOptions = {},
  ) {
    super()
    this.lastId = opts.since ?? 0
    this.welcomedBefore = opts.since !== undefined
    const batchMs = opts.batchMs ?? 0
    if (!Number.isInteger(batchMs) || batchMs < 0 || batchMs > BATCH.MAX_MS)
      throw new RangeError(`batchMs must be a whole number of ms from 0 to ${BATCH.MAX_MS}, not ${batchMs}`)
    const token = opts.readOnly ? () => undefined : deps.token
    this.conn = new Connection(
      { ...deps, token },
      {
        needsToken: false,
        path: () => {
          const query = [this.lastId > 0 ? `since=${this.lastId}` : '', batchMs > 0 ? `${BATCH.PARAM}=${batchMs}` : ''].filter(Boolean).join('&')
          return `${PATHS.roomSocket(room)}${query ? `?${query}` : ''}`
        },
        frame: (frame) => this.handle(frame as ServerFrame),
        state: (state) => this.changed(state),
      },
    )
  }

  protected get label(): string {
    return this.room
  }

  /**
   * Pings now instead of at the next keep-alive, and reconnects if nothing answers within
   * `pongTimeoutMs`: for an app that just woke (a page visible again, a laptop opened).
   */
  checkAlive(): void {
    this.conn.checkAlive()
  }

  /** Sends a client frame as is; false when not welcomed (nothing is sent or queued). */
  send(frame: ClientFrame): boolean {
    return this.conn.send(frame)
  }

  /**
   * Posts a message and resolves with its stored copy (the server's acknowledgement), matched by
   * nonce, even when it comes back in a resume's history after a reconnect. Made while reconnecting,
   * the post is sent right after the next welcome. Rejects with TIMEOUT when no copy came back in
   * time (the server refused it: see the `error` events, which carry no nonce) and with CLOSED when
   * the socket is or becomes stopped for good. Never sent twice.
   */
  post(text: string, opts: PostOptions = {}): Promise<Message> {
    const nonce = opts.nonce ?? randomNonce()
    const frame: ClientFrame = { type: 'message', text, nonce }
    if (opts.replyTo !== undefined) frame.replyTo = opts.replyTo
    if (opts.attachments !== undefined) frame.attachments = opts.attachments
    const state = this.conn.state
    if (state.kind === 'closed')
      return Promise.reject(new ChatError('CLOSED', `the socket to ${this.room} is closed: ${state.why} (${state.code} ${state.reason})`))
    return new Promise((resolve, reject) => {
      const timeoutMs = opts.timeoutMs ?? POST_TIMEOUT_MS
      const timer = setTimeout(() => {
        this.pending.delete(nonce)
        // Still waiting for a welcome: it is not sent later either.
        this.queued = this.queued.filter((f) => !(f.type === 'message' && f.nonce === nonce))
        reject(new ChatError('TIMEOUT', `no stored copy of the message within ${timeoutMs} ms`))
      }, timeoutMs)
      this.pending.set(nonce, { resolve, reject, timer })
      if (!this.conn.send(frame)) this.queued.push(frame)
    })
  }

  /** Replaces the text of one's own message (`edited` comes back as a `change`). False when not connected. */
  edit(id: number, text: string): boolean {
    return this.send({ type: 'edit', id, text })
  }

  /** Deletes a message (one's own, or any as an admin). False when not connected. */
  delete(id: number): boolean {
    return this.send({ type: 'delete', id })
  }

  /** Puts (`on`) or takes back an emoji on a message. False when not connected. */
  react(id: number, emoji: string, on = true): boolean {
    return this.send({ type: 'react', id, emoji, on })
  }

  /** Moves the read marker to `id` (only ever forward). False when not connected. */
  markRead(id: number): boolean {
    return this.send({ type: 'read', id })
  }

  /** Tells the others the user is typing (the server passes on one every 2 s). */
  typing(): boolean {
    return this.send({ type: 'typing' })
  }

  private handle(frame: ServerFrame): void {
    switch (frame.type) {
      case 'welcome':
        return this.welcome(frame.data)
      case 'message':
        return this.deliver(frame.data, 'live')
      case 'edited':
      case 'deleted':
      case 'reaction':
        return this.change({ type: frame.type, ...frame.data } as Change, 'live')
      case 'join':
      case 'leave':
      case 'typing':
        return this.emit(frame.type, frame.data.user)
      case 'error':
        return this.emit('error', new ChatError(frame.error.type, frame.error.message))
      case 'pong':
        return
    }
  }

  private welcome(welcome: Welcome): void {
    const resumed = this.welcomedBefore
    this.welcomedBefore = true
    this.conn.welcomed()
    this.emit('welcome', welcome, { resumed })
    // History (messages after the cursor) and changes (events after it about older messages) interleave by id.
    const entries: ({ id: number } & ({ message: Message } | { change: Change }))[] = [
      ...welcome.history.map((message) => ({ id: message.id, message })),
      ...(welcome.changes ?? []).map((change) => ({ id: change.id, change })),
    ].sort((a, b) => a.id - b.id)
    for (const entry of entries) {
      if ('message' in entry) this.deliver(entry.message, resumed ? 'resume' : 'history')
      else this.change(entry.change, 'resume')
    }
    for (const frame of this.queued.splice(0)) this.conn.send(frame)
  }

  /** Delivers a message once: ids only grow within a room, so one at or below the cursor was delivered already. */
  private deliver(message: Message, source: MessageSource): void {
    if (message.id <= this.lastId) return
    this.lastId = message.id
    this.emit('message', message, { source })
    const nonce = message.deleted ? undefined : message.nonce
    const waiting = nonce === undefined ? undefined : this.pending.get(nonce)
    if (waiting && nonce !== undefined) {
      this.pending.delete(nonce)
      clearTimeout(waiting.timer)
      waiting.resolve(message)
    }
  }

  private change(change: Change, source: 'resume' | 'live'): void {
    if (change.id <= this.lastId) return
    this.lastId = change.id
    this.emit('change', change, { source })
  }

  private changed(state: SocketState): void {
    if (state.kind === 'closed') {
      this.queued = []
      for (const [nonce, waiting] of this.pending) {
        this.pending.delete(nonce)
        clearTimeout(waiting.timer)
        waiting.reject(new ChatError('CLOSED', `the socket to ${this.room} closed: ${state.why} (${state.code} ${state.reason})`, 0))
      }
    }
    this.emit('state', state)
  }
}

/** 128 random bits as hex: `crypto.getRandomValues` works in every runtime, also on plain-http pages (randomUUID needs a secure context). */
function randomNonce(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16))
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('')
}
