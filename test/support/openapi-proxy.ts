/**
 * OPENAPI_PROXY=1 (set by .ci/run): every HTTP request a test makes to a test server's `url` goes
 * through Stoplight Prism (`prism proxy`), which checks the request and the response against the
 * OpenAPI document (src/http/openapi/). Test servers listen on port 0 and come and go, while Prism
 * forwards to one fixed upstream, so there are three hops, all on loopback:
 *
 *   test → front (one per test server: its `url`) → Prism (one per test process) → back → the server
 *
 * The front marks each request with the server's port (`x-openapi-upstream`), the back forwards it
 * there, and the front reads Prism's verdict from the `sl-violations` header Prism adds (it runs
 * without `--errors`, so it never answers in the server's place), then strips what Prism added.
 *
 * What fails a test (thrown when its server stops): any response violation; a request violation the
 * server accepted (2xx: the document is stricter than the server), unless the test marks the request
 * OFF_DOCUMENT, as one that checks the server's leniency beyond the document. A request violation the
 * server refused with a 4xx is a test sending a malformed request on purpose, and passes; its answer
 * is checked all the same.
 *
 * Not through Prism: WebSocket upgrades (`wsUrl`; AsyncAPI's domain); bodies that are bytes rather
 * than text (attachments up and down, tests of bad UTF-8), which Prism would alter as it reads them as
 * text, and paths that are not valid percent-encoding, on which Prism crashes: the front checks those
 * answers itself (openapi-check.ts), with the same rules; and tests of the connection itself
 * (chunked framing, hang-ups mid-body), which use the server's `directUrl`.
 */
import type { Subprocess } from 'bun'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pkg from '../../package.json' with { type: 'json' }
import { buildOpenApi } from '../../src/http/openapi/document.ts'
import { createChecker } from './openapi-check.ts'

export const PROXY_ENABLED = process.env.OPENAPI_PROXY === '1'

/** Headers of a request outside the document on purpose, whose acceptance the test checks. */
export const OFF_DOCUMENT = { 'X-OpenAPI-Off-Document': '1' }

const UPSTREAM_HEADER = 'x-openapi-upstream'
/** Ours and Prism's (CORS for its mock mode, its verdict): never the server's, so never passed on. */
const ADDED_HEADERS = /^(access-control-|sl-violations$|x-openapi-)/
/** Hop-by-hop headers: each hop sets its own. */
const HOP_HEADERS = new Set(['connection', 'keep-alive', 'transfer-encoding', 'host'])

interface Violation {
  location: string[]
  severity: string
  code: string | number
  message: string
}

const document = buildOpenApi(pkg.version) as { paths: Record<string, Record<string, object>> }
const check = createChecker(document)

/** The document's path template a concrete path falls under, the most literal one first (as OpenAPI matches). */
const templates = Object.keys(document.paths)
  .map((template) => ({ template, pattern: new RegExp(`^${template.replace(/[.]/g, '\\.').replace(/\{\w+\}/g, '[^/]*')}$`), literal: !template.includes('{') }))
  .sort((a, b) => Number(b.literal) - Number(a.literal) || b.template.split('/').length - a.template.split('/').length)
const templateOf = (path: string) => templates.find((t) => t.pattern.test(path))?.template

/** Operations whose bodies are bytes: the attachment upload and download. */
const binary = new Set(
  Object.entries(document.paths).flatMap(([path, item]) =>
    Object.entries(item)
      .filter(([, op]) => JSON.stringify(op).includes('application/octet-stream'))
      .map(([method]) => `${method.toUpperCase()} ${path}`),
  ),
)

function copyHeaders(from: Headers, drop?: RegExp): Headers {
  const to = new Headers()
  from.forEach((value, name) => {
    if (!HOP_HEADERS.has(name) && !drop?.test(name)) to.append(name, value)
  })
  return to
}

const readBody = async (req: Request) => (req.method === 'GET' || req.method === 'HEAD' ? undefined : await req.arrayBuffer())
const send = (target: string, method: string, headers: Headers, body: ArrayBuffer | undefined) =>
  fetch(target, { method, headers, body, redirect: 'manual', decompress: false })

const strictUtf8 = new TextDecoder('utf-8', { fatal: true })
function isText(body: ArrayBuffer | undefined): boolean {
  try {
    strictUtf8.decode(body)
    return true
  } catch {
    return false
  }
}

/** Prism stops altogether on a path that is not valid percent-encoding (`/%ff`, which the server answers 404). */
function decodes(path: string): boolean {
  try {
    decodeURIComponent(path)
    return true
  } catch {
    return false
  }
}

let prism: Promise<string> | undefined

