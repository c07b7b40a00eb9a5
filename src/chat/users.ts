/** Accounts: secret rules, sign-up and login (spec §2); the username rules are in usernames.ts. */
import type { PasswordHasher } from '../auth/passwords.ts'
import { takeAll, type AttemptLimiter } from '../auth/rate-limit.ts'
import type { TokenService } from '../auth/tokens.ts'
import { AppError } from '../errors.ts'
import { LIMITS } from '../protocol.ts'
import type { Store, User } from '../store/store.ts'
import { checkUsername, usernameKey } from './usernames.ts'

export const SECRET_MAX_BYTES = LIMITS.SECRET_MAX_BYTES

/**
 * Throws BAD_PASSWORD unless the secret can be hashed (spec §2: non-empty, at most 1024 UTF-8 bytes).
 * A lone surrogate has no UTF-8 form: hashing would replace it with U+FFFD, so "\ud800", "\udc00" and
 * "\ufffd" would all open the same account. Such a secret is not suitable for hashing either.
 */
export function checkSecret(secret: string): void {
  if (secret.length === 0) throw new AppError('BAD_PASSWORD', 'secret must not be empty')
  if (!secret.isWellFormed()) throw new AppError('BAD_PASSWORD', 'secret must be valid Unicode text')
  if (Buffer.byteLength(secret, 'utf8') > SECRET_MAX_BYTES) throw new AppError('BAD_PASSWORD', `secret must be at most ${SECRET_MAX_BYTES} bytes in UTF-8`)
}

export interface Credentials {
  username: string
  secret: string
}

export interface AccountDeps {
  store: Store
  passwords: PasswordHasher
  tokens: TokenService
  loginLimits: { perUser: AttemptLimiter; perAddress: AttemptLimiter }
  /** Sign-ups per client address (spec §5). */
  signupLimit: AttemptLimiter
  hideUserNotFound: boolean
}

/**
 * Creates an account. Sign-ups are limited per client address (spec §5). A sign-up counts from the
 * moment it starts, so sign-ups sent at once get no more accounts than sign-ups one by one. Only
 * well-formed requests count, so a typo doesn't use up the quota; a taken name does count, as each
 * 409 tells which names exist.
 */
export async function signUp(deps: AccountDeps, { username, secret }: Credentials, address: string): Promise<User> {
  const name = checkUsername(username)
  checkSecret(secret)
  const attempt = await deps.signupLimit.take(address)
  if (!attempt.ok) throw rateLimited('too many sign-ups from this address', attempt.retryAfter)
  const key = usernameKey(name)
  // Cheap pre-check so a taken name doesn't cost a hash; the unique index still decides races.
  if (await deps.store.findUserByKey(key)) throw userExists()
  const passwordHash = await deps.passwords.hash(secret)
  const user = await deps.store.createUser({ username: name, usernameKey: key, passwordHash })
  if (!user) throw userExists()
  return user
}

function userExists(): AppError {
  return new AppError('USER_EXISTS', 'that username is taken (names are compared ignoring case)')
}

/**
 * Checks credentials and issues a token. Every attempt counts against the username and the client
 * address from the moment it starts, so guesses sent at once get no more password checks than the
 * same guesses one by one (spec §2); past either limit the answer is RATE_LIMITED before any password
 * work. A successful login gives its attempt back.
 *
 * With hideUserNotFound every failure costs one argon2 verify: of the user's hash, or for an unknown
 * name of a stand-in made with the current settings. A hash made with other settings is rehashed at
 * the next successful login, so stored hashes converge on the cost of the stand-in (docs/SECURITY.md).
 */
export async function logIn(deps: AccountDeps, { username, secret }: Credentials, address: string): Promise<{ token: string; user: User }> {
  // The database reads a lone surrogate as U+FFFD, so "a\ud800" finds the account "a\ufffd": the
  // limiter must see the same name, or each surrogate would open a fresh per-username budget.
  const key = usernameKey(username.toWellFormed())
  const { perUser, perAddress } = deps.loginLimits
  const attempt = await takeAll([
    { limiter: perUser, key },
    { limiter: perAddress, key: address },
  ])
  if (!attempt.ok) throw rateLimited('too many failed logins', attempt.retryAfter)
  const record = await deps.store.findUserByKey(key)
  if (!record) {
    if (!deps.hideUserNotFound) throw new AppError('USER_NOT_FOUND', 'no user has that username')
    await deps.passwords.burn(secret)
    throw passwordMismatch()
  }
  if (!(await deps.passwords.verify(record.passwordHash, secret))) throw passwordMismatch()
  await attempt.giveBack()
  if (await deps.passwords.needsRehash(record.passwordHash)) {
    await deps.store.updatePasswordHash(record.id, record.passwordHash, await deps.passwords.hash(secret))
  }
  const user = { id: record.id, username: record.username }
  return { token: await deps.tokens.issue(user), user }
}

function passwordMismatch(): AppError {
  return new AppError('PASSWORD_MATCH_FAILED', 'username and secret do not match')
}

function rateLimited(what: string, retryAfter: number): AppError {
  return new AppError('RATE_LIMITED', `${what}; try again in ${retryAfter} s`, { 'Retry-After': String(retryAfter) })
}
