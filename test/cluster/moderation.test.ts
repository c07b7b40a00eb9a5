/**
 * Spec §5 in a cluster: two instances (child processes) on one PostgreSQL and one Redis. The first
 * admin is one whichever instance the sign-ups reach; a ban, a password change, "log out
 * everywhere", a role change or a deletion made on instance A, or written to the database by the CLI,
 * closes the user's sockets on instance B within 2 s (each instance reads the change feed), and B
 * refuses the old token at once (A tells the others over Redis); registration changes and an
 * invitation's uses are shared.
 */
import { expect } from 'bun:test'
import { banUser } from '../../src/chat/moderation.ts'
import { CLOSE, type ErrorType } from '../../src/protocol.ts'
import { openPostgresStore } from '../../src/store/postgres.ts'
import { call, closedWithin2s, expectError } from '../support/accounts.ts'
import { startChildServer, type ChildServer } from '../support/child-server.ts'
import { register, request, type Account } from '../support/http.ts'
import { requireServices } from '../support/require-services.ts'
import { startPostgres, startRedis, type Service } from '../support/services.ts'
import { openSocket, type TestSocket } from '../support/socket.ts'

// Skipped, with one line per missing service, where PostgreSQL or redis-server is not installed.
const { test, beforeAll, afterAll } = requireServices('postgresql', 'redis-server')

const SECRET = 'correct horse battery staple'
/** How a socket ends: its close, and the error frame before it. */
type Ending = { code: number; reason: string; error: ErrorType }
const REVOKED: Ending = { code: CLOSE.TOKEN_REVOKED.code, reason: 'TOKEN_REVOKED', error: 'TOKEN_INVALID' }
const BANNED: Ending = { code: CLOSE.BANNED.code, reason: 'BANNED', error: 'USER_BANNED' }

let pg: Service
let redis: Service
let a: ChildServer
let b: ChildServer
let admin: Account

beforeAll(async () => {
  ;[pg, redis] = await Promise.all([startPostgres(), startRedis()])
  const env = { REDIS_URL: redis.url, INSTANCE_TTL: '3' }
  ;[a, b] = await Promise.all([startChildServer({ database: pg.url, env }), startChildServer({ database: pg.url, env })])
}, 60_000)

afterAll(async () => {
  await Promise.all([a, b].map((s) => s?.stop(2000).catch(() => {})))
  await Promise.all([pg?.[Symbol.asyncDispose](), redis?.[Symbol.asyncDispose]()])
})

async function join(server: ChildServer, account: Account): Promise<TestSocket> {
  const socket = await openSocket(`${server.wsUrl}/api/v1/rooms/lobby/messages/ws`, [account.token])
  await socket.next('welcome')
  return socket
}

const me = (server: ChildServer, account: Account) => call(server.url, 'GET', '/api/v1/users/me', account.token)

// Runs first, on the empty database: the rest of the file uses the admin it makes.
test('sign-ups at once on both instances of a new cluster make exactly one admin', async () => {
  const accounts = await Promise.all(Array.from({ length: 10 }, (_, i) => register(i % 2 ? a.url : b.url, `first${i}`)))
  const roles = await Promise.all(accounts.map(async (account, i) => ({ account, role: (await me(i % 2 ? b : a, account)).body.data.role })))
  const admins = roles.filter((r) => r.role === 'admin')
  expect(admins).toHaveLength(1)
  admin = admins[0]!.account
})

let users = 0

const actions: [string, Ending, (user: Account) => Promise<{ status: number }>][] = [
  ['a ban', BANNED, (user) => call(a.url, 'PUT', `/api/v1/admin/users/${user.user.id}/ban`, admin.token, {})],
  ['a password change', REVOKED, (user) => call(a.url, 'PUT', '/api/v1/users/me/password', user.token, { secret: SECRET, newSecret: 'new' })],
  ['log out everywhere', REVOKED, (user) => call(a.url, 'POST', '/api/v1/logout', user.token)],
  ['a role change', REVOKED, (user) => call(a.url, 'PUT', `/api/v1/admin/users/${user.user.id}/role`, admin.token, { role: 'admin' })],
  ['deleting the account', REVOKED, (user) => call(a.url, 'DELETE', '/api/v1/users/me', user.token, { secret: SECRET })],
]

/** How long B may still take a token revoked on A: the broker's notice, then one read of the user (the change feed alone took up to 500 ms). */
const AT_ONCE_MS = 100

