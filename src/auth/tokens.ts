/**
 * JWTs: HS256 only via jose; `sub` = user id, `name` = username (spec §2), `ver` = the user's token
 * version when it was issued (spec §5: raising the version revokes every earlier token).
 */
import { errors, jwtVerify, SignJWT } from 'jose'
import { AppError } from '../errors.ts'
import type { Role } from '../protocol.ts'
import type { Standing, Store, User } from '../store/store.ts'
import { parseApiToken, secretMatches } from './api-tokens.ts'
import type { StandingCache } from './standing.ts'
import { VerifiedTokens, type VerifiedClaims } from './verified-tokens.ts'

export const JWT_SECRET_SETTING = 'jwt_secret'

/** Why a token with an old version is refused (HTTP 401 TOKEN_INVALID; an open socket is closed 4001 TOKEN_REVOKED). */
export const REVOKED_MESSAGE = 'the token was revoked (password change, log out everywhere, role change or ban); log in again'

export interface VerifiedToken {
  user: User
  role: Role
  /** Expiry, epoch seconds; undefined for a bot's API token, which does not expire. */
  exp: number | undefined
  /** The token version it carries (the user's current one). */
  ver: number
}

export interface TokenService {
  /** A token of `user` at `tokenVersion`, which must be the user's current one. */
  issue(user: User, tokenVersion: number): Promise<string>
  /**
   * Throws AppError TOKEN_INVALID unless the token is ours, unexpired, its user exists and it carries
   * the user's current token version; USER_BANNED while its user is banned (spec §5). Reads the
   * user's standing from the cache: no database round trip once the user is known.
   */
  verify(token: string): Promise<VerifiedToken>
}

export interface TokenOptions {
  secret: string
  ttlSeconds: number
  standing: Pick<StandingCache, 'get' | 'reload'>
  /** Epoch ms; injected by tests. */
  now?: () => number
  /** Tokens already verified (tests inject a small one); a token shown again skips the signature check. */
  verified?: VerifiedTokens
}

/** The configured secret, or the one generated on first start and kept in the database (spec §2). */
export async function resolveJwtSecret(configured: string | undefined, store: Store): Promise<string> {
  if (configured !== undefined) return configured
  return store.getOrCreateSetting(JWT_SECRET_SETTING, () => Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString('base64url'))
}

export function createTokenService({ secret, ttlSeconds, standing, now = Date.now, verified = new VerifiedTokens() }: TokenOptions): TokenService {
  // Imported once: handed raw bytes, jose would import a CryptoKey again on every sign and verify.
  const key = crypto.subtle.importKey('raw', new TextEncoder().encode(secret), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign', 'verify'])
  // A key that cannot be imported fails each sign and verify instead of crashing the process here.
  key.catch(() => {})
  return {
    async issue(user, tokenVersion) {
      const iat = Math.floor(now() / 1000)
      return new SignJWT({ name: user.username, ver: tokenVersion })
        .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
        .setSubject(String(user.id))
        .setIssuedAt(iat)
        .setExpirationTime(iat + ttlSeconds)
        .sign(await key)
    },
    async verify(token) {
      const api = parseApiToken(token)
      if (api) return checkStanding(standing, api.userId, api.ver, undefined, (user) => secretMatches(api.secret, user.apiTokenHash))
      // The signature and claims are checked once per token (verified-tokens.ts); expiry and the
      // user's standing (version, ban) on every use.
      let claims = verified.get(token, Math.floor(now() / 1000))
      if (!claims) {
        claims = await verified.verify(token, () => verifyJwt(token))
        // A verification shared with an earlier caller judged expiry by that caller's clock.
        if (claims.exp <= Math.floor(now() / 1000)) throw expired()
      }
      return checkStanding(standing, claims.id, claims.ver, claims.exp, () => true)
    },
  }

  /** jose's verification of an HS256 token of ours, and our own claim rules; throws TOKEN_INVALID. */
  async function verifyJwt(token: string): Promise<VerifiedClaims> {
    let payload
    try {
      // The algorithm allow-list is what stops `alg: none` and RS/HS key confusion.
      ;({ payload } = await jwtVerify(token, await key, { algorithms: ['HS256'], currentDate: new Date(now()), requiredClaims: ['sub', 'exp', 'iat'] }))
    } catch (err) {
      if (err instanceof errors.JWTExpired) throw expired()
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
    // Tokens from before token versions carry none: version 0, revoked by the user's first change.
    const ver = payload.ver ?? 0
    if (typeof ver !== 'number' || !Number.isSafeInteger(ver) || ver < 0)
      throw new AppError('TOKEN_INVALID', 'the token is malformed or not signed by this server')
    return { id, ver, exp: payload.exp }
  }
}

const expired = () => new AppError('TOKEN_INVALID', 'the token has expired; log in again or refresh it before it expires')

/** One User per standing read from the store: the sockets of a user keep that object, not one each. */
const usersOf = new WeakMap<Standing, User>()
function userOf(standing: Standing): User {
  let user = usersOf.get(standing)
  if (!user) usersOf.set(standing, (user = { id: standing.id, username: standing.username }))
  return user
}

/** The token's user as the standing cache knows them, if the token is still theirs (spec §5). */
async function checkStanding(
  standing: TokenOptions['standing'],
  id: number,
  ver: number,
  exp: number | undefined,
  owns: (user: Standing) => boolean,
): Promise<VerifiedToken> {
  let user = await standing.get(id)
  // Only this server makes tokens, so a newer version than the cache knows means the cache is behind.
  if (user && ver > user.tokenVersion) user = await standing.reload(id)
  if (!user) throw new AppError('TOKEN_INVALID', 'the user of this token no longer exists')
  if (!owns(user)) throw new AppError('TOKEN_INVALID', 'the API token is not valid (revoked, or replaced by a newer one)')
  if (user.banned) throw new AppError('USER_BANNED', 'this account is banned')
  if (ver !== user.tokenVersion) throw new AppError('TOKEN_INVALID', REVOKED_MESSAGE)
  return { user: userOf(user), role: user.role, exp, ver }
}
