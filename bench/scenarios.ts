/**
 * The scenarios. Each starts a fresh server of the given kind, loads it through the generator
 * pool, and returns its figures plus an integrity record (what was sent, what arrived).
 */
import { join } from 'node:path'
import { PATHS } from '../packages/client/src/index.ts'
import { defineConfig } from '../src/config.ts'
import type { Generators, Totals } from './generators.ts'
import { latencyQuantile, type RunMode, type SocketSpec } from './protocol.ts'
import { CHEAP_ARGON2_ENV, pool, startServer, type Kind, type ServerUnderTest } from './servers.ts'

export interface Integrity {
  sent: number
  expected: number
  delivered: number
  /** Sends answered with an error frame, error frames seen, sockets closed by the server, sockets that never got a welcome. */
  rejected: number
  errors: number
  unexpectedCloses: number
  failedConnects: number
  closeCodes: number[]
  /** User streams that got no `unread` frame in the run (scenarios that open user streams). */
  silentStreams?: number
  /** Room messages whose id was not above the one before on their socket: repeated or reordered. */
  outOfOrder?: number
}

export interface Outcome {
  metrics: Record<string, number>
  integrity: Integrity
}

export function isLossless(i: Integrity): boolean {
  return (
    i.delivered === i.expected &&
    i.rejected === 0 &&
    i.errors === 0 &&
    i.unexpectedCloses === 0 &&
    i.failedConnects === 0 &&
    !((i.silentStreams ?? 0) > 0) &&
    !((i.outOfOrder ?? 0) > 0)
  )
}

const EMPTY_INTEGRITY: Integrity = { sent: 0, expected: 0, delivered: 0, rejected: 0, errors: 0, unexpectedCloses: 0, failedConnects: 0, closeCodes: [] }

export interface IdleStreamsSizes {
  /** Clients, each with two sockets. */
  clients: number
  /** Clients per room. */
  roomSize: number
  concurrency: number
  /** After the warm-up sockets close, before the first reading. */
  settleMs: number
  /** After the last socket opened, before the second reading (the storm's garbage returned). */
  idleMs: number
}

/** 10 000 sockets, as the connect scenario opens. */
export const IDLE_STREAMS_FULL: IdleStreamsSizes = { clients: 5000, roomSize: 10, concurrency: 256, settleMs: 12_000, idleMs: 15_000 }
/** 600 sockets: under 1 024 descriptors, as the connect scenario's smoke. */
export const IDLE_STREAMS_SMOKE: IdleStreamsSizes = { clients: 300, roomSize: 10, concurrency: 128, settleMs: 500, idleMs: 1000 }

export interface Sizes {
  fanout: { subscribers: number; publishers: number; window: number; durationMs: number; warmupMs: number }
  fixedRate: { subscribers: number; perSecond: number; durationMs: number; warmupMs: number }
  manyRooms: { rooms: number; members: number; window: number; durationMs: number; warmupMs: number }
  connect: { sockets: number; roomSize: number; users: number; concurrency: number; settleMs: number; idleMs: number }
  login: { concurrency: number; durationMs: number; warmupMs: number }
  idleStreams: IdleStreamsSizes
}

export const FULL: Sizes = {
  fanout: { subscribers: 1000, publishers: 10, window: 8, durationMs: 8000, warmupMs: 1500 },
  fixedRate: { subscribers: 1000, perSecond: 50, durationMs: 10_000, warmupMs: 1500 },
  manyRooms: { rooms: 1000, members: 5, window: 2, durationMs: 8000, warmupMs: 1500 },
  connect: { sockets: 10_000, roomSize: 10, users: 1000, concurrency: 256, settleMs: 12_000, idleMs: 15_000 },
  login: { concurrency: 8, durationMs: 8000, warmupMs: 1000 },
  idleStreams: IDLE_STREAMS_FULL,
}

export const SMOKE: Sizes = {
  fanout: { subscribers: 200, publishers: 4, window: 4, durationMs: 1500, warmupMs: 300 },
  fixedRate: { subscribers: 200, perSecond: 50, durationMs: 1500, warmupMs: 300 },
  manyRooms: { rooms: 100, members: 5, window: 2, durationMs: 1500, warmupMs: 300 },
  // 600 sockets keep the server under 1 024 descriptors, a common default limit on CI machines.
  connect: { sockets: 600, roomSize: 10, users: 60, concurrency: 128, settleMs: 500, idleMs: 1000 },
  login: { concurrency: 4, durationMs: 1000, warmupMs: 200 },
  idleStreams: IDLE_STREAMS_SMOKE,
}

