/**
 * One open room: its socket, its timeline and presence, and the sends still waiting for their echo.
 * A send is pending until the server's copy with the same nonce comes back, live or in the
 * history of the welcome after a reconnect; sends the server never stored are sent again then.
 */
import type { ClientFrame, Message, Session, User, Welcome } from '../protocol.ts'
import { describeErrorType, listMessages } from './api.ts'
import type { Composer } from './composer.ts'
import type { MemberList } from './member-list.ts'
import type { MessageList } from './message-list.ts'
import { RoomSocket, type ConnectionState } from './room-socket.ts'

/** How long the box stays disabled after a RATE_LIMITED error frame. */
const RATE_LIMIT_PAUSE_MS = 2000
/** A send not echoed within this time, while connected, is shown as failed (with Retry). */
const SEND_TIMEOUT_MS = 10_000

export interface RoomViewDeps {
  messages: MessageList
  members: MemberList
  composer: Composer
  /** The session's current token and user, read at every (re)connect. */
  session: () => Session | undefined
  onState(state: ConnectionState): void
  /** 4001 with this token (`reason`: TOKEN_INVALID, TOKEN_EXPIRED, TOKEN_REVOKED): the owner refreshes or logs out, then calls reconnect(). */
  onTokenRejected(token: string | undefined, reason: string): void
  /** 4003: the user of this token is banned. */
  onBanned(token: string | undefined): void
  /** 1008: a read-only connection tried to post. */
  onReadOnly(): void
}

interface PendingSend {
  text: string
  /** Which connection it went out on; after a reconnect, sends from earlier connections are checked against the welcome. */
  connection: number
  timer: ReturnType<typeof setTimeout> | undefined
}

export class RoomView {
  private readonly socket: RoomSocket
  private readonly pending = new Map<string, PendingSend>()
  private connection = 0
  private rateLimitedUntil = 0
  private rateTimer: ReturnType<typeof setTimeout> | undefined
  private state: ConnectionState = { kind: 'idle' }
  private me: User | undefined
  /** The message of the newest edit or deletion asked for and not yet answered: where an error frame belongs. */
  private changing: number | undefined

  constructor(
    readonly room: string,
    private readonly deps: RoomViewDeps,
  ) {
    this.me = deps.session()?.user
    deps.messages.reset(room, this.me)
    deps.messages.loadOlder = (before) => listMessages(room, before)
    deps.messages.retry = (nonce) => this.resend(nonce)
    deps.messages.edit = (id, text) => this.change(id, { type: 'edit', id, text })
    deps.messages.remove = (id) => this.change(id, { type: 'delete', id })
    deps.members.set([], this.me)
    deps.composer.setRoom(room)
    deps.composer.send = (text) => this.send(text)
    this.socket = new RoomSocket(room, () => deps.session()?.token, {
      onState: (state) => {
        this.state = state
        this.updateComposer()
        deps.onState(state)
      },
      onWelcome: (welcome, resumed) => this.welcome(welcome, resumed),
      onMessage: (m) => this.receive([m]),
      onChange: (change) => {
        if (change.messageId === this.changing) this.changing = undefined
        deps.messages.applyChange(change)
      },
      onPresence: (kind, user) => (kind === 'join' ? deps.members.join(user) : deps.members.leave(user)),
      onError: (type, message) => this.serverError(type, message),
      onTokenRejected: (token, reason) => deps.onTokenRejected(token, reason),
      onBanned: (token) => deps.onBanned(token),
      onReadOnly: () => deps.onReadOnly(),
    })
  }

  start(): void {
    this.socket.start()
  }

  stop(): void {
    this.socket.stop()
    clearTimeout(this.rateTimer)
    for (const p of this.pending.values()) clearTimeout(p.timer)
  }

  /** Reconnects only if the session now belongs to someone else (or no one), e.g. after a change in another tab. */
  reconnectIfUserChanged(): void {
    if (this.deps.session()?.user.id !== this.me?.id) this.reconnect()
  }

