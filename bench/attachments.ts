/**
 * Attachments scenario (spec §7, issue 14): upload and download throughput of a 10 MiB file through
 * the product (`POST /api/v1/rooms/{room}/attachments`, `GET /api/v1/attachments/{id}`) against a bare
 * Bun server on the same machine that writes the body to a file with `Bun.write` and fsyncs it (an
 * upload is acknowledged once durable, as the product's is) and serves the same file with `Bun.file`
 * (target: product ÷ baseline ≥ 0.8 both ways). The product runs on SQLite (files
 * in the data folder) and, where PostgreSQL is installed, on PostgreSQL (chunks in `attachment_blobs`).
 * Product and baseline alternate within each round, as the other scenarios do.
 *
 *   bun bench/attachments.ts --baseline <dir> <port>    the baseline server alone (what the scenario starts)
 */
import { SQL, type Subprocess } from 'bun'
import { appendFileSync, mkdtempSync, rmSync } from 'node:fs'
import { open } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { CONVERSATION_PATHS } from '../packages/client/src/index.ts'
import { startPostgres, type Service } from '../test/support/services.ts'
import { DOC_TEMPLATE, loadNow, runLine, updatePerformanceDoc } from './report.ts'
import { CHEAP_ARGON2_ENV, startServer, type ServerUnderTest } from './servers.ts'

const MiB = 1024 * 1024
const HOST = '127.0.0.1'

export interface AttachmentSizes {
  fileBytes: number
  /** Transfers per measurement, `concurrency` at a time. */
  transfers: number
  concurrency: number
}
export const ATTACHMENTS_FULL: AttachmentSizes = { fileBytes: 10 * MiB, transfers: 48, concurrency: 4 }
export const ATTACHMENTS_SMOKE: AttachmentSizes = { fileBytes: 10 * MiB, transfers: 4, concurrency: 2 }

export interface AttachmentRow {
  store: 'SQLite' | 'PostgreSQL'
  direction: 'upload' | 'download'
  productMiBps: number
  baselineMiBps: number
  ratio: number
  ratios: number[]
  met: boolean
}

export const ATTACHMENTS_TARGET = 0.8

/** The baseline: a bare Bun server that stores a POSTed body with Bun.write and serves one file with Bun.file. */
function serveBaseline(dir: string, port: number): void {
  let uploads = 0
  Bun.serve({
    hostname: HOST,
    port,
    maxRequestBodySize: 1024 * MiB,
    async fetch(req) {
      const path = new URL(req.url).pathname
      if (path === '/healthz') return new Response('ok')
      if (req.method === 'POST') {
        // Stored durably, as an upload must be before it is acknowledged (the product syncs too).
        const file = join(dir, `upload-${uploads++}`)
        await Bun.write(file, req)
        const handle = await open(file, 'r')
        await handle.sync()
        await handle.close()
        return Response.json({ error: null, data: { ok: true } }, { status: 201 })
      }
      return new Response(Bun.file(join(dir, 'file.bin')), { headers: { 'Content-Type': 'application/octet-stream', 'X-Content-Type-Options': 'nosniff' } })
    },
  })
}

interface Target {
  upload: () => Promise<void>
  download: () => Promise<void>
  stop: () => Promise<void>
}

async function expectStatus(res: Response, status: number, what: string): Promise<ArrayBuffer> {
  const body = await res.arrayBuffer()
  if (res.status !== status) throw new Error(`${what}: ${res.status} ${new TextDecoder().decode(body.slice(0, 200))}`)
  return body
}

