/**
 * /api/v1/login, /api/v1/token and /api/v1/logout: getting a token with the password, a fresh one
 * with a valid token, and revoking every token of the user (spec §5).
 */
import type { TokenService } from '../auth/tokens.ts'
import { logOutEverywhere } from '../chat/accounts.ts'
import { logIn, type AccountDeps } from '../chat/users.ts'
import { AppError } from '../errors.ts'
import type { Metrics } from '../metrics.ts'
import { requireToken } from './bearer.ts'
import { readCredentials } from './body.ts'
import type { RequestContext } from './context.ts'
import { noContent, ok } from './respond.ts'
import type { Route } from './router.ts'

export function sessionRoutes({ accounts, tokens, metrics }: { accounts: AccountDeps; tokens: TokenService; metrics: Metrics }): Route<RequestContext>[] {
  return [
    {
      path: '/api/v1/login',
      methods: {
        async POST(req, ctx) {
          const credentials = await readCredentials(req)
          try {
            const session = await logIn(accounts, credentials, ctx.address)
            metrics.logins.inc({ result: 'success' })
            return ok(session)
          } catch (err) {
            metrics.logins.inc({ result: err instanceof AppError && err.type === 'RATE_LIMITED' ? 'rate_limited' : 'failure' })
            throw err
          }
        },
      },
    },
    {
      path: '/api/v1/token',
      methods: {
        async POST(req) {
          const { user, ver } = await requireToken(req, tokens)
          return ok({ token: await tokens.issue(user, ver), user })
        },
      },
    },
    {
      path: '/api/v1/logout',
      methods: {
        async POST(req) {
          const { user } = await requireToken(req, tokens)
          await logOutEverywhere(accounts, user)
          return noContent()
        },
      },
    },
  ]
}
