/** Operations: GET /healthz (up, and the database answers) and GET /metrics (Prometheus text). */
import { AppError } from '../errors.ts'
import type { Logger } from '../log.ts'
import type { Metrics } from '../metrics.ts'
import type { Store } from '../store/store.ts'
import type { RequestContext } from './context.ts'
import { ok } from './respond.ts'
import type { Route } from './router.ts'

export function healthRoutes({ store, log, metrics }: { store: Pick<Store, 'ping'>; log: Logger; metrics: Metrics }): Route<RequestContext>[] {
  return [
    {
      path: '/healthz',
      methods: {
        async GET() {
          try {
            await store.ping()
          } catch (err) {
            log.error('health check: database did not answer', { err })
            throw new AppError('UNAVAILABLE', 'the database is not answering')
          }
          return ok({ status: 'ok' })
        },
      },
    },
    {
      path: '/metrics',
      methods: {
        // Prometheus text format, not the envelope (spec §2).
        GET: async () => new Response(await metrics.registry.metrics(), { headers: { 'Content-Type': metrics.registry.contentType } }),
      },
    },
  ]
}
