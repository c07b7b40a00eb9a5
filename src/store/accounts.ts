/** The accounts-and-moderation half of the store contract (spec §5), implemented by every store. */
import type { AuditAction, Role, User } from '../protocol.ts'

/** What a token's validity depends on: kept by each instance's standing cache (auth/standing.ts). */
export interface Standing extends User {
  role: Role
  /** Every token carries the version it was issued at; raising it revokes the earlier ones. */
  tokenVersion: number
  banned: boolean
  /**
   * A bot's API token, SHA-256 hex (null for people, and for a bot without one): kept with the
   * standing so that checking an API token costs no database round trip either. Never sent anywhere.
   */
  apiTokenHash: string | null
}

/** A user as login reads it. */
export interface UserRecord extends Standing {
  passwordHash: string
}

/** Who did an audited action: a user, or null for the CLI. */
export type Actor = User | null

/** Given, the change is written to the audit log in the same transaction. */
export interface AuditNote {
  actor: Actor
}

export interface NewUser {
  username: string
  usernameKey: string
  passwordHash: string
  /** 'admin' makes an admin whatever else exists (the CLI's --admin); otherwise the first-admin rule decides. */
  role?: Role
  /** An invitation code: one of its uses is taken in the same transaction, or nothing is created. */
  invite?: string
  /** Epoch ms; now by default. */
  at?: number
  /** A bot account (src/chat/bots.ts); audited as `bot.create` when `audit` is given. */
  bot?: boolean
  audit?: AuditNote
}

/** A bot as the admin API lists it. */
export interface BotRecord {
  id: number
  username: string
  /** Epoch ms. */
  createdAt: number
  hasToken: boolean
}

/**
 * A change to a user's standing. Each raises the token version (revoking every earlier token) and
 * adds a user_changes row, in one transaction; an unban of a user who is not banned and a role
 * that is already the user's change nothing.
 */
export type UserChange =
  | { kind: 'password'; hash: string }
  | { kind: 'revoke' }
  | { kind: 'role'; role: Role }
  | { kind: 'ban'; reason: string | null }
  | { kind: 'unban' }
  /** A bot's new API token (its hash), or none: every earlier token, the API token among them, is revoked. */
  | { kind: 'apiToken'; hash: string | null }

/** The audit action each change is recorded as; a `revoke` (log out everywhere) is not an admin action. */
export const CHANGE_ACTION: Record<UserChange['kind'], AuditAction | undefined> = {
  password: 'user.password',
  revoke: undefined,
  role: 'user.role',
  ban: 'user.ban',
  unban: 'user.unban',
  apiToken: 'bot.token',
}

/**
 * Who asked for a change, as their token was checked when the request came in. The change is made
 * only while that token still holds: a ban, a role or password change or a log-out committed while
 * the request was under way (an argon2 hash, say) revoked it, and the request with it.
 */
export interface Asker {
  id: number
  tokenVersion: number
}

/** Why an asker's request no longer stands: their token was revoked meanwhile (`STALE`), by a ban (`BANNED`). */
export type AskerRefusal = 'STALE' | 'BANNED'

export type ChangeResult = Standing | 'LAST_ADMIN' | AskerRefusal | undefined

export interface UserSummary {
  id: number
  username: string
  role: Role
  banned: boolean
  /** Epoch ms. */
  createdAt: number
}

export interface UserQuery {
  /** Only ids above this. */
  after: number
  /** Only users whose username key starts with this (a folded key, chat/usernames.ts). */
  prefix: string
  limit: number
}

export interface InviteRecord {
  code: string
  uses: number
  used: number
  /** Epoch ms; null: never. */
  expiresAt: number | null
  createdAt: number
}

export interface AuditRecord {
  id: number
  /** Epoch ms. */
  at: number
  actor: Actor
  action: AuditAction
  target: Record<string, unknown>
}

/** The most invites `listInvites` returns (the newest). */
export const INVITES_LISTED = 1000

