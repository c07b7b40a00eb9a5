/** REST calls: one request function that sends JSON (or raw bytes) and turns the envelope into data or a ChatError. */
import { ChatError, parseRetryAfter } from './errors.ts'
import type { Envelope } from './protocol.ts'

export type FetchLike = (input: string, init?: RequestInit) => Promise<Response>

export interface RequestOptions {
  /** A JSON body. */
  json?: unknown
  /** A raw body (uploads), sent as `application/octet-stream`. */
  raw?: BodyInit
  token?: string
  query?: Record<string, string | number | undefined>
  signal?: AbortSignal
}

/** `path` with `query` appended, leaving out undefined values. */
export function withQuery(path: string, query: RequestOptions['query']): string {
  const params = new URLSearchParams()
  for (const [key, value] of Object.entries(query ?? {})) if (value !== undefined) params.set(key, String(value))
  const qs = params.toString()
  return qs === '' ? path : `${path}?${qs}`
}

/** Sends a request and resolves with the response, or rejects with ChatError NETWORK when there is none. */
export async function send(fetchFn: FetchLike, baseUrl: string, method: string, path: string, opts: RequestOptions = {}): Promise<Response> {
  const headers: Record<string, string> = {}
  let body: BodyInit | undefined
  if (opts.json !== undefined) {
    headers['Content-Type'] = 'application/json'
    body = JSON.stringify(opts.json)
  } else if (opts.raw !== undefined) {
    headers['Content-Type'] = 'application/octet-stream'
    body = opts.raw
  }
  if (opts.token !== undefined) headers.Authorization = `Bearer ${opts.token}`
  try {
    const init: RequestInit & { duplex?: 'half' } = { method, headers, body, signal: opts.signal }
    // fetch needs to be told that a streamed body is sent before the answer is read (Node, browsers).
    if (typeof ReadableStream !== 'undefined' && body instanceof ReadableStream) init.duplex = 'half'
    return await fetchFn(baseUrl + withQuery(path, opts.query), init)
  } catch (err) {
    if (opts.signal?.aborted) throw err
    throw new ChatError('NETWORK', `${method} ${path}: the server could not be reached (${err instanceof Error ? err.message : String(err)})`)
  }
}

/** The error an envelope carries, typed, with the status and any `Retry-After`; undefined when it carries none. */
export async function readError(res: Response): Promise<ChatError | undefined> {
  if (res.ok) return undefined
  let envelope: Envelope<unknown> | undefined
  try {
    envelope = (await res.json()) as Envelope<unknown>
  } catch {
    // not the envelope: below
  }
  const retryAfter = parseRetryAfter(res.headers.get('Retry-After'))
  if (envelope?.error) return new ChatError(envelope.error.type, envelope.error.message, res.status, retryAfter)
  return new ChatError('NETWORK', `unexpected ${res.status} response without the envelope`, res.status, retryAfter)
}

/** Sends a request and resolves with the envelope's `data` (undefined for a 204); any `error` rejects as a ChatError. */
export async function call<T>(fetchFn: FetchLike, baseUrl: string, method: string, path: string, opts: RequestOptions = {}): Promise<T> {
  const res = await send(fetchFn, baseUrl, method, path, opts)
  if (res.status === 204) return undefined as T
  const failure = await readError(res)
  if (failure) throw failure
  let envelope: Envelope<T>
  try {
    envelope = (await res.json()) as Envelope<T>
  } catch {
    throw new ChatError('NETWORK', `unexpected ${res.status} response without the envelope`, res.status)
  }
  if (envelope.error) throw new ChatError(envelope.error.type, envelope.error.message, res.status, parseRetryAfter(res.headers.get('Retry-After')))
  return envelope.data
}
