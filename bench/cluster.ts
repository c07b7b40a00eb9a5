/**
 * Cluster scenario (spec §4, issue 16 item 3): what several instances on PostgreSQL + Redis cost and
 * sustain, beside one instance alone. PostgreSQL and Redis are throwaway servers on loopback
 * (test/support/services.ts), started once for the whole scenario and always stopped at the end;
 * every setup gets fresh instances on a fresh database and an empty Redis. Four setups:
 *
 * - `sqlite`: one instance on a SQLite file (the default deployment; no PostgreSQL, no Redis);
 * - `one`: one instance on PostgreSQL, no Redis;
 * - `two`: two instances on the same PostgreSQL + Redis, each on its own port;
 * - `reuse-port`: two processes sharing one port (`REUSE_PORT=1`, one per core of this machine) on
 *   PostgreSQL + Redis; the kernel deals the connections between them.
 *
 * Three groups of loads, each on its own fresh instances, setups in a rotating order every round:
 *
 * 1. `fanout` and `fixed-rate` on `sqlite`, `one`, `two`: one room, subscribers split evenly over the
 *    instances and publishers on every instance, so in `two` half of all deliveries cross the Redis
 *    hop. Besides the instances' own CPU, the CPU of every process of the services (the postmaster and
 *    every backend, redis-server) is read from /proc before and after the measured window, so that the
 *    cluster's whole server CPU per delivery can be set against one instance on SQLite.
 * 2. `room-ramp` on `one`, `two`: one room at a rising offered rate (open loop), a few seconds a
 *    step; a step holds when nothing is lost, repeated or reordered, p99 stays under a bound and the
 *    room took ≥ `minShare` of the offered rate. The ramp stops at the first step that does not hold.
 * 3. `many-rooms` on `sqlite`, `one`, `reuse-port`: the main many-rooms load (bench/scenarios.ts),
 *    rooms of a few logged-in users, one publisher per room keeping `window` in flight.
 *
 * Every socket must receive every message of its room exactly once and in id order (bench/worker.ts
 * counts per socket and flags an id at or below the one before); anything else fails the run.
 */
import { RedisClient, SQL } from 'bun'
import { appendFileSync, readdirSync, readFileSync, readlinkSync } from 'node:fs'
import { join } from 'node:path'
import { freePort, startPostgres, startRedis, type Service } from '../test/support/services.ts'
import type { Generators } from './generators.ts'
import { latencyQuantile, type RunMode, type SocketSpec } from './protocol.ts'
import { loadNow, runLine, updateDocBlock, writePerformanceSvg, type Row, median } from './report.ts'
import { deliveryMetrics, FULL, isLossless, latencyMetrics, measure, open, SMOKE, type Integrity, type Measured, type Outcome } from './scenarios.ts'
import { CHEAP_ARGON2_ENV, startServer, type ServerUnderTest } from './servers.ts'

export interface ClusterSizes {
  fanout: { subscribers: number; publishers: number; window: number; durationMs: number; warmupMs: number }
  /** `publishersPerWorker` publishers on each generator, dealt over the instances (latency is taken within one generator). */
  fixedRate: { subscribers: number; perSecond: number; publishersPerWorker: number; durationMs: number; warmupMs: number }
  /**
   * One room at rising rates: `subscribers` read-only sockets (all tracked) and `publishersPerWorker`
   * publishers per generator, both dealt over the instances; `steps` offered messages/s, `stepMs` each.
   */
  ramp: { subscribers: number; publishersPerWorker: number; steps: number[]; stepMs: number; warmupMs: number; p99LimitMs: number; minShare: number }
  manyRooms: { rooms: number; members: number; window: number; durationMs: number; warmupMs: number }
}

export const CLUSTER_FULL: ClusterSizes = {
  fanout: { subscribers: 1000, publishers: 10, window: 8, durationMs: 8000, warmupMs: 1500 },
  fixedRate: { subscribers: 1000, perSecond: 50, publishersPerWorker: 2, durationMs: 10_000, warmupMs: 1500 },
  ramp: {
    subscribers: 10,
    publishersPerWorker: 2,
    steps: [1000, 2000, 3000, 5000, 8000, 12_000],
    stepMs: 3000,
    warmupMs: 1000,
    p99LimitMs: 100,
    minShare: 0.95,
  },
  // The main table's many-rooms load, so that its figures read alike.
  manyRooms: FULL.manyRooms,
}

export const CLUSTER_SMOKE: ClusterSizes = {
  fanout: { subscribers: 200, publishers: 4, window: 4, durationMs: 1000, warmupMs: 300 },
  fixedRate: { subscribers: 200, perSecond: 50, publishersPerWorker: 2, durationMs: 1000, warmupMs: 300 },
  // Smoke checks that nothing is lost or reordered; the bounds are loose, as the machine is shared.
  ramp: { subscribers: 6, publishersPerWorker: 2, steps: [500, 1000], stepMs: 1000, warmupMs: 300, p99LimitMs: 250, minShare: 0.8 },
  manyRooms: { ...SMOKE.manyRooms, durationMs: 1000 },
}

/** Issue 16: the cluster's whole server CPU per delivery ÷ one instance on SQLite, and the messages/s one room sustains in a cluster. */
export const CLUSTER_TARGETS = { cpuPerDelivery: 1.5, roomPerSecond: 5000 }

export type Setup = 'sqlite' | 'one' | 'two' | 'reuse-port'
export const SETUPS: Record<Setup, { instances: number; postgres: boolean; redis: boolean; reusePort: boolean; name: string }> = {
  sqlite: { instances: 1, postgres: false, redis: false, reusePort: false, name: 'one instance, SQLite' },
  one: { instances: 1, postgres: true, redis: false, reusePort: false, name: 'one instance, PostgreSQL' },
  two: { instances: 2, postgres: true, redis: true, reusePort: false, name: 'two instances, PostgreSQL + Redis' },
  'reuse-port': { instances: 2, postgres: true, redis: true, reusePort: true, name: 'two processes on one port (REUSE_PORT), PostgreSQL + Redis' },
}

export type ClusterLoad = 'fanout' | 'fixed-rate' | 'room-ramp' | 'many-rooms'

/** Loads that share a set of instances, and the setups they run on. */
const GROUPS: { loads: ClusterLoad[]; setups: Setup[] }[] = [
  { loads: ['fanout', 'fixed-rate'], setups: ['sqlite', 'one', 'two'] },
  { loads: ['room-ramp'], setups: ['one', 'two'] },
  { loads: ['many-rooms'], setups: ['sqlite', 'one', 'reuse-port'] },
]

/** One offered rate of the room ramp. */
export interface RampStep {
  perSecond: number
  messagesPerSec: number
  p50Ms: number
  p99Ms: number
  /** Every process of the setup (instances, PostgreSQL, Redis) together, % of one core. */
  totalCpuPercent: number
  totalCpuUsPerMessage: number
  /** The chat instances', PostgreSQL's and Redis's parts of it. */
  instancesCpuUsPerMessage: number
  postgresCpuUsPerMessage: number
  redisCpuUsPerMessage: number
  generatorCpuPercent: number
  /** CPU pressure of the machine over the last 10 s when the step ended (cpuPressure). */
  cpuPressure: number
  outOfOrder: number
  mismatchedSockets: number
  lossless: boolean
  /** Lossless and in order, and the room took its share of the offered rate (whatever the latency). */
  carried: boolean
  /** Carried, with p99 under the bound. */
  held: boolean
  integrity: Integrity
}

