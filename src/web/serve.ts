/** Server side of the web client: the HTML import's bundle as static GET/HEAD routes carrying security headers (spec §2 `GET /`). */
import type { HTMLBundle } from 'bun'
import { basename, extname } from 'node:path'

/**
 * Sent with the page and every asset. Bun's HTML-import routes take no headers, so the bundle is
 * served as static `Response` routes instead, which do (and answer If-None-Match with 304).
 */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'Content-Security-Policy':
    "default-src 'self'; connect-src 'self' ws: wss:; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
}

/** Asset names carry a content hash, so they never change; the page itself is revalidated every time. */
const IMMUTABLE = 'public, max-age=31536000, immutable'

/** Bun labels some assets application/octet-stream, which nosniff would then refuse to render. */
const CONTENT_TYPES: Record<string, string> = {
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.webp': 'image/webp',
  '.woff2': 'font/woff2',
  '.map': 'application/json;charset=utf-8',
}

interface WebFile {
  /** URL path: `/` for the page, `/<file>` for an asset. */
  urlPath: string
  body: Uint8Array<ArrayBuffer>
  contentType: string
  etag: string
}

export interface WebClient {
  /** `routes` for Bun.serve: each file under its path, GET and HEAD only; other methods fall through to the router. */
  routes(): Record<string, { GET: Response; HEAD: Response }>
  /** The page, for the router's own `/` entry (reached only if Bun's static route is bypassed). */
  index(): Response
  /** The bundled files, as served. */
  files: readonly WebFile[]
}

let loading: Promise<WebFile[]> | undefined

/**
 * Loads the bundle once per process. A compiled binary carries it prebuilt (`page.files`, embedded
 * by `bun build --compile`); from source, Bun.build bundles the same HTML entry in memory.
 */
export async function loadWebClient(page: HTMLBundle): Promise<WebClient> {
  loading ??= page.files ? readEmbedded(page.files) : buildFromSource(page.index)
  const files = await loading
  const index = files.find((f) => f.urlPath === '/')
  if (!index) throw new Error('web client: the bundle has no HTML page')
  return {
    files,
    routes() {
      const routes: Record<string, { GET: Response; HEAD: Response }> = {}
      for (const file of files) routes[file.urlPath] = { GET: toResponse(file), HEAD: toResponse(file) }
      return routes
    },
    index: () => toResponse(index),
  }
}

function toResponse(file: WebFile): Response {
  return new Response(file.body, {
    headers: {
      ...SECURITY_HEADERS,
      'Content-Type': file.contentType,
      'Cache-Control': file.urlPath === '/' ? 'no-cache' : IMMUTABLE,
      ETag: `"${file.etag}"`,
    },
  })
}

function contentTypeOf(path: string, given: string): string {
  return CONTENT_TYPES[extname(path)] ?? given
}

async function readEmbedded(files: NonNullable<HTMLBundle['files']>): Promise<WebFile[]> {
  return Promise.all(
    files.map(async (f) => ({
      urlPath: f.loader === 'html' ? '/' : `/${basename(f.path)}`,
      body: await Bun.file(f.path).bytes(),
      contentType: contentTypeOf(f.path, f.headers['content-type']),
      etag: f.headers.etag,
    })),
  )
}

async function buildFromSource(entry: string): Promise<WebFile[]> {
  // The same options `bun build --compile --minify` applies to an HTML import.
  const result = await Bun.build({ entrypoints: [entry], target: 'browser', minify: true, publicPath: '/' })
  if (!result.success) throw new AggregateError(result.logs, 'web client: bundling failed')
  return Promise.all(
    result.outputs.map(async (out) => {
      const body = new Uint8Array(await out.arrayBuffer())
      return {
        urlPath: out.path.endsWith('.html') ? '/' : `/${basename(out.path)}`,
        body,
        contentType: contentTypeOf(out.path, out.type),
        etag: out.hash ?? Bun.hash(body).toString(36),
      }
    }),
  )
}
