/**
 * The web client's entry: the session and the user's role, the route (`#/room/{name}`, `#/account`,
 * `#/admin`, `#/signup?invite=`), which screen shows, and the connection badge; the user stream
 * (spec §6) feeds the sidebar's rooms and DMs, their badges and the tab's unread count.
 */
import { ChatError, isDmName, isRoomName, type Me, type Session, type UserStream } from '../../packages/client/src/index.ts'
import { AccountPage } from './account-page.ts'
import { AdminPage } from './admin-page.ts'
import { AuthForm } from './auth-form.ts'
import { client } from './client.ts'
import { Composer } from './composer.ts'
import { byId, hueClass, initialOf } from './dom.ts'
import { MemberList } from './member-list.ts'
import { MentionNotices } from './mention-notices.ts'
import { MessageList } from './message-list.ts'
import { MyRooms, roomLabel } from './my-rooms.ts'
import { RoomHeader, SidebarActions, type RoomActionsDeps } from './room-actions.ts'
import { explainRoomName, RoomList } from './room-list.ts'
import { RoomView, type ConnectionState } from './room-view.ts'
import { SearchBox } from './search.ts'
import { SessionKeeper, type SessionEnd } from './session.ts'
import { TypingIndicator } from './typing.ts'
import { setBaseTitle } from './unread-title.ts'
import { describeError } from './words.ts'

type Route =
  | { kind: 'home' }
  | { kind: 'room'; name: string }
  | { kind: 'invalid'; name: string }
  | { kind: 'account' }
  | { kind: 'admin' }
  | { kind: 'signup'; invite: string | undefined }
type Screen = 'auth' | 'home' | 'room' | 'invalid' | 'account' | 'admin'

const views: Record<Screen, HTMLElement> = {
  auth: byId('auth-view'),
  home: byId('home-view'),
  room: byId('room-view'),
  invalid: byId('room-invalid-view'),
  account: byId('account-view'),
  admin: byId('admin-view'),
}

/** What the login form says when a session ends without the person asking (spec §5: say why). */
const ENDED: Record<Exclude<SessionEnd, 'logout'>, string> = {
  'logout-everywhere': 'You have logged out on every device.',
  expired: 'Your session has expired. Please log in again.',
  rejected: 'Your session has ended. Please log in again.',
  revoked: 'You were logged out: your password or role changed, or “Log out everywhere” was used. Please log in again.',
  banned: 'Your account has been banned by an administrator.',
  deleted: 'Your account has been deleted.',
}
const connectionBadge = byId('connection')
const whoami = byId('whoami')
const whoamiName = byId('whoami-name')
const whoamiAvatar = byId('whoami-avatar')
const adminLink = byId('admin-link')
const loginButton = byId<HTMLButtonElement>('login')
const logoutButton = byId<HTMLButtonElement>('logout')
const backButton = byId<HTMLButtonElement>('back-to-rooms')
const roomTitle = byId('room-title')
const composerForm = byId('composer')
const guestPrompt = byId('guest-prompt')

const session = new SessionKeeper(client, { onChange: sessionChanged })
const authForm = new AuthForm()
const roomList = new RoomList()
const messages = new MessageList()
const members = new MemberList()
const composer = new Composer()
const typing = new TypingIndicator()
const myRooms = new MyRooms()
const notices = new MentionNotices()
const roomView = byId('room-view')
/** The user stream while there is a session: a new one per login, so mentions resume only for the same person. */
let userStream: UserStream | undefined
function startUserStream(): void {
  userStream?.close()
  userStream = client.token === undefined ? undefined : client.userStream()
  if (!userStream) return
  userStream.on('welcome', (w) => myRooms.replace(w.rooms))
  userStream.on('unread', (e) => myRooms.unread(e))
  userStream.on('read', (e) => myRooms.read(e))
  userStream.on('room', (e) => {
    myRooms.room(e)
    // Added back to the open room after a 4004: connect again.
    if (e.member && e.room === room?.room && roomView.classList.contains('gone')) room.reconnect()
  })
  userStream.on('mention', (e, { replayed }) => {
    // Not for the room being looked at (it shows there), nor for ones from before a reconnect.
    if (replayed || e.message.user.id === session.current?.user.id) return
    const where = isDmName(e.room) ? 'a direct message' : `#${e.room}`
    if (e.room !== room?.room || document.visibilityState !== 'visible') notices.show(e, where)
  })
  userStream.on('state', (state) => {
    // 4001 with no newer token (the SDK moves to one by itself) or 4003: the session is over.
    if (state.kind !== 'closed' || !session.current) return
    if (state.why === 'token') session.end(state.reason === 'TOKEN_REVOKED' ? 'revoked' : 'rejected')
    else if (state.why === 'banned') session.end('banned')
  })
}
window.addEventListener('online', () => userStream?.connect())
let refetching: Promise<void> | undefined
/** `GET /users/me/rooms` now (one at a time): after a `room` event, or an action that changed the list. */
function refreshMyRooms(): Promise<void> {
  const token = client.token
  if (!token) return Promise.resolve()
  refetching ??= client
    .myRooms()
    .then((rooms) => {
      if (session.current?.token === token) myRooms.replace(rooms)
    })
    .catch((err) => void endIfRefused(err))
    .finally(() => (refetching = undefined))
  return refetching
}
myRooms.refetch = () => void refreshMyRooms()
myRooms.isBeingRead = (name) =>
  room?.room === name && document.visibilityState === 'visible' && !roomView.classList.contains('gone') && messages.newestVisible()