/** How long to wait for stragglers after the publishers stop. */
const DRAIN_MS = 30_000
const CONNECT_TIMEOUT_MS = 120_000

const wallNow = () => performance.timeOrigin + performance.now()

async function withServer<T>(kind: Kind, gens: Generators, env: Record<string, string>, fn: (s: ServerUnderTest) => Promise<T>): Promise<T> {
  const server = await startServer(kind, { env })
  try {
    return await fn(server)
  } finally {
    await gens.closeAll()
    await server.stop()
  }
}

export async function open(
  server: Pick<ServerUnderTest, 'kind' | 'host' | 'port'>,
  gens: Generators,
  sockets: SocketSpec[],
  concurrency: number,
  workerOf?: (i: number) => number,
) {
  const result = await gens.connect(server.host, server.port, sockets, { concurrency, timeoutMs: CONNECT_TIMEOUT_MS, workerOf })
  if (result.failed > 0) console.error(`  ${server.kind}: ${result.failed} of ${sockets.length} sockets failed to open: ${result.firstError}`)
  return result
}

export interface Measured {
  seconds: number
  cpuSeconds: number
  generatorCpuSeconds: number
  sent: number
  totals: Totals
  integrity: Integrity
}

/** Throughput and CPU figures shared by every scenario that counts deliveries. */
export function deliveryMetrics(m: Measured) {
  return {
    messagesPerSec: m.sent / m.seconds,
    cpuUsPerDelivery: (m.cpuSeconds * 1e6) / m.totals.delivered,
    serverCpuPercent: (m.cpuSeconds / m.seconds) * 100,
    generatorCpuPercent: (m.generatorCpuSeconds / m.seconds) * 100,
  }
}

/** Send → receive latency quantiles from a histogram (see LATENCY_BUCKETS). */
export function latencyMetrics(latency: number[]) {
  return { p50Ms: latencyQuantile(latency, 0.5), p99Ms: latencyQuantile(latency, 0.99), p999Ms: latencyQuantile(latency, 0.999) }
}

/** One load run: publishers go, then wait until every socket has every message; CPU and time around it. */
export async function measure(
  server: Pick<ServerUnderTest, 'cpuSeconds'>,
  gens: Generators,
  mode: (w: number) => RunMode,
  failedConnects: number,
): Promise<Measured> {
  const cpu0 = server.cpuSeconds()
  const gen0 = gens.cpuSeconds()
  const t0 = wallNow()
  const ran = await gens.run(mode, DRAIN_MS)
  const totals = await gens.waitDelivered(ran.roomSent, DRAIN_MS)
  const cpuSeconds = server.cpuSeconds() - cpu0
  const generatorCpuSeconds = gens.cpuSeconds() - gen0
  const seconds = ((totals.lastAt || wallNow()) - t0) / 1000
  return {
    seconds,
    cpuSeconds,
    generatorCpuSeconds,
    sent: ran.sent,
    totals,
    integrity: {
      sent: ran.sent,
      expected: totals.expected,
      delivered: totals.delivered,
      // Sends answered with an error frame, and sends whose own copy never came back.
      rejected: ran.sent - ran.acked,
      errors: totals.errors,
      unexpectedCloses: totals.unexpectedCloses,
      failedConnects,
      closeCodes: totals.closeCodes,
      silentStreams: totals.silentStreams,
      outOfOrder: totals.outOfOrder,
    },
  }
}

/** A short run before the measured one (JIT, caches, TCP windows); what it loses counts as a failure too. */
export async function warmUp(server: Pick<ServerUnderTest, 'cpuSeconds'>, gens: Generators, mode: (w: number) => RunMode): Promise<void> {
  if (mode(0).durationMs <= 0) return
  const { integrity } = await measure(server, gens, mode, 0)
  if (!isLossless(integrity)) throw new Error(`warm-up lost messages: ${JSON.stringify(integrity)}`)
  await gens.reset()
}

