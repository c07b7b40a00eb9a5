/**
 * Spec §5, accounts: the first account on a server without an admin becomes admin (race-free), and
 * `GET /users/me` shows the role. Self-service with a valid token: `PUT /users/me/password`
 * (a new token, the only valid one), `POST /logout` (every token), `DELETE /users/me` (the name
 * becomes free, messages stay under `[deleted]`, which no account can take). A wrong secret is 401
 * PASSWORD_MATCH_FAILED and counts against the login limits.
 */
import { expect, test } from 'bun:test'
import { call, expectError, expectNoContent, expectOk } from '../support/accounts.ts'
import { register, request } from '../support/http.ts'
import { post, roomWs, storedMessages } from '../support/rooms.ts'
import { startTestServer } from '../support/server.ts'
import { openSocket } from '../support/socket.ts'
import { react, reply, restHistory, welcomeOf } from '../support/conversation.ts'
import type { Message } from '../../src/protocol.ts'
import { until } from '../support/wait.ts'

const SECRET = 'correct horse battery staple'

test('the first account becomes admin, the next ones members; /users/me shows the role', async () => {
  await using server = await startTestServer()
  const alice = await register(server.url, 'alice')
  const bob = await register(server.url, 'bob')
  expectOk(await call(server.url, 'GET', '/api/v1/users/me', alice.token), { ...alice.user, role: 'admin' })
  expectOk(await call(server.url, 'GET', '/api/v1/users/me', bob.token), { ...bob.user, role: 'member' })
})

test('sign-ups at once on a new server make exactly one admin', async () => {
  await using server = await startTestServer()
  const accounts = await Promise.all(Array.from({ length: 8 }, (_, i) => register(server.url, `user${i}`)))
  const roles = await Promise.all(accounts.map(async (a) => (await call(server.url, 'GET', '/api/v1/users/me', a.token)).body.data.role))
  expect(roles.filter((r) => r === 'admin')).toHaveLength(1)
})

test('start-up warns while the server has no admin', async () => {
  const lines: string[] = []
  await using server = await startTestServer({ onLog: (line) => lines.push(line) })
  expect(lines.some((l) => l.includes('no admin yet'))).toBe(true)
  void server
})

test('a name in brackets of any kind is refused, so [deleted] can never be an account, nor a look-alike', async () => {
  await using server = await startTestServer()
  for (const username of [
    '[deleted]',
    '[admin]',
    '［deleted］',
    '[]',
    '(deleted)',
    '⟦deleted⟧',
    '【deleted】',
    '〔deleted〕',
    '❲deleted❳',
    '⁅deleted⁆',
    '‹deleted›',
    '«deleted»',
    '<deleted>',
    '{deleted}',
  ])
    expectError(await request(`${server.url}/api/v1/users`, { json: { username, secret: SECRET } }), 400, 'BAD_USERNAME')
  for (const username of ['[deleted', 'a[b]', 'x]', '(bob', 'bob)', 'a(b)', 'deleted'])
    expect((await request(`${server.url}/api/v1/users`, { json: { username, secret: SECRET } })).status).toBe(201)
})

test('PUT /users/me/password: 200 with a new token, the only valid one; the new password logs in, the old does not', async () => {
  await using server = await startTestServer()
  const alice = await register(server.url, 'alice', 'old secret')
  const other = await request(`${server.url}/api/v1/login`, { json: { username: 'alice', secret: 'old secret' } })
  const res = await call(server.url, 'PUT', '/api/v1/users/me/password', alice.token, { secret: 'old secret', newSecret: 'new secret' })
  expectOk(res, { token: expect.any(String), user: alice.user })
  for (const token of [alice.token, other.body.data.token]) expectError(await call(server.url, 'GET', '/api/v1/users/me', token), 401, 'TOKEN_INVALID')
  expect((await call(server.url, 'GET', '/api/v1/users/me', res.body.data.token)).status).toBe(200)
  expectError(await request(`${server.url}/api/v1/login`, { json: { username: 'alice', secret: 'old secret' } }), 401, 'PASSWORD_MATCH_FAILED')
  expect((await request(`${server.url}/api/v1/login`, { json: { username: 'alice', secret: 'new secret' } })).status).toBe(200)
})

