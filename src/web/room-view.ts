/**
 * One open room: its socket, its timeline and presence, and the sends still waiting for their echo.
 * A send is pending until the server's copy with the same nonce comes back, live or in the
 * history of the welcome after a reconnect; sends the server never stored are sent again then.
 * Spec §6: read markers when the newest message is on screen, `typing` both ways, `@` completion
 * from the room's members and present users, and 4004 (a private room) handed to the owner.
 */
import {
  BATCH,
  CLOSE,
  ROOM_LIMITS,
  type Attachment,
  type ClientFrame,
  type Message,
  type Quote,
  type RoomSocket,
  type SocketState,
  type User,
  type Welcome,
} from '../../packages/client/src/index.ts'
import { client } from './client.ts'
import type { Composer, SendExtras } from './composer.ts'
import type { MemberList } from './member-list.ts'
import type { MessageList } from './message-list.ts'
import type { TypingIndicator } from './typing.ts'
import { uploadFile } from './upload.ts'
import { describeErrorType } from './words.ts'

/** The room's connection as the page shows it (the badge, the box): the SDK socket's state, and being offline. */
export type ConnectionState =
  | { kind: 'connecting'; attempt: number }
  | { kind: 'open' }
  /** A retry is scheduled at `until` (epoch ms); `busy` is the server's connection cap (4029). */
  | { kind: 'waiting'; until: number; why: 'network' | 'busy' | 'offline' }
  /** Not connected and not retrying: stopped, closed normally, or the token was refused. */
  | { kind: 'idle' }
  /** 4004 (spec §6): a private room this user may not read (or no longer may); not retried. */
  | { kind: 'gone' }

/** How long the box stays disabled after a RATE_LIMITED error frame. */
const RATE_LIMIT_PAUSE_MS = 2000
/** A send not echoed within this time, while connected, is shown as failed (with Retry). */
const SEND_TIMEOUT_MS = 10_000
/** A read marker goes out once the newest message has been on screen this long (and again only for a newer one). */
const READ_DEBOUNCE_MS = 300

export interface RoomViewDeps {
  messages: MessageList
  members: MemberList
  composer: Composer
  typing: TypingIndicator
  /** What the room is called on screen (`#name`, or `@peer` for a DM). */
  label: string
  /** The user's read marker in this room as the user stream last said (0 when unknown). */
  lastReadId(): number
  onState(state: ConnectionState): void
  /**
   * 4001 (`reason`: TOKEN_INVALID, TOKEN_EXPIRED, TOKEN_REVOKED) and the client has no other token
   * (the SDK reconnects by itself with a newer one): the owner ends the session, then calls reconnect().
   */
  onTokenRejected(reason: string): void
  /** 4003: the user is banned; not retried. */
  onBanned(): void
  /** 1008: a read-only connection tried to post; it connects again, read-only. */
  onReadOnly(): void
}

interface PendingSend {
  text: string
  /** spec §7: the message answered, and the uploads carried. */
  replyTo: Quote | undefined
  attachments: Attachment[]
  /** Which connection it went out on; after a reconnect, sends from earlier connections are checked against the welcome. */
  connection: number
  timer: ReturnType<typeof setTimeout> | undefined
  /** An `error` frame was taken to be this send's (until it is sent again). */
  refused: boolean
}

export class RoomView {
  /** The SDK's socket (resume, back-off, close codes), from start(); a new one for a new person. */
  private socket: RoomSocket | undefined
  private readonly pending = new Map<string, PendingSend>()
  private connection = 0
  private rateLimitedUntil = 0
  private rateTimer: ReturnType<typeof setTimeout> | undefined
  private state: ConnectionState = { kind: 'idle' }
  private me: User | undefined
  /** The message of the newest edit or deletion asked for and not yet answered: where an error frame belongs. */
  private changing: number | undefined
  private readOnly = true
  /** The room's members (`GET …/members`), for `@` completion. */
  private roomMembers: User[] = []
  private readTimer: ReturnType<typeof setTimeout> | undefined
  /** The highest id a `read` frame went out for on this page. */
  private readSent = 0
  private lastTyping = 0
  private readonly onVisibility = () => {
    // Back from sleep or a background tab: find out now whether the connection survived.
    if (document.visibilityState === 'visible') this.socket?.checkAlive()
    this.scheduleRead()
  }
  private readonly onOnline = () => this.socket?.connect()
  private readonly onOffline = () => {
    this.socket?.close()
    this.setState({ kind: 'waiting', until: Infinity, why: 'offline' })
  }

