/** /api/v1/users: sign-up, and the token's own account. */
import type { TokenService } from '../auth/tokens.ts'
import { signUp, type AccountDeps } from '../chat/users.ts'
import { requireToken } from './bearer.ts'
import { readCredentials } from './body.ts'
import type { RequestContext } from './context.ts'
import { ok } from './respond.ts'
import type { Route } from './router.ts'

export function userRoutes({ accounts, tokens }: { accounts: AccountDeps; tokens: TokenService }): Route<RequestContext>[] {
  return [
    {
      path: '/api/v1/users',
      methods: { POST: async (req, ctx) => ok(await signUp(accounts, await readCredentials(req), ctx.address), 201) },
    },
    {
      path: '/api/v1/users/me',
      methods: { GET: async (req) => ok((await requireToken(req, tokens)).user) },
    },
  ]
}