const actionDeps: RoomActionsDeps = {
  me: () => me ?? session.current?.user,
  myRooms,
  refreshMyRooms,
  endIfRefused,
}
new SidebarActions(actionDeps)
const roomHeader = new RoomHeader(actionDeps)
myRooms.onChange = (changed) => {
  roomHeader.update()
  // A DM's title is the other person's name, known once the list has it.
  if (room && (changed === undefined || changed === room.room)) showRoomLabel()
}
new SearchBox({
  label: (name) => roomLabel(myRooms.get(name), name),
  open(name, id) {
    // spec §7: the message in its room, with the history around it.
    if (room?.room === name && currentRoute().kind === 'room' && !authShown) return void messages.jumpTo(id)
    messages.jumpWhenLoaded(name, id)
    if (authShown) hideAuth()
    location.hash = `#/room/${encodeURIComponent(name)}`
  },
})
const account = new AccountPage({
  onEnded: (why) => session.end(why),
  onTokenRefused: endIfRefused,
})
const admin = new AdminPage(
  () => session.current?.user.id,
  (err) => {
    if (err instanceof ChatError && err.type === 'FORBIDDEN') {
      // No longer an admin (or never was): the page says so instead of showing errors.
      if (me) setMe({ ...me, role: 'member' })
      return true
    }
    return endIfRefused(err)
  },
)

/** The logged-in user with their role (spec §5 `GET /users/me`); undefined until fetched, and when logged out. */
let me: Me | undefined

let room: RoomView | undefined
/** The login form is showing over the current route (the route itself is kept, so login returns to the room). */
let authShown = false
let countdown: ReturnType<typeof setInterval> | undefined

function currentRoute(): Route {
  const hash = location.hash
  if (hash === '#/account') return { kind: 'account' }
  if (hash === '#/admin') return { kind: 'admin' }
  const signup = /^#\/signup(?:\?(.*))?$/.exec(hash)
  if (signup) return { kind: 'signup', invite: new URLSearchParams(signup[1] ?? '').get('invite') ?? undefined }
  const match = /^#\/room\/(.*)$/.exec(hash)
  if (!match) return { kind: 'home' }
  let name = match[1]!
  try {
    name = decodeURIComponent(name)
  } catch {
    // keep it raw: it is shown as invalid below
  }
  return isRoomName(name) ? { kind: 'room', name } : { kind: 'invalid', name }
}

function showAuth(notice?: string): void {
  authShown = true
  authForm.show(notice)
  render()
  authForm.focus()
}

function hideAuth(): void {
  authShown = false
  render()
}

