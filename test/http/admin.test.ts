/**
 * Spec §5, the admin API: an admin's token (a member 403 FORBIDDEN, no or a bad token 401
 * TOKEN_INVALID), users by id (unknown: 404 USER_NOT_FOUND), invites (unknown: 404 NOT_FOUND),
 * times as ISO strings, every action audited, and never zero admins (409 LAST_ADMIN, race-free;
 * a banned admin does not count).
 */
import { expect, test } from 'bun:test'
import { setRole } from '../../src/chat/moderation.ts'
import { call, expectError, expectNoContent, expectOk } from '../support/accounts.ts'
import { register, request, type Account } from '../support/http.ts'
import { startTestServer, type TestServer } from '../support/server.ts'

const SECRET = 'correct horse battery staple'

async function cast(server: TestServer, ...names: string[]): Promise<Account[]> {
  const accounts: Account[] = []
  for (const name of names) accounts.push(await register(server.url, name))
  return accounts
}

const me = (server: TestServer, account: Account) => call(server.url, 'GET', '/api/v1/users/me', account.token)

test('every admin endpoint: no token or a bad one is 401 TOKEN_INVALID, a member 403 FORBIDDEN', async () => {
  await using server = await startTestServer()
  const [admin, member] = await cast(server, 'admin', 'member')
  const id = admin!.user.id
  const endpoints: [string, string, unknown?][] = [
    ['GET', '/api/v1/admin/users'],
    ['PUT', `/api/v1/admin/users/${id}/role`, { role: 'member' }],
    ['PUT', `/api/v1/admin/users/${id}/ban`, {}],
    ['DELETE', `/api/v1/admin/users/${id}/ban`],
    ['PUT', `/api/v1/admin/users/${id}/password`, { newSecret: 'x' }],
    ['POST', '/api/v1/admin/invites', {}],
    ['GET', '/api/v1/admin/invites'],
    ['DELETE', '/api/v1/admin/invites/some-code'],
    ['GET', '/api/v1/admin/settings'],
    ['PUT', '/api/v1/admin/settings', { registration: 'closed' }],
    ['GET', '/api/v1/admin/audit'],
  ]
  for (const [method, path, body] of endpoints) {
    expectError(await call(server.url, method, path, undefined, body), 401, 'TOKEN_INVALID')
    expectError(await call(server.url, method, path, 'not.a.token', body), 401, 'TOKEN_INVALID')
    expectError(await call(server.url, method, path, member!.token, body), 403, 'FORBIDDEN')
  }
  // Nothing happened.
  expectOk(await me(server, admin!), { ...admin!.user, role: 'admin' })
  expect((await call(server.url, 'GET', '/api/v1/admin/audit', admin!.token)).body.data).toEqual({ entries: [], hasMore: false })
})

test('GET /admin/users: ids ascending after `after`, `limit` with hasMore, `q` a name prefix ignoring case and width', async () => {
  const clock = Date.UTC(2026, 10, 28, 12)
  await using server = await startTestServer({ now: () => clock })
  const [admin, alice, bob, alex] = await cast(server, 'admin', 'Alice', 'bob', 'ＡＬＥＸ')
  expectNoContent(await call(server.url, 'PUT', `/api/v1/admin/users/${bob!.user.id}/ban`, admin!.token, { reason: 'spam' }))
  const row = (a: Account, role = 'member', banned = false) => ({ ...a.user, role, banned, createdAt: new Date(clock).toISOString() })
  const list = (query: string) => call(server.url, 'GET', `/api/v1/admin/users${query}`, admin!.token)
  expectOk(await list(''), { users: [row(admin!, 'admin'), row(alice!), row(bob!, 'member', true), row(alex!)], hasMore: false })
  expectOk(await list('?limit=2'), { users: [row(admin!, 'admin'), row(alice!)], hasMore: true })
  expectOk(await list(`?limit=2&after=${alice!.user.id}`), { users: [row(bob!, 'member', true), row(alex!)], hasMore: false })
  expectOk(await list('?q=AL'), { users: [row(alice!), row(alex!)], hasMore: false })
  expectOk(await list(`?q=al&after=${alice!.user.id}`), { users: [row(alex!)], hasMore: false })
  expectOk(await list('?q=%EF%BD%81%EF%BD%8C'), { users: [row(alice!), row(alex!)], hasMore: false })
  expectOk(await list('?q=nobody'), { users: [], hasMore: false })
  for (const query of ['?limit=0', '?limit=201', '?limit=x', '?after=-1', '?after=1.5']) expectError(await list(query), 400, 'BAD_QUERY')
})

