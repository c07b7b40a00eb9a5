/** /api/v1/users: sign-up, and the token's own account: who am I, change my password, delete me (spec §2, §5). */
import type { TokenService } from '../auth/tokens.ts'
import { changeOwnPassword, deleteOwnAccount } from '../chat/accounts.ts'
import { signUp, type AccountDeps } from '../chat/users.ts'
import { requireToken } from './bearer.ts'
import { optionalStringField, readJsonObject, stringField } from './body.ts'
import type { RequestContext } from './context.ts'
import { noContent, ok } from './respond.ts'
import type { Route } from './router.ts'

export function userRoutes({ accounts, tokens }: { accounts: AccountDeps; tokens: TokenService }): Route<RequestContext>[] {
  return [
    {
      path: '/api/v1/users',
      methods: {
        async POST(req, ctx) {
          const body = await readJsonObject(req)
          const credentials = { username: stringField(body, 'username'), secret: stringField(body, 'secret'), invite: optionalStringField(body, 'invite') }
          return ok(await signUp(accounts, credentials, ctx.address), 201)
        },
      },
    },
    {
      path: '/api/v1/users/me',
      methods: {
        async GET(req) {
          const { user, role } = await requireToken(req, tokens)
          return ok({ ...user, role })
        },
        // spec §5: the account goes, its messages stay under a placeholder name.
        async DELETE(req, ctx) {
          const caller = await requireToken(req, tokens)
          const secret = stringField(await readJsonObject(req), 'secret')
          await deleteOwnAccount(accounts, caller, secret, ctx.address)
          return noContent()
        },
      },
    },
    {
      path: '/api/v1/users/me/password',
      methods: {
        async PUT(req, ctx) {
          const caller = await requireToken(req, tokens)
          const body = await readJsonObject(req)
          const change = { secret: stringField(body, 'secret'), newSecret: stringField(body, 'newSecret') }
          return ok(await changeOwnPassword(accounts, caller, change, ctx.address))
        },
      },
    },
  ]
}
