/**
 * Reconnect storm (issue 16): after a deploy or a restart every client reconnects at once with
 * `?since=`, and each must get, in its `welcome`, exactly the messages it missed. Per server, started
 * fresh:
 *
 * 1. `users` accounts; `before` messages posted into each of `rooms` rooms (what the clients saw), then
 *    `away` more into each (what they missed while away);
 * 2. the server is stopped (SIGTERM) and started again on the same data: caches, JIT and all start cold,
 *    as after a deploy;
 * 3. the storm: `clients` sockets (`clients / rooms` per room, each room's of different users, every
 *    user's token shared by the sockets of that user as tabs share one) connect in a shuffled order,
 *    `concurrency` handshakes in flight, each with `?since=` the last id it saw (the client's cursor,
 *    up to `spread - 1` messages older than the room's last `before` message, so that welcomes differ).
 *
 * Measured: the time from the first handshake to the last `welcome`, and the server's CPU in between
 * per connection. A welcome that does not hold exactly the messages after its cursor, in order (none
 * missed, repeated or out of order, nothing truncated), fails that socket's connect (bench/worker.ts),
 * and the run is not lossless. The baseline (bench/baseline.ts) verifies the token's HMAC and answers
 * with one SELECT of the messages after the cursor.
 */
import { appendFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PATHS } from '../src/protocol.ts'
import type { Generators } from './generators.ts'
import type { SocketSpec } from './protocol.ts'
import { DOC_TEMPLATE, loadNow, runLine, updatePerformanceDoc, writePerformanceSvg, type Row, median } from './report.ts'
import { isLossless, open, type Outcome } from './scenarios.ts'
import { CHEAP_ARGON2_ENV, startServer, type Account, type Kind, type ServerUnderTest } from './servers.ts'

export interface ReconnectSizes {
  clients: number
  rooms: number
  users: number
  /** Messages per room the clients had seen, and messages per room posted while they were away. */
  before: number
  away: number
  /** Clients' cursors are spread over the last `spread` messages they saw. */
  spread: number
  /**
   * Handshakes in flight during the storm. Kept under the listen backlog Bun asks for (512): past it
   * the kernel drops connections while the server is busy, and each dropped one is retried a second
   * later, which would measure the kernel's retry timer instead of the server (see `listenOverflows`).
   */
  concurrency: number
  /** Pause between the restart and the storm. */
  settleMs: number
}

export const RECONNECT_FULL: ReconnectSizes = { clients: 10_000, rooms: 100, users: 1000, before: 50, away: 20, spread: 5, concurrency: 500, settleMs: 1000 }
/** 600 sockets keep the server under 1 024 descriptors, as the smoke's connect scenario does. */
export const RECONNECT_SMOKE: ReconnectSizes = { clients: 600, rooms: 10, users: 60, before: 10, away: 5, spread: 3, concurrency: 300, settleMs: 200 }

/** Product ÷ baseline bounds (issue 16): time to the last welcome, and server CPU per connection. */
export const RECONNECT_TARGETS = { time: 1.25, cpu: 1.5 }

const POST_TIMEOUT_MS = 60_000

/** The kernel's count of connections dropped because a listen queue was full (all sockets of the machine). */
function listenOverflows(): number {
  const lines = readFileSync('/proc/net/netstat', 'utf8').split('\n')
  for (let i = 0; i + 1 < lines.length; i += 2) {
    const names = lines[i]!.split(/\s+/)
    const at = names.indexOf('ListenOverflows')
    if (at >= 0) return Number(lines[i + 1]!.split(/\s+/)[at])
  }
  return NaN
}