test('PUT /users/me/password refuses: no token 401, wrong secret 401, bad new secret 400, bad body 400', async () => {
  await using server = await startTestServer()
  const alice = await register(server.url, 'alice')
  const path = '/api/v1/users/me/password'
  expectError(await call(server.url, 'PUT', path, undefined, { secret: SECRET, newSecret: 'x' }), 401, 'TOKEN_INVALID')
  expectError(await call(server.url, 'PUT', path, alice.token, { secret: 'wrong', newSecret: 'x' }), 401, 'PASSWORD_MATCH_FAILED')
  expectError(await call(server.url, 'PUT', path, alice.token, { secret: SECRET, newSecret: '' }), 400, 'BAD_PASSWORD')
  expectError(await call(server.url, 'PUT', path, alice.token, { secret: SECRET, newSecret: 'x'.repeat(1025) }), 400, 'BAD_PASSWORD')
  expectError(await call(server.url, 'PUT', path, alice.token, { secret: SECRET }), 400, 'BAD_BINDING')
  expectError(await call(server.url, 'PUT', path, alice.token, { secret: 1, newSecret: 'x' }), 400, 'BAD_BINDING')
  expectError(await call(server.url, 'PUT', path, alice.token, []), 400, 'BAD_BINDING')
  // Nothing changed: the token still works.
  expect((await call(server.url, 'GET', '/api/v1/users/me', alice.token)).status).toBe(200)
})

test('wrong secrets on the self-service endpoints count against the login limit', async () => {
  await using server = await startTestServer({ config: { loginLimitPerUser: 3, loginLimitPerAddress: 1000 } })
  const alice = await register(server.url, 'alice')
  for (let i = 0; i < 3; i++) {
    const path = i % 2 ? '/api/v1/users/me' : '/api/v1/users/me/password'
    const res = await call(server.url, i % 2 ? 'DELETE' : 'PUT', path, alice.token, { secret: 'guess', newSecret: 'x' })
    expectError(res, 401, 'PASSWORD_MATCH_FAILED')
  }
  const limited = await call(server.url, 'PUT', '/api/v1/users/me/password', alice.token, { secret: SECRET, newSecret: 'x' })
  expectError(limited, 429, 'RATE_LIMITED')
  expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0)
  expectError(await request(`${server.url}/api/v1/login`, { json: { username: 'alice', secret: SECRET } }), 429, 'RATE_LIMITED')
})

test('POST /logout: 204, and every token of the user is refused from then on; a new login works', async () => {
  await using server = await startTestServer()
  const alice = await register(server.url, 'alice')
  const second = (await request(`${server.url}/api/v1/login`, { json: { username: 'alice', secret: SECRET } })).body.data.token
  const bob = await register(server.url, 'bob')
  expectError(await call(server.url, 'POST', '/api/v1/logout'), 401, 'TOKEN_INVALID')
  expectNoContent(await call(server.url, 'POST', '/api/v1/logout', alice.token))
  for (const token of [alice.token, second]) {
    expectError(await call(server.url, 'GET', '/api/v1/users/me', token), 401, 'TOKEN_INVALID')
    expectError(await call(server.url, 'POST', '/api/v1/token', token), 401, 'TOKEN_INVALID')
    expectError(await call(server.url, 'POST', '/api/v1/logout', token), 401, 'TOKEN_INVALID')
  }
  expect((await call(server.url, 'GET', '/api/v1/users/me', bob.token)).status).toBe(200)
  const again = (await request(`${server.url}/api/v1/login`, { json: { username: 'alice', secret: SECRET } })).body.data.token
  expect((await call(server.url, 'GET', '/api/v1/users/me', again)).status).toBe(200)
})

test('DELETE /users/me: 204; the token dies, the name is free, the messages stay under [deleted]', async () => {
  await using server = await startTestServer()
  await register(server.url, 'admin')
  const bob = await register(server.url, 'bob')
  {
    using socket = await openSocket(roomWs(server, 'lobby'), [bob.token])
    await socket.next('welcome')
    await post(socket, 'hello from bob')
  }
  expectNoContent(await call(server.url, 'DELETE', '/api/v1/users/me', bob.token, { secret: SECRET }))
  expectError(await call(server.url, 'GET', '/api/v1/users/me', bob.token), 401, 'TOKEN_INVALID')
  expectError(await request(`${server.url}/api/v1/login`, { json: { username: 'bob', secret: SECRET } }), 400, 'USER_NOT_FOUND')
  const messages = await storedMessages(server, 'lobby')
  expect(messages.map((m) => [m.user, m.text])).toEqual([[{ id: bob.user.id, username: '[deleted]' }, 'hello from bob']])
  const again = await register(server.url, 'BOB')
  expect(again.user.id).not.toBe(bob.user.id)
})

