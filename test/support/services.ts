/**
 * Throwaway PostgreSQL and Redis servers for the cluster tests: each on a free loopback port with
 * its data in a temp dir, started from Debian's binaries (apt: postgresql, redis-server).
 * Tests own them, so they can also stop and restart them to inject faults.
 */
import { mkdtempSync, rmSync, chmodSync, chownSync, existsSync, readdirSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createServer } from 'node:net'

/** A free TCP port on 127.0.0.1. */
export async function freePort(): Promise<number> {
  const srv = createServer()
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r))
  const port = (srv.address() as { port: number }).port
  await new Promise<void>((r) => srv.close(() => r()))
  return port
}

async function run(cmd: string[], opts: { asUser?: string } = {}): Promise<string> {
  const argv = opts.asUser ? ['runuser', '-u', opts.asUser, '--', ...cmd] : cmd
  const proc = Bun.spawn(argv, { stdout: 'pipe', stderr: 'pipe' })
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited])
  if (code !== 0) throw new Error(`${argv.join(' ')} exited ${code}: ${err || out}`)
  return out
}

async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (await check().catch(() => false)) return
    await Bun.sleep(50)
  }
  throw new Error(`${what} did not come up within ${timeoutMs} ms`)
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

export interface Service {
  url: string
  port: number
  stop(): Promise<void>
  start(): Promise<void>
  [Symbol.asyncDispose](): Promise<void>
}

export async function startRedis(): Promise<Service> {
  const dir = mkdtempSync(join(tmpdir(), 'chat-redis-'))
  const port = await freePort()
  let proc: ReturnType<typeof Bun.spawn> | undefined
  const start = async () => {
    proc = Bun.spawn(['redis-server', '--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no'], {
      stdout: 'ignore',
      stderr: 'ignore',
    })
    await waitFor('redis-server', () => canConnect(port))
  }
  const stop = async () => {
    if (!proc) return
    proc.kill('SIGKILL')
    await proc.exited
    proc = undefined
  }
  await start()
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

function pgBin(name: string): string {
  const root = '/usr/lib/postgresql'
  const version = existsSync(root) ? readdirSync(root).sort().at(-1) : undefined
  if (!version) throw new Error('PostgreSQL is not installed (apt-get install postgresql)')
  return join(root, version, 'bin', name)
}

/** A PostgreSQL cluster; as root it runs as the `postgres` system user (initdb refuses root). */
export async function startPostgres(): Promise<Service> {
  const dir = mkdtempSync(join(tmpdir(), 'chat-pg-'))
  const data = join(dir, 'data')
  const port = await freePort()
  const asUser = process.getuid?.() === 0 ? 'postgres' : undefined
  if (asUser) {
    chmodSync(dir, 0o777)
    const pw = await run(['id', '-u', asUser])
    const gid = await run(['id', '-g', asUser])
    chownSync(dir, Number(pw), Number(gid))
  }
  await run([pgBin('initdb'), '-D', data, '-U', 'chat', '--auth=trust', '--no-sync', '-E', 'UTF8'], { asUser })
  const start = async () => {
    await run([pgBin('pg_ctl'), '-D', data, '-l', join(dir, 'log'), '-w', '-o', `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off`, 'start'], {
      asUser,
    })
  }
  const stop = async () => {
    await run([pgBin('pg_ctl'), '-D', data, '-m', 'fast', '-w', 'stop'], { asUser }).catch(() => {})
  }
  await start()
  return {
    url: `postgres://chat@127.0.0.1:${port}/postgres`,
    port,
    start,
    stop,
    async [Symbol.asyncDispose]() {
      await stop()
      rmSync(dir, { recursive: true, force: true })
    },
  }
}
