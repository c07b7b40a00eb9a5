/**
 * One open room: its socket, its timeline and presence, and the sends still waiting for their echo.
 * A send is pending until the server's copy with the same nonce comes back, live or in the
 * history of the welcome after a reconnect; sends the server never stored are sent again then.
 * Spec §6: read markers when the newest message is on screen, `typing` both ways, `@` completion
 * from the room's members and present users, and 4004 (a private room) handed to the owner.
 */
import type { Attachment, ClientFrame, Message, Quote, Session, User, Welcome } from '../protocol.ts'
import { ROOM_LIMITS } from '../protocol-rooms.ts'
import { describeErrorType, listMessages } from './api.ts'
import { listRoomMembers } from './rooms-api.ts'
import type { TypingIndicator } from './typing.ts'
import type { Composer, SendExtras } from './composer.ts'
import { uploadFile } from './conversation-api.ts'
import type { MemberList } from './member-list.ts'
import type { MessageList } from './message-list.ts'
import { RoomSocket, type ConnectionState } from './room-socket.ts'

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
  /** spec §7: the message answered, and the uploads carried. */
  replyTo: Quote | undefined
  attachments: Attachment[]
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
  private readOnly = true
  /** The room's members (`GET …/members`), for `@` completion. */
  private roomMembers: User[] = []
  private readTimer: ReturnType<typeof setTimeout> | undefined
  /** The highest id a `read` frame went out for on this page. */
  private readSent = 0
  private lastTyping = 0
  private readonly onVisibility = () => this.scheduleRead()

  constructor(
    readonly room: string,
    private readonly deps: RoomViewDeps,
  ) {
    this.me = deps.session()?.user
    deps.messages.reset(room, this.me)
    deps.messages.setLabel(deps.label)
    deps.messages.loadOlder = (before, limit) => listMessages(room, before, limit, deps.session()?.token)
    deps.messages.onViewChange = () => this.scheduleRead()
    deps.messages.retry = (nonce) => this.resend(nonce)
    deps.messages.edit = (id, text) => this.change(id, { type: 'edit', id, text })
    deps.messages.remove = (id) => this.change(id, { type: 'delete', id })
    deps.messages.reply = (quote) => deps.composer.setReply(quote)
    deps.messages.react = (id, emoji, on) => this.socket.send({ type: 'react', id, emoji, on })
    deps.messages.attachments = { token: () => deps.session()?.token }
    deps.members.set([], this.me)
    deps.composer.setRoom(deps.label)
    deps.composer.send = (text, extras) => this.send(text, extras)
    deps.composer.upload = (file, onProgress) => {
      const token = deps.session()?.token
      return token ? uploadFile(room, file, token, onProgress) : undefined
    }
    deps.composer.typing = () => this.sendTyping()
    deps.composer.mentions.candidates = () => [...this.roomMembers, ...deps.members.users()].filter((u) => u.id !== this.me?.id)
    deps.typing.clear()
    this.socket = new RoomSocket(room, () => deps.session()?.token, {
      onState: (state) => {
        this.state = state
        this.updateComposer()
        deps.onState(state)
      },
      onWelcome: (welcome, resumed) => this.welcome(welcome, resumed),
      onMessage: (m) => {
        deps.typing.stop(m.user.id)
        this.receive([m])
      },
      onChange: (change) => {
        if (change.messageId === this.changing) this.changing = undefined
        deps.messages.applyChange(change)
      },
      onPresence: (kind, user) => {
        if (kind === 'join') return deps.members.join(user)
        deps.members.leave(user)
        deps.typing.stop(user.id)
      },
      onTyping: (user) => {
        if (user.id !== this.me?.id) deps.typing.show(user)
      },
      onNotFound: () => {
        deps.typing.clear()
        deps.members.set([], this.me)
      },
      onError: (type, message) => this.serverError(type, message),
      onTokenRejected: (token, reason) => deps.onTokenRejected(token, reason),
      onBanned: (token) => deps.onBanned(token),
      onReadOnly: () => deps.onReadOnly(),
    })
  }

  start(): void {
    document.addEventListener('visibilitychange', this.onVisibility)
    this.socket.start()
  }

  stop(): void {
    document.removeEventListener('visibilitychange', this.onVisibility)
    this.socket.stop()
    this.deps.typing.clear()
    clearTimeout(this.readTimer)
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
      this.readSent = 0
      this.me = me
      this.deps.messages.setMe(me)
      // Reactions carry `me` for the reader (spec §7): the new reader's timeline comes fresh.
      return this.socket.restartFresh()
    }
    this.socket.reconnectNow()
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
    const token = this.deps.session()?.token
    if (!token || this.readOnly) return
    try {
      this.roomMembers = await listRoomMembers(this.room, token)
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
    if (this.socket.send({ type: 'read', id })) this.readSent = id
  }

  /** `typing` at most once per TYPING_INTERVAL_MS (the server drops the rest anyway); never from a read-only socket. */
  private sendTyping(): void {
    if (this.readOnly || !this.me) return
    const now = Date.now()
    if (now - this.lastTyping < ROOM_LIMITS.TYPING_INTERVAL_MS) return
    if (this.socket.send({ type: 'typing' })) this.lastTyping = now
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

  private send(text: string, extras: SendExtras): boolean {
    if (!this.socket.isOpen || !this.me) return false
    const nonce = crypto.randomUUID()
    const p: PendingSend = { text, replyTo: extras.replyTo, attachments: extras.attachments, connection: this.connection, timer: undefined }
    this.pending.set(nonce, p)
    this.deps.messages.addPending(nonce, text, extras.replyTo)
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
    const frame: ClientFrame = { type: 'message', text: p.text, nonce }
    if (p.replyTo) frame.replyTo = p.replyTo.id
    if (p.attachments.length > 0) frame.attachments = p.attachments.map((a) => a.id)
    if (!this.socket.send(frame)) return
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
