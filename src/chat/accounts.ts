/**
 * Self-service with a valid token (spec §5): change my password, log out everywhere, delete my
 * account. Each revokes every earlier token of the user (the store raises the token version and
 * tells every instance through the change feed).
 */
import { takeAll } from '../auth/rate-limit.ts'
import type { VerifiedToken } from '../auth/tokens.ts'
import { AppError } from '../errors.ts'
import type { Session, User } from '../protocol.ts'
import type { Asker, AskerRefusal, ChangeResult, Standing } from '../store/accounts.ts'
import { checkSecret, passwordMismatch, rateLimited, type AccountDeps } from './users.ts'
import { DELETED_USERNAME, usernameKey } from './usernames.ts'

export type SelfServiceDeps = Pick<AccountDeps, 'store' | 'passwords' | 'tokens' | 'loginLimits' | 'now' | 'onChange'>

/**
 * Checks the user's own secret as a login would: counted against the login limits of the name and
 * the address (so these endpoints can't be used to guess faster than login), given back when right.
 */
async function checkOwnSecret(deps: SelfServiceDeps, user: User, secret: string, address: string): Promise<void> {
  const { perUser, perAddress } = deps.loginLimits
  const attempt = await takeAll([
    { limiter: perUser, key: usernameKey(user.username) },
    { limiter: perAddress, key: address },
  ])
  if (!attempt.ok) throw rateLimited('too many failed password checks', attempt.retryAfter)
  const hash = await deps.store.findPasswordHash(user.id)
  if (hash === undefined) throw gone()
  if (!(await deps.passwords.verify(hash, secret))) throw passwordMismatch()
  await attempt.giveBack()
}

const gone = () => new AppError('TOKEN_INVALID', 'the user of this token no longer exists')

/** The request's token was revoked while it was under way (see Asker): it is answered as if it had been before. */
export function refused(refusal: AskerRefusal): AppError {
  if (refusal === 'BANNED') return new AppError('USER_BANNED', 'this account is banned')
  return new AppError('TOKEN_INVALID', 'this token was revoked while the request was under way (a password or role change, or a log-out); log in again')
}

/** The standing after a change, or the error that stopped it. */
export function changed(result: ChangeResult, missing: () => AppError): Standing {
  if (result === undefined) throw missing()
  if (result === 'LAST_ADMIN') throw new AppError('LAST_ADMIN', 'that would leave the server without an admin; make someone else admin first')
  if (result === 'STALE' || result === 'BANNED') throw refused(result)
  return result
}

/** The caller as their token was checked: its user and the token version it carries. */
export type Caller = Pick<VerifiedToken, 'user' | 'ver'>
export const askerOf = ({ user, ver }: Caller): Asker => ({ id: user.id, tokenVersion: ver })

/** `PUT /api/v1/users/me/password`: a new password, and a token that is from now on the only valid one. */
export async function changeOwnPassword(
  deps: SelfServiceDeps,
  caller: Caller,
  { secret, newSecret }: { secret: string; newSecret: string },
  address: string,
): Promise<Session> {
  const { user } = caller
  checkSecret(newSecret)
  await checkOwnSecret(deps, user, secret, address)
  const hash = await deps.passwords.hash(newSecret)
  // Another password change, a ban or a log-out that won the race revoked this request's token.
  const standing = changed(await deps.store.changeUser(user.id, { kind: 'password', hash }, { at: deps.now(), asker: askerOf(caller) }), gone)
  await deps.onChange?.(user.id)
  const wire = { id: standing.id, username: standing.username }
  return { token: await deps.tokens.issue(wire, standing.tokenVersion), user: wire }
}

/** `POST /api/v1/logout`: every token of the user stops working, on every instance. */
export async function logOutEverywhere(deps: Pick<SelfServiceDeps, 'store' | 'now' | 'onChange'>, user: User): Promise<void> {
  changed(await deps.store.changeUser(user.id, { kind: 'revoke' }, { at: deps.now() }), gone)
  await deps.onChange?.(user.id)
}

/**
 * `DELETE /api/v1/users/me`: the account goes (its name becomes free), its messages stay under
 * DELETED_USERNAME. Audited as `user.delete` by the user. The last admin can't leave (LAST_ADMIN).
 */
export async function deleteOwnAccount(deps: SelfServiceDeps, caller: Caller, secret: string, address: string): Promise<void> {
  const { user } = caller
  await checkOwnSecret(deps, user, secret, address)
  const result = await deps.store.deleteUser(user.id, { at: deps.now(), placeholder: DELETED_USERNAME, audit: { actor: user }, asker: askerOf(caller) })
  if (result === false) throw gone()
  if (result !== true) changed(result, gone)
  await deps.onChange?.(user.id)
}
