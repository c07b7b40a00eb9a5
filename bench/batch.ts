/**
 * Batched delivery (issue 16, docs/PROTOCOL.md "Batched delivery"): one room of `subscribers`
 * read-only sockets receiving `perSecond` messages a second (open loop, one logged-in publisher per
 * generator, so that latency is measured on one clock), in three setups started fresh each time:
 *
 * - `batched`: the product, every socket of the room connected with `?batch=<delayMs>`, the web client's delay;
 * - `short`: the same with `?batch=<shortDelayMs>` (16 ms, one animation frame), for what a shorter hold costs;
 * - `plain`: the product, every socket without it (one WebSocket frame per message, as before);
 * - `baseline`: the bare baseline (bench/baseline.ts), which cannot batch.
 *
 * Targets (issue 16), each round's batched run against the baseline run next to it: server CPU per
 * delivered message ≤ 0.5× the baseline's, and p99 send → receive ≤ delayMs + 1.2× the baseline's p99.
 * Every socket must receive every message once and in id order (bench/worker.ts splits a batched
 * socket's WebSocket messages on newlines and checks each socket's ids only grow), else the run fails.
 */
import { appendFileSync } from 'node:fs'
import { join } from 'node:path'
import { BATCH } from '../src/protocol-batch.ts'
import type { Generators } from './generators.ts'
import type { SocketSpec } from './protocol.ts'
import { DOC_TEMPLATE, loadNow, runLine, updatePerformanceDoc, writePerformanceSvg, type Row, median } from './report.ts'
import { deliveryMetrics, isLossless, latencyMetrics, measure, open, warmUp, type Outcome } from './scenarios.ts'
import { CHEAP_ARGON2_ENV, startServer } from './servers.ts'

export interface BatchSizes {
  subscribers: number
  perSecond: number
  /** The `?batch=` the batched setup's sockets ask for, ms. */
  delayMs: number
  /** The `?batch=` of the `short` setup, ms. */
  shortDelayMs: number
  /** Every `trackEvery`-th subscriber (and every publisher) measures latency: enough samples, less generator work. */
  trackEvery: number
  durationMs: number
  warmupMs: number
}

/** The delay the web client asks for (src/web/room-view.ts), and 16 ms beside it. */
export const BATCH_FULL: BatchSizes = {
  subscribers: 1000,
  perSecond: 2000,
  delayMs: BATCH.WEB_CLIENT_MS,
  shortDelayMs: 16,
  trackEvery: 10,
  durationMs: 10_000,
  warmupMs: 1500,
}
export const BATCH_SMOKE: BatchSizes = { ...BATCH_FULL, subscribers: 200, perSecond: 500, durationMs: 1500, warmupMs: 300 }

/** Issue 16: batched ÷ baseline server CPU per delivered message, and p99 ÷ (delayMs + 1.2 × the baseline's p99). */
export const BATCH_TARGETS = { cpu: 0.5, p99Slack: 1.2 }

export type BatchVariant = 'batched' | 'short' | 'plain' | 'baseline'
const ROOM = 'busy'

export interface BatchRecord {
  variant: BatchVariant
  round: number
  outcome: Outcome | undefined
  error: string | undefined
}

/** Lossless, and no socket saw a message id at or below the one before it (repeated or reordered: `isLossless` checks it too). */
export const batchLossless = (o: Outcome) => isLossless(o.integrity) && o.metrics.outOfOrder === 0

/** One setup: a fresh server, the room's sockets, a warm-up, then the measured fixed-rate run. */
async function runVariant(variant: BatchVariant, gens: Generators, size: BatchSizes): Promise<Outcome> {
  const server = await startServer(variant === 'baseline' ? 'baseline' : 'product', { env: CHEAP_ARGON2_ENV })
  try {
    const batch = variant === 'batched' ? size.delayMs : variant === 'short' ? size.shortDelayMs : undefined
    const accounts = await server.accounts(gens.size)
    const sockets: SocketSpec[] = [
      ...accounts.map((a) => ({ room: ROOM, token: a.token, publisher: true, track: true, batch })),
      ...Array.from({ length: size.subscribers }, (_, i) => ({ room: ROOM, token: null, publisher: false, track: i % size.trackEvery === 0, batch })),
    ]
    const { failed } = await open(server, gens, sockets, 256)
    const perWorker = size.perSecond / gens.size
    await warmUp(server, gens, () => ({ mode: 'rate', perSecond: perWorker, durationMs: size.warmupMs }))
    const m = await measure(server, gens, () => ({ mode: 'rate', perSecond: perWorker, durationMs: size.durationMs }), failed)
    return {
      metrics: {
        ...latencyMetrics(m.totals.latency),
        ...deliveryMetrics(m),
        deliveriesPerSec: m.totals.delivered / m.seconds,
        outOfOrder: m.totals.outOfOrder,
        delayMs: batch ?? 0,
      },
      integrity: m.integrity,
    }
  } finally {
    await gens.closeAll()
    await server.stop()
  }
}