/** mulberry32: the same storm order for both servers. */
function prng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** Posts `count` messages into `room` over one socket of `account`; resolves with their ids in order. */
async function post(server: ServerUnderTest, account: Account, room: string, count: number, label: string): Promise<number[]> {
  const ws = new WebSocket(`ws://${server.host}:${server.port}${PATHS.roomSocket(room)}`, [account.token])
  const ids: number[] = []
  const done = Promise.withResolvers<number[]>()
  const timer = setTimeout(() => done.reject(new Error(`posting into ${room}: ${ids.length} of ${count} came back`)), POST_TIMEOUT_MS)
  ws.onmessage = (event) => {
    const frame = JSON.parse(String(event.data)) as { type: string; error: unknown; data: { id: number; user: { id: number } } }
    if (frame.type === 'welcome') {
      for (let i = 0; i < count; i++) ws.send(JSON.stringify({ type: 'message', text: `${label} ${i} of ${room}` }))
    } else if (frame.type === 'message' && frame.data.user.id === account.id) {
      ids.push(frame.data.id)
      if (ids.length === count) done.resolve(ids)
    } else if (frame.type === 'error') done.reject(new Error(`posting into ${room}: ${JSON.stringify(frame.error)}`))
  }
  ws.onclose = (event) => done.reject(new Error(`posting into ${room}: closed ${event.code} ${event.reason}`))
  try {
    return await done.promise
  } finally {
    clearTimeout(timer)
    ws.onclose = null
    ws.close()
  }
}

/** Every room's messages, `label` by `label`, all rooms at once; ids per room, in order. */
async function postAll(server: ServerUnderTest, accounts: Account[], size: ReconnectSizes, count: number, label: string): Promise<number[][]> {
  return Promise.all(Array.from({ length: size.rooms }, (_, r) => post(server, accounts[r % accounts.length]!, `storm-${r}`, count, label)))
}

/** The storm's sockets: room `r`'s `j`-th client is user (r·perRoom + j) mod users, resuming after its cursor; shuffled. */
function stormSockets(accounts: Account[], ids: number[][], size: ReconnectSizes): SocketSpec[] {
  const perRoom = Math.floor(size.clients / size.rooms)
  const sockets: SocketSpec[] = []
  for (let r = 0; r < size.rooms; r++) {
    for (let j = 0; j < perRoom; j++) {
      const seen = size.before - (j % size.spread)
      sockets.push({
        room: `storm-${r}`,
        token: accounts[(r * perRoom + j) % accounts.length]!.token,
        publisher: false,
        track: false,
        since: ids[r]![seen - 1]!,
        expectHistory: ids[r]!.slice(seen).join(','),
      })
    }
  }
  const random = prng(16)
  for (let i = sockets.length - 1; i > 0; i--) {
    const k = Math.floor(random() * (i + 1))
    ;[sockets[i], sockets[k]] = [sockets[k]!, sockets[i]!]
  }
  return sockets
}

