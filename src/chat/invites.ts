/** Invitation codes for REGISTRATION=invite (spec §5): made, listed and revoked by admins or the CLI, all audited. */
import { AppError } from '../errors.ts'
import type { Invite } from '../protocol.ts'
import type { Actor, InviteRecord } from '../store/accounts.ts'
import type { Store } from '../store/store.ts'

/** The most uses one code may have. */
export const INVITE_USES_MAX = 1_000_000
/** The longest life of a code, in seconds (a year). */
export const INVITE_EXPIRES_IN_MAX = 365 * 86_400

type InviteDeps = { store: Pick<Store, 'createInvite' | 'revokeInvite'>; now: () => number }

export function toInvite(record: InviteRecord): Invite {
  return {
    code: record.code,
    uses: record.uses,
    used: record.used,
    expiresAt: record.expiresAt === null ? null : new Date(record.expiresAt).toISOString(),
  }
}

/** 128 random bits, base64url: 22 characters no one guesses. */
function newCode(): string {
  return Buffer.from(crypto.getRandomValues(new Uint8Array(16))).toString('base64url')
}

const whole = (value: unknown, min: number, max: number) => typeof value === 'number' && Number.isSafeInteger(value) && value >= min && value <= max

/** A new code with `uses` uses (default 1) that expires `expiresIn` seconds from now (default: never). */
export async function createInvite(deps: InviteDeps, actor: Actor, { uses = 1, expiresIn }: { uses?: unknown; expiresIn?: unknown } = {}): Promise<Invite> {
  if (!whole(uses, 1, INVITE_USES_MAX)) throw new AppError('BAD_BINDING', `uses must be a whole number from 1 to ${INVITE_USES_MAX}`)
  if (expiresIn !== undefined && expiresIn !== null && !whole(expiresIn, 1, INVITE_EXPIRES_IN_MAX))
    throw new AppError('BAD_BINDING', `expiresIn must be a whole number of seconds from 1 to ${INVITE_EXPIRES_IN_MAX}, or absent for no expiry`)
  const at = deps.now()
  const expiresAt = typeof expiresIn === 'number' ? at + expiresIn * 1000 : null
  return toInvite(await deps.store.createInvite({ code: newCode(), uses: uses as number, expiresAt, at, audit: { actor } }))
}

/** Every code not revoked (used-up and expired ones included, to show), newest first. */
export async function listInvites(store: Pick<Store, 'listInvites'>): Promise<Invite[]> {
  return (await store.listInvites()).map(toInvite)
}

/** Revokes the code; NOT_FOUND when there is none (or it was revoked already). */
export async function revokeInvite(deps: InviteDeps, actor: Actor, code: string): Promise<void> {
  if (!(await deps.store.revokeInvite(code, { at: deps.now(), audit: { actor } }))) throw new AppError('NOT_FOUND', 'no such invitation code')
}
