/** /api/v1/login and /api/v1/token: getting a token with the password, and a fresh one with a valid token. */
import { logIn } from '../chat/users.ts'
import { AppError } from '../errors.ts'
import { requireToken } from './bearer.ts'
import { readCredentials } from './body.ts'
import type { RequestContext } from './context.ts'
import { ok } from './respond.ts'

export async function postLogin(req: Request, ctx: RequestContext): Promise<Response> {
  const credentials = await readCredentials(req)
  const { logins } = ctx.app.metrics
  try {
    const session = await logIn(ctx.app.accounts, credentials, ctx.address)
    logins.inc({ result: 'success' })
    return ok(session)
  } catch (err) {
    logins.inc({ result: err instanceof AppError && err.type === 'RATE_LIMITED' ? 'rate_limited' : 'failure' })
    throw err
  }
}

export async function postToken(req: Request, ctx: RequestContext): Promise<Response> {
  const { user } = await requireToken(req, ctx)
  return ok({ token: await ctx.app.tokens.issue(user), user })
}
