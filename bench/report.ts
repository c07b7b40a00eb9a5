/** Bench output: the summary rows, the Markdown table, the SVG chart of ratios, and docs/PERFORMANCE.md. */
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { loadavg } from 'node:os'
import { join } from 'node:path'
import type { PrivateRoomRow } from './private-room.ts'
import type { SweepPoint } from './scenarios.ts'

export interface Row {
  scenario: string
  /** What is compared, with its unit. */
  label: string
  /** The same in a few words, for the chart. */
  short: string
  product: number
  baseline: number
  /** Median over rounds of product/baseline, each round's pair run back to back. */
  ratio: number
  better: 'higher' | 'lower'
  /** Bound on the ratio (≥ for higher-is-better, ≤ for lower-is-better); undefined: reported only. */
  target: number | undefined
  met: boolean | undefined
  cpuLabel: string
  cpuProduct: number
  cpuBaseline: number
  /** Median over rounds of product/baseline of the CPU figure: the comparison that survives a noisy machine. */
  cpuRatio: number
  /** Per-round ratios, for the spread. */
  ratios: number[]
}

export interface SweepSummary {
  shape: string
  kind: string
  points: SweepPoint[]
  /** Largest step with p99 under the limit and nothing lost. */
  best: number | undefined
}

const fmt = (n: number): string => {
  if (!Number.isFinite(n)) return '–'
  const a = Math.abs(n)
  if (a >= 10_000) return Math.round(n).toLocaleString('en-US')
  if (a >= 100) return n.toFixed(0)
  if (a >= 10) return n.toFixed(1)
  return n.toFixed(2)
}

export function targetText(row: Row): string {
  if (row.target === undefined) return '—'
  return `${row.better === 'higher' ? '≥' : '≤'} ${row.target}`
}

export function markdownTable(rows: Row[]): string {
  const lines = [
    '| Scenario | Compared | Product | Baseline | Product / baseline | Target | Met | Server CPU (or memory), product / baseline | CPU ratio |',
    '|---|---|---:|---:|---:|---|---|---|---:|',
  ]
  for (const r of rows) {
    const spread = r.ratios.length > 1 ? ` (${fmt(Math.min(...r.ratios))}–${fmt(Math.max(...r.ratios))})` : ''
    const met = r.met === undefined ? '—' : r.met ? 'yes' : '**no**'
    lines.push(
      `| ${r.scenario} | ${r.label} | ${fmt(r.product)} | ${fmt(r.baseline)} | ${fmt(r.ratio)}${spread} | ${targetText(r)} | ${met} | ${r.cpuLabel ? `${fmt(r.cpuProduct)} / ${fmt(r.cpuBaseline)} ${r.cpuLabel}` : '—'} | ${r.cpuLabel ? fmt(r.cpuRatio) : '—'} |`,
    )
  }
  return lines.join('\n')
}

export function sweepTable(sweeps: SweepSummary[]): string {
  const lines = [
    '| Shape | Server | Connections | Rooms | p50 ms | p99 ms | Deliveries/s | Server CPU % | RSS MiB | Lossless |',
    '|---|---|---:|---:|---:|---:|---:|---:|---:|---|',
  ]
  for (const s of sweeps) {
    for (const p of s.points) {
      lines.push(
        `| ${s.shape} | ${s.kind} | ${p.connections.toLocaleString('en-US')} | ${p.rooms} | ${fmt(p.p50Ms)} | ${fmt(p.p99Ms)} | ${fmt(p.deliveriesPerSec)} | ${fmt(p.serverCpuPercent)} | ${fmt(p.rssMiB)} | ${p.lossless ? 'yes' : '**no**'} |`,
      )
    }
  }
  return lines.join('\n')
}

