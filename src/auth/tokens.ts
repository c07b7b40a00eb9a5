/** JWTs: HS256 only via jose; `sub` = user id, `name` = username (spec §2). */
import { errors, jwtVerify, SignJWT } from 'jose'
import { AppError } from '../errors.ts'
import type { Role } from '../protocol.ts'
import type { Store, User } from '../store/store.ts'

export const JWT_SECRET_SETTING = 'jwt_secret'

export interface VerifiedToken {
  user: User
  role: Role
  /** Expiry, epoch seconds. */
  exp: number
}

export interface TokenService {
  issue(user: User): Promise<string>
  /** Throws AppError TOKEN_INVALID (or TOKEN_EXPIRED) unless the token is ours, current, and its user exists. */
  verify(token: string): Promise<VerifiedToken>
}

export interface TokenOptions {
  secret: string
  ttlSeconds: number
  store: Store
  /** Epoch ms; injected by tests. */
  now?: () => number
}

/** The configured secret, or the one generated on first start and kept in the database (spec §2). */
export async function resolveJwtSecret(configured: string | undefined, store: Store): Promise<string> {
  if (configured !== undefined) return configured
  return store.getOrCreateSetting(JWT_SECRET_SETTING, () => Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString('base64url'))
}

export function createTokenService({ secret, ttlSeconds, store, now = Date.now }: TokenOptions): TokenService {
  // Imported once: handed raw bytes, jose would import a CryptoKey again on every sign and verify.
  const key = crypto.subtle.importKey('raw', new TextEncoder().encode(secret), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign', 'verify'])
  // A key that cannot be imported fails each sign and verify instead of crashing the process here.
  key.catch(() => {})
  return {
    async issue(user) {
      const iat = Math.floor(now() / 1000)
      return new SignJWT({ name: user.username })
        .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
        .setSubject(String(user.id))
        .setIssuedAt(iat)
        .setExpirationTime(iat + ttlSeconds)
        .sign(await key)
    },
    async verify(token) {
      let payload
      try {
        // The algorithm allow-list is what stops `alg: none` and RS/HS key confusion.
        ;({ payload } = await jwtVerify(token, await key, { algorithms: ['HS256'], currentDate: new Date(now()), requiredClaims: ['sub', 'exp', 'iat'] }))
      } catch (err) {
        if (err instanceof errors.JWTExpired) throw new AppError('TOKEN_INVALID', 'the token has expired; log in again or refresh it before it expires')
        if (err instanceof errors.JOSEError || err instanceof TypeError)
          throw new AppError('TOKEN_INVALID', 'the token is malformed or not signed by this server')
        throw err
      }
      // spec §2: sub is the id as we write it, a decimal string; Number() alone would take 1, "0x1" or " 1".
      const id = typeof payload.sub === 'string' && /^[1-9]\d*$/.test(payload.sub) ? Number(payload.sub) : NaN
      if (!Number.isSafeInteger(id) || typeof payload.exp !== 'number' || typeof payload.iat !== 'number')
        throw new AppError('TOKEN_INVALID', 'the token is malformed or not signed by this server')
      // We never issue a longer-lived token, so one is forged (with a leaked key) or from before
      // TOKEN_TTL was lowered: either way it should not outlive what the operator allows now.
      if (payload.exp - payload.iat > ttlSeconds) throw new AppError('TOKEN_INVALID', 'the token lives longer than this server allows; log in again')
      const user = await store.findUserById(id)
      if (!user) throw new AppError('TOKEN_INVALID', 'the user of this token no longer exists')
      const { role, ...wire } = user
      return { user: wire, role, exp: payload.exp }
    },
  }
}
