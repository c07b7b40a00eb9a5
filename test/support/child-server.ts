/**
 * The real server as a child process (`bun src/main.ts`), for tests and scripts that need to kill it
 * (SIGKILL mid-write), restart it on the same database, or read its memory from /proc.
 */
import type { Subprocess } from 'bun'
import { readFileSync } from 'node:fs'
import { constants } from 'node:os'
import { join } from 'node:path'

export const REPO_ROOT = join(import.meta.dir, '..', '..')

export interface ChildServer {
  proc: Subprocess<'ignore', 'ignore', 'pipe'>
  pid: number
  /** http://127.0.0.1:port */
  url: string
  /** ws://127.0.0.1:port */
  wsUrl: string
  /** The last log lines (stderr), for failure messages. */
  logs: string[]
  /** Resident set size in bytes (VmRSS from /proc/<pid>/status); 0 once the process is gone. */
  rss(): number
  /** The exit code (or 128 + signal). */
  exited: Promise<number>
  /** SIGTERM (the clean shutdown) and the exit code; SIGKILL if it has not exited after `graceMs`. */
  stop(graceMs?: number): Promise<number>
  [Symbol.asyncDispose](): Promise<void>
}

export interface ChildServerOptions {
  /** The SQLite file (DATABASE). */
  database: string
  /** More settings as environment variables, e.g. `{ MESSAGE_RATE: '100000' }`. */
  env?: Record<string, string>
  /** How long to wait for the `listening` line. */
  startTimeoutMs?: number
}

const LOG_LINES_KEPT = 200

/**
 * Starts `bun src/main.ts` on 127.0.0.1 with PORT=0, cheap argon2 and no sign-up limit unless `env`
 * says otherwise, and resolves once it logs `listening url=…`. Its stderr is read for as long as it
 * runs, so a chatty server never blocks on a full pipe.
 */
export async function startChildServer(opts: ChildServerOptions): Promise<ChildServer> {
  const proc = Bun.spawn([process.execPath, join(REPO_ROOT, 'src', 'main.ts')], {
    cwd: REPO_ROOT,
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '',
      PORT: '0',
      HOST: '127.0.0.1',
      DATABASE: opts.database,
      LOG_LEVEL: 'info',
      LOG_FORMAT: 'text',
      ARGON2_MEMORY_KIB: '64',
      ARGON2_ITERATIONS: '1',
      // Tests and the soak script sign up many users from 127.0.0.1.
      SIGNUP_LIMIT_PER_ADDRESS: '1000000',
      ...opts.env,
    },
    stdin: 'ignore',
    stdout: 'ignore',
    stderr: 'pipe',
  })
  const logs: string[] = []
  const listening = Promise.withResolvers<string>()
  const exited = proc.exited.then((code) => (proc.signalCode === null ? code : 128 + signalNumber(proc.signalCode)))
  void exited.then((code) => listening.reject(new Error(`server exited with ${code} before listening:\n${logs.join('\n')}`)))

  void (async () => {
    const decoder = new TextDecoder()
    const reader = proc.stderr.getReader()
    let partial = ''
    for (;;) {
      const { done, value } = await reader.read()
      if (done) break
      const lines = (partial + decoder.decode(value, { stream: true })).split('\n')
      partial = lines.pop()!
      for (const line of lines) {
        logs.push(line)
        if (logs.length > LOG_LINES_KEPT) logs.shift()
        const m = / listening url=(\S+)/.exec(line)
        if (m) listening.resolve(m[1]!)
      }
    }
  })()

  const timeoutMs = opts.startTimeoutMs ?? 15_000
  const timer = setTimeout(() => listening.reject(new Error(`server did not log "listening" within ${timeoutMs} ms:\n${logs.join('\n')}`)), timeoutMs)
  let url: string
  try {
    url = await listening.promise
  } catch (err) {
    proc.kill('SIGKILL')
    throw err
  } finally {
    clearTimeout(timer)
  }

  const stop = async (graceMs = 10_000) => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM')
    const timer = setTimeout(() => proc.kill('SIGKILL'), graceMs)
    try {
      return await exited
    } finally {
      clearTimeout(timer)
    }
  }
  return {
    proc,
    pid: proc.pid,
    url,
    wsUrl: url.replace(/^http/, 'ws'),
    logs,
    rss: () => readRss(proc.pid),
    exited,
    stop,
    [Symbol.asyncDispose]: async () => {
      await stop()
    },
  }
}

/** VmRSS of `pid` in bytes, 0 when the process is gone. */
export function readRss(pid: number): number {
  let status: string
  try {
    status = readFileSync(`/proc/${pid}/status`, 'utf8')
  } catch {
    return 0
  }
  const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(status)
  return m ? Number(m[1]) * 1024 : 0
}

function signalNumber(signal: number | string): number {
  return typeof signal === 'number' ? signal : (constants.signals[signal as keyof typeof constants.signals] ?? 0)
}
