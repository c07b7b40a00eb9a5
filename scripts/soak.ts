/**
 * Soak: bounded churn against a real server on 127.0.0.1, to find leaks and lost messages.
 * Run with `bun run soak`; the server is started here as a child process (`bun src/main.ts`) on a
 * fresh SQLite file in a temp dir, and stopped (SIGTERM, clean shutdown) at the end.
 *
 * Settings (environment):
 *   SOAK_SECONDS         how long waves keep starting (default 60)
 *   SOAK_CLIENTS         clients per wave, all connected at the wave's peak (default 2000; capped so
 *                        this process stays within `ulimit -n`, one descriptor per client here and one
 *                        in the server)
 *   SOAK_SETTLE_SECONDS  quiet time after the last client left, before "after" is read (default 5)
 *   SOAK_ROOMS           rooms the clients are spread over (default 20)
 *
 * A wave: SOAK_CLIENTS clients connect in batches of 200; three in four log in (50 accounts shared
 * round-robin), post one message each with a unique nonce as soon as their welcome arrives and wait
 * for their own copy; one in four read only. When every poster has its copy (or the wave's time is up)
 * they all disconnect, one in ten abruptly (no close frame). Waves repeat until SOAK_SECONDS have
 * passed (and at most MAX_WAVES), each bounded by WAVE_TIMEOUT_MS.
 *
 * Memory: the server's RSS (VmRSS, /proc/<pid>/status) is sampled every 100 ms. `baseline` is the
 * median of a second's samples after a warm-up wave and a settle; `peak` is the highest sample;
 * `after` is the median of a second's samples once every client has left, SOAK_SETTLE_SECONDS passed
 * and the server's JS heap (from /metrics) is back within 4 MiB of its baseline, waited for up to
 * 30 s more: a forced GC is not possible in the child, and Bun's idle GC runs on its own schedule,
 * so without that wait `after` would measure garbage not yet collected rather than memory kept.
 * The rule allows for memory the allocator keeps for reuse, not for memory that grows with the
 * clients served:
 *
 *     after ≤ baseline + max(32 MiB, 50% of (peak − baseline))
 *
 * i.e. the server must give back at least half of what the churn took (a leak of per-connection or
 * per-message state keeps all of it, and keeps growing with waves), and 32 MiB of slack covers
 * allocator caches and JIT code on a short run where the peak is small.
 *
 * Exit status is non-zero when: the memory rule fails, any poster did not get its own copy (lost
 * message), any client failed to connect, the server still counts connections or rooms after all
 * clients left (from /metrics), or the server did not stop cleanly. A report is printed, and the
 * last line of stdout is the result as one JSON object.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { CLOSE, type ClientFrame, type ServerFrame } from '../src/protocol.ts'
import { startChildServer, type ChildServer } from '../test/support/child-server.ts'

const MiB = 1024 * 1024
const SOAK_SECONDS = positiveInt('SOAK_SECONDS', 60)
const WANTED_CLIENTS = positiveInt('SOAK_CLIENTS', 2000)
const SETTLE_SECONDS = positiveInt('SOAK_SETTLE_SECONDS', 5)
const ROOMS = positiveInt('SOAK_ROOMS', 20)
const ACCOUNTS = 50
const BATCH = 200
const MAX_WAVES = 10_000
const WAVE_TIMEOUT_MS = 60_000
const SAMPLE_EVERY_MS = 100
const MEMORY_SLACK_BYTES = 32 * MiB
const MEMORY_GIVE_BACK = 0.5
/** How far above its baseline the JS heap may be for "a collection has run since the churn". */
const HEAP_BACK_BYTES = 4 * MiB
const GC_WAIT_MS = 30_000

function positiveInt(name: string, fallback: number): number {
  const raw = process.env[name]
  if (raw === undefined || raw === '') return fallback
  if (!/^\d+$/.test(raw) || Number(raw) < 1) {
    console.error(`soak: ${name} must be a whole number ≥ 1 (got ${JSON.stringify(raw)})`)
    process.exit(2)
  }
  return Number(raw)
}

/** The soft limit on open files (`ulimit -n`); the server child inherits the same. */
function openFileLimit(): number {
  const m = /^Max open files\s+(\d+|unlimited)/m.exec(readFileSync('/proc/self/limits', 'utf8'))
  return !m || m[1] === 'unlimited' ? Number.POSITIVE_INFINITY : Number(m[1])
}

const CLIENTS = Math.min(WANTED_CLIENTS, openFileLimit() - 256)
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0
const mib = (bytes: number) => `${(bytes / MiB).toFixed(1)} MiB`
const sleep = (ms: number) => Bun.sleep(ms)

interface Account {
  token: string
  userId: number
}

interface WaveResult {
  posted: number
  echoed: number
  lost: number
  connectFailures: number
  ms: number
}

/** `promise`, or `fallback` after `ms`. */
async function within<T>(promise: Promise<T>, ms: number, fallback: T): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined
  try {
    return await Promise.race([promise, new Promise<T>((resolve) => (timer = setTimeout(() => resolve(fallback), ms)))])
  } finally {
    clearTimeout(timer)
  }
}

