/** Bun.serve: the one place that turns errors into HTTP responses, the request log, and the server's part of shutdown. */
import type { Server } from 'bun'
import type { App } from './app.ts'
import { AppError, ClientGone, INTERNAL_MESSAGE } from './errors.ts'
import type { RequestContext } from './http/context.ts'
import { refuseDeclaredTooLarge } from './http/body.ts'
import { fail } from './http/respond.ts'
import { quotePath, readTarget, type RequestTarget } from './http/target.ts'
import type { SocketData } from './ws/socket-data.ts'

export interface RunningServer {
  server: Server<SocketData>
  /** http://host:port, with the real port when started on port 0. */
  url: string
  /**
   * Clean shutdown (spec §3): stop accepting, then the app's order (app.ts stop): in-flight messages
   * stored and broadcast, every socket closed with 1001, the last connections, the database.
   */
  stop(): Promise<void>
}

/** The client address: the TCP peer, or with TRUST_PROXY the first X-Forwarded-For entry. */
function clientAddress(req: Request, server: Server<SocketData>, trustProxy: boolean): string {
  if (trustProxy) {
    const first = req.headers.get('x-forwarded-for')?.split(',')[0]?.trim()
    if (first) return first
  }
  return server.requestIP(req)?.address ?? 'unknown'
}

export function startServer(app: App): RunningServer {
  const { config, log, router } = app

  /** The route's response (undefined after a WebSocket upgrade), with the route pattern for metrics. */
  async function handle(
    req: Request,
    server: Server<SocketData>,
    target: RequestTarget,
  ): Promise<{ res: Response | undefined; route: string; aborted?: true }> {
    let route = 'unmatched'
    try {
      const resolved = router.resolve(req.method, target.path)
      route = resolved.route
      if (!resolved.largeBody) refuseDeclaredTooLarge(req)
      const ctx: RequestContext = { server, address: clientAddress(req, server, config.trustProxy), query: target.query }
      return { res: await resolved.handler(req, ctx, resolved.params), route }
    } catch (err) {
      if (err instanceof AppError) return { res: fail(err.type, err.message, err.headers), route }
      if (err instanceof ClientGone) {
        // The client hung up mid-request: nobody reads the answer, and it is not the server's fault.
        log.debug('client went away', { method: req.method, path: quotePath(target.path) })
        return { res: fail('BAD_REQUEST', 'the request was aborted'), route, aborted: true }
      }
      log.error('unhandled error', { method: req.method, path: quotePath(target.path), err })
      return { res: fail('INTERNAL', INTERNAL_MESSAGE), route }
    }
  }

  const server: Server<SocketData> = Bun.serve<SocketData>({
    port: config.port,
    hostname: config.host,
    // Bodies are capped at 16 KiB by our own reader (with an envelope 413); keep Bun's cap out of the way.
    maxRequestBodySize: 1024 * 1024 * 1024,
    // Never Bun's development mode (it would inject an inline HMR script that the CSP refuses).
    development: false,
    // Bun shares a port by default outside development mode: a second instance on a busy port would
    // start silently and take half the connections. Sharing is for REUSE_PORT (one process per core).
    reusePort: config.reusePort,
    // The page and its assets, GET and HEAD only, with security headers; everything else reaches fetch.
    // These static routes bypass fetch, so they are not in the request log or the HTTP metrics.
    routes: app.web.routes(),
    async fetch(req, server) {
      const started = performance.now()
      const target = readTarget(req.url)
      if (!target) return fail('BAD_REQUEST', 'the request target must be a path such as /api/v1/rooms')
      const { res, route, aborted } = await handle(req, server, target)
      // Counted apart: not a response anyone received, and not a server error.
      if (aborted) app.metrics.httpAborted.inc({ route })
      if (aborted) return res
      const status = res?.status ?? 101
      const seconds = (performance.now() - started) / 1000
      app.metrics.httpRequests.inc({ route, method: req.method, status })
      app.metrics.httpDuration.observe({ route, method: req.method }, seconds)
      // Path only: query strings are not logged, and tokens never travel in them.
      if (log.enabled('info')) log.info('http', { method: req.method, path: quotePath(target.path), status, ms: Math.round(seconds * 10_000) / 10 })
      return res
    },
    error(err) {
      log.error('unhandled error in Bun.serve', { err })
      return fail('INTERNAL', INTERNAL_MESSAGE)
    },
    websocket: app.websocket,
  })
  app.start(server)

  let stopping: Promise<void> | undefined
  return {
    server,
    url: `http://${server.hostname === '0.0.0.0' ? '127.0.0.1' : server.hostname}:${server.port}`,
    stop() {
      stopping ??= (async () => {
        server.stop(false)
        await app.stop(() => server.stop(true))
      })()
      return stopping
    },
  }
}
