/**
 * Spec §5, registration: `REGISTRATION` is `open` (default), `invite` or `closed`, and an admin
 * changes it at run time (`PUT /api/v1/admin/settings`; kept in the database, it wins over the
 * setting). `invite` needs a usable `"invite"` code (missing, unknown, used up, revoked or expired:
 * 403 INVITE_INVALID), each account taking one use atomically; `closed` refuses every sign-up, with
 * or without a code (403 REGISTRATION_CLOSED).
 */
import { expect, test } from 'bun:test'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { call, expectError, expectOk } from '../support/accounts.ts'
import { register, request, type Account } from '../support/http.ts'
import { startTestServer, type TestServer } from '../support/server.ts'

const SECRET = 'correct horse battery staple'

function signUp(server: TestServer, username: string, invite?: unknown) {
  return request(`${server.url}/api/v1/users`, { json: { username, secret: SECRET, ...(invite === undefined ? {} : { invite }) } })
}

async function setMode(server: TestServer, admin: Account, registration: string) {
  expectOk(await call(server.url, 'PUT', '/api/v1/admin/settings', admin.token, { registration }), { registration })
}

async function newInvite(server: TestServer, admin: Account, body: unknown = {}): Promise<string> {
  const res = await call(server.url, 'POST', '/api/v1/admin/invites', admin.token, body)
  expect(res.status).toBe(201)
  return res.body.data.code
}

test('open (the default): anyone signs up, an invite field is not needed (and not used)', async () => {
  await using server = await startTestServer()
  const admin = await register(server.url, 'admin')
  expectOk(await call(server.url, 'GET', '/api/v1/admin/settings', admin.token), { registration: 'open' })
  expect((await signUp(server, 'bob')).status).toBe(201)
  const code = await newInvite(server, admin)
  expect((await signUp(server, 'carol', code)).status).toBe(201)
  expect((await call(server.url, 'GET', '/api/v1/admin/invites', admin.token)).body.data.invites).toEqual([{ code, uses: 1, used: 0, expiresAt: null }])
  expectError(await signUp(server, 'dave', 42), 400, 'BAD_BINDING')
})

test('invite: no code, an unknown, used-up, revoked or expired code is 403 INVITE_INVALID and creates nothing', async () => {
  let clock = Date.UTC(2026, 10, 28, 12)
  await using server = await startTestServer({ now: () => clock })
  const admin = await register(server.url, 'admin')
  await setMode(server, admin, 'invite')
  const once = await newInvite(server, admin)
  const revoked = await newInvite(server, admin, { uses: 5 })
  const shortLived = await newInvite(server, admin, { uses: 5, expiresIn: 60 })
  expect((await call(server.url, 'DELETE', `/api/v1/admin/invites/${revoked}`, admin.token)).status).toBe(204)

  expectError(await signUp(server, 'bob'), 403, 'INVITE_INVALID')
  expectError(await signUp(server, 'bob', 'no-such-code'), 403, 'INVITE_INVALID')
  expectError(await signUp(server, 'bob', revoked), 403, 'INVITE_INVALID')
  expect((await signUp(server, 'bob', once)).status).toBe(201)
  expectError(await signUp(server, 'carol', once), 403, 'INVITE_INVALID')
  expect((await signUp(server, 'carol', shortLived)).status).toBe(201)
  clock += 60_000
  expectError(await signUp(server, 'dave', shortLived), 403, 'INVITE_INVALID')
  // A bad code is told before a taken name: someone without a code learns nothing about names.
  expectError(await signUp(server, 'bob', 'no-such-code'), 403, 'INVITE_INVALID')
  expectError(await signUp(server, 'bob', shortLived), 403, 'INVITE_INVALID')
  expect((await request(`${server.url}/api/v1/login`, { json: { username: 'dave', secret: SECRET } })).status).toBe(400)
  // Made in the same millisecond: newest first leaves their order open.
  const listed = (await call(server.url, 'GET', '/api/v1/admin/invites', admin.token)).body.data.invites
  expect(listed.sort((x: { code: string }, y: { code: string }) => x.code.localeCompare(y.code))).toEqual(
    [
      { code: shortLived, uses: 5, used: 1, expiresAt: new Date(Date.UTC(2026, 10, 28, 12) + 60_000).toISOString() },
      { code: once, uses: 1, used: 1, expiresAt: null },
    ].sort((x, y) => x.code.localeCompare(y.code)),
  )
})