async function api(url: string, init?: RequestInit): Promise<{ status: number; body: any }> {
  const res = await fetch(url, { ...init, signal: AbortSignal.timeout(10_000) })
  return { status: res.status, body: await res.json().catch(() => null) }
}

async function createAccounts(server: ChildServer): Promise<Account[]> {
  const accounts: Account[] = []
  for (let i = 0; i < ACCOUNTS; i++) {
    const credentials = JSON.stringify({ username: `soak${i}`, secret: 'soak secret' })
    const created = await api(`${server.url}/api/v1/users`, { method: 'POST', body: credentials })
    if (created.status !== 201) throw new Error(`sign-up failed: ${created.status} ${JSON.stringify(created.body)}`)
    const login = await api(`${server.url}/api/v1/login`, { method: 'POST', body: credentials })
    if (login.status !== 200) throw new Error(`login failed: ${login.status} ${JSON.stringify(login.body)}`)
    accounts.push({ token: login.body.data.token, userId: login.body.data.user.id })
  }
  return accounts
}

/**
 * One wave of `count` clients: connect in batches, post (three in four), wait for every poster's own
 * copy, disconnect (one in ten abruptly), and wait until every client has seen its close.
 */
async function runWave(server: ChildServer, accounts: Account[], wave: number, count: number): Promise<WaveResult> {
  const started = performance.now()
  const deadline = Date.now() + WAVE_TIMEOUT_MS
  const sockets: WebSocket[] = []
  const closed: Promise<void>[] = []
  let posted = 0
  let echoed = 0
  let connectFailures = 0
  const allEchoed = Promise.withResolvers<void>()
  let expectedPosters = 0

  const connect = (i: number): Promise<void> => {
    const posts = i % 4 !== 3
    const account = accounts[i % accounts.length]!
    const room = `soak-${i % ROOMS}`
    const nonce = `w${wave}-c${i}`
    const url = `${server.wsUrl}/api/v1/rooms/${room}/messages/ws`
    const ws = posts ? new WebSocket(url, [account.token]) : new WebSocket(url)
    sockets.push(ws)
    if (posts) expectedPosters++
    const welcomed = Promise.withResolvers<void>()
    const done = Promise.withResolvers<void>()
    closed.push(done.promise)
    let sawWelcome = false
    ws.onmessage = (e) => {
      const text = String(e.data)
      if (!sawWelcome) {
        sawWelcome = true
        welcomed.resolve()
        if (posts) {
          ws.send(JSON.stringify({ type: 'message', text: `soak ${nonce}`, nonce } satisfies ClientFrame))
          posted++
        }
        return
      }
      // Cheap filter first: only this client's own copy needs parsing.
      if (posts && text.includes(`"nonce":"${nonce}"`)) {
        const frame = JSON.parse(text) as ServerFrame
        if (frame.type === 'message' && frame.data.user.id === account.userId && frame.data.nonce === nonce && ++echoed === expectedPosters) allEchoed.resolve()
      }
    }
    ws.onclose = () => {
      if (!sawWelcome) {
        connectFailures++
        welcomed.resolve()
      }
      done.resolve()
    }
    return welcomed.promise
  }

  for (let opened = 0; opened < count && Date.now() < deadline; opened += BATCH) {
    const batch = Array.from({ length: Math.min(BATCH, count - opened) }, (_, k) => connect(opened + k))
    await within(Promise.all(batch), Math.max(0, deadline - Date.now()), [])
  }
  if (echoed < expectedPosters) await within(allEchoed.promise, Math.max(0, deadline - Date.now()), undefined)
  const lost = posted - echoed

  sockets.forEach((ws, i) => {
    if (i % 10 === 9) (ws as WebSocket & { terminate(): void }).terminate()
    else ws.close(CLOSE.NORMAL.code)
  })
  await within(Promise.all(closed), 15_000, [])
  return { posted, echoed, lost, connectFailures, ms: performance.now() - started }
}

/** Connections and rooms the server still counts, from /metrics. */
async function serverCounts(server: ChildServer): Promise<{ connections: number; rooms: number; heapUsed: number }> {
  const res = await fetch(`${server.url}/metrics`, { signal: AbortSignal.timeout(10_000) })
  const text = await res.text()
  const sum = (name: string) =>
    text
      .split('\n')
      .filter((l) => l.startsWith(name + '{') || l.startsWith(name + ' '))
      .reduce((n, l) => n + Number(l.slice(l.lastIndexOf(' ') + 1)), 0)
  return { connections: sum('chat_connections'), rooms: sum('chat_rooms'), heapUsed: sum('nodejs_heap_size_used_bytes') }
}

