/** Accounts: username and secret rules, sign-up and login (spec §2). */
import type { PasswordHasher } from '../auth/passwords.ts'
import type { FailureLimiter } from '../auth/rate-limit.ts'
import type { TokenService } from '../auth/tokens.ts'
import { AppError } from '../errors.ts'
import type { Store, User } from '../store/store.ts'

export const USERNAME_MAX_CODE_POINTS = 32
export const SECRET_MAX_BYTES = 1024

/** Returns the NFC form of a valid username, or throws BAD_USERNAME. */
export function checkUsername(raw: string): string {
  const name = raw.normalize('NFC')
  if (name.length === 0) throw new AppError('BAD_USERNAME', 'username must not be empty')
  if (!name.isWellFormed()) throw new AppError('BAD_USERNAME', 'username must be valid Unicode text')
  if ([...name].length > USERNAME_MAX_CODE_POINTS) throw new AppError('BAD_USERNAME', `username must be at most ${USERNAME_MAX_CODE_POINTS} characters`)
  if (/^\s|\s$/u.test(name)) throw new AppError('BAD_USERNAME', 'username must not start or end with whitespace')
  if (/\p{Cc}/u.test(name)) throw new AppError('BAD_USERNAME', 'username must not contain control characters')
  return name
}

/** The uniqueness key: NFC with a full case fold, so "Alice", "alice" and "ALICE" are one name. */
export function usernameKey(name: string): string {
  // toUpperCase then toLowerCase folds more than toLowerCase alone ("ß" → "ss", "ς" → "σ").
  return name.normalize('NFC').toUpperCase().toLowerCase().normalize('NFC')
}

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
  loginLimits: { perUser: FailureLimiter; perAddress: FailureLimiter }
  hideUserNotFound: boolean
}

export async function signUp(deps: AccountDeps, { username, secret }: Credentials): Promise<User> {
  const name = checkUsername(username)
  checkSecret(secret)
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
 * Checks credentials and issues a token. Failed attempts count against the username and the
 * client address; past either limit the answer is RATE_LIMITED before any password work.
 */
export async function logIn(deps: AccountDeps, { username, secret }: Credentials, address: string): Promise<{ token: string; user: User }> {
  const key = usernameKey(username)
  const { perUser, perAddress } = deps.loginLimits
  const wait = Math.max(await perUser.retryAfter(key), await perAddress.retryAfter(address))
  if (wait > 0) throw new AppError('RATE_LIMITED', `too many failed logins; try again in ${wait} s`, { 'Retry-After': String(wait) })
  const fail = () => Promise.all([perUser.record(key), perAddress.record(address)])
  const record = await deps.store.findUserByKey(key)
  if (!record) {
    await fail()
    if (!deps.hideUserNotFound) throw new AppError('USER_NOT_FOUND', 'no user has that username')
    await deps.passwords.burn(secret)
    throw passwordMismatch()
  }
  // A secret that is not well-formed can't have been signed up with (checkSecret), so it never matches.
  if (!secret.isWellFormed() || !(await deps.passwords.verify(record.passwordHash, secret))) {
    await fail()
    throw passwordMismatch()
  }
  const user = { id: record.id, username: record.username }
  return { token: await deps.tokens.issue(user), user }
}

function passwordMismatch(): AppError {
  return new AppError('PASSWORD_MATCH_FAILED', 'username and secret do not match')
}
