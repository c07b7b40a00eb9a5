/** The web client's entry: the session, the route (`#/room/{name}`), which screen shows, and the connection badge. */
import { isRoomName, type Session } from '../protocol.ts'
import { ApiError, fetchMe } from './api.ts'
import { AuthForm } from './auth-form.ts'
import { Composer } from './composer.ts'
import { byId, hueClass, initialOf } from './dom.ts'
import { MemberList } from './member-list.ts'
import { MessageList } from './message-list.ts'
import { explainRoomName, RoomList } from './room-list.ts'
import type { ConnectionState } from './room-socket.ts'
import { RoomView } from './room-view.ts'
import { SessionKeeper, type SessionEnd } from './session.ts'

type Route = { kind: 'home' } | { kind: 'room'; name: string } | { kind: 'invalid'; name: string }
type Screen = 'auth' | 'home' | 'room' | 'invalid'

const views: Record<Screen, HTMLElement> = {
  auth: byId('auth-view'),
  home: byId('home-view'),
  room: byId('room-view'),
  invalid: byId('room-invalid-view'),
}
const connectionBadge = byId('connection')
const whoami = byId('whoami')
const whoamiName = byId('whoami-name')
const whoamiAvatar = byId('whoami-avatar')
const loginButton = byId<HTMLButtonElement>('login')
const logoutButton = byId<HTMLButtonElement>('logout')
const backButton = byId<HTMLButtonElement>('back-to-rooms')
const roomTitle = byId('room-title')
const composerForm = byId('composer')
const guestPrompt = byId('guest-prompt')

const session = new SessionKeeper({ onChange: sessionChanged })
const authForm = new AuthForm()
const roomList = new RoomList()
const messages = new MessageList()
const members = new MemberList()
const composer = new Composer()

let room: RoomView | undefined
/** The login form is showing over the current route (the route itself is kept, so login returns to the room). */
let authShown = false
let countdown: ReturnType<typeof setInterval> | undefined

function currentRoute(): Route {
  const match = /^#\/room\/(.*)$/.exec(location.hash)
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
  if (name === undefined) return
  roomTitle.textContent = `#${name}`
  members.setOpen(false)
  room = new RoomView(name, {
    messages,
    members,
    composer,
    session: () => session.current,
    onState(state) {
      showConnection(state)
      // Joining changes the room's member count (or makes it active): show it.
      if (state.kind === 'open') void roomList.refresh()
    },
    onTokenRejected(token) {
      const current = session.current
      // spec §3: never retry with the refused token; a fresher one (refreshed meanwhile) is fine.
      if (current && current.token !== token) room?.reconnect()
      else if (current) session.end('rejected')
      else room?.reconnect()
    },
    onReadOnly: () => showAuth(`Log in to post in #${name}.`),
  })
  room.start()
}

function render(): void {
  const route = currentRoute()
  const screen: Screen = authShown ? 'auth' : route.kind
  document.body.dataset.screen = screen
  for (const [key, view] of Object.entries(views)) view.hidden = key !== screen

  const user = session.current?.user
  whoami.hidden = !user
  whoamiName.textContent = user?.username ?? ''
  whoamiAvatar.textContent = user ? initialOf(user.username) : ''
  whoamiAvatar.className = `avatar ${user ? hueClass(user.username) : ''}`
  logoutButton.hidden = !user
  loginButton.hidden = Boolean(user) || authShown
  backButton.hidden = screen === 'home'
  connectionBadge.hidden = screen !== 'room'
  composerForm.hidden = !user
  guestPrompt.hidden = Boolean(user)
  if (route.kind === 'invalid') byId('room-invalid-text').textContent = explainRoomName(route.name) ?? ''
  document.title = route.kind === 'room' ? `#${route.name} · Chat` : 'Chat'
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
  }
}

function sessionChanged(current: Session | undefined, why: 'login' | 'refresh' | 'other-tab' | SessionEnd): void {
  switch (why) {
    case 'login':
      authShown = false
      room?.reconnect()
      render()
      if (room) composer.focus()
      return
    case 'refresh':
      // Move the socket onto the fresh token now, rather than be closed with 4001 when the old one expires.
      room?.reconnect()
      return
    case 'other-tab':
      // Same person with a fresher token: this socket moves to it when its own token expires (4001 above).
      room?.reconnectIfUserChanged()
      if (current) authShown = false
      render()
      return
    case 'logout':
      room?.reconnect()
      showAuth('You have logged out.')
      return
    case 'expired':
    case 'rejected':
      room?.reconnect()
      showAuth('Your session has ended. Please log in again.')
      return
  }
}

authForm.onSession = (s) => session.start(s)
authForm.onGuest = hideAuth
loginButton.addEventListener('click', () => showAuth())
logoutButton.addEventListener('click', () => session.end('logout'))
byId('guest-login').addEventListener('click', () => showAuth(`Log in to post in ${roomTitle.textContent}.`))
backButton.addEventListener('click', () => {
  if (authShown) hideAuth()
  else location.hash = '#/'
})
window.addEventListener('hashchange', () => {
  authShown = false
  syncRoom()
  render()
})

const restored = session.restore()
if (restored === 'expired') showAuth('Your session has expired. Please log in again.')
else if (restored === 'none' && currentRoute().kind === 'home') showAuth()
syncRoom()
render()
roomList.start()

// Outside a room nothing else would notice a token the server no longer accepts (in a room, the socket does).
if (session.current && !room) {
  const { token } = session.current
  fetchMe(token).catch((err: unknown) => {
    if (err instanceof ApiError && err.status === 401 && session.current?.token === token) session.end('rejected')
  })
}
