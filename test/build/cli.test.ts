/**
 * The owner's commands (spec §5: `chat-server users …`, `chat-server invites …`) run as a real
 * process on the configured database, with the server stopped and while it runs (which then applies
 * the change within 5 s): the password comes from standard input, never an argument.
 */
import { Database } from 'bun:sqlite'
import { afterEach, beforeEach, expect, test } from 'bun:test'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { CLOSE } from '../../src/protocol.ts'
import { startChildServer, REPO_ROOT } from '../support/child-server.ts'
import { request } from '../support/http.ts'
import { openSocket } from '../support/socket.ts'
import { until } from '../support/wait.ts'

let dir: string
let database: string
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'chat-cli-'))
  database = join(dir, 'chat.db')
})
afterEach(() => rmSync(dir, { recursive: true, force: true }))

const ENV = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ARGON2_MEMORY_KIB: '64', ARGON2_ITERATIONS: '1' }

/** Runs `chat-server <args>` on the test's database, with `input` on standard input. */
async function cli(args: string[], input = ''): Promise<{ code: number; out: string[]; err: string }> {
  const proc = Bun.spawn([process.execPath, join(REPO_ROOT, 'src', 'main.ts'), ...args, '--db', database], {
    env: ENV,
    stdin: new TextEncoder().encode(input),
    stdout: 'pipe',
    stderr: 'pipe',
  })
  const timer = setTimeout(() => proc.kill('SIGKILL'), 20_000)
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited])
  clearTimeout(timer)
  return { code, out: out.trim() === '' ? [] : out.trim().split('\n'), err: err.trim() }
}

const login = (url: string, username: string, secret: string) => request(`${url}/api/v1/login`, { json: { username, secret } })

test('users add reads the password from standard input; --admin makes an admin; the account logs in', async () => {
  const added = await cli(['users', 'add', 'Owner', '--admin'], 'correct horse\n')
  expect(added).toMatchObject({ code: 0, err: '' })
  expect(added.out[0]).toMatch(/^created Owner \(id \d+, admin\)$/)
  expect((await cli(['users', 'add', 'member1'], 'pw-member\n')).out[0]).toMatch(/member\)$/)
  expect((await cli(['users', 'add', 'OWNER'], 'x\n')).code).toBe(1)
  await using server = await startChildServer({ database })
  const res = await login(server.url, 'owner', 'correct horse')
  expect(res.status).toBe(200)
  const me = await request(`${server.url}/api/v1/users/me`, { headers: { Authorization: `Bearer ${res.body.data.token}` } })
  expect(me.body.data).toMatchObject({ username: 'Owner', role: 'admin' })
})

test('a password is never taken from an argument, and a bad command is a usage error (status 2)', async () => {
  expect((await cli(['users', 'add'])).code).toBe(2)
  expect((await cli(['users', 'add', 'a', 'b'])).code).toBe(2)
  expect((await cli(['users', 'frobnicate'])).code).toBe(2)
  expect((await cli(['users', 'add', 'alice', '--password', 'x'])).code).toBe(2)
})

test('users list, set-role, ban and unban on a stopped server; the last admin stays an admin', async () => {
  await cli(['users', 'add', 'boss', '--admin'], 'pw-boss\n')
  await cli(['users', 'add', 'carol'], 'pw-carol\n')
  const list = await cli(['users', 'list'])
  expect(list.out.map((l) => l.split('\t').slice(1, 4))).toEqual([
    ['boss', 'admin', '-'],
    ['carol', 'member', '-'],
  ])
  const demote = await cli(['users', 'set-role', 'boss', 'member'])
  expect(demote.code).toBe(1)
  expect(demote.err).toContain('LAST_ADMIN')
  expect((await cli(['users', 'set-role', 'carol', 'admin'])).code).toBe(0)
  expect((await cli(['users', 'ban', 'carol', '--reason', 'spam'])).code).toBe(0)
  expect((await cli(['users', 'list', '--query', 'CA'])).out.map((l) => l.split('\t').slice(1, 4))).toEqual([['carol', 'admin', 'banned']])
  expect((await cli(['users', 'unban', 'carol'])).code).toBe(0)
  expect((await cli(['users', 'ban', 'nobody'])).err).toContain('USER_NOT_FOUND')
})

test('while the server runs, a ban from the CLI closes the user socket with 4003 within 5 s and stops their login', async () => {
  await cli(['users', 'add', 'boss', '--admin'], 'pw-boss\n')
  await cli(['users', 'add', 'dave'], 'pw-dave\n')
  await using server = await startChildServer({ database })
  const dave = await login(server.url, 'dave', 'pw-dave')
  const socket = await openSocket(`${server.wsUrl}/api/v1/rooms/lobby/messages/ws`, [dave.body.data.token])
  await socket.next('welcome')
  const started = performance.now()
  expect((await cli(['users', 'ban', 'dave'])).code).toBe(0)
  const closed = await socket.closed
  expect(closed.code).toBe(CLOSE.BANNED.code)
  expect(performance.now() - started).toBeLessThan(5000)
  expect((await login(server.url, 'dave', 'pw-dave')).body.error?.type).toBe('USER_BANNED')
})