  constructor(
    readonly room: string,
    private readonly deps: RoomViewDeps,
  ) {
    this.me = client.user
    deps.messages.reset(room, this.me)
    deps.messages.setLabel(deps.label)
    deps.messages.loadOlder = (before, limit) => client.history(room, { before, limit })
    deps.messages.onViewChange = () => this.scheduleRead()
    deps.messages.retry = (nonce) => this.resend(nonce)
    deps.messages.edit = (id, text) => this.change(id, { type: 'edit', id, text })
    deps.messages.remove = (id) => this.change(id, { type: 'delete', id })
    deps.messages.reply = (quote) => deps.composer.setReply(quote)
    deps.messages.react = (id, emoji, on) => this.sendFrame({ type: 'react', id, emoji, on })
    deps.messages.attachments = { fetch: (a) => (client.token ? client.download(a) : undefined) }
    deps.members.set([], this.me)
    deps.composer.setRoom(deps.label)
    deps.composer.send = (text, extras) => this.send(text, extras)
    deps.composer.upload = (file, onProgress) => {
      const token = client.token
      return token ? uploadFile(room, file, token, onProgress) : undefined
    }
    deps.composer.typing = () => this.sendTyping()
    deps.composer.mentions.candidates = () => [...this.roomMembers, ...deps.members.users()].filter((u) => u.id !== this.me?.id)
    deps.typing.clear()
  }

  start(): void {
    window.addEventListener('online', this.onOnline)
    window.addEventListener('offline', this.onOffline)
    document.addEventListener('visibilitychange', this.onVisibility)
    this.open()
  }

  stop(): void {
    window.removeEventListener('online', this.onOnline)
    window.removeEventListener('offline', this.onOffline)
    document.removeEventListener('visibilitychange', this.onVisibility)
    this.socket?.close()
    this.deps.typing.clear()
    clearTimeout(this.readTimer)
    clearTimeout(this.rateTimer)
    for (const p of this.pending.values()) clearTimeout(p.timer)
  }

  /** Reconnects only if the session now belongs to someone else (or no one), e.g. after a change in another tab. */
  reconnectIfUserChanged(): void {
    if (client.user?.id !== this.me?.id) this.reconnect()
  }

  /** Connects again at once with whatever session there is now (after login, logout or a fresh token). */
  reconnect(): void {
    const me = client.user
    if (me?.id !== this.me?.id) {
      // Another person (or nobody) now: the previous one's unsent messages are not theirs to send.
      for (const [nonce, p] of this.pending) {
        clearTimeout(p.timer)
        this.deps.messages.dropPending(nonce)
      }
      this.pending.clear()
      this.readSent = 0
      this.me = me
      this.deps.messages.setMe(me)
      // Reactions carry `me` for the reader (spec §7): the new reader's timeline comes fresh, from a new socket.
      this.socket?.close()
      return this.open()
    }
    this.socket?.connect()
  }

  /** A new socket: no `?since=`, and its first welcome is a first one. client.room() connects at once. */
  private open(): void {
    const socket = client.room(this.room, { batchMs: BATCH.WEB_CLIENT_MS })
    this.socket = socket
    const { deps } = this
    socket.on('state', (state) => this.socketState(state))
    socket.on('welcome', (welcome, { resumed }) => this.welcome(welcome, resumed))
    // A welcome's history and changes are taken whole by welcome(): only live events one by one.
    socket.on('message', (m, { source }) => {
      if (source !== 'live') return
      deps.typing.stop(m.user.id)
      this.receive([m])
    })
    socket.on('change', (change, { source }) => {
      if (source !== 'live') return
      if (change.messageId === this.changing) this.changing = undefined
      deps.messages.applyChange(change)
    })
    socket.on('join', (user) => deps.members.join(user))
    socket.on('leave', (user) => {
      deps.members.leave(user)
      deps.typing.stop(user.id)
    })
    socket.on('typing', (user) => {
      if (user.id !== this.me?.id) deps.typing.show(user)
    })
    socket.on('error', (err) => {
      // ROOM_NOT_FOUND comes right before close 4004, which says the same.
      if (err.type !== 'ROOM_NOT_FOUND') this.serverError(err.type, err.message)
    })
    this.socketState(socket.state)
  }

