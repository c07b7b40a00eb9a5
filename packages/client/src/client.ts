/**
 * ChatClient: the session (login, sign-up, a fresh token before the old one expires) or a bot's API
 * token, typed REST calls for every user-facing endpoint (docs/API.md), and the room sockets and user
 * stream it opens.
 */
import { AdminApi } from './admin.ts'
import { DEFAULT_RECONNECT, type ConnectionDeps, type ReconnectOptions, type SocketState, type WebSocketConstructor } from './connection.ts'
import { Emitter } from './emitter.ts'
import { ChatError } from './errors.ts'
import { call, readError, send, type FetchLike, type RequestOptions } from './http.ts'
import {
  ACCOUNT_PATHS,
  CONVERSATION_PATHS,
  PATHS,
  ROOM_PATHS,
  type Attachment,
  type Me,
  type MessagePage,
  type MyRoom,
  type RoomInfo,
  type RoomPage,
  type SearchPage,
  type Session,
  type User,
  type Visibility,
} from './protocol.ts'
import { RoomSocket, type RoomOptions } from './room.ts'
import { isUnexpired, refreshDelay, REFRESH_RETRY_MS } from './token.ts'
import { UserStream } from './user-stream.ts'

export interface ChatClientOptions {
  /** The server, e.g. `https://chat.example.org`. Default: the page's origin in a browser; required elsewhere. */
  url?: string
  /** A session kept from before (e.g. in localStorage): used, and refreshed, as if just logged in. */
  session?: Session
  /**
   * A bot's API token (`cbt_…`, from `admin.createBot`), used as is by every call and socket instead
   * of a session. It never expires, so it is never refreshed. Not with `session`.
   */
  apiToken?: string
  /** Fetch a fresh token (`POST /api/v1/token`) before the current one expires. Default true. */
  autoRefresh?: boolean
  /** The fetch to use. Default: the global one. */
  fetch?: FetchLike
  /**
   * The WebSocket constructor to use. Default: the global one (browsers, Bun, Node 22+). Node 20
   * has none: pass `WebSocket` from the `ws` package, or run Node 20 with `--experimental-websocket`.
   */
  WebSocket?: WebSocketConstructor
  /** Back-off and keep-alive timings of every socket (see ReconnectOptions for the defaults). */
  reconnect?: Partial<ReconnectOptions>
}

/**
 * Why the session changed: `login`, `refresh` (a fresh token for the same user), `password` (changed
 * here: the new token is the only valid one), `set` (setSession); or why it ended: `logout`,
 * `expired` (the automatic refresh came too late or was refused), `banned` (403 USER_BANNED on the
 * automatic refresh), `deleted` (the account).
 */
export type SessionChange = 'login' | 'refresh' | 'password' | 'set' | 'logout' | 'expired' | 'banned' | 'deleted'

export type ClientEvents = {
  /** The session (or its token) changed; `session` is undefined once it ended. Keep it to restore later. */
  session: [session: Session | undefined, why: SessionChange]
}

/** A file to upload: anything fetch takes as a body. */
export type UploadBody = Blob | ArrayBuffer | Uint8Array | ReadableStream<Uint8Array> | string

export class ChatClient extends Emitter<ClientEvents> {
  /** The server's http(s) origin, without a trailing slash. */
  readonly url: string
  /** The admin API (`/api/v1/admin/…`), for a session of an admin. */
  readonly admin: AdminApi
  private current: Session | undefined
  /** A password change in flight: it revokes the token every socket uses before its answer brings the new one. */
  private passwordChange: Promise<Session> | undefined
  /** Set only while there is no session: adopting a session, or ending one, drops it. */
  private apiToken: string | undefined
  private readonly fetchFn: FetchLike
  private readonly socketDeps: ConnectionDeps
  private readonly autoRefresh: boolean
  private refreshTimer: ReturnType<typeof setTimeout> | undefined
  private readonly sockets = new Set<RoomSocket | UserStream>()

