/** `Authorization: Bearer <jwt>` → the token's user, or 401 TOKEN_INVALID. */
import type { TokenService, VerifiedToken } from '../auth/tokens.ts'
import { AppError } from '../errors.ts'

export async function requireToken(req: Request, tokens: Pick<TokenService, 'verify'>): Promise<VerifiedToken> {
  const header = req.headers.get('authorization') ?? ''
  const match = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header)
  if (!match) throw new AppError('TOKEN_INVALID', 'send the token as "Authorization: Bearer <token>"')
  return tokens.verify(match[1]!)
}
