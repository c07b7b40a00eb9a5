/**
 * `bun src/main.ts` as a child process (spec §3, §4): SIGINT and SIGTERM stop accepting, close every
 * socket with 1001 SHUTDOWN, close the database, and end the process with status 0. A start that
 * cannot succeed ends with one line on stderr naming the setting at fault (status 2 for an invalid
 * value, 1 for a failure to start), never echoing a password, and never hangs (issue 10).
 */
import { afterAll, afterEach, expect, test } from 'bun:test'
import type { Subprocess } from 'bun'
import { existsSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { CLOSE } from '../../src/protocol.ts'
import { startChildServer } from '../support/child-server.ts'
import { register, request } from '../support/http.ts'
import { requireServices } from '../support/require-services.ts'
import { startPostgres, startRedis } from '../support/services.ts'
import { openSocket } from '../support/socket.ts'

const MAIN = resolve(import.meta.dir, '../../src/main.ts')
const folders: string[] = []
const children: Subprocess[] = []

afterEach(() => {
  for (const child of children.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
})

afterAll(() => {
  for (const dir of folders.splice(0)) rmSync(dir, { recursive: true, force: true })
})

/** Only what main needs, on a free port: nothing leaks in from the test runner's environment. */
const ENV = {
  PATH: process.env.PATH ?? '/usr/bin:/bin',
  HOME: tmpdir(),
  PORT: '0',
  HOST: '127.0.0.1',
  LOG_LEVEL: 'info',
  ARGON2_MEMORY_KIB: '1024',
  ARGON2_ITERATIONS: '1',
}

/** A fresh folder for one run, removed after the file. */
function freshDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'chat-main-'))
  folders.push(dir)
  return dir
}

/** Starts `bun src/main.ts` in an empty folder on a free port and waits for its `listening` line. */
async function startMain(env: Record<string, string> = {}) {
  const dir = freshDir()
  const proc = Bun.spawn([process.execPath, MAIN], {
    cwd: dir,
    env: { ...ENV, ...env },
    stdout: 'pipe',
    stderr: 'pipe',
  })
  children.push(proc)
  let text = ''
  const decoder = new TextDecoder()
  const reader = proc.stderr.getReader()
  for (;;) {
    const m = /listening url=(http:\/\/\S+)/.exec(text)
    if (m) {
      // Keep draining stderr so the child never blocks on a full pipe; what it logs stays readable.
      void (async () => {
        for (let read = await reader.read(); !read.done; read = await reader.read()) text += decoder.decode(read.value, { stream: true })
      })()
      return { dir, proc, url: m[1]!, logged: () => text }
    }
    const { done, value } = await reader.read()
    if (done) throw new Error(`bun src/main.ts exited before listening:\n${text}`)
    text += decoder.decode(value, { stream: true })
  }
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  test(`${signal} closes open sockets with 1001 SHUTDOWN and exits with status 0`, async () => {
    const { dir, proc, url } = await startMain()
    expect(existsSync(join(dir, 'data', 'chat.db'))).toBe(true)
    const alice = await register(url, 'alice')
    const socket = await openSocket(`${url.replace('http', 'ws')}/api/v1/rooms/lobby/messages/ws`, [alice.token])
    await socket.next('welcome')
    proc.kill(signal)
    expect(await socket.closed).toEqual(CLOSE.SHUTDOWN)
    expect(await proc.exited).toBe(0)
    expect(proc.signalCode).toBeNull()
    // Stopped listening: a new connection is refused.
    await expect(request(`${url}/healthz`)).rejects.toThrow()
  })
}

test('argon2 settings weaker than every OWASP configuration start with a warning that names them; OWASP settings without', async () => {
  // What each logs up to its answer to a request made after it started (the warning comes right after `listening`).
  const loggedBy = async (started: Awaited<ReturnType<typeof startMain>>) => {
    expect((await request(`${started.url}/healthz`)).status).toBe(200)
    for (const until = performance.now() + 5_000; !started.logged().includes('/healthz') && performance.now() < until;) await Bun.sleep(10)
    started.proc.kill('SIGTERM')
    expect(await started.proc.exited).toBe(0)
    return started.logged()
  }
  expect(await loggedBy(await startMain())).toMatch(/WARN.*below every OWASP argon2id configuration.*memoryKib=1024 iterations=1/)
  expect(await loggedBy(await startMain({ ARGON2_MEMORY_KIB: '12288', ARGON2_ITERATIONS: '3' }))).not.toContain('OWASP')
})