  constructor(opts: ChatClientOptions = {}) {
    super()
    if (opts.session !== undefined && opts.apiToken !== undefined) throw new TypeError('ChatClient takes `session` or `apiToken`, not both')
    const origin = opts.url ?? (typeof location === 'undefined' ? undefined : location.origin)
    if (!origin) throw new TypeError('ChatClient needs `url` (the server, e.g. http://localhost:3000) outside a browser')
    this.url = origin.replace(/\/+$/, '')
    const globalFetch = typeof fetch === 'function' ? fetch : undefined
    const fetchFn = opts.fetch ?? (globalFetch ? (input: string, init?: RequestInit) => globalFetch(input, init) : undefined)
    if (!fetchFn) throw new TypeError('no fetch: pass one as the `fetch` option')
    this.fetchFn = fetchFn
    this.autoRefresh = opts.autoRefresh ?? true
    this.socketDeps = {
      wsBase: this.url.replace(/^http/, 'ws'),
      WebSocket: opts.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket,
      token: () => this.token,
      tokenChanging: () => this.passwordChange,
      reconnect: { ...DEFAULT_RECONNECT, ...opts.reconnect },
    }
    this.admin = new AdminApi(<T>(method: string, path: string, opts?: RequestOptions) => this.authed<T>(method, path, opts))
    if (opts.session) this.adopt(opts.session)
    this.apiToken = opts.apiToken
  }

  /** The session (token and user), or undefined when logged out or on an API token. */
  get session(): Session | undefined {
    return this.current
  }

  /** The token every call and socket uses now: the session's, or the API token. */
  get token(): string | undefined {
    return this.current?.token ?? this.apiToken
  }

  /** The session's user; undefined on an API token, whose user `me()` tells. */
  get user(): User | undefined {
    return this.current?.user
  }

  // Session

  /** `POST /api/v1/users`: creates an account (does not log in). `invite` for a server in invite mode. */
  signUp(username: string, secret: string, invite?: string): Promise<User> {
    return this.call('POST', PATHS.users, { json: invite === undefined ? { username, secret } : { username, secret, invite } })
  }

  /** `POST /api/v1/login`: the session is kept, refreshed before it expires, and used by every call and socket. */
  async login(username: string, secret: string): Promise<Session> {
    const session = await this.call<Session>('POST', PATHS.login, { json: { username, secret } })
    this.setSession(session, 'login')
    return session
  }

  /**
   * Uses `session` (or none) from now on, e.g. one restored from storage; either way an API token is
   * dropped. Sockets closed for want of a token reconnect with it.
   */
  setSession(session: Session | undefined, why: SessionChange = 'set'): void {
    if (session) this.adopt(session)
    else this.clear()
    this.emit('session', session, why)
    if (session)
      for (const socket of this.sockets)
        if (socket.state.kind === 'closed' && (socket.state.why === 'token' || socket.state.why === 'read-only')) socket.connect()
  }

  /**
   * `POST /api/v1/token`: trades the still-valid token for a fresh one (done by itself before expiry
   * unless `autoRefresh: false`). Open sockets keep their connection; when the server closes one as
   * its old token expires (4001), it reconnects at once with the new token and `?since=`.
   */
  async refresh(): Promise<Session> {
    // An API token has no `exp`: a "fresh" login token for it would only bring an expiry.
    if (this.apiToken !== undefined) throw new TypeError('an API token does not expire and is not refreshed')
    const token = this.requireToken()
    const session = await this.call<Session>('POST', PATHS.token, { token })
    if (this.current?.token === token) this.setSession(session, 'refresh')
    return session
  }

  /**
   * Refreshes now, as the automatic refresh would (a 401 or 403 ends the session), if its time has
   * come. Timers do not run while a machine sleeps: an app calls this when it wakes (a page becoming
   * visible) rather than wait for a timer that is late.
   */
  refreshIfDue(): void {
    const token = this.current?.token
    if (token !== undefined && refreshDelay(token, Date.now(), 0) === 0) void this.refreshInBackground()
  }

  /** `POST /api/v1/logout`: revokes every token of the user, on every device, and ends this session. */
  async logout(): Promise<void> {
    await this.authed('POST', ACCOUNT_PATHS.logout)
    this.setSession(undefined, 'logout')
  }

  // Account

  /** `GET /api/v1/users/me`: the user with their role. */
  me(): Promise<Me> {
    return this.authed('GET', PATHS.me)
  }

  /** `PUT /api/v1/users/me/password`: the answer's token, kept here, is the only valid one from now on. */
  async changePassword(secret: string, newSecret: string): Promise<Session> {
    const request = this.authed<Session>('PUT', ACCOUNT_PATHS.password, { json: { secret, newSecret } })
    this.passwordChange = request
    try {
      const session = await request
      this.setSession(session, 'password')
      return session
    } finally {
      if (this.passwordChange === request) this.passwordChange = undefined
    }
  }