/** The private-room scenario: the three setups side by side, and the ratios between them. */
export function privateRoomTable(rows: PrivateRoomRow[]): string {
  const lines = [
    '| Figure | Private room | Public room | Baseline | Private ÷ public | Private ÷ baseline | Public ÷ baseline |',
    '|---|---:|---:|---:|---:|---:|---:|',
  ]
  for (const r of rows) {
    const pp = r.privateToPublicRatios
    const spread = pp.length > 1 ? ` (${fmt(Math.min(...pp))}–${fmt(Math.max(...pp))})` : ''
    lines.push(
      `| ${r.figure} | ${fmt(r.private)} | ${fmt(r.public)} | ${fmt(r.baseline)} | ${fmt(r.privateToPublic)}${spread} | ${fmt(r.privateToBaseline)} | ${fmt(r.publicToBaseline)} |`,
    )
  }
  return lines.join('\n')
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')

/**
 * Horizontal bars of product/baseline, one per row, on a shared scale with a line at 1 (parity)
 * and a tick at each target. Green: target met; red: missed; grey: no target. Hand-written SVG.
 */
export function renderSvg(rows: Row[], subtitle: string): string {
  // Room on the left for the longest label (~7 px a character at 13 px).
  const left = Math.max(210, 24 + 7 * Math.max(0, ...rows.map((r) => `${r.scenario}: ${r.short}`.length)))
  const width = left + 550
  const right = 70
  const barH = 22
  const gap = 14
  const top = 56
  const height = top + rows.length * (barH + gap) + 40
  const max = Math.max(1.5, ...rows.map((r) => r.ratio).filter(Number.isFinite), ...rows.map((r) => r.target ?? 0)) * 1.1
  const x = (v: number) => left + (Math.max(0, v) / max) * (width - left - right)
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="system-ui, sans-serif" font-size="13">`,
    `<rect width="${width}" height="${height}" fill="#fff"/>`,
    `<text x="16" y="24" font-size="16" font-weight="600">Product / baseline, same run</text>`,
    `<text x="16" y="42" fill="#555">${esc(subtitle)}</text>`,
  ]
  rows.forEach((r, i) => {
    const y = top + i * (barH + gap)
    const colour = r.met === undefined ? '#9e9e9e' : r.met ? '#2e7d32' : '#c62828'
    out.push(`<text x="${left - 10}" y="${y + barH / 2 + 4}" text-anchor="end">${esc(`${r.scenario}: ${r.short}`)}</text>`)
    out.push(`<text x="${left - 10}" y="${y + barH / 2 + 17}" text-anchor="end" font-size="10" fill="#777">${r.better} is better</text>`)
    if (Number.isFinite(r.ratio)) {
      out.push(`<rect x="${left}" y="${y}" width="${(x(r.ratio) - left).toFixed(1)}" height="${barH}" fill="${colour}"/>`)
      const after = Math.max(x(r.ratio), r.target === undefined ? 0 : x(r.target))
      out.push(`<text x="${(after + 8).toFixed(1)}" y="${y + barH / 2 + 4}">${r.ratio.toFixed(2)}</text>`)
    }
    if (r.target !== undefined) {
      const tx = x(r.target).toFixed(1)
      out.push(`<line x1="${tx}" x2="${tx}" y1="${y - 3}" y2="${y + barH + 3}" stroke="#000" stroke-width="2" stroke-dasharray="3 2"/>`)
    }
  })
  const one = x(1).toFixed(1)
  const bottom = top + rows.length * (barH + gap) - gap + 6
  out.push(`<line x1="${one}" x2="${one}" y1="${top - 6}" y2="${bottom}" stroke="#333"/>`)
  out.push(`<text x="${one}" y="${bottom + 16}" text-anchor="middle" fill="#333">1.0 = baseline</text>`)
  out.push(`<text x="${width - 16}" y="${bottom + 32}" text-anchor="end" font-size="11" fill="#555">dashed tick: target</text>`)
  out.push('</svg>')
  return out.join('\n') + '\n'
}

const BEGIN = '<!-- bench:results:begin -->'
const END = '<!-- bench:results:end -->'
const SWEEP_BEGIN = '<!-- bench:sweep:begin -->'
const SWEEP_END = '<!-- bench:sweep:end -->'
const CLUSTER_BEGIN = '<!-- bench:cluster:begin -->'
const CLUSTER_END = '<!-- bench:cluster:end -->'
const PRIVATE_BEGIN = '<!-- bench:private-room:begin -->'
const PRIVATE_END = '<!-- bench:private-room:end -->'
const SEARCH_BEGIN = '<!-- bench:search:begin -->'
const SEARCH_END = '<!-- bench:search:end -->'
const ATTACHMENTS_BEGIN = '<!-- bench:attachments:begin -->'
const ATTACHMENTS_END = '<!-- bench:attachments:end -->'
const RECONNECT_BEGIN = '<!-- bench:reconnect:begin -->'
const RECONNECT_END = '<!-- bench:reconnect:end -->'
const BATCH_BEGIN = '<!-- bench:batch:begin -->'
const BATCH_END = '<!-- bench:batch:end -->'
const GROWTH_BEGIN = '<!-- bench:growth:begin -->'
const GROWTH_END = '<!-- bench:growth:end -->'

/** Replaces the text between `begin` and `end` in `doc`; appends the block when the markers are missing. */
function splice(doc: string, begin: string, end: string, body: string): string {
  const block = `${begin}\n${body}\n${end}`
  const a = doc.indexOf(begin)
  const b = doc.indexOf(end)
  if (a === -1 || b === -1 || b < a) return `${doc.trimEnd()}\n\n${block}\n`
  return doc.slice(0, a) + block + doc.slice(b + end.length)
}

export function missedText(rows: Row[]): string {
  const missed = rows.filter((r) => r.met === false)
  if (missed.length === 0) return 'Every target was met in this run.'
  return missed
    .map((r) => {
      const by = r.better === 'higher' ? (r.target! - r.ratio) / r.target! : (r.ratio - r.target!) / r.target!
      return `- **${r.scenario}** missed: ${r.ratio.toFixed(2)} against ${targetText(r)}, short by ${(by * 100).toFixed(0)} % of the target (see the notes below).`
    })
    .join('\n')
}

/** docs/PERFORMANCE.md as a first run writes it, when there is none: the generated blocks under their headings. */
export const DOC_TEMPLATE = [
  '# Performance',
  `${BEGIN}\n${END}`,
  '## Private rooms',
  `${PRIVATE_BEGIN}\n${PRIVATE_END}`,
  '## Several instances',
  `${CLUSTER_BEGIN}\n${CLUSTER_END}`,
  '## Search',
  `${SEARCH_BEGIN}\n${SEARCH_END}`,
  '## Attachments',
  `${ATTACHMENTS_BEGIN}\n${ATTACHMENTS_END}`,
  '## Reconnect storm',
  `${RECONNECT_BEGIN}\n${RECONNECT_END}`,
  '## Batched delivery',
  `${BATCH_BEGIN}\n${BATCH_END}`,
  '## Cost as data grows',
  `${GROWTH_BEGIN}\n${GROWTH_END}`,
  '## Scale',
  `${SWEEP_BEGIN}\n${SWEEP_END}`,
].join('\n\n')

/** The one-minute load average now, to two decimals. */
/** The median of the finite values; NaN for none. */
export const median = (xs: number[]): number => {
  const s = xs.filter(Number.isFinite).sort((a, b) => a - b)
  if (s.length === 0) return NaN
  const m = s.length >> 1
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2
}

export const loadNow = () => Math.round(loadavg()[0]! * 100) / 100

/** The line a generated block starts with: when, on what, under what load (before and after the scenario). */
export function runLine(meta: Record<string, unknown>, load: [number, number], what: string, seconds: number): string {
  return `Run of ${meta.time} (commit ${meta.commit}${meta.dirty ? ', with uncommitted changes' : ''}; Bun ${meta.bun}; ${meta.cpus} CPUs; load average ${load[0]} before, ${load[1]} after; ${what}; ${seconds} s).`
}

/** Writes the generated parts of docs/PERFORMANCE.md (between markers; the hand-written rest is kept). */
export function updatePerformanceDoc(
  path: string,
  template: string,
  parts: {
    results?: string
    sweep?: string
    cluster?: string
    privateRoom?: string
    search?: string
    attachments?: string
    reconnect?: string
    batch?: string
    growth?: string
  },
): void {
  let doc = existsSync(path) ? readFileSync(path, 'utf8') : template
  if (parts.results !== undefined) doc = splice(doc, BEGIN, END, parts.results)
  if (parts.sweep !== undefined) doc = splice(doc, SWEEP_BEGIN, SWEEP_END, parts.sweep)
  if (parts.cluster !== undefined) doc = splice(doc, CLUSTER_BEGIN, CLUSTER_END, parts.cluster)
  if (parts.privateRoom !== undefined) doc = splice(doc, PRIVATE_BEGIN, PRIVATE_END, parts.privateRoom)
  if (parts.search !== undefined) doc = splice(doc, SEARCH_BEGIN, SEARCH_END, parts.search)
  if (parts.attachments !== undefined) doc = splice(doc, ATTACHMENTS_BEGIN, ATTACHMENTS_END, parts.attachments)
  if (parts.reconnect !== undefined) doc = splice(doc, RECONNECT_BEGIN, RECONNECT_END, parts.reconnect)
  if (parts.batch !== undefined) doc = splice(doc, BATCH_BEGIN, BATCH_END, parts.batch)
  if (parts.growth !== undefined) doc = splice(doc, GROWTH_BEGIN, GROWTH_END, parts.growth)
  writeFileSync(path, doc)
}

/** Rewrites the block between `<!-- bench:<name>:begin -->` and `<!-- bench:<name>:end -->` of `path` (appended when missing). */
export function updateDocBlock(path: string, name: string, body: string): void {
  const doc = existsSync(path) ? readFileSync(path, 'utf8') : DOC_TEMPLATE
  writeFileSync(path, splice(doc, `<!-- bench:${name}:begin -->`, `<!-- bench:${name}:end -->`, body))
}

/** A row of a results table that the chart can draw: a ratio and its target (the main table's, the reconnect and batch scenarios'). */
const isChartRow = (r: Partial<Row>): r is Row => typeof r.short === 'string' && typeof r.target === 'number'

/**
 * Draws docs/performance.svg from bench/results.jsonl: the main table's rows with a target (and
 * `connect`) from its latest full run, then the chart rows of the latest full run of every other
 * scenario whose record has them, so that a scenario run alone keeps the rest of the chart.
 */
export function writePerformanceSvg(root: string): void {
  type Record = { mode?: string; scenario?: string; rows?: unknown; time: string; commit: string; dirty: boolean; bun: string; cpus: number; rounds: number }
  const latest = new Map<string, Record>()
  for (const line of readFileSync(join(root, 'bench/results.jsonl'), 'utf8').split('\n')) {
    if (!line.trim()) continue
    const record = JSON.parse(line) as Record
    if (record.mode === 'full' && Array.isArray(record.rows)) latest.set(record.scenario ?? '', record)
  }
  const rowsOf = (r: Record | undefined) => ((r?.rows ?? []) as Partial<Row>[]).map((row) => ({ ...row, ratio: row.ratio ?? NaN }) as Row)
  const main = latest.get('')
  const rows = rowsOf(main).filter((r) => r.target !== undefined || r.scenario === 'connect')
  for (const [scenario, record] of latest) if (scenario !== '') rows.push(...rowsOf(record).filter(isChartRow))
  const subtitle = main
    ? `${main.time.slice(0, 10)}, commit ${main.commit}${main.dirty ? '+' : ''}, Bun ${main.bun}, ${main.cpus} CPUs, median of ${main.rounds} A/B rounds (other scenarios: their latest run)`
    : 'latest run of each scenario'
  writeFileSync(join(root, 'docs/performance.svg'), renderSvg(rows, subtitle))
}