/** The back hop, and Prism pointed at it: started once per test process, on first use; Prism's URL. */
function startPrism(): Promise<string> {
  prism ??= (async () => {
    const back = Bun.serve({
      port: 0,
      hostname: '127.0.0.1',
      async fetch(req) {
        const { pathname, search } = new URL(req.url)
        const target = `http://127.0.0.1:${req.headers.get(UPSTREAM_HEADER)}${pathname}${search}`
        return send(target, req.method, copyHeaders(req.headers, ADDED_HEADERS), await readBody(req))
      },
    })
    const file = join(mkdtempSync(join(tmpdir(), 'openapi-proxy-')), 'openapi.json')
    writeFileSync(file, JSON.stringify(document))
    const port = await freePort()
    // Prism lives as long as its stdin: when this process ends, however it ends, the pipe closes and
    // the shell stops it. Its output is drained here, never inherited (an orphan holding the test
    // run's stdout open would hang whoever reads it).
    const command = `"$0" proxy "$1" "$2" --host 127.0.0.1 --port "$3" & cat >/dev/null; kill $!`
    const args = [process.env.PRISM_BIN ?? 'prism', file, back.url.origin, String(port)]
    const child: Subprocess<'pipe', 'pipe', 'pipe'> = Bun.spawn(['sh', '-c', command, ...args], { stdin: 'pipe', stdout: 'pipe', stderr: 'pipe' })
    void drain(child.stderr.getReader())
    await waitForLine(child.stdout, /Prism is listening/)
    return `http://127.0.0.1:${port}`
  })()
  return prism
}

async function freePort(): Promise<number> {
  const probe = Bun.serve({ port: 0, hostname: '127.0.0.1', fetch: () => new Response() })
  const { port } = probe
  await probe.stop(true)
  return port!
}

/** Reads `stream` until a line matches, then keeps draining it (so Prism never blocks on a full pipe). */
async function waitForLine(stream: ReadableStream<Uint8Array>, pattern: RegExp): Promise<void> {
  const reader = stream.getReader()
  const decoder = new TextDecoder()
  let text = ''
  while (!pattern.test(text)) {
    const { done, value } = await reader.read()
    if (done) throw new Error(`prism exited before it listened:\n${text}`)
    text += decoder.decode(value, { stream: true })
  }
  void drain(reader)
}

async function drain(reader: ReadableStreamDefaultReader<Uint8Array>): Promise<void> {
  while (!(await reader.read()).done);
}

/** Prism's violations that count (see the module comment). */
function failing(req: Request, status: number, violations: Violation[]): Violation[] {
  const offDocument = req.headers.has(Object.keys(OFF_DOCUMENT)[0]!)
  // RFC 7235 §2.1: the auth scheme is case-insensitive (as the server and the document have it); Prism compares it exactly.
  const schemeCase = /^bearer /i.test(req.headers.get('authorization') ?? '')
  return violations.filter((v) => {
    if (v.location[0] !== 'request') return true
    if (schemeCase && v.message === 'Invalid security scheme used') return false
    return status < 400 && !offDocument
  })
}

export interface ProxyFront {
  url: string
  /** Throws, listing them, if any answer broke the document in a way that counts. */
  stop(): Promise<void>
}

/** A front hop for the test server on `port`. */
export async function startProxyFront(port: number): Promise<ProxyFront> {
  const prismUrl = await startPrism()
  const found: string[] = []
  const front = Bun.serve({
    port: 0,
    hostname: '127.0.0.1',
    async fetch(req) {
      const { pathname, search } = new URL(req.url)
      const headers = copyHeaders(req.headers, ADDED_HEADERS)
      const body = await readBody(req)
      const template = templateOf(pathname)
      const where = `${req.method} ${pathname}${search}`
      if (!isText(body) || !decodes(pathname) || (template && binary.has(`${req.method} ${template}`))) {
        const res = await send(`http://127.0.0.1:${port}${pathname}${search}`, req.method, headers, body)
        if (!template) return res
        const bytes = await res.arrayBuffer()
        const text = res.headers.get('content-type')?.startsWith('application/json') ? new TextDecoder().decode(bytes) : ''
        for (const p of check(req.method, template, { status: res.status, headers: res.headers, text })) found.push(`${where}: ${p}`)
        return new Response(bytes, { status: res.status, headers: res.headers })
      }
      headers.set(UPSTREAM_HEADER, String(port))
      const res = await send(`${prismUrl}${pathname}${search}`, req.method, headers, body)
      const verdict = res.headers.get('sl-violations')
      for (const v of failing(req, res.status, verdict ? JSON.parse(verdict) : [])) found.push(`${where} → ${res.status}: ${v.location.join('.')} ${v.message}`)
      return new Response(res.body, { status: res.status, statusText: res.statusText, headers: copyHeaders(res.headers, ADDED_HEADERS) })
    },
  })
  return {
    url: `http://127.0.0.1:${front.port}`,
    async stop() {
      await front.stop(true)
      if (found.length > 0) throw new Error(`the OpenAPI document and the server disagree:\n${found.join('\n')}`)
    },
  }
}
