/** `Authorization: Bearer <jwt>` → the token's user, or 401 TOKEN_INVALID (403 USER_BANNED for a banned user's). */
import type { TokenService, VerifiedToken } from '../auth/tokens.ts'
import { AppError } from '../errors.ts'

export async function requireToken(req: Request, tokens: Pick<TokenService, 'verify'>): Promise<VerifiedToken> {
  const header = req.headers.get('authorization') ?? ''
  const match = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header)
  if (!match) throw new AppError('TOKEN_INVALID', 'send the token as "Authorization: Bearer <token>"')
  return tokens.verify(match[1]!)
}

/** For endpoints anyone may call (spec §6: a private room's member sends their token): no header is anonymous, a bad token 401. */
export async function optionalToken(req: Request, tokens: Pick<TokenService, 'verify'>): Promise<VerifiedToken | null> {
  return req.headers.has('authorization') ? requireToken(req, tokens) : null
}