async function startBaseline(file: Uint8Array<ArrayBuffer>): Promise<Target> {
  const dir = mkdtempSync(join(tmpdir(), 'chat-bench-files-'))
  await Bun.write(join(dir, 'file.bin'), file)
  const listener = Bun.listen({ hostname: HOST, port: 0, socket: { data() {} } })
  const port = listener.port
  listener.stop(true)
  const proc: Subprocess = Bun.spawn({ cmd: [process.execPath, import.meta.path, '--baseline', dir, String(port)], stdout: 'ignore', stderr: 'inherit' })
  const url = `http://${HOST}:${port}`
  for (let i = 0; ; i++) {
    if (
      await fetch(`${url}/healthz`).then(
        (r) => r.ok,
        () => false,
      )
    )
      break
    if (i > 400) throw new Error('baseline did not start')
    await Bun.sleep(25)
  }
  return {
    upload: async () => void (await expectStatus(await fetch(`${url}/upload`, { method: 'POST', body: file }), 201, 'baseline upload')),
    download: async () => void (await expectStatus(await fetch(`${url}/file`), 200, 'baseline download')),
    async stop() {
      proc.kill()
      await proc.exited
      rmSync(dir, { recursive: true, force: true })
    },
  }
}

let databases = 0

/** A fresh database on the cluster at `url` (each product start signs up the same users); dropped by the function it returns. */
async function freshDatabase(url: string): Promise<{ url: string; drop: () => Promise<void> }> {
  const name = `bench_attachments_${process.pid}_${++databases}`
  const admin = new SQL(url)
  await admin.unsafe(`CREATE DATABASE ${name}`)
  return {
    url: url.replace(/\/postgres$/, `/${name}`),
    async drop() {
      await admin.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)
      await admin.close()
    },
  }
}

async function startProduct(file: Uint8Array<ArrayBuffer>, cluster?: string): Promise<Target> {
  const db = cluster ? await freshDatabase(cluster) : undefined
  const env = { ...CHEAP_ARGON2_ENV, ATTACHMENT_QUOTA_BYTES: String(1024 * 1024 * MiB), ...(db ? { DATABASE: db.url } : {}) }
  const server: ServerUnderTest = await startServer('product', { env })
  const [account] = await server.accounts(1)
  const auth = { Authorization: `Bearer ${account!.token}` }
  // The measured transfers are bare fetches, as the baseline's are (the SDK's paths): the client adds nothing to what is timed.
  const post = async () => {
    const body = await expectStatus(
      await fetch(`${server.url}${CONVERSATION_PATHS.upload('files')}?filename=bench.bin`, { method: 'POST', headers: auth, body: file }),
      201,
      'upload',
    )
    return (JSON.parse(new TextDecoder().decode(body)) as { data: { url: string } }).data.url
  }
  const url = await post()
  return {
    upload: async () => void (await post()),
    download: async () => void (await expectStatus(await fetch(`${server.url}${url}`, { headers: auth }), 200, 'download')),
    async stop() {
      await server.stop()
      await db?.drop()
    },
  }
}

/** MiB/s of `transfers` runs of `op`, `concurrency` at a time. */
async function throughput(op: () => Promise<void>, sizes: AttachmentSizes): Promise<number> {
  await op() // warm-up
  let next = 0
  const started = performance.now()
  const lane = async () => {
    while (next++ < sizes.transfers) await op()
  }
  await Promise.all(Array.from({ length: sizes.concurrency }, lane))
  return (sizes.transfers * sizes.fileBytes) / MiB / ((performance.now() - started) / 1000)
}

const median = (xs: number[]) => {
  const s = xs.filter(Number.isFinite).sort((a, b) => a - b)
  return s.length === 0 ? NaN : s.length % 2 ? s[s.length >> 1]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2
}