test('SIGINT with no clients exits with status 0', async () => {
  const { proc, url } = await startMain()
  expect((await request(`${url}/healthz`)).status).toBe(200)
  proc.kill('SIGINT')
  expect(await proc.exited).toBe(0)
})

/**
 * Runs `bun src/main.ts` in an empty folder until it exits, killing it after `limitMs` (a start that
 * hangs fails the test instead of the run): its status, its stderr lines, and how long it took.
 */
async function runMain(args: string[], env: Record<string, string> = {}, limitMs = 10_000) {
  const started = performance.now()
  const cwd = freshDir()
  const proc = Bun.spawn([process.execPath, MAIN, ...args], { cwd, env: { ...ENV, ...env }, stdout: 'ignore', stderr: 'pipe' })
  children.push(proc)
  const timer = setTimeout(() => proc.kill('SIGKILL'), limitMs)
  const [stderr, code] = await Promise.all([new Response(proc.stderr).text(), proc.exited])
  clearTimeout(timer)
  return { code, lines: stderr.trimEnd().split('\n'), ms: performance.now() - started, cwd }
}

// Issue 10: with `development: false` Bun 1.4 binds with SO_REUSEPORT unless told not to, so a second
// instance used to start silently on a busy port and take half of the connections.
test('a PORT in use stops start-up with status 1 and one line naming it', async () => {
  const { url } = await startMain()
  const port = new URL(url).port
  const second = await runMain([], { PORT: port })
  expect(second.code).toBe(1)
  expect(second.lines).toHaveLength(1)
  expect(second.lines[0]).toStartWith(`chat-server: PORT ${port} is in use on 127.0.0.1`)
  expect(second.lines[0]).toContain('REUSE_PORT')
  // Refused before the database is opened: nothing was created (nor migrated under another release).
  expect(existsSync(join(second.cwd, 'data'))).toBe(false)
  expect((await request(`${url}/healthz`)).status).toBe(200)
})

// docs/DEPLOY.md: one server per SQLite file (a second one's messages would never reach the first one's readers live).
test('a second server on the same SQLite file stops start-up with status 1 and one line; after the first ends, crashed or not, a start succeeds', async () => {
  const database = join(freshDir(), 'chat.db')
  const first = await startMain({ DATABASE: database })
  const second = await runMain([], { DATABASE: database })
  expect(second.code).toBe(1)
  expect(second.lines).toEqual([
    `chat-server: DATABASE "${database}" is in use: another chat-server holds ${database}-server.lock; one server runs on a SQLite file (for several, use PostgreSQL with REDIS_URL)`,
  ])
  // Another name for the same file is the same file: the lock is named after its real path.
  const link = join(freshDir(), 'link.db')
  symlinkSync(database, link)
  const linked = await runMain([], { DATABASE: link })
  expect(linked.code).toBe(1)
  expect(linked.lines[0]).toStartWith(`chat-server: DATABASE "${link}" is in use: another chat-server holds ${database}-server.lock`)
  expect((await request(`${first.url}/healthz`)).status).toBe(200)
  // The lock is the OS's: a server killed outright leaves nothing that blocks the next start.
  first.proc.kill('SIGKILL')
  await first.proc.exited
  const next = await startMain({ DATABASE: database })
  expect((await request(`${next.url}/healthz`)).status).toBe(200)
})

test('--reuse-port without REDIS_URL is refused with status 2 and one line naming both', async () => {
  const { code, lines } = await runMain(['--reuse-port'])
  expect(code).toBe(2)
  expect(lines).toEqual(['chat-server: --reuse-port needs REDIS_URL (--redis): processes sharing a port must share their rooms through Redis'])
})

test('an unreachable Redis ends start-up within STARTUP_TIMEOUT with status 1 and one line naming REDIS_URL', async () => {
  const { code, lines, ms } = await runMain(['--redis', 'redis://default:s3cret@127.0.0.1:1'], { STARTUP_TIMEOUT: '1' })
  expect(code).toBe(1)
  expect(lines).toEqual(['chat-server: cannot connect to REDIS_URL "redis://default:***@127.0.0.1:1": no answer within 1 s (STARTUP_TIMEOUT)'])
  expect(ms).toBeLessThan(5000)
})

