/**
 * Cluster scenario (spec §4): one product instance on PostgreSQL alone against two instances on the
 * same PostgreSQL + Redis, under the fan-out and fixed-rate loads, reported side by side as two / one.
 *
 * PostgreSQL and Redis are throwaway servers on loopback (test/support/services.ts), started once for
 * the whole scenario and always stopped at the end; every setup gets a fresh database and an empty
 * Redis. Subscribers are split evenly over the instances and publishers sit on every instance, so in
 * the two-instance setup half of all deliveries cross the Redis hop. Every subscriber on every
 * instance must receive every message exactly once (delivered = sent × subscribers, per socket).
 */
import { RedisClient, SQL } from 'bun'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { startPostgres, startRedis, type Service } from '../test/support/services.ts'
import type { Generators } from './generators.ts'
import { latencyQuantile, type SocketSpec } from './protocol.ts'
import { deliveryMetrics, isLossless, latencyMetrics, measure, open, warmUp, type Outcome } from './scenarios.ts'
import { CHEAP_ARGON2_ENV, startServer, type ServerUnderTest } from './servers.ts'

export interface ClusterSizes {
  fanout: { subscribers: number; publishers: number; window: number; durationMs: number; warmupMs: number }
  /** `publishersPerWorker` publishers on each generator, dealt over the instances (latency is taken within one generator). */
  fixedRate: { subscribers: number; perSecond: number; publishersPerWorker: number; durationMs: number; warmupMs: number }
}

export const CLUSTER_FULL: ClusterSizes = {
  fanout: { subscribers: 1000, publishers: 10, window: 8, durationMs: 8000, warmupMs: 1500 },
  fixedRate: { subscribers: 1000, perSecond: 50, publishersPerWorker: 2, durationMs: 10_000, warmupMs: 1500 },
}

export const CLUSTER_SMOKE: ClusterSizes = {
  fanout: { subscribers: 200, publishers: 4, window: 4, durationMs: 1000, warmupMs: 300 },
  fixedRate: { subscribers: 200, perSecond: 50, publishersPerWorker: 2, durationMs: 1000, warmupMs: 300 },
}

/** `one`: a single instance on PostgreSQL, no Redis. `two`: two instances on the same PostgreSQL + Redis. */
export type Setup = 'one' | 'two'
export const SETUPS: Record<Setup, { instances: number; redis: boolean; name: string }> = {
  one: { instances: 1, redis: false, name: 'one instance, PostgreSQL' },
  two: { instances: 2, redis: true, name: 'two instances, PostgreSQL + Redis' },
}

export type ClusterLoad = 'fanout' | 'fixed-rate'

export interface ClusterRecord {
  load: ClusterLoad
  setup: Setup
  round: number
  outcome: Outcome | undefined
  error: string | undefined
}

export interface ClusterRow {
  load: string
  figure: string
  one: number
  two: number
  /** Median over rounds of two / one, each round's pair run back to back. */
  ratio: number
  ratios: number[]
}

const CLOCK_TICKS = 100

/** The i-th of `n` near-equal shares of `total`. */
const share = (total: number, n: number, i: number) => Math.floor((total * (i + 1)) / n) - Math.floor((total * i) / n)

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