/** Fan-out: one room, many read-only subscribers, a few publishers each keeping `window` messages in flight. */
export async function fanout(kind: Kind, gens: Generators, size: Sizes['fanout']): Promise<Outcome> {
  return withServer(kind, gens, CHEAP_ARGON2_ENV, async (server) => {
    const accounts = await server.accounts(size.publishers)
    const sockets: SocketSpec[] = [
      ...accounts.map((a) => ({ room: 'fanout', token: a.token, publisher: true, track: false })),
      ...Array.from({ length: size.subscribers }, () => ({ room: 'fanout', token: null, publisher: false, track: false })),
    ]
    const { failed } = await open(server, gens, sockets, 256)
    await warmUp(server, gens, () => ({ mode: 'window', window: size.window, durationMs: size.warmupMs }))
    const m = await measure(server, gens, () => ({ mode: 'window', window: size.window, durationMs: size.durationMs }), failed)
    return {
      metrics: {
        deliveriesPerSec: m.totals.delivered / m.seconds,
        ...deliveryMetrics(m),
      },
      integrity: m.integrity,
    }
  })
}

/** Fixed rate: one room, `perSecond` messages a second (open loop), latency send → receive at every subscriber. */
export async function fixedRate(kind: Kind, gens: Generators, size: Sizes['fixedRate']): Promise<Outcome> {
  return withServer(kind, gens, CHEAP_ARGON2_ENV, async (server) => {
    // One publisher per generator: latency is only measured within one process's clock.
    const accounts = await server.accounts(gens.size)
    const sockets: SocketSpec[] = [
      ...accounts.map((a) => ({ room: 'steady', token: a.token, publisher: true, track: true })),
      ...Array.from({ length: size.subscribers }, () => ({ room: 'steady', token: null, publisher: false, track: true })),
    ]
    const { failed } = await open(server, gens, sockets, 256)
    const perWorker = size.perSecond / gens.size
    await warmUp(server, gens, () => ({ mode: 'rate', perSecond: perWorker, durationMs: size.warmupMs }))
    const m = await measure(server, gens, () => ({ mode: 'rate', perSecond: perWorker, durationMs: size.durationMs }), failed)
    return {
      metrics: {
        ...latencyMetrics(m.totals.latency),
        ...deliveryMetrics(m),
      },
      integrity: m.integrity,
    }
  })
}

/** Many rooms: `rooms` rooms of `members` logged-in users each, one publisher per room keeping `window` in flight. */
export async function manyRooms(kind: Kind, gens: Generators, size: Sizes['manyRooms']): Promise<Outcome> {
  return withServer(kind, gens, CHEAP_ARGON2_ENV, async (server) => {
    const accounts = await server.accounts(size.rooms)
    const sockets: SocketSpec[] = []
    for (let r = 0; r < size.rooms; r++) {
      for (let j = 0; j < size.members; j++) {
        // Each room has `members` different users; each user sits in `members` rooms.
        sockets.push({ room: `room-${r}`, token: accounts[(r + j) % accounts.length]!.token, publisher: j === 0, track: false })
      }
    }
    const { failed } = await open(server, gens, sockets, 256, (i) => Math.floor(i / size.members))
    await warmUp(server, gens, () => ({ mode: 'window', window: size.window, durationMs: size.warmupMs }))
    const m = await measure(server, gens, () => ({ mode: 'window', window: size.window, durationMs: size.durationMs }), failed)
    return {
      metrics: {
        messagesPerSec: m.sent / m.seconds,
        deliveriesPerSec: m.totals.delivered / m.seconds,
        cpuUsPerMessage: (m.cpuSeconds * 1e6) / m.sent,
        serverCpuPercent: (m.cpuSeconds / m.seconds) * 100,
        generatorCpuPercent: (m.generatorCpuSeconds / m.seconds) * 100,
      },
      integrity: m.integrity,
    }
  })
}

/**
 * Connect and idle: open `sockets` authenticated sockets (rooms of `roomSize` different users),
 * each counted once its `welcome` arrived; then, after they settle, the server's RSS per socket.
 */