test('while the server runs, reset-password from the CLI revokes the old token (401) and the new password works', async () => {
  await cli(['users', 'add', 'erin'], 'old-secret\n')
  await using server = await startChildServer({ database })
  const before = await login(server.url, 'erin', 'old-secret')
  expect((await cli(['users', 'reset-password', 'erin'], 'new-secret\n')).code).toBe(0)
  const me = () => request(`${server.url}/api/v1/users/me`, { headers: { Authorization: `Bearer ${before.body.data.token}` } })
  await until(async () => (await me()).status === 401, 5000, 'the old token to be refused')
  expect((await login(server.url, 'erin', 'new-secret')).status).toBe(200)
})

test('invites create, list and revoke; a code lets one person sign up in invite mode', async () => {
  await cli(['users', 'add', 'boss', '--admin'], 'pw-boss\n')
  const created = await cli(['invites', 'create', '--uses', '1', '--expires-in', '7d'])
  expect(created.code).toBe(0)
  const code = created.out[0]!.split('\t')[0]!
  expect((await cli(['invites', 'list'])).out[0]).toStartWith(`${code}\t0/1\t`)
  const spare = (await cli(['invites', 'create'])).out[0]!.split('\t')[0]!
  expect((await cli(['invites', 'revoke', spare])).code).toBe(0)
  expect((await cli(['invites', 'revoke', 'no-such-code'])).code).toBe(1)
  await using server = await startChildServer({ database, env: { REGISTRATION: 'invite' } })
  const signUp = (invite?: string) => request(`${server.url}/api/v1/users`, { json: { username: `u${Math.random()}`.slice(0, 10), secret: 'pw', invite } })
  expect((await signUp(spare)).body.error?.type).toBe('INVITE_INVALID')
  expect((await signUp(code)).status).toBe(201)
  expect((await signUp(code)).body.error?.type).toBe('INVITE_INVALID')
})

test('while the server runs: set-role, unban, invites and list apply at once or within 5 s', async () => {
  await cli(['users', 'add', 'boss', '--admin'], 'pw-boss\n')
  await cli(['users', 'add', 'fay'], 'pw-fay\n')
  await using server = await startChildServer({ database })
  const before = await login(server.url, 'fay', 'pw-fay')
  const me = (token: string) => request(`${server.url}/api/v1/users/me`, { headers: { Authorization: `Bearer ${token}` } })
  expect((await cli(['users', 'set-role', 'fay', 'admin'])).code).toBe(0)
  // A role change revokes the old token; a new login carries the role.
  await until(async () => (await me(before.body.data.token)).status === 401, 5000, 'the old token to be refused')
  const after = await login(server.url, 'fay', 'pw-fay')
  expect((await me(after.body.data.token)).body.data.role).toBe('admin')
  expect((await cli(['users', 'ban', 'fay'])).code).toBe(0)
  await until(async () => (await login(server.url, 'fay', 'pw-fay')).body.error?.type === 'USER_BANNED', 5000, 'the ban to apply')
  expect((await cli(['users', 'unban', 'fay'])).code).toBe(0)
  await until(async () => (await login(server.url, 'fay', 'pw-fay')).status === 200, 5000, 'the unban to apply')
  expect((await cli(['users', 'list'])).out.map((l) => l.split('\t').slice(1, 4))).toEqual([
    ['boss', 'admin', '-'],
    ['fay', 'admin', '-'],
  ])
  const code = (await cli(['invites', 'create'])).out[0]!.split('\t')[0]!
  const admin = await login(server.url, 'boss', 'pw-boss')
  const listed = await request(`${server.url}/api/v1/admin/invites`, { headers: { Authorization: `Bearer ${admin.body.data.token}` } })
  expect(listed.body.data.invites.map((i: { code: string }) => i.code)).toContain(code)
  const audit = await request(`${server.url}/api/v1/admin/audit`, { headers: { Authorization: `Bearer ${admin.body.data.token}` } })
  // CLI actions are audited with no actor.
  expect(audit.body.data.entries.filter((e: { actor: unknown }) => e.actor === null).map((e: { action: string }) => e.action)).toEqual(
    expect.arrayContaining(['user.role', 'user.ban', 'user.unban', 'invite.create']),
  )
})

test('an invitation code that starts with "-" or "--" is an argument, not an option; settings may stand anywhere', async () => {
  await cli(['users', 'add', 'boss', '--admin'], 'pw-boss\n')
  const db = new Database(database)
  db.query("INSERT INTO invites (code, uses, used, created_at) VALUES ('-dash', 1, 0, 0), ('--twice', 1, 0, 0)").run()
  db.close()
  expect(await cli(['invites', 'revoke', '-dash'])).toMatchObject({ code: 0, out: ['revoked -dash'] })
  expect(await cli(['invites', 'revoke', '--twice'])).toMatchObject({ code: 0, out: ['revoked --twice'] })
  // A boolean setting takes no value of its own: the name after it is still the argument.
  expect((await cli(['users', 'ban', '--hide-user-not-found', 'boss'])).err).toContain('LAST_ADMIN')
})
