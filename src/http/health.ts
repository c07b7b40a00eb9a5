/** Operations: GET /healthz (up, and the database answers) and GET /metrics (Prometheus text). */
import { AppError } from '../errors.ts'
import type { RequestContext } from './context.ts'
import { ok } from './respond.ts'

export async function getHealth(_req: Request, ctx: RequestContext): Promise<Response> {
  try {
    await ctx.app.store.ping()
  } catch (err) {
    ctx.app.log.error('health check: database did not answer', { err })
    throw new AppError('UNAVAILABLE', 'the database is not answering')
  }
  return ok({ status: 'ok' })
}

/** Prometheus text format, not the envelope (spec §2). */
export async function getMetrics(_req: Request, ctx: RequestContext): Promise<Response> {
  const { registry } = ctx.app.metrics
  return new Response(await registry.metrics(), { headers: { 'Content-Type': registry.contentType } })
}