async function main(): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'chat-soak-'))
  const server = await startChildServer({
    database: join(dir, 'chat.db'),
    env: {
      MAX_CONNECTIONS: String(CLIENTS + 100),
      MAX_CONNECTIONS_PER_ADDRESS: String(CLIENTS + 100),
      MESSAGE_RATE: '1000000',
      MESSAGE_BURST: '1000000',
    },
  })
  const samples: { at: number; rss: number }[] = []
  const sampler = setInterval(() => samples.push({ at: Date.now(), rss: server.rss() }), SAMPLE_EVERY_MS)
  /** Median RSS over the next `ms`. */
  const settledRss = async (ms: number) => {
    const from = Date.now()
    await sleep(ms)
    return median(samples.filter((s) => s.at >= from).map((s) => s.rss))
  }

  const totals = { waves: 0, clients: 0, posted: 0, echoed: 0, lost: 0, connectFailures: 0, slowestWaveMs: 0 }
  let baseline = 0
  let after = 0
  let peak = 0
  let heap = { baseline: 0, after: 0 }
  let leftover = { connections: 0, rooms: 0 }
  let settleMs = 0
  let exitCode = -1
  try {
    if (CLIENTS < WANTED_CLIENTS) console.log(`soak: SOAK_CLIENTS lowered to ${CLIENTS} to stay within ulimit -n (${openFileLimit()})`)
    const accounts = await createAccounts(server)

    // Warm-up: JIT, caches and the SQLite page cache reach their working size before the baseline.
    const warm = await runWave(server, accounts, -1, Math.min(CLIENTS, 200))
    if (warm.lost > 0 || warm.connectFailures > 0) console.log(`soak: warm-up wave lost ${warm.lost}, failed ${warm.connectFailures}`)
    await sleep(1000)
    baseline = await settledRss(1000)
    heap.baseline = (await serverCounts(server)).heapUsed
    const baselineAt = Date.now()

    const until = Date.now() + SOAK_SECONDS * 1000
    for (let wave = 0; wave < MAX_WAVES && Date.now() < until; wave++) {
      const r = await runWave(server, accounts, wave, CLIENTS)
      totals.waves++
      totals.clients += CLIENTS
      totals.posted += r.posted
      totals.echoed += r.echoed
      totals.lost += r.lost
      totals.connectFailures += r.connectFailures
      totals.slowestWaveMs = Math.max(totals.slowestWaveMs, Math.round(r.ms))
    }

    // Every client has seen its close; wait (bounded) for the server to have processed them too.
    for (let i = 0; i < 100; i++) {
      const counts = await serverCounts(server)
      leftover = { connections: counts.connections, rooms: counts.rooms }
      if (leftover.connections === 0 && leftover.rooms === 0) break
      await sleep(100)
    }
    // The child can't be told to collect garbage, and Bun's idle GC runs on its own schedule: after the
    // settle time, keep waiting (bounded) until the JS heap is back near its baseline, i.e. a collection ran.
    const settleStarted = Date.now()
    await sleep(Math.max(0, SETTLE_SECONDS * 1000 - 1000))
    for (let i = 0; i < GC_WAIT_MS / 500; i++) {
      heap.after = (await serverCounts(server)).heapUsed
      if (heap.after <= heap.baseline + HEAP_BACK_BYTES) break
      await sleep(500)
    }
    after = await settledRss(1000)
    settleMs = Date.now() - settleStarted
    peak = Math.max(...samples.filter((s) => s.at >= baselineAt).map((s) => s.rss), baseline)
  } finally {
    clearInterval(sampler)
    exitCode = await server.stop()
    rmSync(dir, { recursive: true, force: true })
  }

  const allowed = baseline + Math.max(MEMORY_SLACK_BYTES, MEMORY_GIVE_BACK * (peak - baseline))
  const failures: string[] = []
  if (after > allowed) failures.push(`memory did not come back: after ${mib(after)} > allowed ${mib(allowed)}`)
  if (totals.lost > 0) failures.push(`${totals.lost} posted messages never came back to their sender`)
  if (totals.connectFailures > 0) failures.push(`${totals.connectFailures} clients closed before their welcome`)
  if (leftover.connections !== 0 || leftover.rooms !== 0) failures.push(`server still counts ${leftover.connections} connections and ${leftover.rooms} rooms`)
  if (exitCode !== 0) failures.push(`server exited with ${exitCode} on SIGTERM`)

  console.log(`soak: ${totals.waves} waves × ${CLIENTS} clients over ${SOAK_SECONDS} s (${ROOMS} rooms), slowest wave ${totals.slowestWaveMs} ms`)
  console.log(`  messages: ${totals.posted} posted, ${totals.echoed} came back, ${totals.lost} lost; ${totals.connectFailures} failed connections`)
  console.log(`  server RSS: baseline ${mib(baseline)}, peak ${mib(peak)}, after ${mib(after)} (allowed ≤ ${mib(allowed)})`)
  console.log(`  server JS heap used: baseline ${mib(heap.baseline)}, after ${mib(heap.after)} (settled for ${(settleMs / 1000).toFixed(1)} s)`)
  console.log(failures.length === 0 ? '  result: pass' : `  result: FAIL\n    - ${failures.join('\n    - ')}`)
  console.log(
    JSON.stringify({
      ok: failures.length === 0,
      seconds: SOAK_SECONDS,
      clientsPerWave: CLIENTS,
      ...totals,
      rss: { baseline, peak, after, allowed },
      heapUsed: heap,
      settleMs,
      leftover,
      serverExit: exitCode,
      failures,
    }),
  )
  return failures.length === 0 ? 0 : 1
}

process.exit(await main())
