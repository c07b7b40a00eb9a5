/**
 * docs/grafana-dashboard.json (issue 15, item 6): an importable Grafana dashboard whose every query
 * (panels, the instance variable, annotations) uses only metrics, and label values, that the real
 * server exports on GET /metrics. The extractor is unit-tested on fixtures first, so a misspelled
 * name is shown to fail the check rather than slip through it.
 */
import { describe, expect, test } from 'bun:test'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { register, request } from '../support/http.ts'
import { startTestServer } from '../support/server.ts'
import { openSocket } from '../support/socket.ts'
import { until } from '../support/wait.ts'

const DASHBOARD_PATH = join(import.meta.dir, '../../docs/grafana-dashboard.json')
const MONITORING_PATH = join(import.meta.dir, '../../docs/MONITORING.md')
const DATASOURCE = { type: 'prometheus', uid: '${DS_PROMETHEUS}' }

// ---------------------------------------------------------------------------------------------
// PromQL: which metrics an expression reads.

/** Words that look like identifiers in PromQL but are not metric names. */
const KEYWORDS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'bool', 'offset', 'and', 'or', 'unless', 'atan2', 'inf', 'nan'])

/** Removes string literals (label values, regexes, label_replace arguments). */
function withoutStrings(expr: string): string {
  return expr.replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, ' ')
}

/** Removes Grafana variables ($instance, ${DS}, $__rate_interval, [[var]]). */
function withoutVariables(expr: string): string {
  return expr.replace(/\$\{[^}]*\}|\[\[\w+\]\]|\$\w+/g, ' ')
}

/**
 * The metric names `expr` selects, in order, once per selector: every identifier that is not a
 * function (followed by `(`), a keyword, a label name (in `{…}`, `by (…)`, `on (…)` …), a duration,
 * a number or a string; plus `{__name__="…"}` selectors.
 */
export function metricNames(expr: string): string[] {
  const names: string[] = []
  for (const m of expr.matchAll(/__name__\s*(=~|!=|!~|=)\s*"([^"]*)"/g)) {
    if (m[1] !== '=') throw new Error(`cannot check a ${m[1]} match on __name__ in ${expr}`)
    names.push(m[2]!)
  }
  let s = withoutVariables(withoutStrings(expr))
  s = s.replace(/\{[^}]*\}/g, ' ') // label matchers
  s = s.replace(/\[[^\]]*\]/g, ' ') // ranges and subqueries
  s = s.replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ') // label lists
  for (const m of s.matchAll(/(?<![\w.:])[a-zA-Z_:][\w:]*/g)) {
    const after = s.slice(m.index + m[0].length).trimStart()
    if (after.startsWith('(')) continue // a function or an aggregation
    if (KEYWORDS.has(m[0].toLowerCase())) continue
    names.push(m[0])
  }
  return names
}

/** One matcher in a selector, e.g. {status=~"5.."}: label, operator and (unescaped) value. */
export interface Matcher {
  label: string
  op: '=' | '!=' | '=~' | '!~'
  value: string
}

/** Each selector `name{…}` of `expr` with its label matchers (a bare `name` has none). */
export function selectors(expr: string): { metric: string; matchers: Matcher[] }[] {
  const out: { metric: string; matchers: Matcher[] }[] = []
  for (const m of expr.matchAll(/(?<![\w.:"])([a-zA-Z_:][\w:]*)\s*\{((?:[^}"]|"(?:[^"\\]|\\.)*")*)\}/g)) {
    const matchers: Matcher[] = []
    for (const mm of m[2]!.matchAll(/([a-zA-Z_]\w*)\s*(=~|!=|!~|=)\s*"((?:[^"\\]|\\.)*)"/g)) {
      matchers.push({ label: mm[1]!, op: mm[2] as Matcher['op'], value: JSON.parse(`"${mm[3]}"`) })
    }
    out.push({ metric: m[1]!, matchers })
  }
  return out
}

/**
 * The PromQL inside a Grafana Prometheus variable query: `label_values(selector, label)` reads
 * `selector`, `label_values(label)` no metric, `query_result(expr)` reads `expr`.
 */
