/**
 * Bot accounts (docs/BOTS.md): an admin makes them; each has one long-lived API token at a time,
 * shown once and stored only as a hash; the token works wherever a login token does (REST and
 * sockets); a new token, a revocation, a ban or the bot's deletion ends the old one at once (401,
 * sockets closed 4001); a bot cannot log in with a password.
 */
import { Database } from 'bun:sqlite'
import { expect, test } from 'bun:test'
import { readFileSync } from 'node:fs'
import { CLOSE } from '../../src/protocol.ts'
import { call, closedWithin2s, expectError, expectNoContent, expectOk } from '../support/accounts.ts'
import { registerAdmin } from '../support/changes.ts'
import { register, request } from '../support/http.ts'
import { connectRoom } from '../support/private-rooms.ts'
import { post } from '../support/rooms.ts'
import { startTestServer, type TestServer } from '../support/server.ts'

const TOKEN_FORMAT = /^cbt_[1-9]\d*_\d+_[A-Za-z0-9_-]{43}$/

async function makeBot(server: TestServer, adminToken: string, username = 'helper'): Promise<{ bot: { id: number; username: string }; token: string }> {
  const res = await call(server.url, 'POST', '/api/v1/admin/bots', adminToken, { username })
  expect(res.status).toBe(201)
  return res.body.data
}

test('an admin makes a bot: its token (shown once) works on REST and sockets, and it cannot log in with a password', async () => {
  const clock = Date.UTC(2026, 10, 30, 9)
  await using server = await startTestServer({ now: () => clock })
  const admin = await registerAdmin(server)
  const res = await call(server.url, 'POST', '/api/v1/admin/bots', admin.token, { username: 'Helper' })
  expect(res.status).toBe(201)
  const { bot, token } = res.body.data
  expect(bot).toEqual({ id: expect.any(Number), username: 'Helper', createdAt: new Date(clock).toISOString(), hasToken: true })
  expect(token).toMatch(TOKEN_FORMAT)
  expectOk(await call(server.url, 'GET', '/api/v1/admin/bots', admin.token), { bots: [bot] })
  // The listing never shows the token again.
  expect(JSON.stringify((await call(server.url, 'GET', '/api/v1/admin/bots', admin.token)).body)).not.toContain(token.slice(-43))

  expectOk(await call(server.url, 'GET', '/api/v1/users/me', token), { id: bot.id, username: 'Helper', role: 'member' })
  // A bot is a member like any other: it posts on a socket, and people see it.
  const person = await register(server.url, 'person')
  const watcher = await connectRoom(server, 'lobby', person)
  const botSocket = await connectRoom(server, 'lobby', { token, user: { id: bot.id, username: 'Helper' } })
  const sent = await post(botSocket, 'beep boop')
  expect(sent.user).toEqual({ id: bot.id, username: 'Helper' })
  expect((await watcher.next('message')).data).toMatchObject({ id: sent.id, text: 'beep boop', user: { id: bot.id, username: 'Helper' } })

  // No password works: the bot's is random and thrown away.
  for (const secret of ['', 'Helper', token])
    expectError(await request(`${server.url}/api/v1/login`, { method: 'POST', json: { username: 'Helper', secret } }), 401, 'PASSWORD_MATCH_FAILED')
  // Nor can an admin give it one: it authenticates with its API token only (which a reset would have revoked).
  expectError(await call(server.url, 'PUT', `/api/v1/admin/users/${bot.id}/password`, admin.token, { newSecret: 'known password' }), 400, 'BAD_REQUEST')
  expectError(
    await request(`${server.url}/api/v1/login`, { method: 'POST', json: { username: 'Helper', secret: 'known password' } }),
    401,
    'PASSWORD_MATCH_FAILED',
  )
  expect((await call(server.url, 'GET', '/api/v1/users/me', token)).status).toBe(200)
  botSocket.close()
  watcher.close()
})

