/**
 * What an admin does to accounts (spec §5), for the admin API and the CLI alike: `actor` is the
 * admin, or null for the CLI; every change is audited in the same transaction. Never zero admins:
 * demoting, banning or deleting the last unbanned admin is LAST_ADMIN (decided by the store, race-free).
 */
import type { PasswordHasher } from '../auth/passwords.ts'
import { AppError } from '../errors.ts'
import { LIMITS, type AdminUserPage, type Me, type Role, type User } from '../protocol.ts'
import type { Actor, Asker, UserChange } from '../store/accounts.ts'
import type { Store } from '../store/store.ts'
import { changed } from './accounts.ts'
import { checkSecret } from './users.ts'
import { checkUsername, DELETED_USERNAME, usernameKey } from './usernames.ts'

export interface ModerationDeps {
  store: Store
  passwords: PasswordHasher
  /** Epoch ms. */
  now: () => number
  /** Called after a change, so this instance applies it at once (the change feed tells the others). */
  onChange?: (userId: number) => unknown
}

/** The longest ban reason kept, in code points. */
export const BAN_REASON_MAX_LENGTH = 500

const ROLES: readonly Role[] = ['admin', 'member']

const notFound = () => new AppError('USER_NOT_FOUND', 'no user has that id')

type ChangeDeps = Pick<ModerationDeps, 'store' | 'now' | 'onChange'>

/** `asker`: the admin's token as it was checked (the API's), so that a ban or demotion of theirs meanwhile stops the change. */
async function apply(deps: ChangeDeps, actor: Actor, id: number, change: UserChange, asker?: Asker) {
  const standing = changed(await deps.store.changeUser(id, change, { at: deps.now(), audit: { actor }, asker }), notFound)
  await deps.onChange?.(id)
  return standing
}

/** `GET /api/v1/admin/users`: users in id order after `after`, whose name starts with `q` (compared as names are: ignoring case). */
export async function listUsers(
  store: Pick<Store, 'listUsers'>,
  { q = '', after = 0, limit = LIMITS.PAGE_DEFAULT }: { q?: string; after?: number; limit?: number },
): Promise<AdminUserPage> {
  const prefix = q === '' ? '' : usernameKey(q.toWellFormed().normalize('NFC'))
  const rows = await store.listUsers({ after, prefix, limit: limit + 1 })
  const users = rows.slice(0, limit).map((u) => ({ ...u, createdAt: new Date(u.createdAt).toISOString() }))
  return { users, hasMore: rows.length > limit }
}

/** Makes the user `role`; a change revokes their tokens (they log in again to use it). */
export async function setRole(deps: ChangeDeps, actor: Actor, id: number, role: unknown, asker?: Asker): Promise<Me> {
  if (!ROLES.includes(role as Role)) throw new AppError('BAD_BINDING', `role must be one of ${ROLES.join(', ')}`)
  const standing = await apply(deps, actor, id, { kind: 'role', role: role as Role }, asker)
  return { id: standing.id, username: standing.username, role: standing.role }
}

/** Bans the user: their tokens are revoked, their sockets closed 4003, their logins refused until unbanned. */
export async function banUser(deps: ChangeDeps, actor: Actor, id: number, reason?: string, asker?: Asker): Promise<void> {
  if (reason !== undefined && [...reason].length > BAN_REASON_MAX_LENGTH)
    throw new AppError('BAD_BINDING', `reason must be at most ${BAN_REASON_MAX_LENGTH} characters`)
  await apply(deps, actor, id, { kind: 'ban', reason: reason ?? null }, asker)
}

/** Lifts a ban (nothing if there is none). Old tokens stay revoked: the user logs in again. */
export async function unbanUser(deps: ChangeDeps, actor: Actor, id: number, asker?: Asker): Promise<void> {
  await apply(deps, actor, id, { kind: 'unban' }, asker)
}

/** Sets the user's password; every token of theirs is revoked. */
export async function resetPassword(deps: ModerationDeps, actor: Actor, id: number, newSecret: string, asker?: Asker): Promise<void> {
  checkSecret(newSecret)
  // A bot never logs in with a password (docs/BOTS.md): it has its API token.
  if ((await deps.store.listBots()).some((bot) => bot.id === id))
    throw new AppError('BAD_REQUEST', 'a bot has no password; it authenticates with its API token (POST /api/v1/admin/bots/{id}/token)')
  await apply(deps, actor, id, { kind: 'password', hash: await deps.passwords.hash(newSecret) }, asker)
}

/** Deletes the account (the name becomes free; messages stay under DELETED_USERNAME). */
export async function deleteUser(deps: ChangeDeps, actor: Actor, id: number): Promise<void> {
  const result = await deps.store.deleteUser(id, { at: deps.now(), placeholder: DELETED_USERNAME, audit: { actor } })
  if (result === false) throw notFound()
  if (result !== true) changed(result, notFound)
  await deps.onChange?.(id)
}

/**
 * Creates an account without the sign-up's registration rules and limits (the CLI's `users add`):
 * `admin` makes an admin; otherwise the first account on a server without an admin still becomes one.
 */
export async function addUser(
  deps: Pick<ModerationDeps, 'store' | 'passwords' | 'now'>,
  { username, secret, admin = false }: { username: string; secret: string; admin?: boolean },
): Promise<User & { role: Role }> {
  const name = checkUsername(username)
  checkSecret(secret)
  const created = await deps.store.createUser({
    username: name,
    usernameKey: usernameKey(name),
    passwordHash: await deps.passwords.hash(secret),
    role: admin ? 'admin' : undefined,
    at: deps.now(),
  })
  if (created === 'USER_EXISTS' || created === 'INVITE_INVALID') throw new AppError('USER_EXISTS', 'that username is taken (names are compared ignoring case)')
  return { id: created.id, username: created.username, role: created.role }
}