  /** `DELETE /api/v1/users/me`: deletes the account (its messages stay, under a placeholder name) and ends the session. */
  async deleteAccount(secret: string): Promise<void> {
    await this.authed('DELETE', PATHS.me, { json: { secret } })
    this.setSession(undefined, 'deleted')
  }

  // Rooms and history

  /** `GET /api/v1/rooms`: public rooms with messages or people, most recently active first; pass `next` as `cursor` for the next page. */
  listRooms(opts: { limit?: number; cursor?: string } = {}): Promise<RoomPage> {
    return this.call('GET', PATHS.rooms, { query: opts })
  }

  /** `POST /api/v1/rooms`: registers a public or private room; the user owns it. */
  createRoom(name: string, opts: { visibility?: Visibility; topic?: string } = {}): Promise<RoomInfo> {
    const json: Record<string, string> = { name, visibility: opts.visibility ?? 'public' }
    if (opts.topic !== undefined) json.topic = opts.topic
    return this.authed('POST', PATHS.rooms, { json })
  }

  /** `GET /api/v1/rooms/{room}`: visibility, topic and owner (null for a room nobody registered). */
  getRoom(room: string): Promise<RoomInfo> {
    return this.call('GET', ROOM_PATHS.room(room), { token: this.token })
  }

  /** `GET /api/v1/rooms/{room}/messages`: up to `limit` messages below `before` (or the newest), oldest first. */
  history(room: string, opts: { before?: number; limit?: number } = {}): Promise<MessagePage> {
    return this.call('GET', PATHS.roomMessages(room), { token: this.token, query: opts })
  }

  /** `DELETE /api/v1/rooms/{room}/messages/{id}`: the author, or an admin, deletes a message. */
  deleteMessage(room: string, id: number): Promise<void> {
    return this.authed('DELETE', PATHS.roomMessage(room, id))
  }

  /** `GET /api/v1/rooms/{room}/members`, in the order they joined. */
  async members(room: string): Promise<User[]> {
    return (await this.call<{ members: User[] }>('GET', ROOM_PATHS.members(room), { token: this.token })).members
  }

  /** `PUT /api/v1/rooms/{room}/members/{username}`: the owner or an admin adds someone (anyone may add themselves to a public room). */
  addMember(room: string, username: string): Promise<void> {
    return this.authed('PUT', ROOM_PATHS.member(room, username))
  }

  /** `DELETE /api/v1/rooms/{room}/members/{username}`: the owner or an admin removes someone; anyone removes themselves. */
  removeMember(room: string, username: string): Promise<void> {
    return this.authed('DELETE', ROOM_PATHS.member(room, username))
  }

  /** `POST /api/v1/dms`: the name of the one direct-message room of the user and `username`. */
  async openDm(username: string): Promise<string> {
    return (await this.authed<{ room: string }>('POST', ROOM_PATHS.dms, { json: { username } })).room
  }

  /** `GET /api/v1/users/me/rooms`: the user's rooms with unread and mention counts. */
  async myRooms(): Promise<MyRoom[]> {
    return (await this.authed<{ rooms: MyRoom[] }>('GET', ROOM_PATHS.myRooms)).rooms
  }

  /** `PUT /api/v1/users/me/rooms/{room}`: joins a public room (it then has unread counts). */
  joinRoom(room: string): Promise<void> {
    return this.authed('PUT', ROOM_PATHS.myRoom(room))
  }

  /** `DELETE /api/v1/users/me/rooms/{room}`: leaves a room (not a DM). */
  leaveRoom(room: string): Promise<void> {
    return this.authed('DELETE', ROOM_PATHS.myRoom(room))
  }

  /** `PUT /api/v1/users/me/rooms/{room}/read`: everything up to `id` is read (the marker only moves forward). */
  markRead(room: string, id: number): Promise<void> {
    return this.authed('PUT', ROOM_PATHS.read(room), { json: { id } })
  }

  // Search and attachments

  /** `GET /api/v1/search`: messages the user may read that contain `q`, newest first, with excerpts. */
  search(q: string, opts: { room?: string; before?: number; limit?: number } = {}): Promise<SearchPage> {
    return this.call('GET', CONVERSATION_PATHS.search, { token: this.token, query: { q, ...opts } })
  }

