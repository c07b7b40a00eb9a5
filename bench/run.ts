/**
 * Benchmark: the product against a bare baseline (bench/baseline.ts) in the same run, as ratios.
 *
 *   bun run bench                      every scenario but the sweep, 3 rounds, writes docs/PERFORMANCE.md, docs/performance.svg, bench/results.jsonl
 *   bun run bench --smoke              the same with small counts, one round, a few seconds a scenario; exit 1 on any lost message
 *   bun run bench --scenario sweep     the scale sweep (largest room, most connections under p99 100 ms at 100 msg/s)
 *   bun run bench --scenario cluster   cluster cost against one instance on SQLite, one room's ceiling, REUSE_PORT (bench/cluster.ts)
 *   bun run bench --scenario private-room   a private room of members beside a public one and the baseline (bench/private-room.ts)
 *   bun run bench --scenario attachments    upload/download of a 10 MiB file against Bun.file (bench/attachments.ts)
 *   bun run bench --scenario reconnect      10 000 clients reconnect with ?since= after a restart (bench/reconnect.ts)
 *   bun run bench --scenario batch          batched delivery (?batch=) in a room of 1 000 at 2 000 msg/s, beside plain and the baseline (bench/batch.ts)
 *   bun run bench --scenario search   search latency on 1 M messages, SQLite and PostgreSQL, beside a history page (bench/search.ts)
 *   bun run bench --scenario growth   requests on 10 M messages against a nearly empty database, both stores; start-up, bytes per message (bench/growth.ts)
 *   options: --scenario a,b  --rounds N  --workers N  --no-write  --write
 *
 * Product and baseline alternate within each round (A B, then B A), so drift on a shared machine
 * lands on both; the ratio of each back-to-back pair is what is reported (median over rounds).
 */
import { appendFileSync } from 'node:fs'
import { attachmentsScenario } from './attachments.ts'
import { growthScenario } from './growth.ts'
import { reconnectScenario } from './reconnect.ts'
import { batchScenario } from './batch.ts'
import { cpus, loadavg } from 'node:os'
import { join } from 'node:path'
import { clusterScenario } from './cluster.ts'
import { Generators } from './generators.ts'
import { searchScenario } from './search.ts'
import { PRIVATE_ROOM_FULL, PRIVATE_ROOM_SMOKE, privateRoomRows, runPrivateRoom, type PrivateRoomRecord, type PrivateRoomRow } from './private-room.ts'
import {
  markdownTable,
  DOC_TEMPLATE,
  missedText,
  privateRoomTable,
  sweepTable,
  updatePerformanceDoc,
  writePerformanceSvg,
  type Row,
  type SweepSummary,
  median,
} from './report.ts'
import { idleStreams } from './idle-streams.ts'
import { connectIdle, fanout, fixedRate, FULL, isLossless, login, manyRooms, SMOKE, sweep, type Outcome, type Sizes, type SweepSizes } from './scenarios.ts'
import type { Kind } from './servers.ts'

const ROOT = join(import.meta.dir, '..')
const RUNS = ['fanout', 'fixed-rate', 'many-rooms', 'connect', 'idle-streams', 'login'] as const
type RunName = (typeof RUNS)[number]
/** `idle` is measured on the sockets `connect` opened. */
const ALIASES: Record<string, string> = { idle: 'connect', 'fan-out': 'fanout' }

const RUNNERS: Record<RunName, (kind: Kind, gens: Generators, sizes: Sizes) => Promise<Outcome>> = {
  fanout: (k, g, s) => fanout(k, g, s.fanout),
  'fixed-rate': (k, g, s) => fixedRate(k, g, s.fixedRate),
  'many-rooms': (k, g, s) => manyRooms(k, g, s.manyRooms),
  connect: (k, g, s) => connectIdle(k, g, s.connect),
  'idle-streams': (k, g, s) => idleStreams(k, g, s.idleStreams),
  login: (k, g, s) => login(k, g, s.login),
}

interface RowSpec {
  run: RunName
  scenario: string
  metric: string
  label: (s: Sizes) => string
  short: string
  better: 'higher' | 'lower'
  target: number | undefined
  cpu: string | undefined
  cpuLabel: string
}