/** Every round runs the four setups back to back, batched and baseline always next to each other (batched, baseline, short, plain; then plain, short, baseline, batched; …). */
export async function runBatch(
  gens: Generators,
  size: BatchSizes,
  rounds: number,
  onRecord: (r: BatchRecord, seconds: number) => void,
): Promise<BatchRecord[]> {
  const records: BatchRecord[] = []
  const order: BatchVariant[] = ['batched', 'baseline', 'short', 'plain']
  for (let round = 0; round < rounds; round++) {
    for (const variant of round % 2 === 0 ? order : [...order].reverse()) {
      const started = performance.now()
      let record: BatchRecord
      try {
        record = { variant, round, outcome: await runVariant(variant, gens, size), error: undefined }
      } catch (err) {
        record = { variant, round, outcome: undefined, error: err instanceof Error ? (err.stack ?? err.message) : String(err) }
        await gens.closeAll().catch(() => {})
      }
      records.push(record)
      onRecord(record, (performance.now() - started) / 1000)
    }
  }
  return records
}

export interface BatchRow {
  figure: string
  metric: string
  batched: number
  short: number
  plain: number
  baseline: number
  /** Medians over rounds of each round's ratio, with the rounds' ratios for the spread. */
  batchedToBaseline: number
  batchedToBaselineRatios: number[]
  shortToBaseline: number
  plainToBaseline: number
}

const FIGURES: { figure: (s: BatchSizes) => string; metric: string }[] = [
  { figure: () => 'server CPU µs per delivered message', metric: 'cpuUsPerDelivery' },
  { figure: (s) => `p99 ms send → receive (${s.subscribers} subscribers, ${s.perSecond} msg/s)`, metric: 'p99Ms' },
  { figure: () => 'p50 ms', metric: 'p50Ms' },
  { figure: () => 'p99.9 ms', metric: 'p999Ms' },
  { figure: () => 'delivered messages/s', metric: 'deliveriesPerSec' },
  { figure: () => 'server CPU % of a core', metric: 'serverCpuPercent' },
  { figure: () => 'generators CPU % of a core', metric: 'generatorCpuPercent' },
]

const valueOf = (records: BatchRecord[], variant: BatchVariant, metric: string, round?: number) =>
  records.filter((r) => r.variant === variant && (round === undefined || r.round === round)).map((r) => r.outcome?.metrics[metric] ?? NaN)

function roundRatios(records: BatchRecord[], rounds: number, ratio: (round: number) => number): number[] {
  return Array.from({ length: rounds }, (_, round) => ratio(round)).filter(Number.isFinite)
}

export function batchRows(records: BatchRecord[], size: BatchSizes, rounds: number): BatchRow[] {
  const of = (variant: BatchVariant, metric: string, round?: number) => valueOf(records, variant, metric, round)
  return FIGURES.map(({ figure, metric }) => {
    const toBase = (variant: BatchVariant) => roundRatios(records, rounds, (round) => of(variant, metric, round)[0]! / of('baseline', metric, round)[0]!)
    const ratios = toBase('batched')
    return {
      figure: figure(size),
      metric,
      batched: median(of('batched', metric)),
      short: median(of('short', metric)),
      plain: median(of('plain', metric)),
      baseline: median(of('baseline', metric)),
      batchedToBaseline: median(ratios),
      batchedToBaselineRatios: ratios,
      shortToBaseline: median(toBase('short')),
      plainToBaseline: median(toBase('plain')),
    }
  })
}

