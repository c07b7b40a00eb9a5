/**
 * The README's `bun run test` on a machine with only Node.js and npm: suites needing Chromium,
 * PostgreSQL or redis-server are skipped with one line naming the package (REQUIRE_SERVICES=1
 * makes that a failure), and a service that fails to start leaves no process and no temp dir.
 * Each case runs Bun in a child process with the services hidden or faked through its environment.
 */
import { afterEach, expect, test } from 'bun:test'
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

const REPO_ROOT = join(import.meta.dir, '..', '..')
const SERVICES = join(import.meta.dir, 'services.ts')
const NEEDS_SERVICES = ['test/cluster/cluster.test.ts', 'test/store/postgres.test.ts', 'test/browser/auth.test.ts']

const dirs: string[] = []
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true })
})

/** A temp dir the other users (postgres, when tests run as root) may read and run things from. */
function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  chmodSync(dir, 0o755)
  dirs.push(dir)
  return dir
}

/** A folder holding only `bun`: a PATH without redis-server, runuser, id or anything else. */
function bunOnlyDir(): string {
  const dir = tempDir('chat-bun-only-')
  symlinkSync(realpathSync(process.execPath), join(dir, 'bun'))
  return dir
}

/** Writes an executable shell script (with its own PATH, since the caller's may hold nothing). */
function writeScript(path: string, body: string): void {
  writeFileSync(path, `#!/bin/sh\nPATH=/usr/bin:/bin\n${body}\n`)
  chmodSync(path, 0o755)
}

/** An environment with none of the three services: PATH holds only bun, the others point at nothing. */
function hiddenServicesEnv(extra: Record<string, string> = {}): Record<string, string> {
  const empty = tempDir('chat-no-postgres-')
  return {
    PATH: bunOnlyDir(),
    HOME: tempDir('chat-home-'),
    TMPDIR: tempDir('chat-tmp-'),
    CHROMIUM_PATH: join(empty, 'chromium'),
    POSTGRES_BIN_ROOT: empty,
    REDIS_SERVER_PATH: join(empty, 'redis-server'),
    ...extra,
  }
}

async function runBun(args: string[], env: Record<string, string>): Promise<{ code: number; output: string }> {
  const proc = Bun.spawn([process.execPath, ...args], { cwd: REPO_ROOT, env, stdout: 'pipe', stderr: 'pipe' })
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited])
  return { code, output: out + err }
}

/** Starts a service in a child Bun with `env` and returns what the start threw (or '' if it did not). */
async function startFailure(start: 'startRedis({ readyMs: 1000 })' | 'startPostgres()', env: Record<string, string>): Promise<string> {
  const script = `const s = await import(process.env.SERVICES_MODULE); try { await (await s.${start})[Symbol.asyncDispose]() } catch (err) { console.log(JSON.stringify(err.message)) }`
  const { code, output } = await runBun(['-e', script], { ...env, SERVICES_MODULE: SERVICES })
  expect({ code, output }).toEqual({ code: 0, output: expect.stringMatching(/^".*"\n$/s) })
  return JSON.parse(output) as string
}

/** Live processes whose command line contains `marker`. */
function processesMentioning(marker: string): number[] {
  return readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .filter((pid) => {
      try {
        return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(marker)
      } catch {
        return false
      }
    })
    .map(Number)
}

test('without Chromium, PostgreSQL or redis-server, their suites are skipped with one line per missing service naming the package', async () => {
  const env = hiddenServicesEnv()
  const { code, output } = await runBun(['test', '--timeout', '30000', ...NEEDS_SERVICES.map((f) => `./${f}`)], env)
  const skipLines = output.split('\n').filter((line) => line.startsWith('skip: '))
  expect(skipLines).toEqual([
    `skip: test/cluster/cluster.test.ts — PostgreSQL not found: no ${env.POSTGRES_BIN_ROOT}/*/bin/initdb (apt-get install postgresql)`,
    `skip: test/cluster/cluster.test.ts — redis-server not found at ${env.REDIS_SERVER_PATH} (apt-get install redis-server)`,
    `skip: test/store/postgres.test.ts — PostgreSQL not found: no ${env.POSTGRES_BIN_ROOT}/*/bin/initdb (apt-get install postgresql)`,
    `skip: test/browser/auth.test.ts — chromium not found at ${env.CHROMIUM_PATH} (apt-get install chromium, or set CHROMIUM_PATH)`,
  ])
  expect(output).not.toContain('(fail)')
  expect(output).not.toContain('(pass)')
  expect(output).toMatch(/^ 0 fail$/m)
  expect(code).toBe(0)
  // Nothing was started, so nothing is left in the temp dir.
  expect(readdirSync(env.TMPDIR!)).toEqual([])
})