export async function connectIdle(kind: Kind, gens: Generators, size: Sizes['connect']): Promise<Outcome> {
  return withServer(kind, gens, CHEAP_ARGON2_ENV, async (server) => {
    const accounts = await server.accounts(size.users)
    const rooms = Math.ceil(size.sockets / size.roomSize)
    const sockets: SocketSpec[] = []
    for (let i = 0; i < size.sockets; i++) {
      const r = Math.floor(i / size.roomSize)
      const j = i % size.roomSize
      sockets.push({ room: `room-${r}`, token: accounts[(r + j) % accounts.length]!.token, publisher: false, track: false })
    }
    // A few sockets first so that lazily built code paths are not counted as per-socket memory.
    const warm = await open(server, gens, sockets.slice(0, 50), 16)
    await gens.closeAll()
    await Bun.sleep(size.settleMs)
    const rss0 = server.rssBytes()
    const cpu0 = server.cpuSeconds()
    const result = await open(server, gens, sockets, size.concurrency, (i) => Math.floor(i / size.roomSize))
    const cpuSeconds = server.cpuSeconds() - cpu0
    await Bun.sleep(1000)
    const rssConnected = server.rssBytes()
    // Garbage from the connection storm is only returned to the OS after a collection and a scavenge,
    // which an idle Bun process gets to within ~10-15 s; idle memory is what is left then.
    await Bun.sleep(size.idleMs)
    const rss1 = server.rssBytes()
    const totals = await gens.check({})
    return {
      metrics: {
        connectSeconds: result.elapsedMs / 1000,
        connectsPerSec: result.opened / (result.elapsedMs / 1000),
        cpuUsPerConnect: (cpuSeconds * 1e6) / result.opened,
        rssBytesPerConnection: (rss1 - rss0) / result.opened,
        rssBytesPerConnectionAt1s: (rssConnected - rss0) / result.opened,
        rssMiB: rss1 / 1024 / 1024,
        rooms,
      },
      integrity: {
        ...EMPTY_INTEGRITY,
        errors: totals.errors,
        unexpectedCloses: totals.unexpectedCloses,
        failedConnects: result.failed + warm.failed,
        closeCodes: totals.closeCodes,
      },
    }
  })
}

const ROOT = join(import.meta.dir, '..')

/** Login: logins a second through the product's HTTP API at its default argon2 cost (`kind` product). */
export async function login(kind: Kind, gens: Generators, size: Sizes['login']): Promise<Outcome> {
  const defaults = defineConfig()
  if (kind === 'baseline') return argon2Alone(size, defaults.argon2MemoryKib, defaults.argon2Iterations)
  return withServer(kind, gens, {}, async (server) => {
    const accounts = await server.accounts(size.concurrency)
    let failures = 0
    const loginFor = async (ms: number) => {
      const until = performance.now() + ms
      let ok = 0
      await pool(accounts.length, accounts.length, async (i) => {
        const a = accounts[i]!
        const body = JSON.stringify({ username: a.username, secret: a.secret })
        // The measured load: a bare fetch per login (the SDK's path), so the client adds nothing to what is timed.
        while (performance.now() < until) {
          const res = await fetch(`${server.url}${PATHS.login}`, { method: 'POST', body })
          await res.arrayBuffer()
          if (res.status === 200) ok++
          else failures++
        }
      })
      return ok
    }
    await loginFor(size.warmupMs)
    const cpu0 = server.cpuSeconds()
    const started = performance.now()
    const logins = await loginFor(size.durationMs)
    const seconds = (performance.now() - started) / 1000
    const cpuSeconds = server.cpuSeconds() - cpu0
    return {
      metrics: {
        perSec: logins / seconds,
        cpuMsPerLogin: (cpuSeconds * 1000) / logins,
        memoryKib: defaults.argon2MemoryKib,
        iterations: defaults.argon2Iterations,
      },
      integrity: { ...EMPTY_INTEGRITY, sent: logins + failures, expected: logins + failures, delivered: logins, errors: failures },
    }
  })
}

