/**
 * Who may sign up (spec §5): `open`, `invite` or `closed`. REGISTRATION gives the mode until an admin
 * (or the CLI) sets one; that one is kept in the settings table, shared by every instance, and wins
 * from then on. Read at each sign-up, so a change applies on every instance at once.
 */
import { AppError } from '../errors.ts'
import type { RegistrationMode } from '../protocol.ts'
import type { Actor } from '../store/accounts.ts'
import type { Store } from '../store/store.ts'

export const REGISTRATION_SETTING = 'registration'

export const REGISTRATION_MODES: readonly RegistrationMode[] = ['open', 'invite', 'closed']

export function isRegistrationMode(value: unknown): value is RegistrationMode {
  return REGISTRATION_MODES.includes(value as RegistrationMode)
}

/** The mode an admin set, or `fallback` (REGISTRATION) when none was. */
export async function readRegistration(store: Pick<Store, 'getSetting'>, fallback: RegistrationMode): Promise<RegistrationMode> {
  const stored = await store.getSetting(REGISTRATION_SETTING)
  return isRegistrationMode(stored) ? stored : fallback
}

/** Sets the mode for every instance, audited as `registration.set` (actor null: the CLI). */
export async function setRegistration(deps: { store: Pick<Store, 'setSetting'>; now: () => number }, actor: Actor, mode: unknown): Promise<RegistrationMode> {
  if (!isRegistrationMode(mode)) throw new AppError('BAD_BINDING', `registration must be one of ${REGISTRATION_MODES.join(', ')}`)
  await deps.store.setSetting(REGISTRATION_SETTING, mode, {
    at: deps.now(),
    audit: { actor, action: 'registration.set', target: { registration: mode } },
  })
  return mode
}