/** The two targets as chart rows (docs/performance.svg): CPU per delivered message, and p99 against its bound. */
export function batchChartRows(records: BatchRecord[], size: BatchSizes, rounds: number): Row[] {
  const of = (variant: BatchVariant, metric: string, round?: number) => valueOf(records, variant, metric, round)
  const cpu = roundRatios(records, rounds, (round) => of('batched', 'cpuUsPerDelivery', round)[0]! / of('baseline', 'cpuUsPerDelivery', round)[0]!)
  const bound = (round?: number) => of('baseline', 'p99Ms', round).map((p99) => size.delayMs + BATCH_TARGETS.p99Slack * p99)
  const p99 = roundRatios(records, rounds, (round) => of('batched', 'p99Ms', round)[0]! / bound(round)[0]!)
  const row = (short: string, label: string, ratios: number[], target: number, product: number, baseline: number, cpuLabel: string): Row => {
    const ratio = median(ratios)
    return {
      scenario: 'batched delivery',
      label,
      short,
      product,
      baseline,
      ratio,
      better: 'lower',
      target,
      met: Number.isFinite(ratio) ? ratio <= target : undefined,
      cpuLabel,
      cpuProduct: median(of('batched', 'cpuUsPerDelivery')),
      cpuBaseline: median(of('baseline', 'cpuUsPerDelivery')),
      cpuRatio: median(cpu),
      ratios,
    }
  }
  return [
    row(
      'CPU per delivered msg',
      `server CPU µs per delivered message, ?batch=${size.delayMs} vs baseline (${size.subscribers} subscribers, ${size.perSecond} msg/s)`,
      cpu,
      BATCH_TARGETS.cpu,
      median(of('batched', 'cpuUsPerDelivery')),
      median(of('baseline', 'cpuUsPerDelivery')),
      'µs/delivery',
    ),
    row(
      `p99 ÷ (${size.delayMs} ms + ${BATCH_TARGETS.p99Slack} × base p99)`,
      `p99 ms, ?batch=${size.delayMs}, against ${size.delayMs} ms + ${BATCH_TARGETS.p99Slack} × the baseline's p99`,
      p99,
      1,
      median(of('batched', 'p99Ms')),
      median(bound()),
      'µs/delivery',
    ),
  ]
}

const fmt = (n: number) =>
  !Number.isFinite(n) ? '–' : Math.abs(n) >= 1000 ? Math.round(n).toLocaleString('en-US') : Math.abs(n) >= 10 ? n.toFixed(1) : n.toFixed(2)
const spread = (xs: number[]) => (xs.length > 1 ? ` (${fmt(Math.min(...xs))}–${fmt(Math.max(...xs))})` : '')

export function batchTable(rows: BatchRow[], size: BatchSizes): string {
  const lines = [
    `| Figure | Batched (\`?batch=${size.delayMs}\`) | Batched (\`?batch=${size.shortDelayMs}\`) | Plain product | Baseline | Batched ÷ baseline | ${size.shortDelayMs} ms ÷ baseline | Plain ÷ baseline |`,
    '|---|---:|---:|---:|---:|---:|---:|---:|',
  ]
  for (const r of rows)
    lines.push(
      `| ${r.figure} | ${fmt(r.batched)} | ${fmt(r.short)} | ${fmt(r.plain)} | ${fmt(r.baseline)} | ${fmt(r.batchedToBaseline)}${spread(r.batchedToBaselineRatios)} | ${fmt(r.shortToBaseline)} | ${fmt(r.plainToBaseline)} |`,
    )
  return lines.join('\n')
}

/** The targets in two sentences under the table. */
export function batchVerdict(chart: Row[], rows: BatchRow[], size: BatchSizes): string {
  const [cpu, p99] = chart as [Row, Row]
  const said = (r: Row) => (r.met === undefined ? 'not measured' : r.met ? 'met' : '**missed**')
  const short = rows.find((r) => r.metric === 'cpuUsPerDelivery')!.shortToBaseline
  return [
    `Server CPU per delivered message, batched (\`?batch=${size.delayMs}\`, the web client's) ÷ baseline: ${fmt(cpu.ratio)}${spread(cpu.ratios)} (target ≤ ${BATCH_TARGETS.cpu}): ${said(cpu)};` +
      ` with \`?batch=${size.shortDelayMs}\`: ${fmt(short)}.`,
    `p99 with \`?batch=${size.delayMs}\`: ${fmt(p99.product)} ms against ${size.delayMs} ms + ${BATCH_TARGETS.p99Slack} × the baseline's p99 = ${fmt(p99.baseline)} ms` +
      ` (ratio ${fmt(p99.ratio)}${spread(p99.ratios)}, target ≤ 1): ${said(p99)}.`,
  ].join(' ')
}