test('with REQUIRE_SERVICES=1 a missing service is a failing test that names it and its package', async () => {
  const env = hiddenServicesEnv({ REQUIRE_SERVICES: '1' })
  const { code, output } = await runBun(['test', '--timeout', '30000', './test/cluster/cluster.test.ts', './test/browser/auth.test.ts'], env)
  expect(output).not.toContain('skip: ')
  expect(output).toContain('(fail) postgresql is installed (REQUIRE_SERVICES=1)')
  expect(output).toContain('(fail) redis-server is installed (REQUIRE_SERVICES=1)')
  expect(output).toContain('(fail) chromium is installed (REQUIRE_SERVICES=1)')
  expect(output).toContain(`test/cluster/cluster.test.ts cannot run: redis-server not found at ${env.REDIS_SERVER_PATH} (apt-get install redis-server)`)
  expect(output).toMatch(/^ 3 fail$/m)
  expect(code).not.toBe(0)
})

test('a redis-server that exits at once: startRedis throws its exit code and output, and leaves no temp dir', async () => {
  const fake = tempDir('chat-fake-redis-')
  writeScript(join(fake, 'redis-server'), 'echo "fake redis-server: refusing to start" >&2\nexit 1')
  const env = { PATH: `${fake}:${bunOnlyDir()}`, HOME: tempDir('chat-home-'), TMPDIR: tempDir('chat-tmp-') }
  const message = await startFailure('startRedis({ readyMs: 1000 })', env)
  expect(message).toMatch(new RegExp(`^${fake}/redis-server on 127\\.0\\.0\\.1:\\d+ exited with code 1:\\nfake redis-server: refusing to start$`))
  expect(readdirSync(env.TMPDIR)).toEqual([])
})

test('a redis-server that never accepts connections is killed when its wait runs out, and its temp dir removed', async () => {
  const fake = tempDir('chat-fake-redis-')
  writeScript(join(fake, 'redis-server'), 'echo started\nwhile :; do sleep 0.1; done')
  // The check below sees a running fake by its path (so that finding none means something).
  const probe = Bun.spawn([join(fake, 'redis-server')], { stdout: 'pipe', stderr: 'ignore' })
  try {
    await probe.stdout.getReader().read()
    expect(processesMentioning(fake)).toContain(probe.pid)
  } finally {
    probe.kill('SIGKILL')
    await probe.exited
  }

  const env = { PATH: `${fake}:${bunOnlyDir()}`, HOME: tempDir('chat-home-'), TMPDIR: tempDir('chat-tmp-') }
  const message = await startFailure('startRedis({ readyMs: 1000 })', env)
  expect(message).toMatch(new RegExp(`^${fake}/redis-server on 127\\.0\\.0\\.1:\\d+ did not accept connections within 1000 ms$`))
  expect(processesMentioning(fake)).toEqual([])
  expect(readdirSync(env.TMPDIR)).toEqual([])
})

// As root these run initdb and pg_ctl through runuser, which is in /usr/sbin: the child's PATH has only bun.
test('a PostgreSQL whose initdb fails: startPostgres throws initdb’s output and leaves no temp dir', async () => {
  const root = tempDir('chat-fake-postgres-')
  mkdirSync(join(root, '99', 'bin'), { recursive: true, mode: 0o755 })
  writeScript(join(root, '99', 'bin', 'initdb'), 'echo "fake initdb: no space left" >&2\nexit 1')
  const env = { PATH: bunOnlyDir(), HOME: tempDir('chat-home-'), TMPDIR: tempDir('chat-tmp-'), POSTGRES_BIN_ROOT: root }
  const message = await startFailure('startPostgres()', env)
  expect(message).toContain(`${root}/99/bin/initdb -D `)
  expect(message).toEndWith(' exited 1: fake initdb: no space left')
  expect(readdirSync(env.TMPDIR)).toEqual([])
})

test('a PostgreSQL that fails to start is stopped before its temp dir is removed, and the error keeps its log', async () => {
  const root = tempDir('chat-fake-postgres-')
  const calls = join(tempDir('chat-pg-calls-'), 'calls')
  writeFileSync(calls, '')
  chmodSync(calls, 0o666)
  mkdirSync(join(root, '99', 'bin'), { recursive: true, mode: 0o755 })
  writeScript(join(root, '99', 'bin', 'initdb'), 'exit 0')
  // pg_ctl -D data -l log … start|stop: records the action; a start writes the log and fails.
  writeScript(
    join(root, '99', 'bin', 'pg_ctl'),
    `for last; do :; done\necho "$last $*" >> ${calls}\n[ "$last" = stop ] && exit 0\necho "FATAL: fake postmaster could not bind" > "$4"\necho "pg_ctl: could not start server" >&2\nexit 1`,
  )
  const env = { PATH: bunOnlyDir(), HOME: tempDir('chat-home-'), TMPDIR: tempDir('chat-tmp-'), POSTGRES_BIN_ROOT: root }
  const message = await startFailure('startPostgres()', env)
  expect(message).toContain(' exited 1: pg_ctl: could not start server\nserver log:\nFATAL: fake postmaster could not bind')
  const actions = readFileSync(calls, 'utf8').trim().split('\n')
  expect(actions.map((line) => line.split(' ')[0])).toEqual(['start', 'stop'])
  expect(actions[1]).toContain('-m immediate')
  expect(readdirSync(env.TMPDIR)).toEqual([])
})