// spec §5: "shown under a placeholder name … that cannot be mistaken for a live user", wherever the
// name was shown: a room held in memory (a socket kept it open) and the mentions of others' messages.
test('after DELETE /users/me every copy of the name is the placeholder: author, mention, reply quote, reaction, in welcome and resume', async () => {
  await using server = await startTestServer()
  const alice = await register(server.url, 'alice')
  const bob = await register(server.url, 'bob')
  using watcher = await openSocket(roomWs(server, 'lobby'), [alice.token])
  await watcher.next('welcome')
  const before = (await post(watcher, 'before anyone')).id
  let his: number
  {
    using socket = await openSocket(roomWs(server, 'lobby'), [bob.token])
    await socket.next('welcome')
    his = (await post(socket, 'hello from bob')).id
  }
  const mention = await post(watcher, 'hi @bob')
  expect(mention.mentions).toEqual([bob.user])
  const answer = await reply(watcher, 'an answer', his)
  {
    using socket = await openSocket(roomWs(server, 'lobby'), [bob.token])
    await socket.next('welcome')
    await react(socket, bob, mention.id, '👍')
  }
  expectNoContent(await call(server.url, 'DELETE', '/api/v1/users/me', bob.token, { secret: SECRET }))
  const gone = { id: bob.user.id, username: '[deleted]' }
  const expected = [
    [his, gone, undefined, undefined],
    [mention.id, alice.user, [gone], undefined],
    [answer.id, alice.user, undefined, gone],
  ]
  const shown = (messages: Message[]) =>
    messages.filter((m) => m.id > before).map((m) => [m.id, m.user, m.deleted ? undefined : m.mentions, m.deleted ? undefined : m.replyTo?.user])
  const check = async () => {
    expect(shown((await welcomeOf(server, 'lobby', alice)).history)).toEqual(expected)
    expect(shown(await restHistory(server, 'lobby', alice))).toEqual(expected)
    const resumed = await welcomeOf(server, 'lobby', alice, `?since=${answer.id}`)
    expect(resumed.changes.map((c: { type: string; user?: unknown }) => [c.type, c.user])).toEqual([['reaction', gone]])
  }
  // The room held in memory (the watcher keeps it open), then read from the store once nobody has it open.
  await check()
  watcher.close()
  await until(() => server.app.hub.counts().rooms === 0, 5_000, 'the room to be let go')
  await check()
})

test('DELETE /users/me refuses: wrong secret 401, bad body 400, the last admin 409 LAST_ADMIN', async () => {
  await using server = await startTestServer()
  const admin = await register(server.url, 'admin')
  const bob = await register(server.url, 'bob')
  expectError(await call(server.url, 'DELETE', '/api/v1/users/me', undefined, { secret: SECRET }), 401, 'TOKEN_INVALID')
  expectError(await call(server.url, 'DELETE', '/api/v1/users/me', bob.token, { secret: 'wrong' }), 401, 'PASSWORD_MATCH_FAILED')
  expectError(await call(server.url, 'DELETE', '/api/v1/users/me', bob.token, {}), 400, 'BAD_BINDING')
  expectError(await call(server.url, 'DELETE', '/api/v1/users/me', admin.token, { secret: SECRET }), 409, 'LAST_ADMIN')
  expect((await call(server.url, 'GET', '/api/v1/users/me', admin.token)).status).toBe(200)
  // With a second admin, the first may go.
  expect((await call(server.url, 'PUT', `/api/v1/admin/users/${bob.user.id}/role`, admin.token, { role: 'admin' })).status).toBe(200)
  expectNoContent(await call(server.url, 'DELETE', '/api/v1/users/me', admin.token, { secret: SECRET }))
})

test('a ban that lands while my password change or account deletion is under way stops it: 403 USER_BANNED, nothing changed', async () => {
  // OWASP's argon2 cost, so that checking the secret and hashing the new one take long enough for the ban to land between.
  await using server = await startTestServer({ config: { argon2MemoryKib: 19456, argon2Iterations: 2 } })
  const admin = await register(server.url, 'admin')
  const bob = await register(server.url, 'bob')
  const ban = (by: string) => call(server.url, 'PUT', `/api/v1/admin/users/${bob.user.id}/ban`, by, {})
  const unban = () => call(server.url, 'DELETE', `/api/v1/admin/users/${bob.user.id}/ban`, admin.token)
  const change = call(server.url, 'PUT', '/api/v1/users/me/password', bob.token, { secret: SECRET, newSecret: 'changed while banned' })
  await Bun.sleep(5)
  expectNoContent(await ban(admin.token))
  expectError(await change, 403, 'USER_BANNED')
  expectNoContent(await unban())
  const login = (secret: string) => request(`${server.url}/api/v1/login`, { json: { username: 'bob', secret } })
  expectError(await login('changed while banned'), 401, 'PASSWORD_MATCH_FAILED')
  const { token } = (await login(SECRET)).body.data as { token: string }
  // The same for deleting the account: it stays, banned, its name taken.
  const deletion = call(server.url, 'DELETE', '/api/v1/users/me', token, { secret: SECRET })
  await Bun.sleep(5)
  expectNoContent(await ban(admin.token))
  expectError(await deletion, 403, 'USER_BANNED')
  expectError(await login(SECRET), 403, 'USER_BANNED')
  const { entries } = (await call(server.url, 'GET', '/api/v1/admin/audit', admin.token)).body.data as { entries: { action: string }[] }
  expect(entries.map((e) => e.action)).toEqual(['user.ban', 'user.unban', 'user.ban'])
})