test('invite: a taken name with a good code is 409 and does not use the code up', async () => {
  await using server = await startTestServer()
  const admin = await register(server.url, 'admin')
  await setMode(server, admin, 'invite')
  const code = await newInvite(server, admin)
  expectError(await signUp(server, 'ADMIN', code), 409, 'USER_EXISTS')
  expect((await signUp(server, 'bob', code)).status).toBe(201)
})

test('invite: ten sign-ups at once with a one-use code make exactly one account', async () => {
  await using server = await startTestServer()
  const admin = await register(server.url, 'admin')
  await setMode(server, admin, 'invite')
  const code = await newInvite(server, admin)
  const answers = await Promise.all(Array.from({ length: 10 }, (_, i) => signUp(server, `racer${i}`, code)))
  expect(answers.filter((a) => a.status === 201)).toHaveLength(1)
  for (const a of answers.filter((a) => a.status !== 201)) expectError(a, 403, 'INVITE_INVALID')
  const users = (await call(server.url, 'GET', '/api/v1/admin/users?q=racer', admin.token)).body.data.users
  expect(users).toHaveLength(1)
})

test('closed: every sign-up is 403 REGISTRATION_CLOSED, with or without a code; login still works', async () => {
  await using server = await startTestServer()
  const admin = await register(server.url, 'admin')
  const code = await newInvite(server, admin)
  await setMode(server, admin, 'closed')
  expectError(await signUp(server, 'bob'), 403, 'REGISTRATION_CLOSED')
  expectError(await signUp(server, 'bob', code), 403, 'REGISTRATION_CLOSED')
  expectError(await signUp(server, 'admin'), 403, 'REGISTRATION_CLOSED')
  expect((await request(`${server.url}/api/v1/login`, { json: { username: 'admin', secret: SECRET } })).status).toBe(200)
  await setMode(server, admin, 'open')
  expect((await signUp(server, 'bob')).status).toBe(201)
})

test('REGISTRATION sets the mode until an admin sets one; what the admin set survives a restart and wins over the setting', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'chat-registration-'))
  try {
    let admin: Account
    {
      await using server = await startTestServer({ dir })
      admin = await register(server.url, 'admin')
    }
    {
      await using server = await startTestServer({ dir, config: { registration: 'closed' } })
      expectOk(await call(server.url, 'GET', '/api/v1/admin/settings', admin.token), { registration: 'closed' })
      expectError(await signUp(server, 'bob'), 403, 'REGISTRATION_CLOSED')
      await setMode(server, admin, 'invite')
    }
    await using server = await startTestServer({ dir, config: { registration: 'open' } })
    expectOk(await call(server.url, 'GET', '/api/v1/admin/settings', admin.token), { registration: 'invite' })
    expectError(await signUp(server, 'bob'), 403, 'INVITE_INVALID')
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

test('sign-ups stay limited per address in every mode', async () => {
  await using server = await startTestServer({ config: { signupLimitPerAddress: 2 } })
  const admin = await register(server.url, 'admin')
  await setMode(server, admin, 'invite')
  const code = await newInvite(server, admin, { uses: 10 })
  expect((await signUp(server, 'bob', code)).status).toBe(201)
  const limited = await signUp(server, 'carol', code)
  expectError(limited, 429, 'RATE_LIMITED')
  expect(limited.headers.get('retry-after')).toMatch(/^\d+$/)
})