  /** The SDK socket's state as the page shows it; what a stop for good means for the session. */
  private socketState(state: SocketState): void {
    if (state.kind === 'waiting') {
      const why = state.code === CLOSE.CONNECTION_LIMIT.code ? 'busy' : 'network'
      return this.setState({ kind: 'waiting', until: Date.now() + state.delayMs, why })
    }
    if (state.kind !== 'closed') return this.setState(state.kind === 'open' ? state : { kind: 'connecting', attempt: state.attempt })
    if (state.why === 'not-found') {
      this.setState({ kind: 'gone' })
      this.deps.typing.clear()
      this.deps.members.set([], this.me)
      return
    }
    this.setState({ kind: 'idle' })
    if (state.why === 'token') this.deps.onTokenRejected(state.reason)
    else if (state.why === 'banned') this.deps.onBanned()
    else if (state.why === 'read-only') {
      this.deps.onReadOnly()
      this.socket?.connect()
    }
  }

  private setState(state: ConnectionState): void {
    this.state = state
    this.updateComposer()
    this.deps.onState(state)
  }

  /** Sends when the room is joined; false when it is not (offline, between connections). */
  private sendFrame(frame: ClientFrame): boolean {
    return this.socket?.send(frame) ?? false
  }

  private welcome(w: Welcome, resumed: boolean): void {
    this.connection++
    this.readOnly = w.readOnly
    const { messages, members } = this.deps
    members.set(w.members, this.me)
    void this.loadMembers()
    if (!resumed || w.truncated) {
      // A fresh timeline, or more was missed than a resume carries: start over from this history.
      const unsent = resumed ? [...this.pending.entries()] : []
      messages.reset(this.room, this.me)
      for (const [nonce, p] of unsent) messages.addPending(nonce, p.text, p.replyTo)
    }
    this.receive(w.history)
    // spec §5: edits and deletions of messages already shown, made while this page was away.
    if (resumed && !w.truncated) for (const change of w.changes ?? []) messages.applyChange(change)
    if (!resumed || w.truncated) messages.setHasOlder(w.history.length > 0)
    this.scheduleRead()
    // Whatever is still pending from an earlier connection was never stored: send it again now.
    if (w.readOnly) return
    for (const [nonce, p] of this.pending) {
      if (p.connection < this.connection) this.transmit(nonce, p)
    }
  }

  /** The room's members for `@` completion (present users are added to them); none for a guest. */
  private async loadMembers(): Promise<void> {
    if (!client.token || this.readOnly) return
    try {
      this.roomMembers = await client.members(this.room)
    } catch {
      // completion then offers the people present only
    }
  }

  /** Sends a read marker (debounced) once the newest message is on screen in a visible page (spec §6). */
  private scheduleRead(): void {
    if (this.readOnly || !this.me) return
    clearTimeout(this.readTimer)
    this.readTimer = setTimeout(() => this.sendRead(), READ_DEBOUNCE_MS)
  }

  private sendRead(): void {
    const { messages } = this.deps
    if (this.readOnly || document.visibilityState !== 'visible' || !messages.newestVisible()) return
    const id = messages.newestId
    if (id === undefined || id <= this.readSent || id <= this.deps.lastReadId()) return
    if (this.sendFrame({ type: 'read', id })) this.readSent = id
  }

  /** `typing` at most once per TYPING_INTERVAL_MS (the server drops the rest anyway); never from a read-only socket. */
  private sendTyping(): void {
    if (this.readOnly || !this.me) return
    const now = Date.now()
    if (now - this.lastTyping < ROOM_LIMITS.TYPING_INTERVAL_MS) return
    if (this.sendFrame({ type: 'typing' })) this.lastTyping = now
  }