/** Opens the routed room's connection (or closes it when the route leaves the room). */
function syncRoom(): void {
  const route = currentRoute()
  const name = route.kind === 'room' ? route.name : undefined
  if (room?.room === name) return
  room?.stop()
  room = undefined
  roomList.setCurrent(name)
  myRooms.setCurrent(name)
  roomHeader.setRoom(name)
  setGone(false)
  if (name === undefined) return
  members.setOpen(false)
  room = new RoomView(name, {
    messages,
    members,
    composer,
    typing,
    label: roomLabel(myRooms.get(name), name),
    lastReadId: () => myRooms.get(name)?.lastReadId ?? 0,
    onState(state) {
      setGone(state.kind === 'gone')
      showConnection(state)
      // Joining changes the room's member count (or makes it active): show it.
      if (state.kind === 'open') void roomList.refresh()
    },
    onTokenRejected(reason) {
      // spec §3: never retried with the refused token (the SDK moves to a fresher one by itself).
      if (session.current) session.end(reason === 'TOKEN_REVOKED' ? 'revoked' : 'rejected')
      else room?.reconnect()
    },
    onBanned() {
      // spec §3: 4003 is not retried; the person is told, and reads on as a guest if they like.
      if (session.current) session.end('banned')
      else room?.reconnect()
    },
    onReadOnly: () => showAuth(`Log in to post in #${name}.`),
  })
  showRoomLabel()
  room.start()
}

function showRoomLabel(): void {
  if (!room) return
  const label = roomLabel(myRooms.get(room.room), room.room)
  roomTitle.textContent = label
  messages.setLabel(label)
  composer.setLabel(label)
  render()
}

/** 4004 (spec §6): the room is private and this user can't read it; the timeline and box give way to a notice. */
function setGone(gone: boolean): void {
  roomView.classList.toggle('gone', gone)
  byId('room-gone').hidden = !gone
  roomHeader.setGone(gone)
  byId('room-gone-text').textContent = session.current
    ? 'You are not a member of it. If it is private, ask its owner to add you.'
    : 'If it is a private room you are a member of, log in to read it.'
  showAdminJoin()
}

/** spec §6: admins are not members by right, but may add themselves (audited); not to a DM. */
function showAdminJoin(): void {
  const name = room?.room
  byId('room-gone-admin-row').hidden = !(roomView.classList.contains('gone') && me?.role === 'admin' && name !== undefined && !isDmName(name))
}

byId('room-gone-admin').addEventListener('click', async () => {
  const current = session.current
  const name = room?.room
  if (!current || !name) return
  try {
    await client.addMember(name, current.user.username)
    room?.reconnect()
  } catch (err) {
    if (!endIfRefused(err)) byId('room-gone-text').textContent = describeError(err)
  }
})

/** A token the server refused on HTTP (revoked: 401, banned: 403 USER_BANNED) ends the session; true when it did. */
function endIfRefused(err: unknown): boolean {
  if (!(err instanceof ChatError) || !session.current) return false
  if (err.type === 'USER_BANNED') session.end('banned')
  else if (err.type === 'TOKEN_INVALID' || err.type === 'TOKEN_EXPIRED') session.end('rejected')
  else return false
  return true
}

function setMe(next: Me | undefined): void {
  me = next
  messages.setAdmin(me?.role === 'admin')
  account.showRole(me)
  render()
}

/** Fetches the role of the session's user; a refused token ends the session (outside a room nothing else would notice). */
async function loadMe(): Promise<void> {
  const current = session.current
  if (!current) return setMe(undefined)
  try {
    const fetched = await client.me()
    if (session.current?.token === current.token) {
      setMe(fetched)
      if (currentRoute().kind === 'admin' && fetched.role === 'admin') admin.show()
    }
  } catch (err) {
    if (session.current?.token === current.token) endIfRefused(err)
  }
}

/** Shows the page the route names: the account and admin pages need a session, the sign-up form none. */
function routeChanged(): void {
  const route = currentRoute()
  authShown = false
  if (route.kind === 'signup') {
    authShown = true
    authForm.showSignup(route.invite)
  } else if ((route.kind === 'account' || route.kind === 'admin') && !session.current) {
    authShown = true
    authForm.show(route.kind === 'account' ? 'Log in to see your account.' : 'Log in as an administrator to open this page.')
  } else if (route.kind === 'account') {
    account.show(session.current!.user, me)
  } else if (route.kind === 'admin' && me?.role === 'admin') {
    admin.show()
  }
  syncRoom()
  render()
  if (authShown) authForm.focus()
}