export function variableExprs(query: string): string[] {
  const labelValues = /^\s*label_values\s*\(([\s\S]*)\)\s*$/.exec(query)
  if (labelValues) {
    const args = labelValues[1]!
    const comma = args.lastIndexOf(',')
    return comma === -1 ? [] : [args.slice(0, comma)]
  }
  const queryResult = /^\s*query_result\s*\(([\s\S]*)\)\s*$/.exec(query)
  if (queryResult) return [queryResult[1]!]
  return [query]
}

// ---------------------------------------------------------------------------------------------
// The exposition text: which metric families and series exist.

export interface Family {
  type: string
  /** Every sample line's name and labels (histogram series keep their _bucket/_sum/_count name). */
  samples: { name: string; labels: Record<string, string> }[]
}

/** The families of a Prometheus text exposition (`# TYPE` lines), with their samples. */
export function parseExposition(text: string): Map<string, Family> {
  const families = new Map<string, Family>()
  const lines = text.split('\n')
  for (const line of lines) {
    const type = /^# TYPE (\S+) (\S+)/.exec(line)
    if (type) families.set(type[1]!, { type: type[2]!, samples: [] })
  }
  for (const line of lines) {
    if (line === '' || line.startsWith('#')) continue
    const sample = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})?\s/.exec(line)
    if (!sample) throw new Error(`unparsable sample line: ${line}`)
    const labels: Record<string, string> = {}
    for (const l of (sample[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = JSON.parse(`"${l[2]}"`)
    const family = familyOf(sample[1]!, families)
    if (!family) throw new Error(`sample without a # TYPE line: ${line}`)
    families.get(family)!.samples.push({ name: sample[1]!, labels })
  }
  return families
}

/**
 * The family a series name in a query belongs to, or undefined when the server exports no such
 * series: counters and gauges by their own name; a histogram only through name_bucket, name_sum and
 * name_count (it has no series of its bare name); a summary through name, name_sum and name_count.
 */
export function familyOf(name: string, families: Map<string, Family>): string | undefined {
  const own = families.get(name)
  if (own && own.type !== 'histogram') return name
  const suffix = /^(.+)_(bucket|sum|count)$/.exec(name)
  if (!suffix) return undefined
  const base = families.get(suffix[1]!)
  if (base?.type === 'histogram') return suffix[1]
  if (base?.type === 'summary' && suffix[2] !== 'bucket') return suffix[1]
  return undefined
}

// ---------------------------------------------------------------------------------------------
// The dashboard: every query in it, and what is wrong with them.

interface Target {
  expr?: unknown
  refId?: unknown
  datasource?: unknown
}
interface Panel {
  id?: unknown
  type?: unknown
  title?: unknown
  gridPos?: { x: number; y: number; w: number; h: number }
  datasource?: unknown
  targets?: Target[]
  panels?: Panel[]
}
interface Dashboard {
  __inputs?: { name: string; type: string; pluginId: string }[]
  schemaVersion?: unknown
  uid?: unknown
  title?: unknown
  panels?: Panel[]
  templating?: { list?: { name?: string; type?: string; query?: unknown; datasource?: unknown; multi?: unknown; includeAll?: unknown }[] }
  annotations?: { list?: { name?: string; expr?: unknown; datasource?: unknown }[] }
}

/** Panels, including those inside rows. */
export function allPanels(dashboard: Dashboard): Panel[] {
  return (dashboard.panels ?? []).flatMap((p) => [p, ...(p.panels ?? [])])
}

/** Every PromQL expression in the dashboard, with where it is (for failure messages). */
export function dashboardExprs(dashboard: Dashboard): { where: string; expr: string }[] {
  const out: { where: string; expr: string }[] = []
  for (const panel of allPanels(dashboard)) {
    for (const t of panel.targets ?? []) if (typeof t.expr === 'string') out.push({ where: `panel ${panel.id} "${panel.title}" ${t.refId}`, expr: t.expr })
  }
  for (const v of dashboard.templating?.list ?? []) {
    if (v.type !== 'query') continue
    const query = typeof v.query === 'string' ? v.query : (v.query as { query?: string } | undefined)?.query
    if (typeof query === 'string') for (const expr of variableExprs(query)) out.push({ where: `variable $${v.name}`, expr })
  }
  for (const a of dashboard.annotations?.list ?? []) if (typeof a.expr === 'string') out.push({ where: `annotation "${a.name}"`, expr: a.expr })
  return out
}

/** Labels Prometheus adds when it scrapes, so never in the exposition text. */
const TARGET_LABELS = new Set(['instance', 'job'])

/**
 * One line per problem: a metric the server does not export, one it declares but has no sample of,
 * a label it does not carry, or an exact label value no series has. Empty when the dashboard is good.
 */
export function dashboardProblems(dashboard: Dashboard, exposition: string): string[] {
  const families = parseExposition(exposition)
  const problems: string[] = []
  for (const { where, expr } of dashboardExprs(dashboard)) {
    for (const name of metricNames(expr)) {
      const family = familyOf(name, families)
      if (!family) problems.push(`${where}: ${name} is not exported by the server`)
      else if (families.get(family)!.samples.length === 0) problems.push(`${where}: ${name} is declared but has no samples`)
    }
    for (const { metric, matchers } of selectors(expr)) {
      const family = familyOf(metric, families)
      if (!family) continue // reported above
      const samples = families.get(family)!.samples.filter((s) => s.name === metric)
      for (const { label, op, value } of matchers) {
        if (TARGET_LABELS.has(label) || label === '__name__') continue
        if (!samples.some((s) => label in s.labels)) problems.push(`${where}: ${metric} has no label ${label}`)
        else if (op === '=' && !samples.some((s) => s.labels[label] === value)) problems.push(`${where}: no ${metric} series has ${label}="${value}"`)
      }
    }
  }
  return problems
}

function loadDashboard(): Dashboard {
  return JSON.parse(readFileSync(DASHBOARD_PATH, 'utf8'))
}

// ---------------------------------------------------------------------------------------------

describe('the PromQL metric extractor', () => {
  test('finds metric names, not functions, keywords, label names, variables, durations or strings', () => {
    expect(metricNames('sum by (kind) (rate(chat_connectionz{instance=~"$instance",kind="read_only"}[$__rate_interval]))')).toEqual(['chat_connectionz'])
    expect(metricNames('histogram_quantile(0.95, sum by (le, route) (rate(http_request_duration_seconds_bucket{route!~".*/ws"}[5m])))')).toEqual([
      'http_request_duration_seconds_bucket',
    ])
    expect(metricNames('sum(rate(a_total[1m])) without (instance) / on (job) group_left (version) b_info offset 1h > bool 0')).toEqual(['a_total', 'b_info'])
    expect(metricNames('label_replace(up_thing, "dst", "$1", "src", "(.*)") or vector(0) and time() - start_seconds @ 1609746000')).toEqual([
      'up_thing',
      'start_seconds',
    ])
    expect(metricNames('max_over_time(x_seconds[10m:1m]) * 1e3 + Inf - NaN')).toEqual(['x_seconds'])
    expect(metricNames('{__name__="by_name_total", status="200"}')).toEqual(['by_name_total'])
    expect(metricNames('sum(a{x="}{"}) / sum(b)')).toEqual(['a', 'b'])
  })

  test('reads label matchers and variable queries', () => {
    expect(selectors('sum(rate(m_total{instance=~"$instance",status="429"}[5m])) / n')).toEqual([
      {
        metric: 'm_total',
        matchers: [
          { label: 'instance', op: '=~', value: '$instance' },
          { label: 'status', op: '=', value: '429' },
        ],
      },
    ])
    expect(variableExprs('label_values(chat_connections{job="chat"}, instance)')).toEqual(['chat_connections{job="chat"}'])
    expect(variableExprs('label_values(instance)')).toEqual([])
    expect(variableExprs('query_result(topk(3, chat_rooms))')).toEqual(['topk(3, chat_rooms)'])
  })

  const exposition = [
    '# TYPE req_seconds histogram',
    'req_seconds_bucket{le="0.1",route="/a"} 1',
    'req_seconds_bucket{le="+Inf",route="/a"} 1',
    'req_seconds_sum{route="/a"} 0.05',
    'req_seconds_count{route="/a"} 1',
    '# TYPE logins_total counter',
    'logins_total{result="success"} 1',
    '# TYPE lag_seconds summary',
    'lag_seconds{quantile="0.99"} 0.01',
    'lag_seconds_sum 1',
    'lag_seconds_count 2',
    '# TYPE gc_seconds histogram',
    '',
  ].join('\n')

  test('maps _bucket/_sum/_count to histograms and summaries, and refuses what does not exist', () => {
    const families = parseExposition(exposition)
    expect(['req_seconds_bucket', 'req_seconds_sum', 'req_seconds_count'].map((n) => familyOf(n, families))).toEqual([
      'req_seconds',
      'req_seconds',
      'req_seconds',
    ])
    expect(['lag_seconds', 'lag_seconds_sum', 'lag_seconds_count'].map((n) => familyOf(n, families))).toEqual(['lag_seconds', 'lag_seconds', 'lag_seconds'])
    expect(familyOf('logins_total', families)).toBe('logins_total')
    // a histogram has no bare series, a counter no _count, a summary no _bucket; typos exist nowhere
    expect(['req_seconds', 'logins_total_count', 'lag_seconds_bucket', 'login_total', 'req_second_bucket'].map((n) => familyOf(n, families))).toEqual([
      undefined,
      undefined,
      undefined,
      undefined,
      undefined,
    ])
  })

  test('reports a misspelled metric, an empty family, a wrong label and a missing label value, naming where', () => {
    const dashboard: Dashboard = {
      panels: [
        {
          id: 1,
          title: 'Row',
          type: 'row',
          panels: [
            {
              id: 2,
              title: 'Logins',
              targets: [{ refId: 'A', expr: 'sum by (result) (rate(login_total{instance=~"$instance"}[5m]))' }],
            },
          ],
        },
        { id: 3, title: 'Latency', targets: [{ refId: 'A', expr: 'histogram_quantile(0.9, sum by (le) (rate(req_seconds_bucket{path="/a"}[5m])))' }] },
        { id: 4, title: 'GC', targets: [{ refId: 'B', expr: 'rate(gc_seconds_sum[5m]) + rate(logins_total{result="rate_limited"}[5m])' }] },
        { id: 5, title: 'Fine', targets: [{ refId: 'A', expr: 'rate(req_seconds_sum{route="/a"}[5m]) / rate(req_seconds_count[5m]) + lag_seconds' }] },
      ],
      templating: { list: [{ name: 'instance', type: 'query', query: { query: 'label_values(logins_totl, instance)' } }] },
      annotations: { list: [{ name: 'Restarts', expr: 'changes(req_seconds[5m]) > 0' }] },
    }
    expect(dashboardProblems(dashboard, exposition)).toEqual([
      'panel 2 "Logins" A: login_total is not exported by the server',
      'panel 3 "Latency" A: req_seconds_bucket has no label path',
      'panel 4 "GC" B: gc_seconds_sum is declared but has no samples',
      'panel 4 "GC" B: no logins_total series has result="rate_limited"',
      'variable $instance: logins_totl is not exported by the server',
      'annotation "Restarts": req_seconds is not exported by the server',
    ])
  })
})

describe('docs/grafana-dashboard.json', () => {
  test('is a dashboard Grafana imports: a Prometheus datasource input, an instance variable, panels with ids and queries', () => {
    const dashboard = loadDashboard()
    expect(dashboard.__inputs).toContainEqual(expect.objectContaining({ name: 'DS_PROMETHEUS', type: 'datasource', pluginId: 'prometheus' }))
    expect(dashboard.schemaVersion).toBeNumber()
    expect(dashboard.schemaVersion as number).toBeGreaterThanOrEqual(39)
    expect(dashboard.uid).toBeString()
    expect(dashboard.title).toBeString()

    const instance = dashboard.templating?.list?.find((v) => v.name === 'instance')
    expect(instance).toMatchObject({ type: 'query', datasource: DATASOURCE, multi: true, includeAll: true })

    const panels = allPanels(dashboard)
    expect(panels.length).toBeGreaterThan(10)
    const ids = panels.map((p) => p.id)
    expect(ids.every((id) => Number.isInteger(id))).toBe(true)
    expect(new Set(ids).size).toBe(ids.length)
    for (const panel of panels) {
      const where = `panel ${panel.id} "${panel.title}"`
      expect({ where, type: typeof panel.type, title: typeof panel.title }).toEqual({ where, type: 'string', title: 'string' })
      const { x, y, w, h } = panel.gridPos!
      expect({ where, fits: [x, y, w, h].every(Number.isInteger) && x >= 0 && y >= 0 && w > 0 && h > 0 && x + w <= 24 }).toEqual({ where, fits: true })
      if (panel.type === 'row') continue
      expect({ where, datasource: panel.datasource }).toEqual({ where, datasource: DATASOURCE })
      expect({ where, targets: (panel.targets ?? []).length > 0 }).toEqual({ where, targets: true })
      const refIds = (panel.targets ?? []).map((t) => t.refId)
      expect({ where, uniqueRefIds: new Set(refIds).size === refIds.length }).toEqual({ where, uniqueRefIds: true })
      for (const t of panel.targets ?? []) {
        expect({ where, refId: t.refId, datasource: t.datasource, expr: typeof t.expr === 'string' && t.expr.trim() !== '' }).toEqual({
          where,
          refId: t.refId,
          datasource: DATASOURCE,
          expr: true,
        })
      }
    }
  })

  test('every panel and annotation query follows the instance picker', () => {
    // Each selector must be narrowed by $instance, or picking instances would leave some panels at all of them.
    const unfiltered = dashboardExprs(loadDashboard())
      .filter(({ where }) => !where.startsWith('variable'))
      .flatMap(({ where, expr }) => {
        const filtered = selectors(expr).filter((s) => s.matchers.some((m) => m.label === 'instance' && m.op === '=~' && m.value === '$instance')).length
        return filtered === metricNames(expr).length ? [] : [`${where}: ${expr}`]
      })
    expect(unfiltered).toEqual([])
  })

  test('uses only metrics, labels and label values the running server exports', async () => {
    await using server = await startTestServer({ config: { loginLimitPerUser: 2, messageRate: 1, messageBurst: 1 } })
    // Make the series that appear only on an event: a login of each result, a message, a rejected
    // frame, a rate-limited message, an HTTP 429 and a request abandoned mid-body.
    const alice = await register(server.url, 'alice')
    for (let i = 0; i < 3; i++) await request(`${server.url}/api/v1/login`, { json: { username: 'alice', secret: 'wrong' } })
    using socket = await openSocket(`${server.wsUrl}/api/v1/rooms/lobby/messages/ws`, [alice.token])
    await socket.next('welcome')
    socket.send({ type: 'message', text: '' })
    await socket.next('error')
    socket.send({ type: 'message', text: 'hello' })
    await socket.next('message')
    // One a second with a burst of one: of five sent at once, at least one is dropped however slow the machine.
    for (let i = 0; i < 5; i++) socket.send({ type: 'message', text: `too soon ${i}` })
    expect((await socket.next('error')).error?.type).toBe('RATE_LIMITED')
    const tcp = await Bun.connect({ hostname: '127.0.0.1', port: server.running.server.port!, socket: { data() {} } })
    tcp.write('POST /api/v1/users HTTP/1.1\r\nHost: x\r\nContent-Length: 500\r\n\r\n{"username":"al')
    await Bun.sleep(20)
    tcp.terminate()
    const scrape = async () => (await fetch(`${server.url}/metrics`)).text()
    await until(async () => (await scrape()).includes('http_requests_aborted_total{'), 5000, 'the abandoned request counted')

    const exposition = await scrape()
    expect(exposition).toContain('chat_logins_total{result="rate_limited"}')
    const dashboard = loadDashboard()
    expect(dashboardProblems(dashboard, exposition)).toEqual([])

    // The alert rules in docs/MONITORING.md use exported metrics too (and Prometheus' own `up`).
    const alertExprs = [...readFileSync(MONITORING_PATH, 'utf8').matchAll(/^\s+expr: (.+)$/gm)].map((m) => m[1]!)
    expect(alertExprs.length).toBeGreaterThan(5)
    const families = parseExposition(exposition)
    const unknownInAlerts = alertExprs.flatMap((expr) => metricNames(expr).filter((name) => name !== 'up' && !familyOf(name, families)))
    expect(unknownInAlerts).toEqual([])

    // The same check against the same scrape fails once a query names a metric the server lacks.
    const broken: Dashboard = structuredClone(dashboard)
    const target = allPanels(broken).find((p) => p.targets?.some((t) => String(t.expr).includes('chat_messages_received_total')))!
    const t = target.targets!.find((t) => String(t.expr).includes('chat_messages_received_total'))!
    t.expr = String(t.expr).replace('chat_messages_received_total', 'chat_messages_recieved_total')
    expect(dashboardProblems(broken, exposition)).toEqual([
      `panel ${target.id} "${target.title}" ${t.refId}: chat_messages_recieved_total is not exported by the server`,
    ])
  })
})