/** CPU seconds of a process and its children: the live ones, plus those it already reaped (PostgreSQL's backends). */
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
  const { instances, redis } = SETUPS[setup]
  const database = await services.freshDatabase()
  await services.flushRedis()
  const env: Record<string, string> = { ...CHEAP_ARGON2_ENV, DATABASE: database, ...(redis ? { REDIS_URL: services.redis.url } : {}) }
  // Started together, as a deployment would: migrations run once under PostgreSQL's advisory lock.
  const started = await Promise.allSettled(Array.from({ length: instances }, () => startServer('product', { env })))
  const servers = started.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []))
  for (const s of servers) live.add(s)
  const failed = started.find((r) => r.status === 'rejected')
  if (failed) {
    await stopInstances(servers)
    throw failed.reason
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
 * not stopped while still sharing the leaves through Redis, then a moment for those writes.
 */
async function settle(servers: ServerUnderTest[], timeoutMs = 3000): Promise<void> {
  const until = performance.now() + timeoutMs
  while (performance.now() < until) {
    const open = await Promise.all(servers.map(openConnections))
    if (open.every((n) => n === 0)) break
    await Bun.sleep(50)
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

/** Runs `work` between two readings of the services' CPU; the CPU seconds each used meanwhile. */
async function withServiceCpu<T>(services: ClusterServices, work: () => Promise<T>): Promise<{ result: T; postgres: number; redis: number }> {
  const before = services.cpuSeconds()
  const result = await work()
  const after = services.cpuSeconds()
  return { result, postgres: after.postgres - before.postgres, redis: after.redis - before.redis }
}

async function fanoutLoad(servers: ServerUnderTest[], gens: Generators, services: ClusterServices, size: ClusterSizes['fanout']): Promise<Outcome> {
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
  const server = together(servers)
  await warmUp(server, gens, () => ({ mode: 'window', window: size.window, durationMs: size.warmupMs }))
  const {
    result: m,
    postgres,
    redis,
  } = await withServiceCpu(services, () => measure(server, gens, () => ({ mode: 'window', window: size.window, durationMs: size.durationMs }), failed))
  return {
    metrics: {
      deliveriesPerSec: m.totals.delivered / m.seconds,
      deliveriesPerSecPerInstance: m.totals.delivered / m.seconds / n,
      ...deliveryMetrics(m),
      postgresCpuUsPerMessage: (postgres * 1e6) / m.sent,
      redisCpuUsPerMessage: (redis * 1e6) / m.sent,
      mismatchedSockets: m.totals.mismatched,
    },
    integrity: m.integrity,
  }
}

async function fixedRateLoad(servers: ServerUnderTest[], gens: Generators, services: ClusterServices, size: ClusterSizes['fixedRate']): Promise<Outcome> {
  const n = servers.length
  // The same publishers in both setups; each generator holds publishers on every instance, so its
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
  const server = together(servers)
  const perWorker = size.perSecond / gens.size
  await warmUp(server, gens, () => ({ mode: 'rate', perSecond: perWorker, durationMs: size.warmupMs }))
  const {
    result: m,
    postgres,
    redis,
  } = await withServiceCpu(services, () => measure(server, gens, () => ({ mode: 'rate', perSecond: perWorker, durationMs: size.durationMs }), failed))
  const remote = m.totals.remoteLatency
  return {
    metrics: {
      ...latencyMetrics(m.totals.latency),
      // Deliveries whose publisher was on the other instance (none with one instance).
      remoteP50Ms: latencyQuantile(remote, 0.5),
      remoteP99Ms: latencyQuantile(remote, 0.99),
      remoteDeliveries: remote.reduce((a, b) => a + b, 0),
      ...deliveryMetrics(m),
      postgresCpuUsPerMessage: (postgres * 1e6) / m.sent,
      redisCpuUsPerMessage: (redis * 1e6) / m.sent,
      mismatchedSockets: m.totals.mismatched,
    },
    integrity: m.integrity,
  }
}

/** Lossless as the other scenarios count it, and also per socket: no socket got more while another got less. */
export function clusterLossless(outcome: Outcome): boolean {
  return isLossless(outcome.integrity) && (outcome.metrics.mismatchedSockets ?? 0) === 0
}

/** Both loads on one setup: instances started on a fresh database, loaded, stopped. */
async function runSetup(
  setup: Setup,
  round: number,
  gens: Generators,
  services: ClusterServices,
  sizes: ClusterSizes,
  onRecord: (r: ClusterRecord, seconds: number) => void,
): Promise<ClusterRecord[]> {
  const records: ClusterRecord[] = []
  const loads: [ClusterLoad, (servers: ServerUnderTest[]) => Promise<Outcome>][] = [
    ['fanout', (servers) => fanoutLoad(servers, gens, services, sizes.fanout)],
    ['fixed-rate', (servers) => fixedRateLoad(servers, gens, services, sizes.fixedRate)],
  ]
  let servers: ServerUnderTest[] = []
  try {
    servers = await startInstances(setup, services)
    for (const [load, run] of loads) {
      const started = performance.now()
      let record: ClusterRecord
      try {
        record = { load, setup, round, outcome: await run(servers), error: undefined }
      } catch (err) {
        record = { load, setup, round, outcome: undefined, error: err instanceof Error ? (err.stack ?? err.message) : String(err) }
      } finally {
        await gens.closeAll().catch(() => {})
      }
      records.push(record)
      onRecord(record, (performance.now() - started) / 1000)
    }
    await settle(servers)
  } catch (err) {
    // The instances did not start: both loads count as failed.
    const error = err instanceof Error ? (err.stack ?? err.message) : String(err)
    for (const [load] of loads.slice(records.length)) {
      const record: ClusterRecord = { load, setup, round, outcome: undefined, error }
      records.push(record)
      onRecord(record, 0)
    }
  } finally {
    await stopInstances(servers)
  }
  return records
}

/**
 * Every round runs both setups back to back (one, two; then two, one; …) on the same PostgreSQL and
 * Redis, which are stopped at the end whatever happens (also on SIGINT/SIGTERM).
 */
export async function runCluster(
  gens: Generators,
  sizes: ClusterSizes,
  rounds: number,
  onRecord: (r: ClusterRecord, seconds: number) => void,
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
      const order: Setup[] = round % 2 === 0 ? ['one', 'two'] : ['two', 'one']
      for (const setup of order) records.push(...(await runSetup(setup, round, gens, services, sizes, onRecord)))
    }
  } finally {
    await stopInstances([...live])
    await services.stop()
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
  }
  return records
}

interface RowSpec {
  load: ClusterLoad
  figure: string
  metric: string
  /** The one-instance figure to compare with, when it is another metric; null: nothing to compare with. */
  oneMetric?: string | null
}

const ROW_SPECS: RowSpec[] = [
  { load: 'fanout', figure: 'deliveries/s', metric: 'deliveriesPerSec' },
  { load: 'fanout', figure: 'deliveries/s per instance', metric: 'deliveriesPerSecPerInstance' },
  { load: 'fanout', figure: 'messages/s', metric: 'messagesPerSec' },
  { load: 'fanout', figure: 'server CPU µs/delivery (sum over instances)', metric: 'cpuUsPerDelivery' },
  { load: 'fanout', figure: 'server CPU % (sum over instances)', metric: 'serverCpuPercent' },
  { load: 'fanout', figure: 'PostgreSQL CPU µs/message', metric: 'postgresCpuUsPerMessage' },
  { load: 'fanout', figure: 'Redis CPU µs/message', metric: 'redisCpuUsPerMessage', oneMetric: null },
  { load: 'fixed-rate', figure: 'p50 ms, every delivery', metric: 'p50Ms' },
  { load: 'fixed-rate', figure: 'p99 ms, every delivery', metric: 'p99Ms' },
  { load: 'fixed-rate', figure: 'p50 ms, publisher on the other instance (one: every delivery)', metric: 'remoteP50Ms', oneMetric: 'p50Ms' },
  { load: 'fixed-rate', figure: 'p99 ms, publisher on the other instance (one: every delivery)', metric: 'remoteP99Ms', oneMetric: 'p99Ms' },
  { load: 'fixed-rate', figure: 'server CPU µs/delivery (sum over instances)', metric: 'cpuUsPerDelivery' },
  { load: 'fixed-rate', figure: 'PostgreSQL CPU µs/message', metric: 'postgresCpuUsPerMessage' },
]

const median = (xs: number[]): number => {
  const s = xs.filter(Number.isFinite).sort((a, b) => a - b)
  if (s.length === 0) return NaN
  const m = s.length >> 1
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2
}

export function loadLabel(load: ClusterLoad, sizes: ClusterSizes): string {
  if (load === 'fanout') {
    const f = sizes.fanout
    return `fan-out (${f.subscribers} subscribers, ${f.publishers}×${f.window} in flight)`
  }
  const r = sizes.fixedRate
  return `fixed rate (${r.subscribers} subscribers, ${r.perSecond} msg/s)`
}

/** Medians per setup and of the per-round ratios two / one. */
export function clusterRows(records: ClusterRecord[], sizes: ClusterSizes, rounds: number): ClusterRow[] {
  const value = (load: ClusterLoad, setup: Setup, metric: string | null, round?: number) =>
    records
      .filter((r) => r.load === load && r.setup === setup && (round === undefined || r.round === round))
      .map((r) => (metric === null ? NaN : (r.outcome?.metrics[metric] ?? NaN)))
  return ROW_SPECS.map((spec) => {
    const oneMetric = spec.oneMetric === undefined ? spec.metric : spec.oneMetric
    const ratios: number[] = []
    for (let round = 0; round < rounds; round++) ratios.push(value(spec.load, 'two', spec.metric, round)[0]! / value(spec.load, 'one', oneMetric, round)[0]!)
    return {
      load: loadLabel(spec.load, sizes),
      figure: spec.figure,
      one: median(value(spec.load, 'one', oneMetric)),
      two: median(value(spec.load, 'two', spec.metric)),
      ratio: median(ratios),
      ratios: ratios.filter(Number.isFinite),
    }
  })
}