  /** Connects again at once with whatever session there is now (after login, logout or a fresh token). */
  reconnect(): void {
    const me = this.deps.session()?.user
    if (me?.id !== this.me?.id) {
      // Another person (or nobody) now: the previous one's unsent messages are not theirs to send.
      for (const [nonce, p] of this.pending) {
        clearTimeout(p.timer)
        this.deps.messages.dropPending(nonce)
      }
      this.pending.clear()
      this.me = me
      this.deps.messages.setMe(me)
    }
    this.socket.reconnectNow()
  }

  private welcome(w: Welcome, resumed: boolean): void {
    this.connection++
    const { messages, members } = this.deps
    members.set(w.members, this.me)
    if (!resumed || w.truncated) {
      // A fresh timeline, or more was missed than a resume carries: start over from this history.
      const unsent = resumed ? [...this.pending.entries()] : []
      messages.reset(this.room, this.me)
      for (const [nonce, p] of unsent) messages.addPending(nonce, p.text)
    }
    this.receive(w.history)
    // spec §5: edits and deletions of messages already shown, made while this page was away.
    if (resumed && !w.truncated) for (const change of w.changes ?? []) messages.applyChange(change)
    if (!resumed || w.truncated) messages.setHasOlder(w.history.length > 0)
    // Whatever is still pending from an earlier connection was never stored: send it again now.
    if (w.readOnly) return
    for (const [nonce, p] of this.pending) {
      if (p.connection < this.connection) this.transmit(nonce, p)
    }
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

  private send(text: string): boolean {
    if (!this.socket.isOpen || !this.me) return false
    const nonce = crypto.randomUUID()
    const p: PendingSend = { text, connection: this.connection, timer: undefined }
    this.pending.set(nonce, p)
    this.deps.messages.addPending(nonce, text)
    this.transmit(nonce, p)
    return true
  }

  private resend(nonce: string): void {
    const p = this.pending.get(nonce)
    if (p && this.socket.isOpen) this.transmit(nonce, p)
  }

  private transmit(nonce: string, p: PendingSend): void {
    clearTimeout(p.timer)
    p.connection = this.connection
    this.deps.messages.setPendingState(nonce, 'sending')
    if (!this.socket.send({ type: 'message', text: p.text, nonce })) return
    p.timer = setTimeout(() => this.deps.messages.setPendingState(nonce, 'failed'), SEND_TIMEOUT_MS)
  }

  /** Sends an edit or delete frame (spec §5); the `edited` / `deleted` event that comes back updates the timeline. */
  private change(id: number, frame: Extract<ClientFrame, { type: 'edit' | 'delete' }>): boolean {
    if (!this.socket.send(frame)) return false
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
      // The frame does not say which send was dropped; the newest pending one is the likeliest.
      // If its echo arrives after all, receive() confirms it anyway.
      const newest = [...this.pending.keys()].at(-1)
      if (newest) {
        clearTimeout(this.pending.get(newest)!.timer)
        this.deps.messages.setPendingState(newest, 'failed')
      }
      this.rateLimitedUntil = Date.now() + RATE_LIMIT_PAUSE_MS
      clearTimeout(this.rateTimer)
      this.rateTimer = setTimeout(() => this.updateComposer(), RATE_LIMIT_PAUSE_MS)
      this.updateComposer()
    } else if (type === 'MESSAGE_INVALID') {
      const newest = [...this.pending.keys()].at(-1)
      if (newest) this.deps.messages.setPendingState(newest, 'failed')
    }
  }

  private updateComposer(): void {
    const { composer } = this.deps
    const state = this.state
    if (state.kind === 'connecting' && state.attempt === 0 && this.connection === 0) {
      composer.setBlocked('Connecting…')
    } else if (state.kind === 'waiting' && state.why === 'offline') {
      composer.setBlocked('You are offline. Posting resumes when the connection is back.')
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
