/**
 * The request target (path and query) of a request, whatever its Host header says.
 *
 * Bun's `req.url` is the absolute URL built from Host, except when Host is missing or unusable: then
 * it is the bare target (`/healthz`, HTTP/1.0 without Host, `Host: a b`), and with `Host: [::1` it is
 * a string `new URL()` refuses (`http://[::1/healthz`). Routing must not depend on Host at all, so
 * the target is taken from the string itself and `new URL(req.url)` is never used.
 */
export interface RequestTarget {
  /** Starts with `/`; still percent-encoded. */
  path: string
  query: URLSearchParams
}

/** The target of `url` (a `req.url`), or undefined when it holds no usable path. */
export function readTarget(url: string): RequestTarget | undefined {
  let start = 0
  if (!url.startsWith('/')) {
    const scheme = url.indexOf('://')
    if (scheme === -1) return undefined
    start = url.indexOf('/', scheme + 3)
    if (start === -1) return undefined
  }
  const queryStart = url.indexOf('?', start)
  if (queryStart === -1) return { path: url.slice(start), query: new URLSearchParams() }
  return { path: url.slice(start, queryStart), query: new URLSearchParams(url.slice(queryStart + 1)) }
}

/** A path as it may appear in a log line or an error message: long paths are cut (one client sent 8 KB paths), secrets hidden. */
export const QUOTED_PATH_MAX = 200

/** An incoming webhook's path is its credential (docs/BOTS.md): shown as `/api/v1/hooks/***`. */
const SECRET_IN_PATH = /^(\/api\/v1\/hooks\/)[^/]+/

export function quotePath(path: string): string {
  const shown = path.replace(SECRET_IN_PATH, '$1***')
  return shown.length > QUOTED_PATH_MAX ? `${shown.slice(0, QUOTED_PATH_MAX)}…(${shown.length} chars)` : shown
}