  /** `POST /api/v1/rooms/{room}/attachments`: uploads a file; post a message with `attachments: [id]` to show it. */
  upload(room: string, body: UploadBody, filename: string): Promise<Attachment> {
    return this.authed('POST', CONVERSATION_PATHS.upload(room), { raw: body as BodyInit, query: { filename } })
  }

  /** `GET` an attachment (by id, or its `url`) as a Blob whose `type` is the served one. */
  async download(attachment: Attachment | string): Promise<Blob> {
    const path = typeof attachment === 'string' ? (attachment.startsWith('/') ? attachment : CONVERSATION_PATHS.attachment(attachment)) : attachment.url
    const res = await send(this.fetchFn, this.url, 'GET', path, { token: this.token })
    const failure = await readError(res)
    if (failure) throw failure
    return res.blob()
  }

  /** `GET /healthz`: resolves when the server and its database answer. */
  async health(): Promise<void> {
    await this.call('GET', '/healthz')
  }

  // Sockets

  /**
   * Opens a room's WebSocket (with the client's token if there is one, else read-only) and keeps
   * it connected until its `close()` or the client's. See RoomSocket for the events.
   */
  room(name: string, opts: RoomOptions = {}): RoomSocket {
    return this.track(new RoomSocket(name, this.socketDeps, opts))
  }

  /** Opens the user stream (needs a session or an API token). See UserStream for the events. */
  userStream(): UserStream {
    return this.track(new UserStream(this.socketDeps))
  }

  /** Closes every socket this client opened and stops refreshing; the session is kept (see `session`). */
  close(): void {
    clearTimeout(this.refreshTimer)
    this.refreshTimer = undefined
    for (const socket of [...this.sockets]) socket.close()
    this.sockets.clear()
  }

  // Internals

  private track<S extends RoomSocket | UserStream>(socket: S): S {
    const source: Pick<Emitter<{ state: [state: SocketState] }>, 'on'> = socket
    // Tracked while it may connect: one closed by its own close() is forgotten, and tracked again if it connects again.
    source.on('state', (state) => {
      if (state.kind === 'closed' && state.why === 'client') this.sockets.delete(socket)
      else this.sockets.add(socket)
    })
    socket.connect()
    return socket
  }

  private call<T>(method: string, path: string, opts?: RequestOptions): Promise<T> {
    return call<T>(this.fetchFn, this.url, method, path, opts)
  }

  /** A call with the session's token or the API token; rejects with TOKEN_INVALID (401) when there is neither. */
  private async authed<T>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
    return this.call<T>(method, path, { ...opts, token: this.requireToken() })
  }

  private requireToken(): string {
    const token = this.token
    if (token === undefined) throw new ChatError('TOKEN_INVALID', 'not logged in: call login() first, or pass an `apiToken`', 401)
    return token
  }

  private adopt(session: Session): void {
    this.current = session
    this.apiToken = undefined
    this.scheduleRefresh()
  }

  private clear(): void {
    this.current = undefined
    this.apiToken = undefined
    clearTimeout(this.refreshTimer)
    this.refreshTimer = undefined
  }

  private scheduleRefresh(delay = this.current ? refreshDelay(this.current.token) : undefined): void {
    clearTimeout(this.refreshTimer)
    this.refreshTimer = undefined
    if (!this.autoRefresh || delay === undefined) return
    this.refreshTimer = setTimeout(() => void this.refreshInBackground(), delay)
    // A waiting refresh alone must not keep a script's process alive (Node, Bun); open sockets do.
    ;(this.refreshTimer as { unref?: () => void }).unref?.()
  }

  /** The automatic refresh: a 401 or 403 ends the session; a network failure tries again while the token lives. */
  private async refreshInBackground(): Promise<void> {
    const token = this.current?.token
    if (token === undefined) return
    try {
      await this.refresh()
    } catch (err) {
      if (this.current?.token !== token) return
      if (err instanceof ChatError && err.type === 'USER_BANNED') return this.setSession(undefined, 'banned')
      if (err instanceof ChatError && err.status === 401) return this.setSession(undefined, 'expired')
      if (isUnexpired(token)) this.scheduleRefresh(REFRESH_RETRY_MS)
      else this.setSession(undefined, 'expired')
    }
  }
}