test('PUT /admin/users/{id}/role: 200 with the new role; the user must log in again to use it', async () => {
  await using server = await startTestServer()
  const [admin, bob] = await cast(server, 'admin', 'bob')
  const path = `/api/v1/admin/users/${bob!.user.id}/role`
  expectOk(await call(server.url, 'PUT', path, admin!.token, { role: 'admin' }), { ...bob!.user, role: 'admin' })
  expectError(await me(server, bob!), 401, 'TOKEN_INVALID')
  const again = (await request(`${server.url}/api/v1/login`, { json: { username: 'bob', secret: SECRET } })).body.data
  expectOk(await me(server, again), { ...bob!.user, role: 'admin' })
  expect((await call(server.url, 'GET', '/api/v1/admin/users', again.token)).status).toBe(200)
  // The same role again changes nothing: the token stays good.
  expectOk(await call(server.url, 'PUT', path, admin!.token, { role: 'admin' }), { ...bob!.user, role: 'admin' })
  expect((await me(server, again)).status).toBe(200)
  for (const body of [{ role: 'owner' }, { role: 1 }, {}, []]) expectError(await call(server.url, 'PUT', path, admin!.token, body), 400, 'BAD_BINDING')
  for (const id of ['999999', 'abc', '0', '-1', '1.5', '99999999999999999999'])
    expectError(await call(server.url, 'PUT', `/api/v1/admin/users/${id}/role`, admin!.token, { role: 'admin' }), 404, 'USER_NOT_FOUND')
})

test('the last admin can be neither demoted nor banned (409 LAST_ADMIN); a banned admin does not count', async () => {
  await using server = await startTestServer()
  const [admin, bob] = await cast(server, 'admin', 'bob')
  const id = admin!.user.id
  expectError(await call(server.url, 'PUT', `/api/v1/admin/users/${id}/role`, admin!.token, { role: 'member' }), 409, 'LAST_ADMIN')
  expectError(await call(server.url, 'PUT', `/api/v1/admin/users/${id}/ban`, admin!.token), 409, 'LAST_ADMIN')
  expect((await me(server, admin!)).status).toBe(200)
  expect((await call(server.url, 'PUT', `/api/v1/admin/users/${bob!.user.id}/role`, admin!.token, { role: 'admin' })).status).toBe(200)
  expectNoContent(await call(server.url, 'PUT', `/api/v1/admin/users/${bob!.user.id}/ban`, admin!.token))
  expectError(await call(server.url, 'PUT', `/api/v1/admin/users/${id}/role`, admin!.token, { role: 'member' }), 409, 'LAST_ADMIN')
})

test('two admins demoting each other at once leave exactly one admin', async () => {
  await using server = await startTestServer()
  const [a, b] = await cast(server, 'a', 'b')
  expect((await call(server.url, 'PUT', `/api/v1/admin/users/${b!.user.id}/role`, a!.token, { role: 'admin' })).status).toBe(200)
  const bToken = (await request(`${server.url}/api/v1/login`, { json: { username: 'b', secret: SECRET } })).body.data.token
  const [one, two] = await Promise.all([
    call(server.url, 'PUT', `/api/v1/admin/users/${b!.user.id}/role`, a!.token, { role: 'member' }),
    call(server.url, 'PUT', `/api/v1/admin/users/${a!.user.id}/role`, bToken, { role: 'member' }),
  ])
  // The second one finds either no other admin (409) or its own token revoked by the first (401).
  expect([one.status, two.status].filter((s) => s === 200)).toHaveLength(1)
  expect(await server.app.store.countAdmins()).toBe(1)
})

