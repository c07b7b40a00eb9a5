/** Router: exact paths plus `:param` segments, with a per-route check that runs before the method check (spec §2). */
import { AppError } from '../errors.ts'
import { quotePath } from './target.ts'

export type Params = Record<string, string>

export type Handler<C> = (req: Request, ctx: C, params: Params) => Response | undefined | Promise<Response | undefined>

export interface Route<C> {
  /** e.g. `/api/v1/rooms/:room/messages`; a `:name` segment matches one non-empty-or-empty path segment. */
  path: string
  /** Validates params before the method is looked at, so a bad room is ROOM_INVALID on any method. */
  check?: (params: Params) => void
  /** Reads a body past BODY_LIMIT_BYTES itself (an upload); any other route's declared longer body is 413 (spec §2). */
  largeBody?: true
  /** A WebSocket upgrade: GET only, so HEAD is not answered by it. */
  upgrade?: true
  methods: Partial<Record<string, Handler<C>>>
}

interface Compiled<C> {
  segments: string[]
  route: Route<C>
  allow: string
}

export interface Router<C> {
  /** The handler for this request, or throws NOT_FOUND / METHOD_NOT_ALLOWED (with Allow). */
  resolve(method: string, path: string): { handler: Handler<C>; params: Params; route: string; largeBody: boolean }
  /** Every route path with its methods, in table order (the OpenAPI parity test reads it). */
  table: readonly { path: string; methods: string[] }[]
}

export function createRouter<C>(routes: Route<C>[]): Router<C> {
  const exact = new Map<string, Compiled<C>>()
  const patterned: Compiled<C>[] = []
  for (const route of routes) {
    const compiled = { segments: route.path.split('/'), route, allow: Object.keys(route.methods).join(', ') }
    if (route.path.includes(':')) patterned.push(compiled)
    else exact.set(route.path, compiled)
  }

  function match(path: string): { compiled: Compiled<C>; params: Params } | undefined {
    const hit = exact.get(path)
    if (hit) return { compiled: hit, params: {} }
    const parts = path.split('/')
    // The literal segments decide the route; only then are its params decoded (an upgrade's path
    // passes many routes of its length first).
    for (const compiled of patterned) {
      if (fits(compiled.segments, parts)) return { compiled, params: paramsOf(compiled.segments, parts) }
    }
    return undefined
  }

  return {
    table: routes.map((r) => ({ path: r.path, methods: Object.keys(r.methods) })),
    resolve(method, path) {
      const found = match(path)
      if (!found) throw new AppError('NOT_FOUND', `no such endpoint: ${quotePath(path)}`)
      const { compiled, params } = found
      compiled.route.check?.(params)
      // HEAD is GET without the body (RFC 9110 §9.3.2; Bun drops the body), so an uptime monitor that
      // asks HEAD /healthz gets its 200. Allow keeps listing the declared methods, GET implying HEAD.
      const { methods, upgrade } = compiled.route
      const handler = methods[method] ?? (method === 'HEAD' && !upgrade ? methods.GET : undefined)
      if (!handler) throw new AppError('METHOD_NOT_ALLOWED', `${quotePath(path)} accepts ${compiled.allow}`, { Allow: compiled.allow })
      return { handler, params, route: compiled.route.path, largeBody: compiled.route.largeBody === true }
    },
  }
}

/** Whether `parts` has the route's length and its literal segments (a `:name` segment takes anything). */
function fits(segments: string[], parts: string[]): boolean {
  if (segments.length !== parts.length) return false
  for (let i = 0; i < parts.length; i++) {
    const want = segments[i]!
    if (want !== parts[i] && !want.startsWith(':')) return false
  }
  return true
}

function paramsOf(segments: string[], parts: string[]): Params {
  const params: Params = {}
  segments.forEach((want, i) => {
    if (want.startsWith(':')) params[want.slice(1)] = decodeSegment(parts[i]!)
  })
  return params
}

/** Percent-decodes one segment; an undecodable one becomes a value no check accepts. */
function decodeSegment(raw: string): string {
  try {
    return decodeURIComponent(raw)
  } catch {
    return '\u0000'
  }
}