export interface ClusterRecord {
  load: ClusterLoad
  setup: Setup
  round: number
  outcome: Outcome | undefined
  error: string | undefined
  /** The room ramp's steps, in order, up to the first that did not hold. */
  steps?: RampStep[]
}

const CLOCK_TICKS = 100

/** The i-th of `n` near-equal shares of `total`. */
const share = (total: number, n: number, i: number) => Math.floor((total * (i + 1)) / n) - Math.floor((total * i) / n)

const errorText = (err: unknown) => (err instanceof Error ? (err.stack ?? err.message) : String(err))

/** utime, stime, cutime, cstime (clock ticks) and the parent pid of a process; undefined once it is gone. */
function procStat(pid: number | string): { ppid: number; self: number; children: number } | undefined {
  let stat: string
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  } catch {
    return undefined
  }
  // After the parenthesised command: state(0) ppid(1) … utime(11) stime(12) cutime(13) cstime(14).
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return { ppid: Number(f[1]), self: Number(f[11]) + Number(f[12]), children: Number(f[13]) + Number(f[14]) }
}

/**
 * CPU seconds of a process and of its children: the live ones (all their threads), plus those it
 * already reaped (PostgreSQL's backends of closed connections, counted in its cutime/cstime).
 */
function treeCpuSeconds(pid: number): number {
  const root = procStat(pid)
  if (!root) return NaN
  let ticks = root.self + root.children
  for (const entry of readdirSync('/proc')) {
    if (entry.charCodeAt(0) < 0x30 || entry.charCodeAt(0) > 0x39) continue
    const s = procStat(entry)
    if (s && s.ppid === pid) ticks += s.self
  }
  return ticks / CLOCK_TICKS
}

/**
 * The machine's CPU pressure (Linux PSI, /proc/pressure/cpu): the share of the last `window` seconds
 * in which some runnable task waited for a CPU, %; NaN where the kernel does not report it.
 */
export function cpuPressure(window: 10 | 60 = 60): number {
  try {
    return Number(new RegExp(`^some .*avg${window}=([\\d.]+)`, 'm').exec(readFileSync('/proc/pressure/cpu', 'utf8'))?.[1] ?? NaN)
  } catch {
    return NaN
  }
}

/** Socket descriptors a process holds (for how REUSE_PORT dealt the connections). */
function socketCount(pid: number): number {
  let n = 0
  try {
    for (const fd of readdirSync(`/proc/${pid}/fd`)) {
      try {
        if (readlinkSync(`/proc/${pid}/fd/${fd}`).startsWith('socket:')) n++
      } catch {
        // closed meanwhile
      }
    }
  } catch {
    return NaN
  }
  return n
}

