/** Servers under test as child processes on 127.0.0.1: the product (src/main.ts) and the baseline (bench/baseline.ts). */
import type { Subprocess } from 'bun'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ChatClient, ChatError } from '../packages/client/src/index.ts'

export type Kind = 'product' | 'baseline'

export interface Account {
  id: number
  username: string
  secret: string
  token: string
}

export interface ServerUnderTest {
  kind: Kind
  pid: number
  host: string
  port: number
  url: string
  /** `n` accounts with tokens: the product's through its HTTP API, the baseline's minted with its secret. */
  accounts(n: number): Promise<Account[]>
  /** User + system CPU time of the server process so far, in seconds (from /proc/<pid>/stat). */
  cpuSeconds(): number
  /** Resident set size of the server process, bytes. */
  rssBytes(): number
  stop(): Promise<void>
}

const ROOT = join(import.meta.dir, '..')
const HOST = '127.0.0.1'
const CLOCK_TICKS = 100
const JWT_SECRET = 'bench-secret-0123456789abcdef-0123456789abcdef'

/** Settings that take per-user rate limits and per-address caps out of the way: all load comes from one address. */
export const PRODUCT_BENCH_ENV: Record<string, string> = {
  MESSAGE_RATE: '1000000',
  MESSAGE_BURST: '1000000',
  MAX_CONNECTIONS_PER_ADDRESS: '100000',
  MAX_CONNECTIONS: '100000',
  LOGIN_LIMIT_PER_USER: '1000000',
  LOGIN_LIMIT_PER_ADDRESS: '1000000',
  SIGNUP_LIMIT_PER_ADDRESS: '1000000',
  LOG_LEVEL: 'warn',
}

/** Cheap hashing for scenarios that only need accounts; the login scenario keeps the defaults. */
export const CHEAP_ARGON2_ENV: Record<string, string> = { ARGON2_MEMORY_KIB: '8', ARGON2_ITERATIONS: '1' }

export function readCpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  // Fields after the command name, which is in parentheses and may contain spaces: utime is 14th, stime 15th.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS
}

export function readRssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  const kib = /VmRSS:\s+(\d+) kB/.exec(status)?.[1]
  return Number(kib) * 1024
}

/** With `<variable>=<dir>` set, the child writes a CPU profile (and a Markdown summary) there when it exits. */
export function profileFlags(variable: string): string[] {
  const dir = process.env[variable]
  return dir ? ['--cpu-prof', '--cpu-prof-md', `--cpu-prof-dir=${dir}`, '--cpu-prof-interval=250'] : []
}

async function freePort(): Promise<number> {
  const listener = Bun.listen({ hostname: HOST, port: 0, socket: { data() {} } })
  const port = listener.port
  listener.stop(true)
  return port
}

/**
 * A client (the client SDK) of the server at `url`, with `account`'s session if given, that never
 * refreshes its token by itself: the bench alone decides what the server gets.
 */
export function clientOf(url: string, account?: Account): ChatClient {
  const session = account && { token: account.token, user: { id: account.id, username: account.username } }
  return new ChatClient({ url, session, autoRefresh: false })
}

async function waitHealthy(url: string, proc: Subprocess, timeoutMs: number): Promise<void> {
  const client = clientOf(url)
  const until = performance.now() + timeoutMs
  while (performance.now() < until) {
    if (proc.exitCode !== null) throw new Error(`server exited with ${proc.exitCode} before it was ready`)
    try {
      await client.health()
      return
    } catch {
      // not listening yet
    }
    await Bun.sleep(25)
  }
  throw new Error(`server at ${url} not healthy after ${timeoutMs} ms`)
}

