/**
 * Throwaway PostgreSQL and Redis servers for the cluster tests: each on a free loopback port with
 * its data in a temp dir, started from Debian's binaries (apt: postgresql, redis-server).
 * Tests own them, so they can also stop and restart them to inject faults. A first start that
 * fails leaves nothing behind: what it spawned is stopped and its temp dir removed before it throws.
 */
import { mkdtempSync, mkdirSync, rmSync, chmodSync, chownSync, existsSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createServer } from 'node:net'
import { findPostgresBin, findRedisServer, missingReason, requireProgram } from './require-services.ts'

/** How long a service gets to accept connections before its start counts as failed. */
const READY_MS = 15_000

/** A free TCP port on 127.0.0.1. */
export async function freePort(): Promise<number> {
  const srv = createServer()
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r))
  const port = (srv.address() as { port: number }).port
  await new Promise<void>((r) => srv.close(() => r()))
  return port
}

/** Runs `cmd` to completion (as `asUser` through runuser, found even when PATH lacks /usr/sbin); its stdout. */
async function run(cmd: string[], opts: { asUser?: string } = {}): Promise<string> {
  const argv = opts.asUser ? [requireProgram('runuser', 'util-linux'), '-u', opts.asUser, '--', ...cmd] : cmd
  const proc = Bun.spawn(argv, { stdout: 'pipe', stderr: 'pipe' })
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited])
  if (code !== 0) throw new Error(`${argv.join(' ')} exited ${code}: ${(err || out).trim()}`)
  return out
}

async function canConnect(port: number): Promise<boolean> {
  try {
    const socket = await Bun.connect({ hostname: '127.0.0.1', port, socket: { data() {} } })
    socket.end()
    return true
  } catch {
    return false
  }
}

/** The last lines of a log file, for an error message; empty if there is none. */
function logTail(path: string, lines = 20): string {
  return existsSync(path) ? readFileSync(path, 'utf8').trimEnd().split('\n').slice(-lines).join('\n') : ''
}

export interface Service {
  url: string
  port: number
  /** The server's log (PostgreSQL's, where auto_explain writes: test/support/query-plans.ts). */
  logFile?: string
  /** PostgreSQL's data folder (the bench reads it into the OS page cache before measuring). */
  dataDir?: string
  stop(): Promise<void>
  start(): Promise<void>
  [Symbol.asyncDispose](): Promise<void>
}

/**
 * A redis-server on a free port, without persistence. If it exits or does not accept connections
 * within `readyMs`, it is killed, its dir removed, and the error says why (with its own output).
 */
export async function startRedis(opts: { readyMs?: number } = {}): Promise<Service> {
  const bin = findRedisServer()
  if (!bin) throw new Error(missingReason('redis-server'))
  const readyMs = opts.readyMs ?? READY_MS
  const port = await freePort()
  const dir = mkdtempSync(join(tmpdir(), 'chat-redis-'))
  let proc: ReturnType<typeof Bun.spawn> | undefined
  const start = async () => {
    const log = join(dir, 'redis.log')
    const spawned = Bun.spawn([bin, '--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no', '--logfile', log], {
      stdout: 'ignore',
      stderr: 'pipe',
    })
    const stderr = new Response(spawned.stderr).text()
    let exitCode: number | undefined
    void spawned.exited.then((code) => (exitCode = code))
    const deadline = Date.now() + readyMs
    // One that exited has failed, even if something else answers on its port.
    while (exitCode !== undefined || !(await canConnect(port))) {
      if (exitCode !== undefined || Date.now() > deadline) {
        const why = exitCode !== undefined ? `exited with code ${exitCode}` : `did not accept connections within ${readyMs} ms`
        spawned.kill('SIGKILL')
        await spawned.exited
        const output = [(await stderr).trim(), logTail(log)].filter(Boolean).join('\n')
        throw new Error(`${bin} on 127.0.0.1:${port} ${why}${output ? `:\n${output}` : ''}`)
      }
      await Bun.sleep(50)
    }
    proc = spawned
  }
  const stop = async () => {
    if (!proc) return
    proc.kill('SIGKILL')
    await proc.exited
    proc = undefined
  }
  try {
    await start()
  } catch (err) {
    rmSync(dir, { recursive: true, force: true })
    throw err
  }
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    start,
    stop,
    async [Symbol.asyncDispose]() {
      await stop()
      rmSync(dir, { recursive: true, force: true })
    },
  }
}

/**
 * A PostgreSQL cluster; as root it runs as the `postgres` system user (initdb refuses root). If
 * initdb or the first start fails, the server is stopped, the dir removed, and the error keeps the
 * server's log.
 *
 * With `dir`, the cluster lives there (`data`, `log`) and outlives the Service: one that dir already
 * holds is started as it is (bench/growth.ts keeps a generated database so between runs), a new one is
 * made there, and disposing of the Service stops the server without removing anything. `settings` are
 * server settings given at start (`-c name=value`), as an operator's postgresql.conf would hold them.
 */
export async function startPostgres(opts: { dir?: string; settings?: Record<string, string> } = {}): Promise<Service> {
  const bin = findPostgresBin()
  if (!bin) throw new Error(missingReason('postgresql'))
  const port = await freePort()
  const kept = opts.dir !== undefined
  if (kept) mkdirSync(opts.dir!, { recursive: true })
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'chat-pg-'))
  const data = join(dir, 'data')
  const log = join(dir, 'log')
  const initialised = existsSync(join(data, 'PG_VERSION'))
  const asUser = process.getuid?.() === 0 ? 'postgres' : undefined
  const settings = Object.entries(opts.settings ?? {})
    .map(([name, value]) => ` -c ${name}=${value}`)
    .join('')
  const start = async () => {
    await run([join(bin, 'pg_ctl'), '-D', data, '-l', log, '-w', '-o', `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off${settings}`, 'start'], {
      asUser,
    })
  }
  const stop = async (mode: 'fast' | 'immediate' = 'fast') => {
    await run([join(bin, 'pg_ctl'), '-D', data, '-m', mode, '-w', 'stop'], { asUser }).catch(() => {})
  }
  try {
    if (asUser) {
      chmodSync(dir, 0o777)
      const id = requireProgram('id', 'coreutils')
      const [uid, gid] = await Promise.all([run([id, '-u', asUser]), run([id, '-g', asUser])])
      chownSync(dir, Number(uid), Number(gid))
    }
    if (!initialised) await run([join(bin, 'initdb'), '-D', data, '-U', 'chat', '--auth=trust', '--no-sync', '-E', 'UTF8'], { asUser })
    try {
      await start()
    } catch (err) {
      // pg_ctl can give up waiting while the postmaster is still coming up: stop it before removing its dir.
      await stop('immediate')
      const tail = logTail(log)
      throw new Error(`${(err as Error).message}${tail ? `\nserver log:\n${tail}` : ''}`, { cause: err })
    }
  } catch (err) {
    if (!kept) rmSync(dir, { recursive: true, force: true })
    throw err
  }
  return {
    url: `postgres://chat@127.0.0.1:${port}/postgres`,
    port,
    logFile: log,
    dataDir: data,
    start,
    stop: () => stop(),
    async [Symbol.asyncDispose]() {
      await stop()
      if (!kept) rmSync(dir, { recursive: true, force: true })
    },
  }
}
