/** Accounts: secret rules, sign-up and login (spec §2, §5); the username rules are in usernames.ts. */
import type { PasswordHasher } from '../auth/passwords.ts'
import { takeAll, type AttemptLimiter } from '../auth/rate-limit.ts'
import type { TokenService } from '../auth/tokens.ts'
import { AppError } from '../errors.ts'
import { LIMITS, type RegistrationMode } from '../protocol.ts'
import type { Store, User } from '../store/store.ts'
import { readRegistration } from './registration.ts'
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

/** A sign-up: credentials, and the invitation code REGISTRATION=invite asks for. */
export interface SignUp extends Credentials {
  invite?: string
}

export interface AccountDeps {
  store: Store
  passwords: PasswordHasher
  tokens: TokenService
  loginLimits: { perUser: AttemptLimiter; perAddress: AttemptLimiter }
  /** Sign-ups per client address (spec §5). */
  signupLimit: AttemptLimiter
  hideUserNotFound: boolean
  /** REGISTRATION: the mode until an admin sets one (registration.ts). */
  registration: RegistrationMode
  /** Epoch ms. */
  now: () => number
  /** Called after this instance changed a user's standing, so it applies here at once (the change feed tells the others). */
  onChange?: (userId: number) => unknown
}

/**
 * Creates an account, as registration allows (spec §5): `closed` refuses every sign-up, `invite`
 * needs a usable code, whose use is taken with the account in one transaction. The first account on
 * a server without an admin becomes admin (the store decides, race-free).
 *
 * Sign-ups are limited per client address (spec §5). A sign-up counts from the moment it starts, so
 * sign-ups sent at once get no more accounts than sign-ups one by one. Only well-formed requests
 * count, so a typo doesn't use up the quota; a taken name and a bad invitation do count, as each
 * answer tells something (which names exist, which codes don't).
 */
export async function signUp(deps: AccountDeps, { username, secret, invite }: SignUp, address: string): Promise<User> {
  const mode = await readRegistration(deps.store, deps.registration)
  if (mode === 'closed') throw new AppError('REGISTRATION_CLOSED', 'this server is not taking sign-ups; an admin can add accounts')
  const name = checkUsername(username)
  checkSecret(secret)
  const code = mode === 'invite' ? invite : undefined
  if (mode === 'invite' && code === undefined) throw inviteInvalid()
  const attempt = await deps.signupLimit.take(address)
  if (!attempt.ok) throw rateLimited('too many sign-ups from this address', attempt.retryAfter)
  const key = usernameKey(name)
  // Cheap pre-checks so a bad code or a taken name doesn't cost a hash; the store decides races.
  if (code !== undefined && !(await deps.store.isInviteUsable(code, deps.now()))) throw inviteInvalid()
  if (await deps.store.findUserByKey(key)) throw userExists()
  const passwordHash = await deps.passwords.hash(secret)
  const created = await deps.store.createUser({ username: name, usernameKey: key, passwordHash, invite: code, at: deps.now() })
  if (created === 'USER_EXISTS') throw userExists()
  if (created === 'INVITE_INVALID') throw inviteInvalid()
  return { id: created.id, username: created.username }
}

function inviteInvalid(): AppError {
  return new AppError('INVITE_INVALID', 'sign-up needs a valid invitation code ("invite"); this one is missing, unknown, used up, revoked or expired')
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
  // Told only to whoever knows the password, so a ban tells a guesser nothing (spec §5: 403).
  if (record.banned) throw new AppError('USER_BANNED', 'this account is banned')
  if (await deps.passwords.needsRehash(record.passwordHash)) {
    await deps.store.updatePasswordHash(record.id, record.passwordHash, await deps.passwords.hash(secret))
  }
  const user = { id: record.id, username: record.username }
  return { token: await deps.tokens.issue(user, record.tokenVersion), user }
}

export function passwordMismatch(): AppError {
  return new AppError('PASSWORD_MATCH_FAILED', 'username and secret do not match')
}

export function rateLimited(what: string, retryAfter: number): AppError {
  return new AppError('RATE_LIMITED', `${what}; try again in ${retryAfter} s`, { 'Retry-After': String(retryAfter) })
}