for (const [what, expected, act] of actions) {
  test(`${what} on instance A closes the user's socket on instance B within 2 s, and B refuses the token at once`, async () => {
    const user = await register(b.url, `target${++users}`)
    const bystander = await register(b.url, `bystander${users}`)
    const onB = await join(b, user)
    const other = await join(b, bystander)
    // B knows the user (their standing is cached there) when A changes it.
    expect((await me(b, user)).status).toBe(200)
    expect((await act(user)).status).toBeLessThan(300)
    const changed = performance.now()
    let after = await me(b, user)
    while (after.status === 200 && performance.now() - changed < AT_ONCE_MS) after = await me(b, user)
    if (expected === BANNED) expectError(after, 403, 'USER_BANNED')
    else expectError(after, 401, 'TOKEN_INVALID')
    expect(await closedWithin2s(onB)).toEqual(expected)
    other.send({ type: 'ping' })
    await other.next('pong')
    other.close()
  })
}

// spec §5: the placeholder on every instance, in the rooms they hold in memory too.
test('an account deleted on A is the placeholder in the history B holds in memory, though B never knew the user', async () => {
  const user = await register(a.url, `leaver${++users}`)
  const bystander = await register(b.url, `keeper${users}`)
  const room = `farewell${users}`
  const keeper = await openSocket(`${b.wsUrl}/api/v1/rooms/${room}/messages/ws`, [bystander.token])
  await keeper.next('welcome')
  const onA = await openSocket(`${a.wsUrl}/api/v1/rooms/${room}/messages/ws`, [user.token])
  await onA.next('welcome')
  onA.send({ type: 'message', text: 'goodbye' })
  const sent = (await keeper.next('message')).data
  keeper.send({ type: 'message', text: `bye @${user.user.username}` })
  expect((await keeper.next('message')).data.mentions).toEqual([user.user])
  onA.close()
  expect((await call(a.url, 'DELETE', '/api/v1/users/me', user.token, { secret: SECRET })).status).toBe(204)
  const gone = { id: user.user.id, username: '[deleted]' }
  const shown = async () => {
    using socket = await openSocket(`${b.wsUrl}/api/v1/rooms/${room}/messages/ws`)
    return (await socket.next('welcome')).data.history.map((m: { user: unknown; mentions?: unknown }) => [m.user, m.mentions])
  }
  const expected = [
    [gone, undefined],
    [bystander.user, [gone]],
  ]
  const changed = performance.now()
  let history = await shown()
  while (JSON.stringify(history) !== JSON.stringify(expected) && performance.now() - changed < 2_000) history = await shown()
  expect(history).toEqual(expected)
  expect(sent.user).toEqual(user.user)
  keeper.close()
})

test("a ban written to the database by the CLI closes the user's sockets on every instance within 2 s", async () => {
  const user = await register(a.url, `cli-target${++users}`)
  const sockets = [await join(a, user), await join(b, user)]
  const cli = await openPostgresStore(pg.url)
  try {
    await banUser({ store: cli, now: Date.now }, null, user.user.id, 'from the CLI')
  } finally {
    await cli.close()
  }
  for (const socket of sockets) expect(await closedWithin2s(socket)).toEqual(BANNED)
  for (const server of [a, b]) {
    expectError(await me(server, user), 403, 'USER_BANNED')
    expectError(await request(`${server.url}/api/v1/login`, { json: { username: user.user.username, secret: SECRET } }), 403, 'USER_BANNED')
  }
  const audit = (await call(b.url, 'GET', '/api/v1/admin/audit?limit=1', admin.token)).body.data.entries
  expect(audit).toEqual([{ id: expect.any(Number), at: expect.any(String), actor: null, action: 'user.ban', target: user.user }])
})

test('registration set on A applies on B at once; a one-use invitation used on both at once makes one account', async () => {
  expect((await call(a.url, 'PUT', '/api/v1/admin/settings', admin.token, { registration: 'invite' })).status).toBe(200)
  expectError(await request(`${b.url}/api/v1/users`, { json: { username: 'uninvited', secret: SECRET } }), 403, 'INVITE_INVALID')
  const code = (await call(b.url, 'POST', '/api/v1/admin/invites', admin.token, {})).body.data.code
  const answers = await Promise.all(
    Array.from({ length: 8 }, (_, i) => request(`${i % 2 ? a.url : b.url}/api/v1/users`, { json: { username: `invited${i}`, secret: SECRET, invite: code } })),
  )
  expect(answers.map((r) => r.status).sort()).toEqual([201, 403, 403, 403, 403, 403, 403, 403])
  expect((await call(a.url, 'PUT', '/api/v1/admin/settings', admin.token, { registration: 'closed' })).status).toBe(200)
  expectError(await request(`${b.url}/api/v1/users`, { json: { username: 'late', secret: SECRET, invite: code } }), 403, 'REGISTRATION_CLOSED')
  expect((await call(a.url, 'PUT', '/api/v1/admin/settings', admin.token, { registration: 'open' })).status).toBe(200)
})