/** An HS256 JWT shaped like the product's (sub, name, iat, exp). */
export function mintToken(user: { id: number; username: string }, secret = JWT_SECRET): string {
  const iat = Math.floor(Date.now() / 1000)
  const head = Buffer.from(JSON.stringify({ alg: 'HS256', typ: 'JWT' })).toString('base64url')
  const body = Buffer.from(JSON.stringify({ name: user.username, sub: String(user.id), iat, exp: iat + 86400 })).toString('base64url')
  const sig = new Bun.CryptoHasher('sha256', secret).update(`${head}.${body}`).digest('base64url')
  return `${head}.${body}.${sig}`
}

/** Runs `fn` over 0..n-1 with at most `concurrency` calls in flight. */
export async function pool<T>(n: number, concurrency: number, fn: (i: number) => Promise<T>): Promise<T[]> {
  const out = new Array<T>(n)
  let next = 0
  const lane = async () => {
    while (next < n) {
      const i = next++
      out[i] = await fn(i)
    }
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, n) }, lane))
  return out
}

/** What `run` resolves to; a ChatError becomes an error that names `what`, the status and the error type. */
export async function step<T>(what: string, run: Promise<T>): Promise<T> {
  try {
    return await run
  } catch (err) {
    throw err instanceof ChatError ? new Error(`${what}: ${err.status} ${err.type}: ${err.message}`, { cause: err }) : err
  }
}

/** Signs up and logs in `user<i>` through the product's API, with the client SDK. */
export async function createAccounts(url: string, n: number, from = 0): Promise<Account[]> {
  return pool(n, 8, async (k) => {
    const username = `user${from + k}`
    const secret = `secret-${from + k}`
    const client = clientOf(url)
    await step(`sign-up of ${username}`, client.signUp(username, secret))
    const session = await step(`login of ${username}`, client.login(username, secret))
    return { id: session.user.id, username, secret, token: session.token }
  })
}

export interface StartOptions {
  /** Extra environment for the product (e.g. CHEAP_ARGON2_ENV). */
  env?: Record<string, string>
  /** The data folder to use and leave in place on stop, so that a second start is a restart on the same data. */
  dir?: string
  /** The port to listen on (several processes share one with REUSE_PORT); a free one by default. */
  port?: number
}

export async function startServer(kind: Kind, opts: StartOptions = {}): Promise<ServerUnderTest> {
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), `chat-bench-${kind}-`))
  const removeDir = () => opts.dir === undefined && rmSync(dir, { recursive: true, force: true })
  const port = opts.port ?? (await freePort())
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? dir,
    HOST,
    PORT: String(port),
    DATABASE: join(dir, 'chat.db'),
    JWT_SECRET,
    ...(kind === 'product' ? PRODUCT_BENCH_ENV : {}),
    ...opts.env,
  }
  const entry = kind === 'product' ? join(ROOT, 'src/main.ts') : join(ROOT, 'bench/baseline.ts')
  const proc = Bun.spawn({
    cmd: [process.execPath, ...profileFlags('BENCH_PROFILE'), entry],
    cwd: ROOT,
    env,
    stdin: 'ignore',
    stdout: 'ignore',
    stderr: 'inherit',
  })
  const url = `http://${HOST}:${port}`
  try {
    await waitHealthy(url, proc, 20_000)
  } catch (err) {
    proc.kill('SIGKILL')
    removeDir()
    throw err
  }
  let made = 0
  return {
    kind,
    pid: proc.pid,
    host: HOST,
    port,
    url,
    async accounts(n) {
      const from = made
      made += n
      if (kind === 'product') return createAccounts(url, n, from)
      return Array.from({ length: n }, (_, k) => {
        const user = { id: from + k + 1, username: `user${from + k}` }
        return { ...user, secret: `secret-${from + k}`, token: mintToken(user) }
      })
    },
    cpuSeconds: () => readCpuSeconds(proc.pid),
    rssBytes: () => readRssBytes(proc.pid),
    async stop() {
      proc.kill('SIGTERM')
      const exited = await Promise.race([proc.exited.then(() => true), Bun.sleep(10_000).then(() => false)])
      if (!exited) {
        proc.kill('SIGKILL')
        await proc.exited
      }
      removeDir()
    },
  }
}