const ROWS: RowSpec[] = [
  {
    run: 'fanout',
    scenario: 'fan-out',
    metric: 'deliveriesPerSec',
    short: 'deliveries/s',
    label: (s) => `deliveries/s (${s.fanout.subscribers} subscribers, ${s.fanout.publishers}×${s.fanout.window} in flight)`,
    better: 'higher',
    target: 0.9,
    cpu: 'cpuUsPerDelivery',
    cpuLabel: 'µs/delivery',
  },
  {
    run: 'fixed-rate',
    scenario: 'fixed rate',
    metric: 'p99Ms',
    short: 'p99 latency',
    label: (s) => `p99 ms (${s.fixedRate.subscribers} subscribers, ${s.fixedRate.perSecond} msg/s)`,
    better: 'lower',
    target: 1.2,
    cpu: 'cpuUsPerDelivery',
    cpuLabel: 'µs/delivery',
  },
  {
    run: 'fixed-rate',
    scenario: 'fixed rate',
    metric: 'p50Ms',
    short: 'p50 latency',
    label: () => 'p50 ms',
    better: 'lower',
    target: undefined,
    cpu: undefined,
    cpuLabel: '',
  },
  {
    run: 'many-rooms',
    scenario: 'many rooms',
    metric: 'messagesPerSec',
    short: 'messages/s',
    label: (s) => `messages/s (${s.manyRooms.rooms} rooms of ${s.manyRooms.members})`,
    better: 'higher',
    target: 1.0,
    cpu: 'cpuUsPerMessage',
    cpuLabel: 'µs/message',
  },
  {
    run: 'connect',
    scenario: 'idle',
    metric: 'rssBytesPerConnection',
    short: 'RSS per socket',
    label: (s) => `RSS bytes/connection (${s.connect.sockets} sockets)`,
    better: 'lower',
    target: 1.3,
    cpu: 'rssMiB',
    cpuLabel: 'MiB RSS',
  },
  {
    run: 'connect',
    scenario: 'connect',
    metric: 'connectSeconds',
    short: 'time to connect',
    label: (s) => `s to open ${s.connect.sockets} authenticated sockets incl. welcome`,
    better: 'lower',
    target: undefined,
    cpu: 'cpuUsPerConnect',
    cpuLabel: 'µs/connection',
  },
  {
    run: 'idle-streams',
    scenario: 'idle, room socket + user stream',
    metric: 'rssBytesPerSocket',
    short: 'RSS per socket, with user streams',
    label: (s) => `RSS bytes/socket (${s.idleStreams.clients} members, each with a room socket and the user stream; baseline: two room sockets)`,
    better: 'lower',
    target: 1.3,
    cpu: 'rssMiB',
    cpuLabel: 'MiB RSS',
  },
  {
    run: 'login',
    scenario: 'login',
    metric: 'perSec',
    short: 'logins/s',
    label: (s) => `logins/s vs argon2 verify alone (${s.login.concurrency} in flight)`,
    better: 'higher',
    target: 0.9,
    cpu: 'cpuMsPerLogin',
    cpuLabel: 'CPU ms/login',
  },
]

interface Args {
  smoke: boolean
  runs: RunName[]
  sweep: boolean
  cluster: boolean
  privateRoom: boolean
  search: boolean
  attachments: boolean
  growth: boolean
  reconnect: boolean
  batch: boolean
  rounds: number
  workers: number
  write: boolean
}