/** One server's storm: fill, restart on the same data, then every client reconnects with its cursor. */
export async function reconnectStorm(kind: Kind, gens: Generators, size: ReconnectSizes): Promise<Outcome> {
  const dir = mkdtempSync(join(tmpdir(), `chat-bench-reconnect-${kind}-`))
  try {
    let server = await startServer(kind, { env: CHEAP_ARGON2_ENV, dir })
    let accounts: Account[]
    const ids: number[][] = Array.from({ length: size.rooms }, () => [])
    try {
      accounts = await server.accounts(size.users)
      for (const [label, count] of [
        ['seen', size.before],
        ['missed', size.away],
      ] as const) {
        const posted = await postAll(server, accounts, size, count, label)
        posted.forEach((room, r) => ids[r]!.push(...room))
      }
    } finally {
      await server.stop()
    }
    server = await startServer(kind, { env: CHEAP_ARGON2_ENV, dir })
    try {
      const sockets = stormSockets(accounts, ids, size)
      await Bun.sleep(size.settleMs)
      const cpu0 = server.cpuSeconds()
      const gen0 = gens.cpuSeconds()
      const overflows0 = listenOverflows()
      const result = await open(server, gens, sockets, size.concurrency)
      const cpuSeconds = server.cpuSeconds() - cpu0
      const generatorCpuSeconds = gens.cpuSeconds() - gen0
      const totals = await gens.check({})
      const seconds = result.elapsedMs / 1000
      return {
        metrics: {
          stormSeconds: seconds,
          connectsPerSec: result.opened / seconds,
          cpuUsPerConnect: (cpuSeconds * 1e6) / result.opened,
          serverCpuPercent: (cpuSeconds / seconds) * 100,
          generatorCpuPercent: (generatorCpuSeconds / seconds) * 100,
          listenOverflows: listenOverflows() - overflows0,
          missedPerClient: sockets.reduce((n, s) => n + s.expectHistory!.split(',').length, 0) / sockets.length,
        },
        integrity: {
          sent: size.rooms * (size.before + size.away),
          expected: sockets.length,
          delivered: result.opened,
          rejected: 0,
          errors: totals.errors,
          unexpectedCloses: totals.unexpectedCloses,
          failedConnects: result.failed,
          closeCodes: totals.closeCodes,
        },
      }
    } finally {
      await gens.closeAll()
      await server.stop()
    }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

export interface ReconnectRecord {
  kind: Kind
  round: number
  outcome: Outcome | undefined
  error: string | undefined
}

/** `rounds` A/B rounds (product first in even rounds), each server fresh. */
export async function runReconnect(
  gens: Generators,
  size: ReconnectSizes,
  rounds: number,
  onRecord: (r: ReconnectRecord, seconds: number) => void,
): Promise<ReconnectRecord[]> {
  const records: ReconnectRecord[] = []
  for (let round = 0; round < rounds; round++) {
    for (const kind of (round % 2 === 0 ? ['product', 'baseline'] : ['baseline', 'product']) as Kind[]) {
      const started = performance.now()
      let record: ReconnectRecord
      try {
        record = { kind, round, outcome: await reconnectStorm(kind, gens, size), error: undefined }
      } catch (err) {
        record = { kind, round, outcome: undefined, error: err instanceof Error ? (err.stack ?? err.message) : String(err) }
        await gens.closeAll().catch(() => {})
      }
      records.push(record)
      onRecord(record, (performance.now() - started) / 1000)
    }
  }
  return records
}

/** The two figures as rows of the results table (and the chart): medians over rounds of each round's ratio. */
export function reconnectRows(records: ReconnectRecord[], size: ReconnectSizes, rounds: number): Row[] {
  const of = (kind: Kind, metric: string, round?: number) =>
    records.filter((r) => r.kind === kind && (round === undefined || r.round === round)).map((r) => r.outcome?.metrics[metric] ?? NaN)
  const row = (metric: string, label: string, short: string, target: number, cpuLabel: string): Row => {
    const ratios = Array.from({ length: rounds }, (_, round) => of('product', metric, round)[0]! / of('baseline', metric, round)[0]!)
    const ratio = median(ratios)
    return {
      scenario: 'reconnect',
      label,
      short,
      product: median(of('product', metric)),
      baseline: median(of('baseline', metric)),
      ratio,
      better: 'lower',
      target,
      met: Number.isFinite(ratio) ? ratio <= target : undefined,
      cpuLabel,
      cpuProduct: NaN,
      cpuBaseline: NaN,
      cpuRatio: NaN,
      ratios: ratios.filter(Number.isFinite),
    }
  }
  const what = `${size.clients.toLocaleString('en-US')} clients in ${size.rooms} rooms, ${size.away}–${size.away + size.spread - 1} missed messages each`
  return [
    row('stormSeconds', `s until the last welcome (${what})`, 'time to last welcome', RECONNECT_TARGETS.time, ''),
    row('cpuUsPerConnect', 'server CPU µs per connection', 'CPU per connection', RECONNECT_TARGETS.cpu, ''),
  ]
}

export function reconnectLossless(records: ReconnectRecord[]): boolean {
  return records.every((r) => r.error === undefined && r.outcome !== undefined && isLossless(r.outcome.integrity))
}

const fmt = (n: number) => (!Number.isFinite(n) ? '–' : Math.abs(n) >= 100 ? n.toFixed(0) : Math.abs(n) >= 10 ? n.toFixed(1) : n.toFixed(2))

/** The scenario's table: product, baseline, ratio (with the rounds' spread), target. */
export function reconnectTable(rows: Row[]): string {
  const lines = ['| Figure | Product | Baseline | Product / baseline | Target | Met |', '|---|---:|---:|---:|---|---|']
  for (const r of rows) {
    const spread = r.ratios.length > 1 ? ` (${fmt(Math.min(...r.ratios))}–${fmt(Math.max(...r.ratios))})` : ''
    lines.push(
      `| ${r.label} | ${fmt(r.product)} | ${fmt(r.baseline)} | ${fmt(r.ratio)}${spread} | ≤ ${r.target} | ${r.met === undefined ? '—' : r.met ? 'yes' : '**no**'} |`,
    )
  }
  return lines.join('\n')
}

/** `bun run bench --scenario reconnect`: runs the storms, logs each, prints the table; with `write`, bench/results.jsonl and docs/PERFORMANCE.md. */
export async function reconnectScenario(
  opts: { smoke: boolean; rounds: number; write: boolean; workers: number },
  gens: Generators,
  meta: Record<string, unknown>,
  log: (line: string) => void,
): Promise<boolean> {
  const size = opts.smoke ? RECONNECT_SMOKE : RECONNECT_FULL
  const started = performance.now()
  const loadBefore = loadNow()
  const records = await runReconnect(gens, size, opts.rounds, (r, seconds) => {
    const head = `reconnect #${r.round + 1} ${r.kind} (${seconds.toFixed(1)} s)`
    if (!r.outcome) return log(`${head} FAILED: ${r.error}`)
    const m = r.outcome.metrics
    const i = r.outcome.integrity
    const ok = isLossless(i) ? 'ok' : `LOSS failedConnects=${i.failedConnects} errors=${i.errors} closes=${i.unexpectedCloses} [${i.closeCodes.join(',')}]`
    log(
      `${head}: ${m.stormSeconds!.toFixed(2)} s to the last welcome, ${m.cpuUsPerConnect!.toFixed(0)} µs CPU/connection, server ${m.serverCpuPercent!.toFixed(0)} %, generators ${m.generatorCpuPercent!.toFixed(0)} %, listen overflows ${m.listenOverflows} | ${i.delivered}/${i.expected} welcomes ${ok}`,
    )
  })
  const rows = reconnectRows(records, size, opts.rounds)
  const lossless = reconnectLossless(records)
  const seconds = Math.round((performance.now() - started) / 100) / 10
  const record = { ...meta, scenario: 'reconnect', loadavgBefore: [loadBefore], loadavgAfter: [loadNow()], seconds, sizes: size, rows, runs: records, lossless }
  const table = reconnectTable(rows)
  console.log(JSON.stringify(record))
  console.log(`\n${table}\n`)
  if (!lossless) log('bench reconnect: a welcome missed, repeated or reordered messages, or a socket failed')
  if (opts.write) {
    appendFileSync(join(import.meta.dir, 'results.jsonl'), JSON.stringify(record) + '\n')
    // The chart: this scenario's two bars beside the latest run of the others (bench/report.ts).
    writePerformanceSvg(join(import.meta.dir, '..'))
    const what = `${opts.rounds} rounds, ${opts.workers} generator processes`
    const verdict = lossless
      ? `Nothing missed: in every run each of the ${size.clients.toLocaleString('en-US')} welcomes held exactly the messages after its cursor, in order.`
      : '**Not lossless:** a welcome missed, repeated or reordered messages, or a socket failed (see the log).'
    updatePerformanceDoc(join(import.meta.dir, '../docs/PERFORMANCE.md'), DOC_TEMPLATE, {
      reconnect: [runLine(meta, [loadBefore, loadNow()], what, seconds), '', table, '', verdict].join('\n'),
    })
  }
  return lossless
}