/** Runs the scenario: both stores that are available, both directions, `rounds` A/B rounds each. */
export async function runAttachments(sizes: AttachmentSizes, rounds: number, log: (line: string) => void): Promise<AttachmentRow[]> {
  // Random throughout, as the images people upload are: zeros would let PostgreSQL compress each chunk to nothing.
  const file = new Uint8Array(sizes.fileBytes)
  for (let at = 0; at < file.byteLength; at += 65536) crypto.getRandomValues(file.subarray(at, at + 65536))
  let pg: Service | undefined
  try {
    pg = await startPostgres()
  } catch (err) {
    log(`attachments: PostgreSQL unavailable, SQLite only (${err instanceof Error ? err.message.split('\n')[0] : String(err)})`)
  }
  const rows: AttachmentRow[] = []
  try {
    const stores = [{ store: 'SQLite' as const, database: undefined }, ...(pg ? [{ store: 'PostgreSQL' as const, database: pg.url }] : [])]
    for (const { store, database } of stores) {
      const samples = { upload: { product: [] as number[], baseline: [] as number[] }, download: { product: [] as number[], baseline: [] as number[] } }
      for (let round = 0; round < rounds; round++) {
        const order = round % 2 === 0 ? (['product', 'baseline'] as const) : (['baseline', 'product'] as const)
        for (const kind of order) {
          const target = kind === 'product' ? await startProduct(file, database) : await startBaseline(file)
          try {
            for (const direction of ['upload', 'download'] as const) {
              const mibps = await throughput(target[direction], sizes)
              samples[direction][kind].push(mibps)
              log(`attachments ${store} #${round + 1} ${kind} ${direction}: ${mibps.toFixed(0)} MiB/s`)
            }
          } finally {
            await target.stop()
          }
        }
      }
      for (const direction of ['upload', 'download'] as const) {
        const { product, baseline } = samples[direction]
        const ratios = product.map((p, i) => p / baseline[i]!)
        const ratio = median(ratios)
        rows.push({ store, direction, productMiBps: median(product), baselineMiBps: median(baseline), ratio, ratios, met: ratio >= ATTACHMENTS_TARGET })
      }
    }
  } finally {
    await pg?.[Symbol.asyncDispose]()
  }
  return rows
}

export function attachmentsTable(rows: AttachmentRow[], sizes: AttachmentSizes): string {
  const head = `| store | ${sizes.fileBytes / MiB} MiB file, ${sizes.concurrency} at a time | product MiB/s | Bun.file baseline MiB/s | ratio (target ≥ ${ATTACHMENTS_TARGET}) |`
  const lines = rows.map(
    (r) =>
      `| ${r.store} | ${r.direction} | ${r.productMiBps.toFixed(0)} | ${r.baselineMiBps.toFixed(0)} | ${r.ratio.toFixed(2)} ${r.met ? 'met' : '**missed**'} (${r.ratios.map((x) => x.toFixed(2)).join(', ')}) |`,
  )
  return [head, '|---|---|---|---|---|', ...lines].join('\n')
}

if (import.meta.main && process.argv[2] === '--baseline') serveBaseline(process.argv[3]!, Number(process.argv[4]))

/** The scenario as `bun run bench --scenario attachments` runs it: log, table, and (with `write`) a line of bench/results.jsonl. */
export async function attachmentsScenario(
  opts: { smoke: boolean; rounds: number; write: boolean },
  meta: Record<string, unknown>,
  log: (line: string) => void,
): Promise<boolean> {
  const sizes = opts.smoke ? ATTACHMENTS_SMOKE : ATTACHMENTS_FULL
  const started = performance.now()
  const loadBefore = loadNow()
  let rows: AttachmentRow[]
  try {
    rows = await runAttachments(sizes, opts.rounds, log)
  } catch (err) {
    log(`attachments FAILED: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`)
    return false
  }
  const record = { ...meta, scenario: 'attachments', seconds: Math.round((performance.now() - started) / 100) / 10, sizes, rows }
  console.log(JSON.stringify(record))
  console.log(`\n${attachmentsTable(rows, sizes)}\n`)
  if (opts.write) {
    appendFileSync(join(import.meta.dir, 'results.jsonl'), JSON.stringify(record) + '\n')
    const what = `${opts.rounds} rounds of ${sizes.transfers} transfers each way`
    const missed = rows.filter((r) => !r.met).map((r) => `${r.store} ${r.direction} (${r.ratio.toFixed(2)})`)
    const verdict = missed.length === 0 ? `Every ratio at or over ${ATTACHMENTS_TARGET}.` : `**Under ${ATTACHMENTS_TARGET}:** ${missed.join(', ')}.`
    updatePerformanceDoc(join(import.meta.dir, '../docs/PERFORMANCE.md'), DOC_TEMPLATE, {
      attachments: [runLine(meta, [loadBefore, loadNow()], what, record.seconds), '', attachmentsTable(rows, sizes), '', verdict].join('\n'),
    })
  }
  return true
}