test('an unreachable PostgreSQL ends start-up with status 1 and one line naming DATABASE, its password masked', async () => {
  const { code, lines, ms } = await runMain(['--db', 'postgres://chat:s3cret@127.0.0.1:1/x'], { STARTUP_TIMEOUT: '1' })
  expect(code).toBe(1)
  expect(lines).toHaveLength(1)
  expect(lines[0]).toStartWith('chat-server: cannot connect to DATABASE "postgres://chat:***@127.0.0.1:1/x": no answer within 1 s (STARTUP_TIMEOUT)')
  expect(lines[0]).not.toContain('s3cret')
  expect(ms).toBeLessThan(5000)
})

for (const { name, args, env, line } of [
  {
    name: 'a DATABASE whose folder cannot be made',
    args: ['--db', '/dev/null/chat.db'],
    env: {},
    line: 'chat-server: cannot open DATABASE "/dev/null/chat.db": ',
  },
  { name: 'a DATABASE that cannot be written', args: ['--db', '/sys/chat.db'], env: {}, line: 'chat-server: cannot open DATABASE "/sys/chat.db": ' },
  { name: 'a HOST that does not resolve', args: [], env: { HOST: 'not a host' }, line: 'chat-server: cannot listen on HOST "not a host": ' },
]) {
  test(`${name} stops start-up with status 1 and one line naming the setting and what it accepts`, async () => {
    const { code, lines } = await runMain(args, env)
    expect(code).toBe(1)
    expect(lines).toHaveLength(1)
    expect(lines[0]).toStartWith(line)
    expect(lines[0]).toEndWith(')')
    expect(lines[0]).toContain('(expected ')
  })
}

test('the JWT_SECRET placeholder from the deployment guide is refused with status 2, without printing it', async () => {
  const secret = 'change-me-to-32-or-more-random-bytes'
  const { code, lines } = await runMain([], { JWT_SECRET: secret })
  expect(code).toBe(2)
  expect(lines).toHaveLength(1)
  expect(lines[0]).toStartWith('chat-server: invalid JWT_SECRET: that is a placeholder')
  expect(lines[0]).not.toContain(secret)
})

const postgres = requireServices('postgresql')

postgres.test('the listening line shows a PostgreSQL DATABASE with its password masked', async () => {
  await using pg = await startPostgres()
  // The throwaway server trusts every local connection, so any password gets in.
  const database = pg.url.replace('postgres://chat@', 'postgres://chat:s3cret@')
  await using server = await startChildServer({ database })
  const listening = server.logs.find((line) => line.includes(' listening '))
  expect(listening).toContain(`database=${database.replace(':s3cret@', ':***@')}`)
  expect(server.logs.join('\n')).not.toContain('s3cret')
})

test('--reuse-port with REDIS_URL but a SQLite DATABASE is refused with status 2', async () => {
  const { code, lines } = await runMain(['--reuse-port', '--redis', 'redis://127.0.0.1:1'])
  expect(code).toBe(2)
  expect(lines).toEqual(['chat-server: --reuse-port needs a postgres:// DATABASE: processes sharing a port must share one database'])
})

const cluster = requireServices('redis-server', 'postgresql')

cluster.test(
  'a port is shared only between processes that all ask for REUSE_PORT, with REDIS_URL and PostgreSQL',
  async () => {
    await using service = await startRedis()
    await using pg = await startPostgres()
    const shared = { REUSE_PORT: '1', REDIS_URL: service.url }
    await using first = await startChildServer({ database: pg.url, env: shared })
    const port = new URL(first.url).port
    const unasked = await runMain([], { PORT: port, REDIS_URL: service.url, DATABASE: pg.url })
    expect(unasked.code).toBe(1)
    expect(unasked.lines).toHaveLength(1)
    expect(unasked.lines[0]).toStartWith(`chat-server: PORT ${port} is in use`)
    await using second = await startChildServer({ database: pg.url, env: { ...shared, PORT: port } })
    expect(second.url).toBe(first.url)
    expect((await request(`${first.url}/healthz`)).status).toBe(200)
    // Redis, PostgreSQL and three servers started and stopped: seconds each on a loaded 2-core machine.
  },
  30_000,
)
