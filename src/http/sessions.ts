/** /api/v1/login and /api/v1/token: getting a token with the password, and a fresh one with a valid token. */
import { logIn } from '../chat/users.ts'
import { requireToken } from './bearer.ts'
import { readCredentials } from './body.ts'
import type { RequestContext } from './context.ts'
import { ok } from './respond.ts'

export async function postLogin(req: Request, ctx: RequestContext): Promise<Response> {
  return ok(await logIn(ctx.app.accounts, await readCredentials(req), ctx.address))
}

export async function postToken(req: Request, ctx: RequestContext): Promise<Response> {
  const { user } = await requireToken(req, ctx)
  return ok({ token: await ctx.app.tokens.issue(user), user })
}