function parseArgs(argv: string[]): Args {
  const smoke = argv.includes('--smoke') || process.env.BENCH_SMOKE === '1'
  const value = (name: string) => {
    const i = argv.findIndex((a) => a === name || a.startsWith(`${name}=`))
    if (i === -1) return undefined
    return argv[i]!.includes('=') ? argv[i]!.slice(name.length + 1) : argv[i + 1]
  }
  const known = new Set(['--smoke', '--scenario', '--rounds', '--workers', '--no-write', '--write'])
  for (const a of argv) {
    if (a.startsWith('--') && !known.has(a.split('=')[0]!)) throw new Error(`unknown option ${a}`)
  }
  // Every scenario but the sweep by default (the cluster and private-room ones included).
  const own = ['private-room', 'cluster', 'search', 'attachments', 'growth', 'reconnect', 'batch', 'sweep']
  const picked = (value('--scenario') ?? [...RUNS, 'private-room', 'cluster', 'search', 'attachments', 'growth', 'reconnect', 'batch'].join(','))
    .split(',')
    .map((s) => ALIASES[s.trim()] ?? s.trim())
  for (const p of picked)
    if (!own.includes(p) && !RUNS.includes(p as RunName)) throw new Error(`unknown scenario ${p}; pick from ${[...RUNS, ...own].join(', ')}`)
  return {
    smoke,
    runs: RUNS.filter((r) => picked.includes(r)),
    sweep: picked.includes('sweep'),
    cluster: picked.includes('cluster'),
    privateRoom: picked.includes('private-room'),
    search: picked.includes('search'),
    attachments: picked.includes('attachments'),
    growth: picked.includes('growth'),
    reconnect: picked.includes('reconnect'),
    batch: picked.includes('batch'),
    rounds: Number(value('--rounds') ?? (smoke ? 1 : 3)),
    workers: Number(value('--workers') ?? 2),
    write: argv.includes('--write') || (!smoke && !argv.includes('--no-write')),
  }
}

function git(...args: string[]): string {
  const r = Bun.spawnSync({ cmd: ['git', ...args], cwd: ROOT, stdout: 'pipe', stderr: 'ignore' })
  return r.stdout.toString().trim()
}

const log = (line: string) => console.error(line)

function describe(outcome: Outcome): string {
  const m = Object.entries(outcome.metrics)
    .map(([k, v]) => `${k}=${Number.isInteger(v) ? v : v.toFixed(2)}`)
    .join(' ')
  const i = outcome.integrity
  const loss = isLossless(i)
    ? 'ok'
    : `LOSS expected=${i.expected} delivered=${i.delivered} rejected=${i.rejected} errors=${i.errors} closes=${i.unexpectedCloses} [${i.closeCodes.join(',')}] failedConnects=${i.failedConnects}`
  const silent = (i.silentStreams ? ` silentStreams=${i.silentStreams}` : '') + (i.outOfOrder ? ` outOfOrder=${i.outOfOrder}` : '')
  return `${m} | sent=${i.sent} delivered=${i.delivered} ${loss}${silent}`
}

interface RunRecord {
  run: RunName
  round: number
  kind: Kind
  outcome: Outcome | undefined
  error: string | undefined
}

async function runScenarios(args: Args, sizes: Sizes, gens: Generators): Promise<{ records: RunRecord[]; rows: Row[] }> {
  const records: RunRecord[] = []
  for (const run of args.runs) {
    for (let round = 0; round < args.rounds; round++) {
      const order: Kind[] = round % 2 === 0 ? ['product', 'baseline'] : ['baseline', 'product']
      for (const kind of order) {
        const started = performance.now()
        try {
          const outcome = await RUNNERS[run](kind, gens, sizes)
          records.push({ run, round, kind, outcome, error: undefined })
          log(`${run} #${round + 1} ${kind} (${((performance.now() - started) / 1000).toFixed(1)} s): ${describe(outcome)}`)
        } catch (err) {
          const error = err instanceof Error ? (err.stack ?? err.message) : String(err)
          records.push({ run, round, kind, outcome: undefined, error })
          log(`${run} #${round + 1} ${kind} FAILED: ${error}`)
          await gens.closeAll().catch(() => {})
        }
      }
    }
  }
  const rows: Row[] = []
  for (const spec of ROWS) {
    if (!args.runs.includes(spec.run)) continue
    const of = (kind: Kind, metric: string | undefined, round?: number) =>
      records
        .filter((r) => r.run === spec.run && r.kind === kind && (round === undefined || r.round === round))
        .map((r) => (metric ? (r.outcome?.metrics[metric] ?? NaN) : NaN))
    const ratios: number[] = []
    const cpuRatios: number[] = []
    for (let round = 0; round < args.rounds; round++) {
      ratios.push(of('product', spec.metric, round)[0]! / of('baseline', spec.metric, round)[0]!)
      cpuRatios.push(of('product', spec.cpu, round)[0]! / of('baseline', spec.cpu, round)[0]!)
    }
    const ratio = median(ratios)
    rows.push({
      scenario: spec.scenario,
      label: spec.label(sizes),
      short: spec.short,
      product: median(of('product', spec.metric)),
      baseline: median(of('baseline', spec.metric)),
      ratio,
      better: spec.better,
      target: spec.target,
      met: spec.target === undefined || !Number.isFinite(ratio) ? undefined : spec.better === 'higher' ? ratio >= spec.target : ratio <= spec.target,
      cpuLabel: spec.cpuLabel,
      cpuProduct: median(of('product', spec.cpu)),
      cpuBaseline: median(of('baseline', spec.cpu)),
      cpuRatio: median(cpuRatios),
      ratios: ratios.filter(Number.isFinite),
    })
  }
  return { records, rows }
}