test('the token is stored only as a hash: neither it nor its secret is anywhere in the database file', async () => {
  await using server = await startTestServer()
  const admin = await registerAdmin(server)
  const { bot, token } = await makeBot(server, admin.token)
  const secret = token.split('_').slice(3).join('_')
  const db = new Database(server.config.database, { readonly: true })
  const row = db.query<{ bot: number; api_token_hash: string }, [number]>('SELECT bot, api_token_hash FROM users WHERE id = ?').get(bot.id)!
  db.close()
  expect(row.bot).toBe(1)
  expect(row.api_token_hash).toMatch(/^[0-9a-f]{64}$/)
  expect(row.api_token_hash).toBe(new Bun.CryptoHasher('sha256').update(secret).digest('hex'))
  await server.stop()
  for (const file of [server.config.database, `${server.config.database}-wal`]) {
    let bytes: Buffer
    try {
      bytes = readFileSync(file)
    } catch {
      continue
    }
    expect(bytes.includes(secret)).toBe(false)
  }
})

test('a new token revokes the old one at once (401, its socket closed 4001); revoking leaves none', async () => {
  await using server = await startTestServer()
  const admin = await registerAdmin(server)
  const { bot, token: first } = await makeBot(server, admin.token)
  const socket = await connectRoom(server, 'lobby', { token: first, user: bot })

  const renewed = await call(server.url, 'POST', `/api/v1/admin/bots/${bot.id}/token`, admin.token)
  expect(renewed.status).toBe(201)
  const second: string = renewed.body.data.token
  expect(second).toMatch(TOKEN_FORMAT)
  expect(second).not.toBe(first)
  expect(await closedWithin2s(socket)).toEqual({ ...CLOSE.TOKEN_REVOKED, error: 'TOKEN_INVALID' })
  expectError(await call(server.url, 'GET', '/api/v1/users/me', first), 401, 'TOKEN_INVALID')
  expect((await call(server.url, 'GET', '/api/v1/users/me', second)).status).toBe(200)

  expectNoContent(await call(server.url, 'DELETE', `/api/v1/admin/bots/${bot.id}/token`, admin.token))
  expectError(await call(server.url, 'GET', '/api/v1/users/me', second), 401, 'TOKEN_INVALID')
  expectOk(await call(server.url, 'GET', '/api/v1/admin/bots', admin.token), { bots: [{ ...renewed.body.data.bot, hasToken: false }] })
  const actions = (await call(server.url, 'GET', '/api/v1/admin/audit', admin.token)).body.data.entries.map((e: { action: string }) => e.action)
  expect(actions).toEqual(['bot.token', 'bot.token', 'bot.token', 'bot.create'])
})

test('a forged or altered token is 401; a ban is 403 USER_BANNED and revokes the token for good', async () => {
  await using server = await startTestServer()
  const admin = await registerAdmin(server)
  const { bot, token } = await makeBot(server, admin.token)
  const [, id, ver, secret] = /^cbt_(\d+)_(\d+)_(.+)$/.exec(token)!
  const other = secret!.startsWith('A') ? `B${secret!.slice(1)}` : `A${secret!.slice(1)}`
  for (const forged of [
    `cbt_${id}_${ver}_${other}`,
    `cbt_${Number(id) + 1}_${ver}_${secret}`,
    `cbt_${id}_${Number(ver) + 1}_${secret}`,
    `cbt_${id}_${ver}_${secret}x`,
    token.slice(0, -1),
  ])
    expectError(await call(server.url, 'GET', '/api/v1/users/me', forged), 401, 'TOKEN_INVALID')

  expectNoContent(await call(server.url, 'PUT', `/api/v1/admin/users/${bot.id}/ban`, admin.token, { reason: 'spam' }))
  // As with a person's token, a banned account's is 403 USER_BANNED; the ban also raised the token
  // version, so the token stays revoked after the unban.
  expectError(await call(server.url, 'GET', '/api/v1/users/me', token), 403, 'USER_BANNED')
  expectNoContent(await call(server.url, 'DELETE', `/api/v1/admin/users/${bot.id}/ban`, admin.token))
  expectError(await call(server.url, 'GET', '/api/v1/users/me', token), 401, 'TOKEN_INVALID')
  const fresh = (await call(server.url, 'POST', `/api/v1/admin/bots/${bot.id}/token`, admin.token)).body.data.token
  expect((await call(server.url, 'GET', '/api/v1/users/me', fresh)).status).toBe(200)
  expectNoContent(await call(server.url, 'PUT', `/api/v1/admin/users/${bot.id}/ban`, admin.token, {}))
  // A banned bot with a token issued while banned is refused as banned.
  const whileBanned = (await call(server.url, 'POST', `/api/v1/admin/bots/${bot.id}/token`, admin.token)).body.data.token
  expectError(await call(server.url, 'GET', '/api/v1/users/me', whileBanned), 403, 'USER_BANNED')
})