/** Whether `pid` holds a TCP socket listening on `port` (its socket inodes against /proc/net/tcp's LISTEN rows). */
function listensOn(pid: number, port: number): boolean {
  const inodes = new Set<string>()
  try {
    for (const fd of readdirSync(`/proc/${pid}/fd`)) {
      try {
        const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`))
        if (m) inodes.add(m[1]!)
      } catch {
        // closed meanwhile
      }
    }
  } catch {
    return false
  }
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0')
  for (const line of readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1)) {
    const f = line.trim().split(/\s+/)
    // local_address(1) is ADDR:PORT in hex, st(3) 0A is LISTEN, inode(9).
    if (f.length > 9 && f[3] === '0A' && f[1]!.endsWith(`:${hexPort}`) && inodes.has(f[9]!)) return true
  }
  return false
}

interface ClusterServices {
  pg: Service
  redis: Service
  /** A new, empty database on the PostgreSQL server; its URL. */
  freshDatabase(): Promise<string>
  /** Empties Redis (presence, instance heartbeats, rate-limit buckets of the previous setup). */
  flushRedis(): Promise<void>
  /** CPU seconds so far of PostgreSQL (postmaster and backends) and of Redis. */
  cpuSeconds(): { postgres: number; redis: number }
  stop(): Promise<void>
}

async function startServices(): Promise<ClusterServices> {
  const [pgStarted, redisStarted] = await Promise.allSettled([startPostgres(), startRedis()])
  if (pgStarted.status === 'rejected' || redisStarted.status === 'rejected') {
    if (pgStarted.status === 'fulfilled') await pgStarted.value[Symbol.asyncDispose]().catch(() => {})
    if (redisStarted.status === 'fulfilled') await redisStarted.value[Symbol.asyncDispose]().catch(() => {})
    throw pgStarted.status === 'rejected' ? pgStarted.reason : (redisStarted as PromiseRejectedResult).reason
  }
  const pg = pgStarted.value
  const redis = redisStarted.value
  let stopped: Promise<void> | undefined
  const stop = () =>
    (stopped ??= Promise.allSettled([pg[Symbol.asyncDispose](), redis[Symbol.asyncDispose]()]).then((results) => {
      for (const r of results) if (r.status === 'rejected') console.error(`bench cluster: stopping a service failed: ${String(r.reason)}`)
    }))
  try {
    const admin = new SQL(pg.url, { max: 1 })
    let dataDir: string
    try {
      const [row] = (await admin`SHOW data_directory`) as { data_directory: string }[]
      dataDir = row!.data_directory
    } finally {
      await admin.close()
    }
    const postmaster = Number(readFileSync(join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0])
    const client = new RedisClient(redis.url)
    let redisPid: number
    try {
      const info: string = await client.send('INFO', ['server'])
      redisPid = Number(/process_id:(\d+)/.exec(info)?.[1])
    } finally {
      client.close()
    }
    let databases = 0
    return {
      pg,
      redis,
      async freshDatabase() {
        const name = `chat_bench_${++databases}`
        const sql = new SQL(pg.url, { max: 1 })
        try {
          await sql.unsafe(`CREATE DATABASE ${name}`)
        } finally {
          await sql.close()
        }
        return pg.url.replace(/\/postgres$/, `/${name}`)
      },
      async flushRedis() {
        const c = new RedisClient(redis.url)
        try {
          await c.send('FLUSHALL', [])
        } finally {
          c.close()
        }
      },
      cpuSeconds: () => ({ postgres: treeCpuSeconds(postmaster), redis: treeCpuSeconds(redisPid) }),
      stop,
    }
  } catch (err) {
    await stop()
    throw err
  }
}

/** Servers started and not yet stopped, so that a signal can still stop them. */
const live = new Set<ServerUnderTest>()

async function startInstances(setup: Setup, services: ClusterServices): Promise<ServerUnderTest[]> {
  const { instances, postgres, redis, reusePort } = SETUPS[setup]
  if (redis) await services.flushRedis()
  const env: Record<string, string> = {
    ...CHEAP_ARGON2_ENV,
    ...(postgres ? { DATABASE: await services.freshDatabase() } : {}),
    ...(redis ? { REDIS_URL: services.redis.url } : {}),
    ...(reusePort ? { REUSE_PORT: '1' } : {}),
  }
  const port = reusePort ? await freePort() : undefined
  // Started together, as a deployment would: migrations run once under PostgreSQL's advisory lock.
  const started = await Promise.allSettled(Array.from({ length: instances }, () => startServer('product', { env, port })))
  const servers = started.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []))
  for (const s of servers) live.add(s)
  const failed = started.find((r) => r.status === 'rejected')
  if (failed) {
    await stopInstances(servers)
    throw failed.reason
  }
  if (port !== undefined) {
    // On a shared port the first process up answers every health check: wait until each listens itself.
    const until = performance.now() + 10_000
    while (!servers.every((s) => listensOn(s.pid, port))) {
      if (performance.now() > until) {
        await stopInstances(servers)
        throw new Error(`not every process listens on port ${port} after 10 s`)
      }
      await Bun.sleep(25)
    }
  }
  return servers
}

async function stopInstances(servers: ServerUnderTest[]): Promise<void> {
  await Promise.allSettled(
    servers.map(async (s) => {
      await s.stop()
      live.delete(s)
    }),
  )
}

/** Open sockets on an instance, from its /metrics (`chat_connections`); NaN if it does not answer. */
async function openConnections(server: ServerUnderTest): Promise<number> {
  try {
    const text = await (await fetch(`${server.url}/metrics`, { signal: AbortSignal.timeout(1000) })).text()
    let n = 0
    for (const m of text.matchAll(/^chat_connections\{[^}]*\} (\d+)$/gm)) n += Number(m[1])
    return n
  } catch {
    return NaN
  }
}

/**
 * Waits (at most `timeoutMs`) until the instances have seen every socket close, so that they are
 * not stopped while still sharing the leaves through Redis, then a moment for those writes. On a
 * shared port each request reaches either process: there, 8 answers of 0 in a row.
 */
async function settle(servers: ServerUnderTest[], shared: boolean, timeoutMs = 3000): Promise<void> {
  const until = performance.now() + timeoutMs
  let zeros = 0
  while (performance.now() < until) {
    const open = await Promise.all(servers.map(openConnections))
    zeros = open.every((n) => n === 0) ? zeros + 1 : 0
    if (zeros >= (shared ? 8 : 1)) break
    await Bun.sleep(shared ? 20 : 50)
  }
  await Bun.sleep(100)
}

/** The instances' CPU, summed, as one `server` for measure(). */
const together = (servers: ServerUnderTest[]) => ({ cpuSeconds: () => servers.reduce((n, s) => n + s.cpuSeconds(), 0) })

/** Opens each instance's share of the sockets on it (tagged with its group); returns how many failed. */
async function openOnEach(servers: ServerUnderTest[], gens: Generators, socketsFor: (instance: number) => SocketSpec[]): Promise<number> {
  let failed = 0
  for (const [k, server] of servers.entries()) {
    const sockets = socketsFor(k).map((s) => ({ ...s, group: k }))
    failed += (await open(server, gens, sockets, 256)).failed
  }
  return failed
}

/** The measured run and the services' CPU meanwhile, counted only for the services the setup uses. */
interface Window {
  m: Measured
  postgres: number
  redis: number
  /** Instances + the services the setup uses, CPU seconds. */
  total: number
}

/**
 * One measured run between two readings of every process's CPU. Lossless here also means in order:
 * a socket that saw an id at or below the one before counts in `outOfOrder`.
 */
async function measureAll(
  setup: Setup,
  servers: ServerUnderTest[],
  gens: Generators,
  services: ClusterServices,
  mode: RunMode,
  failed: number,
): Promise<Window> {
  const { postgres: usesPostgres, redis: usesRedis } = SETUPS[setup]
  const before = services.cpuSeconds()
  const m = await measure(together(servers), gens, () => mode, failed)
  const after = services.cpuSeconds()
  const postgres = usesPostgres ? after.postgres - before.postgres : 0
  const redis = usesRedis ? after.redis - before.redis : 0
  return { m, postgres, redis, total: m.cpuSeconds + postgres + redis }
}

/** Modes are per generator: `perSecond` is split between them. */
const rate = (gens: Generators, perSecond: number, durationMs: number): RunMode => ({ mode: 'rate', perSecond: perSecond / gens.size, durationMs })

/** A short run before the measured ones (JIT, caches, TCP windows); what it loses or reorders fails the load. */
async function warmUp(setup: Setup, servers: ServerUnderTest[], gens: Generators, services: ClusterServices, mode: RunMode): Promise<void> {
  if (mode.durationMs > 0) {
    const { m } = await measureAll(setup, servers, gens, services, mode, 0)
    if (!isLossless(m.integrity) || m.totals.outOfOrder > 0 || m.totals.mismatched > 0)
      throw new Error(
        `warm-up lost or reordered messages: ${JSON.stringify({ ...m.integrity, outOfOrder: m.totals.outOfOrder, mismatched: m.totals.mismatched })}`,
      )
  }
  await gens.reset()
}

/** Figures every load reports: the services' and the whole setup's CPU, and the order check. */
function cpuAndOrder(w: Window, per: number) {
  return {
    postgresCpuUsPerMessage: (w.postgres * 1e6) / w.m.sent,
    redisCpuUsPerMessage: (w.redis * 1e6) / w.m.sent,
    totalCpuPercent: (w.total / w.m.seconds) * 100,
    totalCpuUsPerDelivery: (w.total * 1e6) / per,
    mismatchedSockets: w.m.totals.mismatched,
    outOfOrder: w.m.totals.outOfOrder,
  }
}

async function fanoutLoad(
  setup: Setup,
  servers: ServerUnderTest[],
  gens: Generators,
  services: ClusterServices,
  size: ClusterSizes['fanout'],
): Promise<Outcome> {
  const n = servers.length
  const accounts = await servers[0]!.accounts(size.publishers)
  let firstPublisher = 0
  const failed = await openOnEach(servers, gens, (k) => {
    const mine = accounts.slice(firstPublisher, (firstPublisher += share(size.publishers, n, k)))
    return [
      ...mine.map((a) => ({ room: 'fanout', token: a.token, publisher: true, track: false })),
      ...Array.from({ length: share(size.subscribers, n, k) }, () => ({ room: 'fanout', token: null, publisher: false, track: false })),
    ]
  })
  await warmUp(setup, servers, gens, services, { mode: 'window', window: size.window, durationMs: size.warmupMs })
  const w = await measureAll(setup, servers, gens, services, { mode: 'window', window: size.window, durationMs: size.durationMs }, failed)
  const { m } = w
  return {
    metrics: {
      deliveriesPerSec: m.totals.delivered / m.seconds,
      deliveriesPerSecPerInstance: m.totals.delivered / m.seconds / n,
      ...deliveryMetrics(m),
      ...cpuAndOrder(w, m.totals.delivered),
    },
    integrity: m.integrity,
  }
}

async function fixedRateLoad(
  setup: Setup,
  servers: ServerUnderTest[],
  gens: Generators,
  services: ClusterServices,
  size: ClusterSizes['fixedRate'],
): Promise<Outcome> {
  const n = servers.length
  // The same publishers in every setup; each generator holds publishers on every instance, so its
  // subscribers see messages from their own instance and from the other one, on one clock.
  const publishers = size.publishersPerWorker * gens.size
  const accounts = await servers[0]!.accounts(publishers)
  let firstPublisher = 0
  const failed = await openOnEach(servers, gens, (k) => {
    const mine = accounts.slice(firstPublisher, (firstPublisher += share(publishers, n, k)))
    return [
      ...mine.map((a) => ({ room: 'steady', token: a.token, publisher: true, track: true })),
      ...Array.from({ length: share(size.subscribers, n, k) }, () => ({ room: 'steady', token: null, publisher: false, track: true })),
    ]
  })
  await warmUp(setup, servers, gens, services, rate(gens, size.perSecond, size.warmupMs))
  const w = await measureAll(setup, servers, gens, services, rate(gens, size.perSecond, size.durationMs), failed)
  const { m } = w
  const remote = m.totals.remoteLatency
  return {
    metrics: {
      ...latencyMetrics(m.totals.latency),
      // Deliveries whose publisher was on the other instance (none with one instance).
      remoteP50Ms: latencyQuantile(remote, 0.5),
      remoteP99Ms: latencyQuantile(remote, 0.99),
      remoteDeliveries: remote.reduce((a, b) => a + b, 0),
      ...deliveryMetrics(m),
      ...cpuAndOrder(w, m.totals.delivered),
    },
    integrity: m.integrity,
  }
}

const addIntegrity = (a: Integrity, b: Integrity): Integrity => ({
  sent: a.sent + b.sent,
  expected: a.expected + b.expected,
  delivered: a.delivered + b.delivered,
  rejected: a.rejected + b.rejected,
  errors: a.errors + b.errors,
  unexpectedCloses: Math.max(a.unexpectedCloses, b.unexpectedCloses),
  failedConnects: Math.max(a.failedConnects, b.failedConnects),
  closeCodes: [...new Set([...a.closeCodes, ...b.closeCodes])],
})

/**
 * The room ramp: one room at each offered rate in turn, until the room falls behind (takes less than
 * `minShare` of the offered rate) or loses, repeats or reorders a message.
 */
async function rampLoad(
  setup: Setup,
  servers: ServerUnderTest[],
  gens: Generators,
  services: ClusterServices,
  size: ClusterSizes['ramp'],
): Promise<{ outcome: Outcome; steps: RampStep[] }> {
  const n = servers.length
  const publishers = size.publishersPerWorker * gens.size
  const accounts = await servers[0]!.accounts(publishers)
  let firstPublisher = 0
  const failed = await openOnEach(servers, gens, (k) => {
    const mine = accounts.slice(firstPublisher, (firstPublisher += share(publishers, n, k)))
    return [
      ...mine.map((a) => ({ room: 'ramp', token: a.token, publisher: true, track: true })),
      ...Array.from({ length: share(size.subscribers, n, k) }, () => ({ room: 'ramp', token: null, publisher: false, track: true })),
    ]
  })
  await warmUp(setup, servers, gens, services, rate(gens, size.steps[0]!, size.warmupMs))
  const steps: RampStep[] = []
  let integrity: Integrity = { sent: 0, expected: 0, delivered: 0, rejected: 0, errors: 0, unexpectedCloses: 0, failedConnects: 0, closeCodes: [] }
  for (const perSecond of size.steps) {
    const w = await measureAll(setup, servers, gens, services, rate(gens, perSecond, size.stepMs), failed)
    await gens.reset()
    const { m } = w
    const p99Ms = latencyQuantile(m.totals.latency, 0.99)
    const lossless = isLossless(m.integrity) && m.totals.mismatched === 0 && m.totals.outOfOrder === 0
    const messagesPerSec = m.sent / m.seconds
    const carried = lossless && messagesPerSec >= size.minShare * perSecond
    steps.push({
      perSecond,
      messagesPerSec,
      p50Ms: latencyQuantile(m.totals.latency, 0.5),
      p99Ms,
      totalCpuPercent: (w.total / m.seconds) * 100,
      totalCpuUsPerMessage: (w.total * 1e6) / m.sent,
      instancesCpuUsPerMessage: (m.cpuSeconds * 1e6) / m.sent,
      postgresCpuUsPerMessage: (w.postgres * 1e6) / m.sent,
      redisCpuUsPerMessage: (w.redis * 1e6) / m.sent,
      generatorCpuPercent: (m.generatorCpuSeconds / m.seconds) * 100,
      cpuPressure: cpuPressure(10),
      outOfOrder: m.totals.outOfOrder,
      mismatchedSockets: m.totals.mismatched,
      lossless,
      carried,
      held: carried && p99Ms <= size.p99LimitMs,
      integrity: m.integrity,
    })
    integrity = addIntegrity(integrity, m.integrity)
    // A latency bound missed at one step (a busy neighbour on a shared machine) does not end the ramp; falling behind does.
    if (!carried) break
  }
  return {
    outcome: {
      metrics: {
        sustainedPerSec: steps.filter((s) => s.held).at(-1)?.perSecond ?? 0,
        carriedPerSec: steps.filter((s) => s.carried).at(-1)?.perSecond ?? 0,
        steps: steps.length,
        outOfOrder: steps.reduce((k, s) => k + s.outOfOrder, 0),
        mismatchedSockets: steps.reduce((k, s) => k + s.mismatchedSockets, 0),
      },
      integrity,
    },
    steps,
  }
}

/** Many rooms, as bench/scenarios.ts `manyRooms` loads it; on a shared port the kernel deals the sockets. */
async function manyRoomsLoad(
  setup: Setup,
  servers: ServerUnderTest[],
  gens: Generators,
  services: ClusterServices,
  size: ClusterSizes['manyRooms'],
): Promise<Outcome> {
  const accounts = await servers[0]!.accounts(size.rooms)
  const sockets: SocketSpec[] = []
  for (let r = 0; r < size.rooms; r++) {
    for (let j = 0; j < size.members; j++) {
      // Each room has `members` different users; each user sits in `members` rooms.
      sockets.push({ room: `room-${r}`, token: accounts[(r + j) % accounts.length]!.token, publisher: j === 0, track: false })
    }
  }
  const socketsBefore = servers.map((s) => socketCount(s.pid))
  // One port for all: with REUSE_PORT it is the shared one. (This load has no setup with two ports.)
  const { failed } = await open(servers[0]!, gens, sockets, 256, (i) => Math.floor(i / size.members))
  const dealt = servers.map((s, k) => socketCount(s.pid) - socketsBefore[k]!)
  await warmUp(setup, servers, gens, services, { mode: 'window', window: size.window, durationMs: size.warmupMs })
  const w = await measureAll(setup, servers, gens, services, { mode: 'window', window: size.window, durationMs: size.durationMs }, failed)
  const { m } = w
  return {
    metrics: {
      messagesPerSec: m.sent / m.seconds,
      deliveriesPerSec: m.totals.delivered / m.seconds,
      cpuUsPerMessage: (m.cpuSeconds * 1e6) / m.sent,
      serverCpuPercent: (m.cpuSeconds / m.seconds) * 100,
      generatorCpuPercent: (m.generatorCpuSeconds / m.seconds) * 100,
      ...cpuAndOrder(w, m.totals.delivered),
      totalCpuUsPerMessage: (w.total * 1e6) / m.sent,
      // The smaller process's share of the sockets (0.5: dealt evenly; 1 with one process).
      smallerShare: servers.length > 1 ? Math.min(...dealt) / dealt.reduce((a, b) => a + b, 0) : 1,
    },
    integrity: m.integrity,
  }
}

/** Lossless as the other scenarios count it, also per socket (no socket got more while another got less), and in id order. */
export function clusterLossless(outcome: Outcome): boolean {
  return isLossless(outcome.integrity) && (outcome.metrics.mismatchedSockets ?? 0) === 0 && (outcome.metrics.outOfOrder ?? 0) === 0
}

/** One group on one setup: instances started on a fresh database, its loads run, instances stopped. */
async function runSetup(
  setup: Setup,
  loads: ClusterLoad[],
  round: number,
  gens: Generators,
  services: ClusterServices,
  sizes: ClusterSizes,
  onRecord: (r: ClusterRecord, seconds: number) => void,
): Promise<ClusterRecord[]> {
  const records: ClusterRecord[] = []
  const run = async (load: ClusterLoad, servers: ServerUnderTest[]): Promise<Pick<ClusterRecord, 'outcome' | 'steps'>> => {
    if (load === 'fanout') return { outcome: await fanoutLoad(setup, servers, gens, services, sizes.fanout) }
    if (load === 'fixed-rate') return { outcome: await fixedRateLoad(setup, servers, gens, services, sizes.fixedRate) }
    if (load === 'many-rooms') return { outcome: await manyRoomsLoad(setup, servers, gens, services, sizes.manyRooms) }
    return rampLoad(setup, servers, gens, services, sizes.ramp)
  }
  let servers: ServerUnderTest[] = []
  try {
    servers = await startInstances(setup, services)
    for (const load of loads) {
      const started = performance.now()
      let record: ClusterRecord
      try {
        record = { load, setup, round, ...(await run(load, servers)), error: undefined }
      } catch (err) {
        record = { load, setup, round, outcome: undefined, error: errorText(err) }
      } finally {
        await gens.closeAll().catch(() => {})
      }
      records.push(record)
      onRecord(record, (performance.now() - started) / 1000)
    }
    await settle(servers, SETUPS[setup].reusePort)
  } catch (err) {
    // The instances did not start: the loads count as failed.
    const error = errorText(err)
    for (const load of loads.slice(records.length)) {
      const record: ClusterRecord = { load, setup, round, outcome: undefined, error }
      records.push(record)
      onRecord(record, 0)
    }
  } finally {
    await stopInstances(servers)
  }
  return records
}

/** `setups` rotated by `round`, so that no setup always runs first (A B C, B C A, C A B). */
const rotated = <T>(xs: T[], round: number): T[] => xs.map((_, i) => xs[(i + round) % xs.length]!)

/**
 * Every round runs every group on each of its setups back to back, in a rotating order, on the same
 * PostgreSQL and Redis, which are stopped at the end whatever happens (also on SIGINT/SIGTERM).
 */
export async function runCluster(
  gens: Generators,
  sizes: ClusterSizes,
  rounds: number,
  onRecord: (r: ClusterRecord, seconds: number) => void,
  /** Only these loads (a development aid: one group alone); all by default. */
  only?: ClusterLoad[],
  onlySetups?: Setup[],
): Promise<ClusterRecord[]> {
  const services = await startServices()
  const onSignal = (signal: NodeJS.Signals) => {
    console.error(`bench cluster: ${signal}; stopping the instances, PostgreSQL and Redis`)
    void stopInstances([...live])
      .then(() => services.stop())
      .finally(() => process.exit(128 + (signal === 'SIGINT' ? 2 : 15)))
  }
  process.once('SIGINT', onSignal)
  process.once('SIGTERM', onSignal)
  const records: ClusterRecord[] = []
  try {
    for (let round = 0; round < rounds; round++) {
      for (const group of GROUPS) {
        const loads = group.loads.filter((l) => !only || only.includes(l))
        if (loads.length === 0) continue
        const setups = group.setups.filter((s) => !onlySetups || onlySetups.includes(s))
        for (const setup of rotated(setups, round)) records.push(...(await runSetup(setup, loads, round, gens, services, sizes, onRecord)))
      }
    }
  } finally {
    await stopInstances([...live])
    await services.stop()
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
  }
  return records
}

// --- figures ---

const fmt = (n: number): string => {
  if (!Number.isFinite(n)) return '–'
  const a = Math.abs(n)
  if (a >= 10_000) return Math.round(n).toLocaleString('en-US')
  if (a >= 100) return n.toFixed(0)
  if (a >= 10) return n.toFixed(1)
  return n.toFixed(2)
}
const spread = (xs: number[]) => (xs.length > 1 ? ` (${fmt(Math.min(...xs))}–${fmt(Math.max(...xs))})` : '')

/** A metric of `load` on `setup`, per round (in round order) or over all rounds. */
function valuesOf(records: ClusterRecord[], load: ClusterLoad, setup: Setup, metric: string, round?: number): number[] {
  return records.filter((r) => r.load === load && r.setup === setup && (round === undefined || r.round === round)).map((r) => r.outcome?.metrics[metric] ?? NaN)
}

/** The per-round ratios a / b of a metric (each round's pair ran minutes apart at most), finite ones only. */
function roundRatios(records: ClusterRecord[], rounds: number, load: ClusterLoad, a: [Setup, string], b: [Setup, string]): number[] {
  const out: number[] = []
  for (let round = 0; round < rounds; round++) out.push(valuesOf(records, load, a[0], a[1], round)[0]! / valuesOf(records, load, b[0], b[1], round)[0]!)
  return out.filter(Number.isFinite)
}

export interface ClusterRow {
  load: string
  figure: string
  /** Medians over rounds per setup; NaN where the setup does not run the load or has no such figure. */
  values: Partial<Record<Setup, number>>
  /** Median over rounds of each round's ratio, and the rounds' ratios. */
  ratios: { name: string; ratio: number; ratios: number[] }[]
}

interface FigureSpec {
  load: ClusterLoad
  figure: string
  metric: string
  /** Per setup, another metric to show (e.g. every delivery's p99 for a setup without remote deliveries); null: none. */
  per?: Partial<Record<Setup, string | null>>
}

const COST_FIGURES: FigureSpec[] = [
  { load: 'fanout', figure: 'deliveries/s', metric: 'deliveriesPerSec' },
  { load: 'fanout', figure: 'deliveries/s per instance', metric: 'deliveriesPerSecPerInstance' },
  { load: 'fanout', figure: 'messages/s', metric: 'messagesPerSec' },
  { load: 'fanout', figure: '**all server CPU µs/delivery** (instances + PostgreSQL + Redis)', metric: 'totalCpuUsPerDelivery' },
  { load: 'fanout', figure: 'instances’ CPU µs/delivery', metric: 'cpuUsPerDelivery' },
  { load: 'fanout', figure: 'all server CPU % (instances + PostgreSQL + Redis)', metric: 'totalCpuPercent' },
  { load: 'fanout', figure: 'PostgreSQL CPU µs/message', metric: 'postgresCpuUsPerMessage', per: { sqlite: null } },
  { load: 'fanout', figure: 'Redis CPU µs/message', metric: 'redisCpuUsPerMessage', per: { sqlite: null, one: null } },
  { load: 'fixed-rate', figure: 'p50 ms, every delivery', metric: 'p50Ms' },
  { load: 'fixed-rate', figure: 'p99 ms, every delivery', metric: 'p99Ms' },
  {
    load: 'fixed-rate',
    figure: 'p99 ms, publisher on the other instance (one instance: every delivery)',
    metric: 'remoteP99Ms',
    per: { sqlite: 'p99Ms', one: 'p99Ms' },
  },
  { load: 'fixed-rate', figure: '**all server CPU µs/delivery** (instances + PostgreSQL + Redis)', metric: 'totalCpuUsPerDelivery' },
  { load: 'fixed-rate', figure: 'instances’ CPU µs/delivery', metric: 'cpuUsPerDelivery' },
  { load: 'fixed-rate', figure: 'PostgreSQL CPU µs/message', metric: 'postgresCpuUsPerMessage', per: { sqlite: null } },
]

const MANY_ROOMS_FIGURES: FigureSpec[] = [
  { load: 'many-rooms', figure: '**messages/s**', metric: 'messagesPerSec' },
  { load: 'many-rooms', figure: 'deliveries/s', metric: 'deliveriesPerSec' },
  { load: 'many-rooms', figure: 'all server CPU µs/message (processes + PostgreSQL + Redis)', metric: 'totalCpuUsPerMessage' },
  { load: 'many-rooms', figure: 'chat processes’ CPU µs/message', metric: 'cpuUsPerMessage' },
  { load: 'many-rooms', figure: 'all server CPU % (processes + PostgreSQL + Redis)', metric: 'totalCpuPercent' },
  { load: 'many-rooms', figure: 'PostgreSQL CPU µs/message', metric: 'postgresCpuUsPerMessage', per: { sqlite: null } },
  { load: 'many-rooms', figure: 'Redis CPU µs/message', metric: 'redisCpuUsPerMessage', per: { sqlite: null, one: null } },
  { load: 'many-rooms', figure: 'smaller process’s share of the sockets', metric: 'smallerShare', per: { sqlite: null, one: null } },
]

function loadLabel(load: ClusterLoad, sizes: ClusterSizes): string {
  if (load === 'fanout') return `fan-out (${sizes.fanout.subscribers} subscribers, ${sizes.fanout.publishers}×${sizes.fanout.window} in flight)`
  if (load === 'fixed-rate') return `fixed rate (${sizes.fixedRate.subscribers} subscribers, ${sizes.fixedRate.perSecond} msg/s)`
  if (load === 'many-rooms') return `many rooms (${sizes.manyRooms.rooms} rooms of ${sizes.manyRooms.members})`
  return `one room (${sizes.ramp.subscribers} subscribers, ${sizes.ramp.publishersPerWorker * 2} publishers)`
}

function figureRows(
  records: ClusterRecord[],
  sizes: ClusterSizes,
  rounds: number,
  specs: FigureSpec[],
  setups: Setup[],
  ratios: [string, Setup, Setup][],
): ClusterRow[] {
  return specs.map((spec) => {
    const metricOf = (setup: Setup) => (spec.per && setup in spec.per ? spec.per[setup]! : spec.metric)
    const values: Partial<Record<Setup, number>> = {}
    for (const setup of setups) {
      const metric = metricOf(setup)
      values[setup] = metric === null ? NaN : median(valuesOf(records, spec.load, setup, metric))
    }
    return {
      load: loadLabel(spec.load, sizes),
      figure: spec.figure,
      values,
      ratios: ratios.map(([name, a, b]) => {
        const ma = metricOf(a)
        const mb = metricOf(b)
        const rs = ma === null || mb === null ? [] : roundRatios(records, rounds, spec.load, [a, ma], [b, mb])
        return { name, ratio: median(rs), ratios: rs }
      }),
    }
  })
}

export function costRows(records: ClusterRecord[], sizes: ClusterSizes, rounds: number): ClusterRow[] {
  return figureRows(
    records,
    sizes,
    rounds,
    COST_FIGURES,
    ['sqlite', 'one', 'two'],
    [
      ['two ÷ one', 'two', 'one'],
      ['two ÷ SQLite', 'two', 'sqlite'],
    ],
  )
}

export function manyRoomsRows(records: ClusterRecord[], sizes: ClusterSizes, rounds: number): ClusterRow[] {
  return figureRows(
    records,
    sizes,
    rounds,
    MANY_ROOMS_FIGURES,
    ['sqlite', 'one', 'reuse-port'],
    [
      ['two processes ÷ one (PostgreSQL)', 'reuse-port', 'one'],
      ['two processes ÷ SQLite', 'reuse-port', 'sqlite'],
    ],
  )
}

function figureTable(rows: ClusterRow[], setups: Setup[], headers: string[], withLoad: boolean): string {
  const ratioNames = rows[0]?.ratios.map((r) => r.name) ?? []
  const lines = [
    `|${withLoad ? ' Load |' : ''} Figure | ${headers.join(' | ')} | ${ratioNames.join(' | ')} |`,
    `|${withLoad ? '---|' : ''}---|${setups.map(() => '---:|').join('')}${ratioNames.map(() => '---:|').join('')}`,
  ]
  rows.forEach((r, i) => {
    // The load is named on the first of its rows.
    const load = withLoad ? ` ${i > 0 && rows[i - 1]!.load === r.load ? '' : r.load} |` : ''
    const values = setups.map((s) => fmt(r.values[s] ?? NaN)).join(' | ')
    const ratios = r.ratios.map((x) => `${fmt(x.ratio)}${spread(x.ratios)}`).join(' | ')
    lines.push(`|${load} ${r.figure} | ${values} | ${ratios} |`)
  })
  return lines.join('\n')
}

export const costTable = (rows: ClusterRow[]) =>
  figureTable(rows, ['sqlite', 'one', 'two'], ['One instance, SQLite', 'One instance, PostgreSQL', 'Two instances, PostgreSQL + Redis'], true)

export const manyRoomsTable = (rows: ClusterRow[]) =>
  figureTable(
    rows,
    ['sqlite', 'one', 'reuse-port'],
    ['One process, SQLite', 'One process, PostgreSQL', 'Two processes, `REUSE_PORT`, PostgreSQL + Redis'],
    false,
  )

/** The room ramp: per offered rate, each setup's medians over the rounds that reached it, and how many rounds carried it and held p99. */
export function rampTable(records: ClusterRecord[], sizes: ClusterSizes, rounds: number): string {
  const setups: Setup[] = ['one', 'two']
  const lines = [
    `| Offered msg/s | ${setups.map((s) => `${SETUPS[s].name}: msg/s taken · p50 / p99 ms · all CPU µs/msg · rounds carried, held`).join(' | ')} |`,
    `|---:|${setups.map(() => '---|').join('')}`,
  ]
  for (const perSecond of sizes.ramp.steps) {
    const cells = setups.map((setup) => {
      const steps = records.filter((r) => r.load === 'room-ramp' && r.setup === setup).flatMap((r) => r.steps?.filter((s) => s.perSecond === perSecond) ?? [])
      if (steps.length === 0) return 'not reached'
      const held = steps.filter((s) => s.held).length
      const carried = steps.filter((s) => s.carried).length
      const lost = steps.some((s) => !s.lossless)
      const at = (f: (s: RampStep) => number) => fmt(median(steps.map(f)))
      return `${at((s) => s.messagesPerSec)} · ${at((s) => s.p50Ms)} / ${at((s) => s.p99Ms)} · ${at((s) => s.totalCpuUsPerMessage)} · ${carried}, ${held} of ${rounds}${lost ? ' **lost or reordered**' : ''}`
    })
    lines.push(`| ${perSecond.toLocaleString('en-US')} | ${cells.join(' | ')} |`)
  }
  return lines.join('\n')
}

/** The most messages/s one room sustained (p99 bound held) or carried (whatever the latency), per round (in round order). */
export function sustained(records: ClusterRecord[], setup: Setup, rounds: number, metric: 'sustainedPerSec' | 'carriedPerSec' = 'sustainedPerSec'): number[] {
  const out: number[] = []
  for (let round = 0; round < rounds; round++) out.push(valuesOf(records, 'room-ramp', setup, metric, round)[0] ?? NaN)
  return out
}

/** The chart's rows (bench/report.ts Row): the two targets of issue 16 item 3, and process-per-core against one process. */
export function clusterChartRows(records: ClusterRecord[], rounds: number, cost: ClusterRow[], many: ClusterRow[]): Row[] {
  const total = cost.find((r) => r.figure.startsWith('**all server CPU') && r.load.startsWith('fan-out'))!
  const cpu = total.ratios.find((r) => r.name === 'two ÷ SQLite')!
  const room = sustained(records, 'two', rounds).filter(Number.isFinite)
  const roomRatios = room.map((n) => n / CLUSTER_TARGETS.roomPerSecond)
  const msgs = many.find((r) => r.figure === '**messages/s**')!
  const perCore = msgs.ratios.find((r) => r.name.startsWith('two processes ÷ one'))!
  const manyCpu = many.find((r) => r.figure.startsWith('all server CPU µs/message'))!
  const met = (ratio: number, target: number, better: 'higher' | 'lower') =>
    Number.isFinite(ratio) ? (better === 'higher' ? ratio >= target : ratio <= target) : undefined
  const roomRatio = median(roomRatios)
  return [
    {
      scenario: 'cluster',
      label: 'all server CPU µs per delivery, two instances + PostgreSQL + Redis ÷ one instance on SQLite (fan-out)',
      short: 'CPU/delivery vs SQLite',
      product: total.values.two ?? NaN,
      baseline: total.values.sqlite ?? NaN,
      ratio: cpu.ratio,
      better: 'lower',
      target: CLUSTER_TARGETS.cpuPerDelivery,
      met: met(cpu.ratio, CLUSTER_TARGETS.cpuPerDelivery, 'lower'),
      cpuLabel: 'µs/delivery',
      cpuProduct: total.values.two ?? NaN,
      cpuBaseline: total.values.sqlite ?? NaN,
      cpuRatio: cpu.ratio,
      ratios: cpu.ratios,
    },
    {
      scenario: 'cluster',
      label: `most messages/s one room sustains on two instances, ÷ ${CLUSTER_TARGETS.roomPerSecond}`,
      short: `one room ÷ ${CLUSTER_TARGETS.roomPerSecond / 1000}k msg/s`,
      product: median(room),
      baseline: CLUSTER_TARGETS.roomPerSecond,
      ratio: roomRatio,
      better: 'higher',
      target: 1,
      met: met(roomRatio, 1, 'higher'),
      cpuLabel: '',
      cpuProduct: NaN,
      cpuBaseline: NaN,
      cpuRatio: NaN,
      ratios: roomRatios,
    },
    {
      scenario: 'REUSE_PORT',
      label: 'many rooms, messages/s: two processes on one port (PostgreSQL + Redis) ÷ one process on PostgreSQL',
      short: 'many rooms, 2 procs ÷ 1',
      product: msgs.values['reuse-port'] ?? NaN,
      baseline: msgs.values.one ?? NaN,
      ratio: perCore.ratio,
      better: 'higher',
      // Not the issue's: ours, that a second process on a second core should not take throughput away.
      target: 1,
      met: met(perCore.ratio, 1, 'higher'),
      cpuLabel: 'µs/message',
      cpuProduct: manyCpu.values['reuse-port'] ?? NaN,
      cpuBaseline: manyCpu.values.one ?? NaN,
      cpuRatio: median(roundRatios(records, rounds, 'many-rooms', ['reuse-port', 'totalCpuUsPerMessage'], ['one', 'totalCpuUsPerMessage'])),
      ratios: perCore.ratios,
    },
  ]
}

export function describeRecord(r: ClusterRecord, seconds: number): string {
  const head = `cluster ${r.load} #${r.round + 1} ${r.setup} (${SETUPS[r.setup].name}; ${seconds.toFixed(1)} s)`
  if (!r.outcome) return `${head} FAILED: ${r.error}`
  const metrics = Object.entries(r.outcome.metrics)
    .map(([k, v]) => `${k}=${Number.isInteger(v) ? v : v.toFixed(2)}`)
    .join(' ')
  const i = r.outcome.integrity
  const ok = clusterLossless(r.outcome)
    ? 'ok'
    : `LOSS expected=${i.expected} delivered=${i.delivered} rejected=${i.rejected} errors=${i.errors} closes=${i.unexpectedCloses} [${i.closeCodes.join(',')}] failedConnects=${i.failedConnects}`
  const steps = (r.steps ?? [])
    .map(
      (s) =>
        `\n  ${s.perSecond} msg/s offered: ${Math.round(s.messagesPerSec)} taken, p50 ${s.p50Ms.toFixed(2)} ms, p99 ${s.p99Ms.toFixed(2)} ms, all CPU ${s.totalCpuPercent.toFixed(0)} % (${s.totalCpuUsPerMessage.toFixed(0)} µs/msg: instances ${s.instancesCpuUsPerMessage.toFixed(0)}, PostgreSQL ${s.postgresCpuUsPerMessage.toFixed(0)}, Redis ${s.redisCpuUsPerMessage.toFixed(0)}), generators ${s.generatorCpuPercent.toFixed(0)} %, CPU pressure ${s.cpuPressure.toFixed(0)} %, ${s.lossless ? 'lossless, in order' : `LOSS/REORDER delivered=${s.integrity.delivered}/${s.integrity.expected} outOfOrder=${s.outOfOrder} mismatched=${s.mismatchedSockets} rejected=${s.integrity.rejected} errors=${s.integrity.errors} closes=${s.integrity.unexpectedCloses} [${s.integrity.closeCodes.join(',')}]`}${s.held ? '' : s.carried ? ' — p99 over the bound' : ' — fell behind'}`,
    )
    .join('')
  return `${head}: ${metrics} | sent=${i.sent} delivered=${i.delivered} ${ok}${steps}`
}

/**
 * `bun run bench --scenario cluster`: the rounds, three tables, and with `write` bench/results.jsonl,
 * three blocks of docs/PERFORMANCE.md (cluster, cluster-room, reuse-port) and the chart.
 */
export async function clusterScenario(
  opts: { smoke: boolean; rounds: number; write: boolean; workers: number },
  gens: Generators,
  meta: Record<string, unknown>,
  log: (line: string) => void,
): Promise<boolean> {
  const sizes = opts.smoke ? CLUSTER_SMOKE : CLUSTER_FULL
  const started = performance.now()
  const loadBefore = loadNow()
  const pressureBefore = cpuPressure()
  let records: ClusterRecord[]
  try {
    records = await runCluster(gens, sizes, opts.rounds, (r, seconds) => log(describeRecord(r, seconds)))
  } catch (err) {
    log(`cluster FAILED: ${errorText(err)}`)
    await gens.closeAll().catch(() => {})
    return false
  }
  const lossy = records.filter((r) => r.error !== undefined || (r.outcome && !clusterLossless(r.outcome)))
  const names = (rs: ClusterRecord[]) => rs.map((r) => `${r.load}/${r.setup}#${r.round + 1}`).join(', ')
  const cost = costRows(records, sizes, opts.rounds)
  const many = manyRoomsRows(records, sizes, opts.rounds)
  const chart = clusterChartRows(records, opts.rounds, cost, many)
  const ramp = rampTable(records, sizes, opts.rounds)
  const loadAfter = loadNow()
  const pressureAfter = cpuPressure()
  const seconds = Math.round((performance.now() - started) / 100) / 10
  const [cpuRow, roomRow, perCoreRow] = chart as [Row, Row, Row]
  const said = (r: Row) => (r.met === undefined ? 'not measured' : r.met ? 'met' : '**missed**')
  const heldText = (setup: Setup, metric: 'sustainedPerSec' | 'carriedPerSec' = 'sustainedPerSec') => {
    const per = sustained(records, setup, opts.rounds, metric)
    return `${fmt(median(per))} msg/s (rounds: ${per.map((n) => (Number.isFinite(n) ? n.toLocaleString('en-US') : '–')).join(', ')})`
  }
  const rampVerdict =
    `Most messages/s one room sustained (the highest step carried — lossless, in order, ≥ ${Math.round(sizes.ramp.minShare * 100)} % of the offered rate taken — with p99 ≤ ${sizes.ramp.p99LimitMs} ms): ` +
    `${SETUPS.two.name} ${heldText('two')}; ${SETUPS.one.name} ${heldText('one')}. Target ≥ ${CLUSTER_TARGETS.roomPerSecond.toLocaleString('en-US')} msg/s on two instances: ${said(roomRow)}` +
    `${sizes.ramp.steps.at(-1)! <= median(sustained(records, 'two', opts.rounds)) ? ' (the last step held: the ramp did not find the limit)' : ''}. ` +
    `Carried whatever the latency: two instances ${heldText('two', 'carriedPerSec')}; one instance ${heldText('one', 'carriedPerSec')}.`
  const costVerdict = `All server CPU per delivery under the fan-out load, two instances with PostgreSQL and Redis ÷ one instance on SQLite: ${fmt(cpuRow.ratio)}${spread(cpuRow.ratios)} (target ≤ ${CLUSTER_TARGETS.cpuPerDelivery}): ${said(cpuRow)}.`
  const perCoreVerdict = `Two processes on one port ÷ one process on PostgreSQL, messages/s: ${fmt(perCoreRow.ratio)}${spread(perCoreRow.ratios)}; all server CPU per message ${fmt(perCoreRow.cpuRatio)}×.`
  const record = {
    ...meta,
    scenario: 'cluster',
    loadavgBefore: [loadBefore],
    loadavgAfter: [loadAfter],
    cpuPressureBefore: pressureBefore,
    cpuPressureAfter: pressureAfter,
    seconds,
    sizes,
    rows: chart,
    figures: { cost, manyRooms: many },
    runs: records,
    lossless: lossy.length === 0,
  }
  console.log(JSON.stringify(record))
  console.log(`\n${costTable(cost)}\n\n${costVerdict}\n\n${ramp}\n\n${rampVerdict}\n\n${manyRoomsTable(many)}\n\n${perCoreVerdict}\n`)
  if (lossy.length > 0) log(`bench cluster: ${lossy.length} run(s) lost, repeated or reordered messages, or failed: ${names(lossy)}`)
  if (opts.write) {
    const root = join(import.meta.dir, '..')
    const doc = join(root, 'docs/PERFORMANCE.md')
    appendFileSync(join(root, 'bench/results.jsonl'), JSON.stringify(record) + '\n')
    writePerformanceSvg(root)
    const line = runLine(
      meta,
      [loadBefore, loadAfter],
      `CPU pressure (PSI, share of the last minute some task waited for a CPU) ${pressureBefore} % before, ${pressureAfter} % after; ${opts.rounds} rounds, ${opts.workers} generator processes; the whole cluster scenario`,
      seconds,
    )
    const lossless = (load: ClusterLoad[], what: string) => {
      const mine = records.filter((r) => load.includes(r.load))
      const bad = lossy.filter((r) => load.includes(r.load))
      const sent = mine.reduce((n, r) => n + (r.outcome?.integrity.sent ?? 0), 0)
      const delivered = mine.reduce((n, r) => n + (r.outcome?.integrity.delivered ?? 0), 0)
      return bad.length === 0
        ? `Lossless and in order: in every run every ${what} received every message of its room exactly once, each id above the one before (${sent.toLocaleString('en-US')} messages, ${delivered.toLocaleString('en-US')} deliveries in all).`
        : `**Not lossless:** ${bad.length} run(s) lost, repeated or reordered messages, or failed (${names(bad)}).`
    }
    updateDocBlock(
      doc,
      'cluster',
      [line, '', costTable(cost), '', costVerdict, '', lossless(['fanout', 'fixed-rate'], 'subscriber on every instance')].join('\n'),
    )
    updateDocBlock(doc, 'cluster-room', [line, '', ramp, '', rampVerdict, '', lossless(['room-ramp'], 'socket on every instance')].join('\n'))
    updateDocBlock(doc, 'reuse-port', [line, '', manyRoomsTable(many), '', perCoreVerdict, '', lossless(['many-rooms'], 'member socket')].join('\n'))
  }
  return lossy.length === 0
}
