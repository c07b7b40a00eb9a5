/**
 * Spec §5, revocation on sockets: a change of password (own or by an admin), "log out everywhere",
 * a role change and deleting the account revoke every earlier token at once, and the user's open
 * sockets are closed within 2 s: an `error` frame TOKEN_INVALID, then 4001 TOKEN_REVOKED; a ban
 * closes them with `error` USER_BANNED and 4003 BANNED, and a banned user's new socket is refused
 * the same way. Whether the change came through this server's API or from another process writing
 * to the database (the CLI), each instance reads the change feed and closes what it holds.
 */
import { expect, test } from 'bun:test'
import { banUser, deleteUser, setRole } from '../../src/chat/moderation.ts'
import { CLOSE, type ErrorType } from '../../src/protocol.ts'
import { openSqliteStore } from '../../src/store/sqlite.ts'
import { call, closedWithin2s } from '../support/accounts.ts'
import { register, request, type Account } from '../support/http.ts'
import { errorFrame, post, roomWs, storedMessages } from '../support/rooms.ts'
import { startTestServer, type TestServer } from '../support/server.ts'
import { openSocket, type TestSocket } from '../support/socket.ts'

const SECRET = 'correct horse battery staple'
/** How a socket ends: its close, and the error frame before it. */
type Ending = { code: number; reason: string; error: ErrorType }
const REVOKED: Ending = { code: CLOSE.TOKEN_REVOKED.code, reason: 'TOKEN_REVOKED', error: 'TOKEN_INVALID' }
const BANNED: Ending = { code: CLOSE.BANNED.code, reason: 'BANNED', error: 'USER_BANNED' }

async function join(server: TestServer, account: Account, room = 'lobby'): Promise<TestSocket> {
  const socket = await openSocket(roomWs(server, room), [account.token])
  await socket.next('welcome')
  return socket
}

/** An admin, bob with two sockets (two rooms), and carol with one, who must stay connected. */
async function scene(server: TestServer) {
  const admin = await register(server.url, 'admin')
  const bob = await register(server.url, 'bob')
  const carol = await register(server.url, 'carol')
  const sockets = [await join(server, bob), await join(server, bob, 'other')]
  const bystander = await join(server, carol)
  return { admin, bob, carol, sockets, bystander }
}

async function expectStillOpen(socket: TestSocket): Promise<void> {
  socket.send({ type: 'ping' })
  await socket.next('pong')
}

const actions: [string, Ending, (server: TestServer, s: Awaited<ReturnType<typeof scene>>) => Promise<unknown>][] = [
  [
    'changing their own password',
    REVOKED,
    (server, { bob }) => call(server.url, 'PUT', '/api/v1/users/me/password', bob.token, { secret: SECRET, newSecret: 'new' }),
  ],
  [
    'an admin resetting their password',
    REVOKED,
    (server, { admin, bob }) => call(server.url, 'PUT', `/api/v1/admin/users/${bob.user.id}/password`, admin.token, { newSecret: 'new' }),
  ],
  ['logging out everywhere', REVOKED, (server, { bob }) => call(server.url, 'POST', '/api/v1/logout', bob.token)],
  ['a role change', REVOKED, (server, { admin, bob }) => call(server.url, 'PUT', `/api/v1/admin/users/${bob.user.id}/role`, admin.token, { role: 'admin' })],
  ['deleting their account', REVOKED, (server, { bob }) => call(server.url, 'DELETE', '/api/v1/users/me', bob.token, { secret: SECRET })],
  ['a ban', BANNED, (server, { admin, bob }) => call(server.url, 'PUT', `/api/v1/admin/users/${bob.user.id}/ban`, admin.token, { reason: 'spam' })],
]

for (const [what, expected, act] of actions) {
  test(`${what} closes the user's open sockets within 2 s (${expected.code} ${expected.reason}), and nobody else's`, async () => {
    await using server = await startTestServer()
    const s = await scene(server)
    const answer = (await act(server, s)) as { status: number }
    expect(answer.status).toBeLessThan(300)
    for (const socket of s.sockets) expect(await closedWithin2s(socket)).toEqual(expected)
    expect(s.sockets[0]!.frames.at(-1)).toEqual(errorFrame(expected.error))
    await expectStillOpen(s.bystander)
    // The old token can't open a new one either.
    const again = await openSocket(roomWs(server, 'lobby'), [s.bob.token])
    expect((await again.next()).error?.type).toBe(expected === BANNED ? 'USER_BANNED' : 'TOKEN_INVALID')
    expect(await again.closed).toEqual(expected === BANNED ? CLOSE.BANNED : CLOSE.TOKEN_INVALID)
  })
}

test('changes written to the database by another process (the CLI) close sockets within 2 s too', async () => {
  await using server = await startTestServer()
  const s = await scene(server)
  const dave = await register(server.url, 'dave')
  const daveSocket = await join(server, dave)
  // A second store on the same SQLite file, as `chat-server users …` opens it while the server runs.
  const cli = openSqliteStore(server.config.database)
  try {
    await banUser({ store: cli, now: Date.now }, null, s.bob.user.id, 'from the CLI')
    for (const socket of s.sockets) expect(await closedWithin2s(socket)).toEqual(BANNED)
    await setRole({ store: cli, now: Date.now }, null, s.carol.user.id, 'admin')
    expect(await closedWithin2s(s.bystander)).toEqual(REVOKED)
    await deleteUser({ store: cli, now: Date.now }, null, dave.user.id)
    expect(await closedWithin2s(daveSocket)).toEqual(REVOKED)
  } finally {
    await cli.close()
  }
  expect((await call(server.url, 'GET', '/api/v1/users/me', s.bob.token)).status).toBe(403)
  expect((await call(server.url, 'GET', '/api/v1/users/me', s.carol.token)).status).toBe(401)
  expect((await call(server.url, 'GET', '/api/v1/users/me', dave.token)).status).toBe(401)
})

test('a banned user: a new socket gets error USER_BANNED and 4003, and nothing it sends is stored; unban and a new login restore access', async () => {
  await using server = await startTestServer()
  const { admin, bob } = await scene(server)
  await call(server.url, 'PUT', `/api/v1/admin/users/${bob.user.id}/ban`, admin.token)
  const refused = await openSocket(roomWs(server, 'banned-room'), [bob.token])
  for (let i = 0; i < 5; i++) refused.send({ type: 'message', text: `sneaky ${i}` })
  expect(await refused.next()).toEqual(errorFrame('USER_BANNED'))
  expect(await refused.closed).toEqual(CLOSE.BANNED)
  expect(await storedMessages(server, 'banned-room')).toEqual([])

  await call(server.url, 'DELETE', `/api/v1/admin/users/${bob.user.id}/ban`, admin.token)
  const stale = await openSocket(roomWs(server, 'banned-room'), [bob.token])
  expect(await stale.closed).toEqual(CLOSE.TOKEN_INVALID)
  const login = (await request(`${server.url}/api/v1/login`, { json: { username: 'bob', secret: SECRET } })).body.data
  using socket = await join(server, login, 'banned-room')
  expect((await post(socket, 'back again')).text).toBe('back again')
})