/** `bun run bench --scenario batch`: the rounds, the table, and with `write` bench/results.jsonl, docs/PERFORMANCE.md and the chart. */
export async function batchScenario(
  opts: { smoke: boolean; rounds: number; write: boolean; workers: number },
  gens: Generators,
  meta: Record<string, unknown>,
  log: (line: string) => void,
): Promise<boolean> {
  const size = opts.smoke ? BATCH_SMOKE : BATCH_FULL
  const started = performance.now()
  const loadBefore = loadNow()
  const records = await runBatch(gens, size, opts.rounds, (r, seconds) => {
    const head = `batch #${r.round + 1} ${r.variant} (${seconds.toFixed(1)} s)`
    if (!r.outcome) return log(`${head} FAILED: ${r.error}`)
    const m = r.outcome.metrics
    const i = r.outcome.integrity
    const ok = batchLossless(r.outcome)
      ? 'ok'
      : `LOSS delivered=${i.delivered}/${i.expected} outOfOrder=${m.outOfOrder} rejected=${i.rejected} errors=${i.errors} closes=${i.unexpectedCloses} [${i.closeCodes.join(',')}] failedConnects=${i.failedConnects}`
    log(
      `${head}: p50 ${m.p50Ms!.toFixed(2)} ms, p99 ${m.p99Ms!.toFixed(2)} ms, ${m.cpuUsPerDelivery!.toFixed(3)} µs CPU/delivery, server ${m.serverCpuPercent!.toFixed(0)} %, generators ${m.generatorCpuPercent!.toFixed(0)} %, ${Math.round(m.messagesPerSec!)} msg/s | sent=${i.sent} delivered=${i.delivered} ${ok}`,
    )
  })
  const lossy = records.filter((r) => !r.outcome || !batchLossless(r.outcome))
  const rows = batchRows(records, size, opts.rounds)
  const chart = batchChartRows(records, size, opts.rounds)
  const seconds = Math.round((performance.now() - started) / 100) / 10
  const loadAfter = loadNow()
  const record = {
    ...meta,
    scenario: 'batch',
    loadavgBefore: [loadBefore],
    loadavgAfter: [loadAfter],
    seconds,
    sizes: size,
    rows: chart,
    figures: rows,
    runs: records,
    lossless: lossy.length === 0,
  }
  const table = batchTable(rows, size)
  const verdict = batchVerdict(chart, rows, size)
  console.log(JSON.stringify(record))
  console.log(`\n${table}\n\n${verdict}\n`)
  if (lossy.length > 0)
    log(`bench batch: ${lossy.length} run(s) lost, repeated or reordered messages, or failed: ${lossy.map((r) => `${r.variant}#${r.round + 1}`).join(', ')}`)
  if (opts.write) {
    const root = join(import.meta.dir, '..')
    appendFileSync(join(root, 'bench/results.jsonl'), JSON.stringify(record) + '\n')
    writePerformanceSvg(root)
    const deliveries = records.reduce((n, r) => n + (r.outcome?.integrity.delivered ?? 0), 0)
    const lossless =
      lossy.length === 0
        ? `Lossless and in order: in every run every socket received every message once, each id above the one before (${deliveries.toLocaleString('en-US')} deliveries in all).`
        : `**Not lossless:** ${lossy.length} run(s) lost, repeated or reordered messages, or failed (${lossy.map((r) => `${r.variant}#${r.round + 1}`).join(', ')}).`
    updatePerformanceDoc(join(root, 'docs/PERFORMANCE.md'), DOC_TEMPLATE, {
      batch: [
        runLine(meta, [loadBefore, loadAfter], `${opts.rounds} rounds, ${opts.workers} generator processes`, seconds),
        '',
        table,
        '',
        verdict,
        '',
        lossless,
      ].join('\n'),
    })
  }
  return lossy.length === 0
}
