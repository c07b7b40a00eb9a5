/**
 * The compiled binary (spec §4): `bun run build` makes dist/chat-server with the migrations inside,
 * so the file alone in an empty folder starts, creates ./data/chat.db, and serves the API. Settings
 * come from the environment and flags, with --help and --version; a bad setting stops it with one
 * line and a non-zero status; SIGTERM ends it with status 0 after a clean shutdown.
 */
import { afterAll, afterEach, beforeAll, expect, test } from 'bun:test'
import type { Subprocess } from 'bun'
import { copyFileSync, existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { Database } from 'bun:sqlite'
import pkg from '../../package.json' with { type: 'json' }
import { openSqliteStore } from '../../src/store/sqlite.ts'
import { addUser } from '../store/contract.ts'
import { request } from '../support/http.ts'
import { openSocket } from '../support/socket.ts'

const ROOT = resolve(import.meta.dir, '../..')
const BUILD_TIMEOUT_MS = 180_000
const TEST_TIMEOUT_MS = 60_000

let binary = ''
const folders: string[] = []
const children: Subprocess[] = []

/** A fresh empty folder holding nothing but a copy of the binary. */
function folderWithBinary(): string {
  const dir = mkdtempSync(join(tmpdir(), 'chat-binary-'))
  folders.push(dir)
  copyFileSync(binary, join(dir, 'chat-server'))
  return dir
}

/** Only what the binary needs: no DATABASE, JWT_SECRET or the like leaking in from the test runner. */
function cleanEnv(extra: Record<string, string> = {}): Record<string, string> {
  return { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: tmpdir(), ...extra }
}

/** Collects a stream as text and resolves waiters when a pattern shows up. */
function watch(stream: ReadableStream<Uint8Array>) {
  let text = ''
  let ended = false
  const waiters: (() => void)[] = []
  const done = (async () => {
    const decoder = new TextDecoder()
    const reader = stream.getReader()
    for (;;) {
      const { done, value } = await reader.read()
      if (done) break
      text += decoder.decode(value, { stream: true })
      for (const w of waiters.splice(0)) w()
    }
    ended = true
    for (const w of waiters.splice(0)) w()
  })()
  return {
    text: () => text,
    /** Resolves when the stream has ended. */
    done,
    /** The first match of `pattern` in the output so far, re-checked as each chunk arrives (no polling); throws if the stream ends without one. */
    async waitForMatch(pattern: RegExp): Promise<RegExpExecArray> {
      for (;;) {
        const m = pattern.exec(text)
        if (m) return m
        if (ended) throw new Error(`stream ended without ${pattern}:\n${text}`)
        await new Promise<void>((r) => waiters.push(r))
      }
    },
  }
}

/** Starts the binary in `dir` on a free port and waits for its `listening` log line. */
async function startBinary(dir: string, env: Record<string, string> = {}, args: string[] = []) {
  const proc = Bun.spawn([join(dir, 'chat-server'), ...args], {
    cwd: dir,
    env: cleanEnv({ PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'info', ARGON2_MEMORY_KIB: '1024', ARGON2_ITERATIONS: '1', ...env }),
    stdout: 'pipe',
    stderr: 'pipe',
  })
  children.push(proc)
  const stderr = watch(proc.stderr)
  const listening = await Promise.race([
    stderr.waitForMatch(/listening url=(http:\/\/\S+)/),
    proc.exited.then(async (code) => {
      await stderr.done
      throw new Error(`binary exited with ${code} before listening:\n${stderr.text()}`)
    }),
  ])
  return { proc, url: listening[1]!, stderr }
}

/** Runs the binary to completion with `args`. */
async function runBinary(dir: string, args: string[]) {
  const proc = Bun.spawn([join(dir, 'chat-server'), ...args], { cwd: dir, env: cleanEnv(), stdout: 'pipe', stderr: 'pipe' })
  children.push(proc)
  const [code, stdout, stderr] = await Promise.all([proc.exited, new Response(proc.stdout).text(), new Response(proc.stderr).text()])
  return { code, stdout, stderr }
}

beforeAll(async () => {
  const build = Bun.spawn([process.execPath, 'run', 'build'], { cwd: ROOT, stdout: 'pipe', stderr: 'pipe', env: { ...process.env } })
  const [code, stdout, stderr] = await Promise.all([build.exited, new Response(build.stdout).text(), new Response(build.stderr).text()])
  if (code !== 0) throw new Error(`bun run build failed with ${code}:\n${stdout}\n${stderr}`)
  // Copy it out at once: the build output is shared with anyone else building in this checkout.
  const dir = mkdtempSync(join(tmpdir(), 'chat-build-'))
  folders.push(dir)
  binary = join(dir, 'chat-server.original')
  copyFileSync(join(ROOT, 'dist/chat-server'), binary)
}, BUILD_TIMEOUT_MS)

afterEach(() => {
  for (const child of children.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
})

afterAll(() => {
  for (const dir of folders.splice(0)) rmSync(dir, { recursive: true, force: true })
})

test(
  'the binary alone in an empty folder serves healthz, sign-up, login and /users/me, with its database in ./data',
  async () => {
    const dir = folderWithBinary()
    const { proc, url, stderr } = await startBinary(dir, { LOG_LEVEL: 'debug' })
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)

    expect((await request(`${url}/healthz`)).body).toEqual({ error: null, data: { status: 'ok' } })
    expect(existsSync(join(dir, 'data', 'chat.db'))).toBe(true)

    const secret = 'binary-secret-\u00e9-1234'
    const created = await request(`${url}/api/v1/users`, { json: { username: 'Alice', secret } })
    expect(created.status).toBe(201)
    expect(created.body).toEqual({ error: null, data: { id: expect.any(Number), username: 'Alice' } })
    const login = await request(`${url}/api/v1/login`, { json: { username: 'alice', secret } })
    expect(login.status).toBe(200)
    expect(login.body).toEqual({ error: null, data: { token: expect.any(String), user: created.body.data } })
    const me = await request(`${url}/api/v1/users/me`, { headers: { Authorization: `Bearer ${login.body.data.token}` } })
    expect(me.status).toBe(200)
    expect(me.body).toEqual({ error: null, data: { ...created.body.data, role: 'admin' } })

    // Every migration is inside, the rooms table included: a message puts its room in the list.
    const socket = await openSocket(`${url.replace('http', 'ws')}/api/v1/rooms/lobby/messages/ws`, [login.body.data.token])
    await socket.next('welcome')
    socket.send({ type: 'message', text: 'hello from the binary' })
    const posted = (await socket.next('message')).data
    const rooms = await request(`${url}/api/v1/rooms`)
    expect(rooms.body).toEqual({ error: null, data: { rooms: [{ name: 'lobby', members: 1, lastMessageId: posted.id }], next: null } })
    socket.close()
    await socket.closed

    // The API description and its renderer are inside the binary too (no CDN, nothing read from disk).
    expect((await request(`${url}/api/v1/openapi.json`)).body.openapi).toBe('3.1.0')
    for (const file of ['', '/swagger-ui-bundle.js', '/swagger-ui.css', '/init.js']) {
      const res = await fetch(`${url}/api/docs${file}`)
      expect(res.status).toBe(200)
      expect((await res.text()).length).toBeGreaterThan(100)
    }

    proc.kill('SIGTERM')
    expect(await proc.exited).toBe(0)
    // spec §2: the plain secret is never logged; nor is the token.
    expect(stderr.text()).toContain('http')
    expect(stderr.text()).not.toContain(secret)
    expect(stderr.text()).not.toContain(login.body.data.token)
  },
  TEST_TIMEOUT_MS,
)

test(
  'the binary merges the search index on its worker thread after a quiet spell (SEARCH_MERGE_QUIET), and searches find the same',
  async () => {
    const dir = folderWithBinary()
    const file = join(dir, 'data', 'chat.db')
    // A database whose index is in many segments: messages indexed in several steps, never merged.
    const store = openSqliteStore(file, { searchMergeQuietMs: 0 })
    const alice = await addUser(store, 'alice')
    for (let chunk = 0; chunk < 6; chunk++) {
      const texts = Array.from({ length: 250 }, (_, i) => `chunk ${chunk} note ${i}${i === 7 ? ' needle' : ''}`)
      await Promise.all(texts.map((text) => store.insertMessage({ room: 'lobby', user: alice, text, nonce: undefined, mentions: [], createdAt: Date.now() })))
      await store.searchMessages({ q: 'needle', userId: null, limit: 1 })
    }
    await store.close()
    const segments = () => {
      const db = new Database(file, { readonly: true })
      try {
        return db.query<{ n: number }, []>('SELECT count(DISTINCT segid) AS n FROM messages_public_fts_idx').get()!.n
      } finally {
        db.close()
      }
    }
    expect(segments()).toBeGreaterThan(1)

    const { proc, url, stderr } = await startBinary(dir, { SEARCH_MERGE_QUIET: '1' })
    await stderr.waitForMatch(/search index merged ms=\d+/)
    expect(segments()).toBe(1)
    const found = await request(`${url}/api/v1/search?q=needle&limit=50`)
    expect(found.status).toBe(200)
    expect(found.body.data.messages.map((m: { text: string }) => m.text)).toEqual([5, 4, 3, 2, 1, 0].map((c) => `chunk ${c} note 7 needle`))
    proc.kill('SIGTERM')
    expect(await proc.exited).toBe(0)
    expect(stderr.text()).not.toContain('merge failed')
  },
  TEST_TIMEOUT_MS,
)

test(
  'SIGTERM ends the binary with status 0, and a restart in the same folder keeps users and tokens',
  async () => {
    const dir = folderWithBinary()
    const first = await startBinary(dir)
    const created = await request(`${first.url}/api/v1/users`, { json: { username: 'bob', secret: 'pw' } })
    const token: string = (await request(`${first.url}/api/v1/login`, { json: { username: 'bob', secret: 'pw' } })).body.data.token
    first.proc.kill('SIGTERM')
    expect(await first.proc.exited).toBe(0)
    expect(first.proc.signalCode).toBeNull()
    await first.stderr.waitForMatch(/shutting down/)
    // The clean shutdown folds the WAL back into the database file.
    expect(existsSync(join(dir, 'data', 'chat.db-wal'))).toBe(false)

    const second = await startBinary(dir)
    const me = await request(`${second.url}/api/v1/users/me`, { headers: { Authorization: `Bearer ${token}` } })
    expect(me.body).toEqual({ error: null, data: { ...created.body.data, role: 'admin' } })
    expect((await request(`${second.url}/api/v1/login`, { json: { username: 'bob', secret: 'pw' } })).status).toBe(200)
    second.proc.kill('SIGINT')
    expect(await second.proc.exited).toBe(0)
  },
  TEST_TIMEOUT_MS,
)

test(
  'the binary reads DATABASE from the environment, and a flag wins over its variable',
  async () => {
    const dir = folderWithBinary()
    // PORT=abc alone would stop it; --port 0 overrides it.
    const { proc, url } = await startBinary(dir, { DATABASE: 'elsewhere/custom.db', PORT: 'abc' }, ['--port', '0'])
    expect((await request(`${url}/healthz`)).status).toBe(200)
    expect(existsSync(join(dir, 'elsewhere', 'custom.db'))).toBe(true)
    expect(existsSync(join(dir, 'data'))).toBe(false)
    proc.kill('SIGTERM')
    expect(await proc.exited).toBe(0)
  },
  TEST_TIMEOUT_MS,
)

test(
  '--version prints the package.json version',
  async () => {
    const dir = folderWithBinary()
    const { code, stdout } = await runBinary(dir, ['--version'])
    expect({ code, stdout }).toEqual({ code: 0, stdout: `${pkg.version}\n` })
    expect(existsSync(join(dir, 'data'))).toBe(false)
  },
  TEST_TIMEOUT_MS,
)

test(
  '--help lists the settings, PORT among them, and exits 0',
  async () => {
    const dir = folderWithBinary()
    const { code, stdout } = await runBinary(dir, ['--help'])
    expect(code).toBe(0)
    for (const word of ['PORT', '--port', 'DATABASE', '--db', 'JWT_SECRET', 'HIDE_USER_NOT_FOUND', '--help', '--version']) expect(stdout).toContain(word)
    expect(existsSync(join(dir, 'data'))).toBe(false)
  },
  TEST_TIMEOUT_MS,
)

test(
  'an invalid setting exits non-zero with one line on stderr naming it, and no stack trace',
  async () => {
    const dir = folderWithBinary()
    for (const args of [['--port', 'abc'], ['--token-ttl', '1w'], ['--no-such-flag']]) {
      const { code, stdout, stderr } = await runBinary(dir, args)
      expect(code).not.toBe(0)
      expect(stdout).toBe('')
      const lines = stderr.trimEnd().split('\n')
      expect(lines).toHaveLength(1)
      expect(lines[0]).toContain(args[0]!)
      expect(stderr).not.toMatch(/^\s+at\s/m)
      expect(stderr).not.toMatch(/Error:|\.ts:\d+/)
    }
    expect(existsSync(join(dir, 'data'))).toBe(false)
  },
  TEST_TIMEOUT_MS,
)

test(
  'the binary backs up its running database, refuses to restore over it while it runs, and restores it once stopped',
  async () => {
    const dir = folderWithBinary()
    const first = await startBinary(dir)
    expect((await request(`${first.url}/api/v1/users`, { json: { username: 'kept', secret: 'pw' } })).status).toBe(201)
    const backup = await runBinary(dir, ['backup', 'backups/chat.db'])
    expect(backup).toMatchObject({ code: 0, stderr: '' })
    expect((await request(`${first.url}/api/v1/users`, { json: { username: 'later', secret: 'pw' } })).status).toBe(201)
    const refused = await runBinary(dir, ['restore', 'backups/chat.db'])
    expect(refused).toEqual({
      code: 1,
      stdout: '',
      stderr: 'chat-server: ./data/chat.db is in use by a running server or another chat-server command: stop it first\n',
    })
    first.proc.kill('SIGTERM')
    expect(await first.proc.exited).toBe(0)
    expect((await runBinary(dir, ['restore', 'backups/chat.db'])).code).toBe(0)
    const second = await startBinary(dir)
    expect((await request(`${second.url}/api/v1/login`, { json: { username: 'kept', secret: 'pw' } })).status).toBe(200)
    expect((await request(`${second.url}/api/v1/login`, { json: { username: 'later', secret: 'pw' } })).body.error.type).toBe('USER_NOT_FOUND')
    second.proc.kill('SIGTERM')
    expect(await second.proc.exited).toBe(0)
  },
  TEST_TIMEOUT_MS,
)
