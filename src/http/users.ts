/** /api/v1/users: sign-up, and the token's own account. */
import { signUp } from '../chat/users.ts'
import { requireToken } from './bearer.ts'
import { readCredentials } from './body.ts'
import type { RequestContext } from './context.ts'
import { ok } from './respond.ts'

export async function postUsers(req: Request, ctx: RequestContext): Promise<Response> {
  const user = await signUp(ctx.app.accounts, await readCredentials(req), ctx.address)
  return ok(user, 201)
}

export async function getMe(req: Request, ctx: RequestContext): Promise<Response> {
  const { user } = await requireToken(req, ctx)
  return ok(user)
}