test('bans: login and tokens 403 USER_BANNED; unban does not revive old tokens, a new login works', async () => {
  await using server = await startTestServer()
  const [admin, bob] = await cast(server, 'admin', 'bob')
  const path = `/api/v1/admin/users/${bob!.user.id}/ban`
  expectNoContent(await call(server.url, 'PUT', path, admin!.token, { reason: 'spam' }))
  expectError(await me(server, bob!), 403, 'USER_BANNED')
  expectError(await call(server.url, 'POST', '/api/v1/token', bob!.token), 403, 'USER_BANNED')
  // Routes anyone may call check a token sent with them too: the public rooms list as well.
  expectError(await call(server.url, 'GET', '/api/v1/rooms', bob!.token), 403, 'USER_BANNED')
  expectError(await call(server.url, 'GET', '/api/v1/rooms', 'not-a-token'), 401, 'TOKEN_INVALID')
  expect((await call(server.url, 'GET', '/api/v1/rooms')).status).toBe(200)
  expectError(await request(`${server.url}/api/v1/login`, { json: { username: 'bob', secret: SECRET } }), 403, 'USER_BANNED')
  // A wrong password still reads as one: the ban is told only to whoever knows the password.
  expectError(await request(`${server.url}/api/v1/login`, { json: { username: 'bob', secret: 'guess' } }), 401, 'PASSWORD_MATCH_FAILED')
  expectNoContent(await call(server.url, 'PUT', path, admin!.token))
  expectNoContent(await call(server.url, 'DELETE', path, admin!.token))
  expectError(await me(server, bob!), 401, 'TOKEN_INVALID')
  const again = (await request(`${server.url}/api/v1/login`, { json: { username: 'bob', secret: SECRET } })).body.data
  expect((await me(server, again)).status).toBe(200)
  // Unbanning someone not banned changes nothing.
  expectNoContent(await call(server.url, 'DELETE', path, admin!.token))
  expect((await me(server, again)).status).toBe(200)
  for (const body of [{ reason: 5 }, { reason: 'x'.repeat(501) }, '"x"'])
    expectError(await call(server.url, 'PUT', path, admin!.token, body), 400, 'BAD_BINDING')
  expectError(await call(server.url, 'PUT', '/api/v1/admin/users/424242/ban', admin!.token), 404, 'USER_NOT_FOUND')
  expectError(await call(server.url, 'DELETE', '/api/v1/admin/users/424242/ban', admin!.token), 404, 'USER_NOT_FOUND')
})

test('PUT /admin/users/{id}/password: 204; the user logs in with it, every earlier token is revoked', async () => {
  await using server = await startTestServer()
  const [admin, bob] = await cast(server, 'admin', 'bob')
  const path = `/api/v1/admin/users/${bob!.user.id}/password`
  expectNoContent(await call(server.url, 'PUT', path, admin!.token, { newSecret: 'reset by admin' }))
  expectError(await me(server, bob!), 401, 'TOKEN_INVALID')
  expect((await request(`${server.url}/api/v1/login`, { json: { username: 'bob', secret: 'reset by admin' } })).status).toBe(200)
  expectError(await call(server.url, 'PUT', path, admin!.token, { newSecret: '' }), 400, 'BAD_PASSWORD')
  expectError(await call(server.url, 'PUT', path, admin!.token, { secret: 'x' }), 400, 'BAD_BINDING')
  expectError(await call(server.url, 'PUT', '/api/v1/admin/users/424242/password', admin!.token, { newSecret: 'x' }), 404, 'USER_NOT_FOUND')
})

test('invites: POST 201 {code, uses, used, expiresAt}, GET lists them, DELETE 204 then 404 NOT_FOUND; bad values 400', async () => {
  const clock = Date.UTC(2026, 10, 28, 12)
  await using server = await startTestServer({ now: () => clock })
  const [admin] = await cast(server, 'admin')
  const make = (body?: unknown) => call(server.url, 'POST', '/api/v1/admin/invites', admin!.token, body)
  const plain = await make()
  expectOk(plain, { code: expect.stringMatching(/^[A-Za-z0-9_-]{22}$/), uses: 1, used: 0, expiresAt: null }, 201)
  const timed = await make({ uses: 3, expiresIn: 3600 })
  expectOk(timed, { code: expect.any(String), uses: 3, used: 0, expiresAt: new Date(clock + 3600_000).toISOString() }, 201)
  const listed = (await call(server.url, 'GET', '/api/v1/admin/invites', admin!.token)).body.data.invites
  expect(listed.map((i: { code: string }) => i.code).sort()).toEqual([plain.body.data.code, timed.body.data.code].sort())
  expectNoContent(await call(server.url, 'DELETE', `/api/v1/admin/invites/${plain.body.data.code}`, admin!.token))
  expectError(await call(server.url, 'DELETE', `/api/v1/admin/invites/${plain.body.data.code}`, admin!.token), 404, 'NOT_FOUND')
  expectError(await call(server.url, 'DELETE', '/api/v1/admin/invites/nope', admin!.token), 404, 'NOT_FOUND')
  expectOk(await call(server.url, 'GET', '/api/v1/admin/invites', admin!.token), { invites: [timed.body.data] })
  for (const body of [{ uses: 0 }, { uses: 1.5 }, { uses: '2' }, { uses: -1 }, { expiresIn: 0 }, { expiresIn: 'soon' }, { expiresIn: 1e12 }, [], 'x'])
    expectError(await make(body), 400, 'BAD_BINDING')
})