export interface AccountStore {
  /**
   * Creates the user, atomically: with `invite`, only if that code has a use left (taking it), and,
   * unless `role` says, as `admin` if the server has no unbanned admin, else `member` (spec §5: two
   * sign-ups at once can't both become the first admin).
   */
  createUser(user: NewUser): Promise<Standing | 'USER_EXISTS' | 'INVITE_INVALID'>
  findUserByKey(usernameKey: string): Promise<UserRecord | undefined>
  /** The standing of those of `ids` that exist. */
  findStandings(ids: number[]): Promise<Standing[]>
  findPasswordHash(id: number): Promise<string | undefined>
  /** Unbanned admins. */
  countAdmins(): Promise<number>
  /** Users in id order. */
  listUsers(query: UserQuery): Promise<UserSummary[]>
  /** Every bot account, in id order. */
  listBots(): Promise<BotRecord[]>
  /**
   * Applies `change` (see UserChange). A change that would leave no unbanned admin (demoting or
   * banning the last one) is `LAST_ADMIN`, decided in the same transaction as the change, so two
   * admins demoting each other at once leave one. Undefined: no such user.
   */
  changeUser(id: number, change: UserChange, opts: { at: number; audit?: AuditNote; asker?: Asker }): Promise<ChangeResult>
  /**
   * Deletes the user (the name becomes free) and shows their messages under `placeholder`; a
   * user_changes row tells every instance. `LAST_ADMIN` for the last unbanned admin; false: no such user.
   */
  deleteUser(id: number, opts: { at: number; placeholder: string; audit?: AuditNote; asker?: Asker }): Promise<boolean | 'LAST_ADMIN' | AskerRefusal>

  /** The newest user_changes id (0 for none): where a new instance starts reading the feed. */
  lastUserChangeId(): Promise<number>
  /** Up to `limit` changes with an id above `after`, in id order. */
  listUserChanges(after: number, limit: number): Promise<{ id: number; userId: number }[]>
  /** Removes changes made before `before` (epoch ms). */
  pruneUserChanges(before: number): Promise<void>

  createInvite(invite: { code: string; uses: number; expiresAt: number | null; at: number; audit: AuditNote }): Promise<InviteRecord>
  /** Invites that were not revoked, newest first (at most INVITES_LISTED). */
  listInvites(): Promise<InviteRecord[]>
  /** True when the code exists, is not revoked or expired at `at`, and has a use left. */
  isInviteUsable(code: string, at: number): Promise<boolean>
  /** False when there is no such code or it was revoked already. */
  revokeInvite(code: string, opts: { at: number; audit: AuditNote }): Promise<boolean>

  getSetting(key: string): Promise<string | undefined>
  /** Stores the setting, audited (when `audit` is given) as `action` on `target`. */
  setSetting(key: string, value: string, opts: { at: number; audit?: AuditNote & { action: AuditAction; target: Record<string, unknown> } }): Promise<void>

  /** Audit entries with an id below `before`, newest first. */
  listAudit(query: { before?: number; limit: number }): Promise<AuditRecord[]>
}

/** A users row's standing columns (the PostgreSQL driver may hand bigints over as strings). */
export type StandingRow = { id: number; username: string; role: string; tokenVersion: number; bannedAt: number | null; apiTokenHash: string | null }

export function toStanding(row: StandingRow): Standing {
  return {
    id: Number(row.id),
    username: row.username,
    role: row.role as Role,
    tokenVersion: Number(row.tokenVersion),
    banned: row.bannedAt !== null,
    apiTokenHash: row.apiTokenHash,
  }
}

/** A listed user: the standing without what only token checks read. */
export function toSummary(row: StandingRow & { createdAt: number }): UserSummary {
  const { tokenVersion: _, apiTokenHash: __, ...summary } = toStanding(row)
  return { ...summary, createdAt: Number(row.createdAt) }
}

/** An audit row as both schemas store it (`target` is JSON text). */
export function toAuditRecord(row: { id: number; at: number; actorId: number | null; actorName: string | null; action: string; target: string }): AuditRecord {
  const actor = row.actorId === null ? null : { id: Number(row.actorId), username: row.actorName ?? '' }
  return { id: Number(row.id), at: Number(row.at), actor, action: row.action as AuditAction, target: JSON.parse(row.target) }
}

/** The audit target of a user (spec §5). */
export function userTarget(user: User): Record<string, unknown> {
  return { id: user.id, username: user.username }
}

/** Whether a change takes away an admin: the last-admin rule applies to it. */
export function removesAdmin(change: UserChange, before: Standing): boolean {
  if (before.role !== 'admin' || before.banned) return false
  return (change.kind === 'role' && change.role !== 'admin') || change.kind === 'ban'
}

/** The row's new values for `change`, or undefined when it changes nothing (an unban of a user not banned, the same role). */
export function changedFields(
  change: UserChange,
  before: Standing,
  at: number,
): { passwordHash?: string; role?: Role; bannedAt?: number | null; banReason?: string | null; apiTokenHash?: string | null } | undefined {
  switch (change.kind) {
    case 'password':
      return { passwordHash: change.hash }
    case 'revoke':
      return {}
    case 'role':
      return change.role === before.role ? undefined : { role: change.role }
    case 'ban':
      // Banned already: the first ban (its time and reason) stands.
      return before.banned ? undefined : { bannedAt: at, banReason: change.reason }
    case 'unban':
      return before.banned ? { bannedAt: null, banReason: null } : undefined
    case 'apiToken':
      return { apiTokenHash: change.hash }
  }
}
