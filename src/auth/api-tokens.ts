/**
 * Bots' API tokens (docs/BOTS.md): `cbt_<user id>_<token version>_<secret>`. Only a hash of the
 * secret is stored, with the bot's standing, so a check costs a SHA-256 and no database round trip.
 * The secret is 256 random bits, so a fast hash is enough: nothing can be guessed offline from it.
 * The token version makes an API token a token like the others: a ban, a role change or log out
 * everywhere revokes it (spec §5), and a new token revokes the one before.
 */
import { timingSafeEqual } from 'node:crypto'
import { BOT_TOKEN_PREFIX } from '../protocol-bots.ts'

const SECRET = /^[A-Za-z0-9_-]{43}$/

export interface ApiTokenParts {
  userId: number
  ver: number
  secret: string
}

/** A new secret and the hash to store. */
export function newSecret(): { secret: string; hash: string } {
  const secret = Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString('base64url')
  return { secret, hash: hashSecret(secret) }
}

export function hashSecret(secret: string): string {
  return new Bun.CryptoHasher('sha256').update(secret).digest('hex')
}

export function formatApiToken({ userId, ver, secret }: ApiTokenParts): string {
  return `${BOT_TOKEN_PREFIX}${userId}_${ver}_${secret}`
}

/** The parts of a well-formed API token; undefined for anything else. */
export function parseApiToken(token: string): ApiTokenParts | undefined {
  if (!token.startsWith(BOT_TOKEN_PREFIX)) return undefined
  // The secret is base64url and may itself hold `_`: split off the two numbers only.
  const match = /^([1-9]\d{0,15})_(0|[1-9]\d{0,15})_(.+)$/.exec(token.slice(BOT_TOKEN_PREFIX.length))
  if (!match || !SECRET.test(match[3]!)) return undefined
  const userId = Number(match[1])
  const ver = Number(match[2])
  if (!Number.isSafeInteger(userId) || !Number.isSafeInteger(ver)) return undefined
  return { userId, ver, secret: match[3]! }
}

/** Whether `secret` hashes to `storedHash`, compared in constant time. */
export function secretMatches(secret: string, storedHash: string | null): boolean {
  if (storedHash === null) return false
  const a = Buffer.from(hashSecret(secret), 'hex')
  const b = Buffer.from(storedHash, 'hex')
  return a.length === b.length && timingSafeEqual(a, b)
}