test('deleting a bot ends its token; bot endpoints refuse members, unknown ids, people and taken names', async () => {
  await using server = await startTestServer()
  const admin = await registerAdmin(server)
  const member = await register(server.url, 'member')
  const { bot, token } = await makeBot(server, admin.token)
  for (const [method, path, body] of [
    ['GET', '/api/v1/admin/bots'],
    ['POST', '/api/v1/admin/bots', { username: 'x' }],
    ['POST', `/api/v1/admin/bots/${bot.id}/token`],
    ['DELETE', `/api/v1/admin/bots/${bot.id}/token`],
    ['DELETE', `/api/v1/admin/bots/${bot.id}`],
  ] as [string, string, unknown?][]) {
    expectError(await call(server.url, method, path, member.token, body), 403, 'FORBIDDEN')
    expectError(await call(server.url, method, path, undefined, body), 401, 'TOKEN_INVALID')
  }
  // A bot's token is not an admin's.
  expectError(await call(server.url, 'GET', '/api/v1/admin/bots', token), 403, 'FORBIDDEN')
  for (const id of [member.user.id, 999999, 'abc'])
    expectError(await call(server.url, 'POST', `/api/v1/admin/bots/${id}/token`, admin.token), 404, 'USER_NOT_FOUND')
  expectError(await call(server.url, 'POST', '/api/v1/admin/bots', admin.token, { username: 'MEMBER' }), 409, 'USER_EXISTS')
  expectError(await call(server.url, 'POST', '/api/v1/admin/bots', admin.token, { username: '' }), 400, 'BAD_USERNAME')
  expectError(await call(server.url, 'POST', '/api/v1/admin/bots', admin.token, { username: 7 }), 400, 'BAD_BINDING')

  expectNoContent(await call(server.url, 'DELETE', `/api/v1/admin/bots/${bot.id}`, admin.token))
  expectError(await call(server.url, 'GET', '/api/v1/users/me', token), 401, 'TOKEN_INVALID')
  expectOk(await call(server.url, 'GET', '/api/v1/admin/bots', admin.token), { bots: [] })
  expectError(await call(server.url, 'DELETE', `/api/v1/admin/bots/${bot.id}`, admin.token), 404, 'USER_NOT_FOUND')
  // A bot made the only admin is not deleted, and keeps its webhooks.
  const { bot: boss } = await makeBot(server, admin.token, 'boss')
  expectOk(await call(server.url, 'PUT', `/api/v1/admin/users/${boss.id}/role`, admin.token, { role: 'admin' }), {
    id: boss.id,
    username: 'boss',
    role: 'admin',
  })
  // The role change revoked its token: a new one carries the new role.
  const bossToken = (await call(server.url, 'POST', `/api/v1/admin/bots/${boss.id}/token`, admin.token)).body.data.token
  expect((await call(server.url, 'POST', '/api/v1/admin/webhooks/incoming', admin.token, { room: 'lobby', botId: boss.id })).status).toBe(201)
  expect((await call(server.url, 'PUT', `/api/v1/admin/users/${admin.user.id}/role`, bossToken, { role: 'member' })).status).toBe(200)
  expectError(await call(server.url, 'DELETE', `/api/v1/admin/bots/${boss.id}`, bossToken), 409, 'LAST_ADMIN')
  expect((await call(server.url, 'GET', '/api/v1/admin/webhooks/incoming', bossToken)).body.data.webhooks).toHaveLength(1)
  // The name is free again.
  expect((await call(server.url, 'POST', '/api/v1/admin/bots', bossToken, { username: 'helper' })).status).toBe(201)
})