async function argon2Alone(size: Sizes['login'], memoryKib: number, iterations: number): Promise<Outcome> {
  const proc = Bun.spawn({
    cmd: [process.execPath, join(ROOT, 'bench/argon2-alone.ts')],
    cwd: ROOT,
    env: {
      ...process.env,
      ARGON2_MEMORY_KIB: String(memoryKib),
      ARGON2_ITERATIONS: String(iterations),
      CONCURRENCY: String(size.concurrency),
      DURATION_MS: String(size.durationMs),
      WARMUP_MS: String(size.warmupMs),
    },
    stdout: 'pipe',
    stderr: 'inherit',
  })
  const out = await new Response(proc.stdout).text()
  if ((await proc.exited) !== 0) throw new Error('bench/argon2-alone.ts failed')
  const r = JSON.parse(out.trim().split('\n').at(-1)!) as { verifies: number; seconds: number; cpuSeconds: number }
  return {
    metrics: { perSec: r.verifies / r.seconds, cpuMsPerLogin: (r.cpuSeconds * 1000) / r.verifies, memoryKib, iterations },
    integrity: { ...EMPTY_INTEGRITY, sent: r.verifies, expected: r.verifies, delivered: r.verifies },
  }
}

export interface SweepSizes {
  steps: number[]
  perSecond: number
  durationMs: number
  warmupMs: number
  /** p99 above this ends the sweep. */
  limitMs: number
  /** Rooms of this many sockets (one publisher each); undefined: everyone in one room. */
  roomSize: number | undefined
  /** Every `trackEvery`-th socket measures latency. */
  trackEvery: number
}

export interface SweepPoint {
  connections: number
  rooms: number
  p50Ms: number
  p99Ms: number
  deliveriesPerSec: number
  serverCpuPercent: number
  rssMiB: number
  lossless: boolean
  integrity: Integrity
}

/**
 * Scale: grows one server's load step by step at a fixed total message rate, until p99 passes
 * `limitMs`, something is lost, or the steps (bounded by the fd limit) run out.
 */
export async function sweep(kind: Kind, gens: Generators, size: SweepSizes, onPoint: (p: SweepPoint) => void): Promise<SweepPoint[]> {
  return withServer(kind, gens, CHEAP_ARGON2_ENV, async (server) => {
    const points: SweepPoint[] = []
    let connections = 0
    let rooms = 0
    let failedConnects = 0
    const oneRoom = size.roomSize === undefined
    if (oneRoom) {
      const accounts = await server.accounts(gens.size)
      const sockets = accounts.map((a) => ({ room: 'big', token: a.token, publisher: true, track: true }))
      failedConnects += (await open(server, gens, sockets, 64)).failed
      connections += sockets.length
      rooms = 1
    }
    for (const target of size.steps) {
      const sockets: SocketSpec[] = []
      let workerOf: ((i: number) => number) | undefined
      if (oneRoom) {
        for (let i = connections; i < target; i++) sockets.push({ room: 'big', token: null, publisher: false, track: i % size.trackEvery === 0 })
      } else {
        const roomSize = size.roomSize!
        const newRooms = Math.floor((target - connections) / roomSize)
        const accounts = await server.accounts(newRooms)
        for (let r = 0; r < newRooms; r++) {
          for (let j = 0; j < roomSize; j++) {
            const publisher = j === 0
            sockets.push({ room: `room-${rooms + r}`, token: publisher ? accounts[r]!.token : null, publisher, track: publisher || j % size.trackEvery === 0 })
          }
        }
        // A room's sockets and its publisher share a generator, so latency is measured on one clock.
        const first = rooms
        workerOf = (i) => first + Math.floor(i / roomSize)
        rooms += newRooms
      }
      const opened = await open(server, gens, sockets, 256, workerOf)
      failedConnects += opened.failed
      connections += opened.opened
      const perWorker = size.perSecond / gens.size
      await gens.reset()
      await warmUp(server, gens, () => ({ mode: 'rate', perSecond: perWorker, durationMs: size.warmupMs }))
      const m = await measure(server, gens, () => ({ mode: 'rate', perSecond: perWorker, durationMs: size.durationMs }), failedConnects)
      const point: SweepPoint = {
        connections,
        rooms,
        p50Ms: latencyQuantile(m.totals.latency, 0.5),
        p99Ms: latencyQuantile(m.totals.latency, 0.99),
        deliveriesPerSec: m.totals.delivered / m.seconds,
        serverCpuPercent: (m.cpuSeconds / m.seconds) * 100,
        rssMiB: server.rssBytes() / 1024 / 1024,
        lossless: isLossless(m.integrity),
        integrity: m.integrity,
      }
      points.push(point)
      onPoint(point)
      if (!point.lossless || !(point.p99Ms < size.limitMs) || opened.failed > 0) break
    }
    return points
  })
}