  /** Confirms own pending sends by nonce and adds the rest in one batch (a welcome's history is up to 500). */
  private receive(batch: Message[]): void {
    const others: Message[] = []
    for (const m of batch) {
      const p = m.nonce !== undefined && m.user.id === this.me?.id ? this.pending.get(m.nonce) : undefined
      if (!p) {
        others.push(m)
        continue
      }
      clearTimeout(p.timer)
      this.pending.delete(m.nonce!)
      this.deps.messages.confirm(m.nonce!, m)
    }
    if (others.length > 0) this.deps.messages.add(others)
  }

  /**
   * An error frame does not say which send it refuses; the newest pending one not refused yet is the
   * likeliest (a burst past the rate limit loses its last ones, one error each). If its echo arrives
   * after all, receive() confirms it anyway.
   */
  private refuseNewest(): void {
    const newest = [...this.pending].findLast(([, p]) => !p.refused)
    if (!newest) return
    const [nonce, p] = newest
    clearTimeout(p.timer)
    p.refused = true
    this.deps.messages.setPendingState(nonce, 'failed')
  }

  private send(text: string, extras: SendExtras): boolean {
    if (!this.socket?.isOpen || !this.me) return false
    const nonce = crypto.randomUUID()
    const p: PendingSend = { text, replyTo: extras.replyTo, attachments: extras.attachments, connection: this.connection, timer: undefined, refused: false }
    this.pending.set(nonce, p)
    this.deps.messages.addPending(nonce, text, extras.replyTo)
    this.transmit(nonce, p)
    return true
  }

  private resend(nonce: string): void {
    const p = this.pending.get(nonce)
    if (p && this.socket?.isOpen) this.transmit(nonce, p)
  }

  private transmit(nonce: string, p: PendingSend): void {
    clearTimeout(p.timer)
    p.connection = this.connection
    p.refused = false
    this.deps.messages.setPendingState(nonce, 'sending')
    const frame: ClientFrame = { type: 'message', text: p.text, nonce }
    if (p.replyTo) frame.replyTo = p.replyTo.id
    if (p.attachments.length > 0) frame.attachments = p.attachments.map((a) => a.id)
    if (!this.sendFrame(frame)) return
    p.timer = setTimeout(() => this.deps.messages.setPendingState(nonce, 'failed'), SEND_TIMEOUT_MS)
  }

  /** Sends an edit or delete frame (spec §5); the `edited` / `deleted` event that comes back updates the timeline. */
  private change(id: number, frame: Extract<ClientFrame, { type: 'edit' | 'delete' }>): boolean {
    if (!this.sendFrame(frame)) return false
    this.changing = id
    return true
  }

  private serverError(type: string, message: string): void {
    const changing = this.changing
    if (changing !== undefined && (type === 'MESSAGE_NOT_FOUND' || type === 'FORBIDDEN' || (type === 'MESSAGE_INVALID' && this.pending.size === 0))) {
      this.changing = undefined
      this.deps.messages.changeRefused(changing, describeErrorType(type, message))
      return
    }
    if (type === 'RATE_LIMITED') {
      this.refuseNewest()
      this.rateLimitedUntil = Date.now() + RATE_LIMIT_PAUSE_MS
      clearTimeout(this.rateTimer)
      this.rateTimer = setTimeout(() => this.updateComposer(), RATE_LIMIT_PAUSE_MS)
      this.updateComposer()
    } else if (type === 'MESSAGE_INVALID') {
      this.refuseNewest()
    }
  }

  private updateComposer(): void {
    const { composer } = this.deps
    const state = this.state
    if (state.kind === 'connecting' && state.attempt === 0 && this.connection === 0) {
      composer.setBlocked('Connecting…')
    } else if (state.kind === 'waiting' && state.why === 'offline') {
      composer.setBlocked('You are offline. Posting resumes when the connection is back.')
    } else if (state.kind === 'gone') {
      composer.setBlocked('This room does not exist or is private.')
    } else if (state.kind === 'idle') {
      composer.setBlocked('Disconnected. Reload the page to connect again.')
    } else if (state.kind !== 'open') {
      composer.setBlocked('Reconnecting… you can post again once connected.')
    } else if (Date.now() < this.rateLimitedUntil) {
      composer.setBlocked('You are sending messages too fast. Wait a moment.')
    } else {
      composer.setBlocked(undefined)
    }
  }
}