const SWEEP: SweepSizes = {
  steps: [1000, 2000, 3000, 4000, 5000, 6000, 7000, 8000, 12_000, 16_000, 19_000],
  perSecond: 100,
  durationMs: 5000,
  warmupMs: 1000,
  limitMs: 100,
  roomSize: undefined,
  trackEvery: 4,
}
const SWEEP_SMOKE: SweepSizes = { ...SWEEP, steps: [200, 400], durationMs: 1000, warmupMs: 200 }

async function runSweeps(args: Args, gens: Generators): Promise<SweepSummary[]> {
  const base = args.smoke ? SWEEP_SMOKE : SWEEP
  const shapes: { shape: string; size: SweepSizes }[] = [
    { shape: 'one room', size: base },
    { shape: 'rooms of 100', size: { ...base, roomSize: 100 } },
  ]
  const out: SweepSummary[] = []
  for (const [i, { shape, size }] of shapes.entries()) {
    // Alternate which server goes first, as the scenarios do.
    for (const kind of (i % 2 === 0 ? ['baseline', 'product'] : ['product', 'baseline']) as Kind[]) {
      try {
        const points = await sweep(kind, gens, size, (p) =>
          log(
            `sweep ${shape} ${kind}: ${p.connections} connections, p50 ${p.p50Ms.toFixed(2)} ms, p99 ${p.p99Ms.toFixed(2)} ms, ${Math.round(p.deliveriesPerSec)} deliveries/s, CPU ${p.serverCpuPercent.toFixed(0)} %, ${p.lossless ? 'lossless' : 'LOSS'}`,
          ),
        )
        const good = points.filter((p) => p.lossless && p.p99Ms < size.limitMs)
        out.push({ shape, kind, points, best: good.at(-1)?.connections })
      } catch (err) {
        log(`sweep ${shape} ${kind} FAILED: ${err instanceof Error ? err.stack : String(err)}`)
        await gens.closeAll().catch(() => {})
        out.push({ shape, kind, points: [], best: undefined })
      }
    }
  }
  return out
}

type Meta = Record<string, unknown> & { time: string; commit: string; dirty: boolean; bun: string; cpus: number }

/** What the three setups' figures say about the target, in one sentence under the table. */
function privateRoomVerdict(rows: PrivateRoomRow[]): string {
  const said = rows.slice(0, 3).map((r) => {
    const rs = r.privateToPublicRatios
    const straddles = rs.length > 1 && Math.min(...rs) <= 1 && Math.max(...rs) >= 1
    return `${r.figure.replace(/ \(.*\)$/, '')} ${Number.isFinite(r.privateToPublic) ? r.privateToPublic.toFixed(2) : '–'}${straddles ? ' (its rounds fall on both sides of 1)' : ''}`
  })
  return `Private ÷ public (target: within noise of 1.0): ${said.join('; ')}.`
}