function render(): void {
  const route = currentRoute()
  const screen: Screen = authShown || route.kind === 'signup' ? 'auth' : route.kind
  document.body.dataset.screen = screen
  for (const [key, view] of Object.entries(views)) view.hidden = key !== screen

  const user = session.current?.user
  whoami.hidden = !user
  whoamiName.textContent = user?.username ?? ''
  whoamiAvatar.textContent = user ? initialOf(user.username) : ''
  whoamiAvatar.className = `avatar ${user ? hueClass(user.username) : ''}`
  adminLink.hidden = !user || me?.role !== 'admin'
  showAdminJoin()
  byId('admin-denied').hidden = me?.role === 'admin' || !me
  byId('admin-content').hidden = me?.role !== 'admin'
  logoutButton.hidden = !user
  loginButton.hidden = Boolean(user) || authShown
  backButton.hidden = screen === 'home'
  connectionBadge.hidden = screen !== 'room'
  composerForm.hidden = !user
  guestPrompt.hidden = Boolean(user)
  if (route.kind === 'invalid') byId('room-invalid-text').textContent = explainRoomName(route.name) ?? ''
  const titles: Partial<Record<Screen, string>> = { account: 'Your account · Chat', admin: 'Administration · Chat' }
  setBaseTitle(route.kind === 'room' ? `${roomLabel(myRooms.get(route.name), route.name)} · Chat` : (titles[screen] ?? 'Chat'))
}

function showConnection(state: ConnectionState): void {
  clearInterval(countdown)
  connectionBadge.dataset.state = state.kind
  const waitText = (until: number, prefix: string) => {
    const seconds = Math.max(1, Math.ceil((until - Date.now()) / 1000))
    return `${prefix} in ${seconds} s…`
  }
  switch (state.kind) {
    case 'open':
      connectionBadge.textContent = 'Connected'
      break
    case 'connecting':
      connectionBadge.textContent = state.attempt === 0 ? 'Connecting…' : 'Reconnecting…'
      break
    case 'waiting': {
      if (state.why === 'offline') {
        connectionBadge.textContent = 'Offline'
        break
      }
      const prefix = state.why === 'busy' ? 'Server is full. Retrying' : 'Reconnecting'
      connectionBadge.textContent = waitText(state.until, prefix)
      countdown = setInterval(() => (connectionBadge.textContent = waitText(state.until, prefix)), 1000)
      break
    }
    case 'idle':
      connectionBadge.textContent = 'Disconnected'
      break
    case 'gone':
      connectionBadge.textContent = 'Not available'
      break
  }
}

function sessionChanged(current: Session | undefined, why: 'login' | 'refresh' | 'other-tab' | SessionEnd): void {
  switch (why) {
    case 'login':
      authShown = false
      setMe(undefined)
      if (currentRoute().kind === 'signup') location.hash = '#/'
      startUserStream()
      void roomHeader.load()
      room?.reconnect()
      void loadMe()
      routeChanged()
      if (room) composer.focus()
      return
    case 'refresh':
      // Move the socket onto the fresh token now, rather than be closed with 4001 when the old one expires.
      room?.reconnect()
      userStream?.connect()
      return
    case 'other-tab':
      // Same person with a fresher token: the SDK moves this socket to it when the server closes the old one (4001).
      room?.reconnectIfUserChanged()
      if (current?.user.id !== me?.id || !current) {
        myRooms.replace(undefined)
        startUserStream()
      }
      if (current) authShown = false
      if (current?.user.id !== me?.id) void loadMe()
      render()
      return
    case 'logout':
      endUserState()
      room?.reconnect()
      setMe(undefined)
      showAuth('You have logged out.')
      return
    default:
      endUserState()
      room?.reconnect()
      setMe(undefined)
      showAuth(ENDED[why])
      return
  }
}

/** Logged out: no user stream, no rooms of one's own, no counts. */
function endUserState(): void {
  notices.clear()
  userStream?.close()
  userStream = undefined
  myRooms.replace(undefined)
  roomHeader.update()
}

authForm.onGuest = hideAuth
loginButton.addEventListener('click', () => showAuth())
logoutButton.addEventListener('click', () => session.end('logout'))
byId('guest-login').addEventListener('click', () => showAuth(`Log in to post in ${roomTitle.textContent}.`))
backButton.addEventListener('click', () => {
  if (authShown) hideAuth()
  else location.hash = '#/'
})
window.addEventListener('hashchange', routeChanged)

const restored = session.restore()
routeChanged()
if (restored === 'expired') showAuth(ENDED.expired)
else if (restored === 'none' && currentRoute().kind === 'home') showAuth()
roomList.start()
startUserStream()
void loadMe()