test('settings: GET and PUT {registration}; anything else is 400 BAD_BINDING', async () => {
  await using server = await startTestServer()
  const [admin] = await cast(server, 'admin')
  expectOk(await call(server.url, 'GET', '/api/v1/admin/settings', admin!.token), { registration: 'open' })
  expectOk(await call(server.url, 'PUT', '/api/v1/admin/settings', admin!.token, { registration: 'invite' }), { registration: 'invite' })
  expectOk(await call(server.url, 'GET', '/api/v1/admin/settings', admin!.token), { registration: 'invite' })
  for (const body of [{ registration: 'OPEN' }, { registration: null }, {}, []])
    expectError(await call(server.url, 'PUT', '/api/v1/admin/settings', admin!.token, body), 400, 'BAD_BINDING')
})

test('the audit log: every action with its actor and target, newest first, paged with before/limit; the CLI is actor null', async () => {
  const clock = Date.UTC(2026, 10, 28, 12)
  await using server = await startTestServer({ now: () => clock })
  const [admin, bob] = await cast(server, 'admin', 'bob')
  const by = (method: string, path: string, body?: unknown) => call(server.url, method, path, admin!.token, body)
  const u = `/api/v1/admin/users/${bob!.user.id}`
  await by('PUT', `${u}/role`, { role: 'admin' })
  await by('PUT', `${u}/ban`, { reason: 'spam' })
  await by('DELETE', `${u}/ban`)
  await by('PUT', `${u}/password`, { newSecret: 'x' })
  const code = (await by('POST', '/api/v1/admin/invites')).body.data.code
  await by('DELETE', `/api/v1/admin/invites/${code}`)
  await by('PUT', '/api/v1/admin/settings', { registration: 'closed' })
  // What the CLI does: the domain function on the store, with no actor.
  await setRole({ store: server.app.store, now: () => clock }, null, bob!.user.id, 'member')
  // Refused and no-op actions leave no entry.
  await by('PUT', `/api/v1/admin/users/${admin!.user.id}/role`, { role: 'member' })
  await by('DELETE', `${u}/ban`)
  const target = bob!.user
  const actor = admin!.user
  const entries = [
    [null, 'user.role', target],
    [actor, 'registration.set', { registration: 'closed' }],
    [actor, 'invite.revoke', { code }],
    [actor, 'invite.create', { code }],
    [actor, 'user.password', target],
    [actor, 'user.unban', target],
    [actor, 'user.ban', target],
    [actor, 'user.role', target],
  ].map(([actor, action, target]) => ({ id: expect.any(Number), at: new Date(clock).toISOString(), actor, action, target }))
  const all = await by('GET', '/api/v1/admin/audit')
  expectOk(all, { entries, hasMore: false })
  const ids = all.body.data.entries.map((e: { id: number }) => e.id)
  expect(ids).toEqual([...ids].sort((x: number, y: number) => y - x))
  expectOk(await by('GET', '/api/v1/admin/audit?limit=3'), { entries: entries.slice(0, 3), hasMore: true })
  expectOk(await by('GET', `/api/v1/admin/audit?limit=3&before=${ids[2]}`), { entries: entries.slice(3, 6), hasMore: true })
  expectOk(await by('GET', `/api/v1/admin/audit?before=${ids[5]}`), { entries: entries.slice(6), hasMore: false })
  for (const query of ['?limit=0', '?limit=201', '?before=0', '?before=x']) expectError(await by('GET', `/api/v1/admin/audit${query}`), 400, 'BAD_QUERY')
})