/** The private-room scenario: its own table and block in docs/PERFORMANCE.md. */
async function privateRoomScenario(args: Args, gens: Generators, meta: Meta): Promise<boolean> {
  const size = args.smoke ? PRIVATE_ROOM_SMOKE : PRIVATE_ROOM_FULL
  const started = performance.now()
  const loadBefore = loadavg().map((n) => Math.round(n * 100) / 100)
  const records = await runPrivateRoom(gens, size, args.rounds, (r, seconds) => {
    const head = `private-room #${r.round + 1} ${r.variant} (${seconds.toFixed(1)} s)`
    log(r.outcome ? `${head}: ${describe(r.outcome)}` : `${head} FAILED: ${r.error}`)
  })
  const lossy = records.filter((r) => r.error !== undefined || (r.outcome && !isLossless(r.outcome.integrity)))
  const rows = privateRoomRows(records, size, args.rounds)
  const loadAfter = loadavg().map((n) => Math.round(n * 100) / 100)
  const seconds = Math.round((performance.now() - started) / 100) / 10
  const record = {
    ...meta,
    scenario: 'private-room',
    loadavgBefore: loadBefore,
    loadavgAfter: loadAfter,
    seconds,
    sizes: size,
    rows,
    runs: records,
    lossless: lossy.length === 0,
  }
  const table = privateRoomTable(rows)
  const verdict = privateRoomVerdict(rows)
  console.log(JSON.stringify(record))
  console.log(`\n${table}\n\n${verdict}\n`)
  if (lossy.length > 0) log(`bench private-room: ${lossy.length} run(s) lost messages or failed: ${lossy.map((r) => `${r.variant}#${r.round + 1}`).join(', ')}`)
  if (args.write) {
    appendFileSync(join(ROOT, 'bench/results.jsonl'), JSON.stringify(record) + '\n')
    const lossless = (r: PrivateRoomRecord) => r.outcome !== undefined && isLossless(r.outcome.integrity)
    const deliveries = records.reduce((n, r) => n + (r.outcome?.integrity.delivered ?? 0), 0)
    updatePerformanceDoc(join(ROOT, 'docs/PERFORMANCE.md'), DOC_TEMPLATE, {
      privateRoom: [
        `Run of ${meta.time} (commit ${meta.commit}${meta.dirty ? ', with uncommitted changes' : ''}; Bun ${meta.bun}; ${meta.cpus} CPUs; load average ${loadBefore[0]} before, ${loadAfter[0]} after; ${args.rounds} rounds, ${args.workers} generator processes; ${seconds} s).`,
        '',
        table,
        '',
        verdict,
        '',
        records.every(lossless)
          ? `Lossless: in every run every member's socket received every message exactly once (${deliveries.toLocaleString('en-US')} deliveries in all), every user stream received \`unread\` frames, and a member who never read had every message counted unread.`
          : `**Not lossless:** ${lossy.length} run(s) lost messages or failed (${lossy.map((r) => `${r.variant}#${r.round + 1}`).join(', ')}).`,
      ].join('\n'),
    })
  }
  return lossy.length === 0
}

async function main(): Promise<number> {
  const args = parseArgs(process.argv.slice(2))
  const sizes = args.smoke ? SMOKE : FULL
  const started = performance.now()
  const meta = {
    time: new Date().toISOString(),
    mode: args.smoke ? 'smoke' : 'full',
    commit: git('rev-parse', '--short', 'HEAD'),
    dirty: git('status', '--porcelain', '--', 'src', 'db').length > 0,
    bun: Bun.version,
    cpus: cpus().length,
    loadavgBefore: loadavg().map((n) => Math.round(n * 100) / 100),
    workers: args.workers,
    rounds: args.rounds,
  }
  log(
    `bench ${meta.mode}: ${[...args.runs, ...(args.privateRoom ? ['private-room'] : []), ...(args.cluster ? ['cluster'] : []), ...(args.search ? ['search'] : [])].join(', ')}${args.sweep ? ' + sweep' : ''}; ${args.rounds} round(s), ${args.workers} generator processes, load ${meta.loadavgBefore.join(' ')}`,
  )
  const gens = new Generators(args.workers)
  let failed = false
  try {
    if (args.runs.length > 0) {
      const { records, rows } = await runScenarios(args, sizes, gens)
      const lossy = records.filter((r) => r.error !== undefined || (r.outcome && !isLossless(r.outcome.integrity)))
      failed ||= lossy.length > 0
      const loadavgAfter = loadavg().map((n) => Math.round(n * 100) / 100)
      const record = {
        ...meta,
        loadavgAfter,
        seconds: Math.round((performance.now() - started) / 100) / 10,
        sizes,
        rows,
        runs: records,
        lossless: lossy.length === 0,
      }
      const table = markdownTable(rows)
      console.log(JSON.stringify(record))
      console.log(`\n${table}\n`)
      if (lossy.length > 0) log(`bench: ${lossy.length} run(s) lost messages or failed: ${lossy.map((r) => `${r.run}/${r.kind}#${r.round + 1}`).join(', ')}`)
      if (args.write) {
        appendFileSync(join(ROOT, 'bench/results.jsonl'), JSON.stringify(record) + '\n')
        // The chart: these rows, and those of the latest run of each scenario with a target (bench/report.ts).
        writePerformanceSvg(ROOT)
        const results = [
          `Run of ${meta.time} (commit ${meta.commit}${meta.dirty ? ', with uncommitted changes' : ''}; Bun ${meta.bun}; ${meta.cpus} CPUs; load average ${meta.loadavgBefore[0]} before, ${loadavgAfter[0]} after; ${args.rounds} rounds, ${args.workers} generator processes; ${record.seconds} s).`,
          '',
          table,
          '',
          missedText(rows),
          '',
          '![product / baseline](performance.svg)',
        ].join('\n')
        updatePerformanceDoc(join(ROOT, 'docs/PERFORMANCE.md'), DOC_TEMPLATE, { results })
      }
    }
    if (args.privateRoom) failed = !(await privateRoomScenario(args, gens, meta)) || failed
    if (args.cluster) failed = !(await clusterScenario(args, gens, meta, log)) || failed
    if (args.search) failed = !(await searchScenario(args.smoke, args.write, meta, log)) || failed
    if (args.attachments) failed = !(await attachmentsScenario(args, meta, log)) || failed
    if (args.growth) failed = !(await growthScenario(args.smoke, args.rounds, args.write, meta, log)) || failed
    if (args.reconnect) failed = !(await reconnectScenario(args, gens, meta, log)) || failed
    if (args.batch) failed = !(await batchScenario(args, gens, meta, log)) || failed
    if (args.sweep) {
      const sweeps = await runSweeps(args, gens)
      failed ||= sweeps.some((s) => s.points.length === 0)
      const record = { ...meta, scenario: 'sweep', seconds: Math.round((performance.now() - started) / 100) / 10, sweeps }
      const table = sweepTable(sweeps)
      console.log(JSON.stringify(record))
      console.log(`\n${table}\n`)
      const summary = sweeps
        .map(
          (s) =>
            `- ${s.shape}, ${s.kind}: ${s.best === undefined ? 'no step' : `${s.best.toLocaleString('en-US')} connections`} with p99 under ${SWEEP.limitMs} ms at ${SWEEP.perSecond} msg/s`,
        )
        .join('\n')
      log(summary)
      if (args.write) {
        appendFileSync(join(ROOT, 'bench/results.jsonl'), JSON.stringify(record) + '\n')
        updatePerformanceDoc(join(ROOT, 'docs/PERFORMANCE.md'), DOC_TEMPLATE, {
          sweep: [
            `Sweep of ${meta.time} (commit ${meta.commit}${meta.dirty ? ', with uncommitted changes' : ''}; Bun ${meta.bun}).`,
            '',
            summary,
            '',
            table,
          ].join('\n'),
        })
      }
    }
  } finally {
    await gens.exit()
  }
  log(`bench: done in ${((performance.now() - started) / 1000).toFixed(1)} s${failed ? ', WITH FAILURES' : ''}`)
  return failed ? 1 : 0
}

process.exit(await main())
