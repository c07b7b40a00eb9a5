/** `Authorization: Bearer <jwt>` → the token's user, or 401 TOKEN_INVALID. */
import type { VerifiedToken } from '../auth/tokens.ts'
import { AppError } from '../errors.ts'
import type { RequestContext } from './context.ts'

export async function requireToken(req: Request, ctx: RequestContext): Promise<VerifiedToken> {
  const header = req.headers.get('authorization') ?? ''
  const match = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header)
  if (!match) throw new AppError('TOKEN_INVALID', 'send the token as "Authorization: Bearer <token>"')
  return ctx.app.tokens.verify(match[1]!)
}
