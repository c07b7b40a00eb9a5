/**
 * The admin API (`/api/v1/admin/…`, docs/API.md §5): users, roles, bans, password resets, invites, the
 * registration mode and the audit log. Every call needs the session of an admin (else FORBIDDEN).
 */
import { ACCOUNT_PATHS, type AdminUser, type AdminUserPage, type AuditPage, type Invite, type RegistrationMode, type Role } from './protocol.ts'
import type { RequestOptions } from './http.ts'

/** A call with the session's token (ChatClient's); rejects with TOKEN_INVALID when there is none. */
export type AuthedCall = <T>(method: string, path: string, opts?: RequestOptions) => Promise<T>

export class AdminApi {
  constructor(private readonly authed: AuthedCall) {}

  /** `GET /admin/users`: accounts whose name starts with `q`, by id; pass the last id as `after` for the next page. */
  users(opts: { q?: string; after?: number; limit?: number } = {}): Promise<AdminUserPage> {
    return this.authed('GET', ACCOUNT_PATHS.users, { query: opts })
  }

  /** `PUT /admin/users/{id}/role`: makes someone an admin or a member (their tokens are revoked). */
  setRole(id: number, role: Role): Promise<Pick<AdminUser, 'id' | 'username' | 'role'>> {
    return this.authed('PUT', ACCOUNT_PATHS.role(id), { json: { role } })
  }

  /** `PUT /admin/users/{id}/ban`: bans (their sockets are closed with 4003), with an optional reason for the log. */
  ban(id: number, reason?: string): Promise<void> {
    return this.authed('PUT', ACCOUNT_PATHS.ban(id), { json: reason === undefined ? {} : { reason } })
  }

  /** `DELETE /admin/users/{id}/ban`. */
  unban(id: number): Promise<void> {
    return this.authed('DELETE', ACCOUNT_PATHS.ban(id))
  }

  /** `PUT /admin/users/{id}/password`: sets a new password (their tokens are revoked). */
  resetPassword(id: number, newSecret: string): Promise<void> {
    return this.authed('PUT', ACCOUNT_PATHS.resetPassword(id), { json: { newSecret } })
  }

  /** `GET /admin/invites`: the codes not revoked (used-up and expired ones included), newest first. */
  async invites(): Promise<Invite[]> {
    return (await this.authed<{ invites: Invite[] }>('GET', ACCOUNT_PATHS.invites)).invites
  }

  /** `POST /admin/invites`: a code good for `uses` sign-ups, expiring after `expiresIn` seconds (never without). */
  createInvite(opts: { uses: number; expiresIn?: number }): Promise<Invite> {
    return this.authed('POST', ACCOUNT_PATHS.invites, { json: opts.expiresIn === undefined ? { uses: opts.uses } : opts })
  }

  /** `DELETE /admin/invites/{code}`. */
  revokeInvite(code: string): Promise<void> {
    return this.authed('DELETE', ACCOUNT_PATHS.invite(code))
  }

  /** `GET /admin/settings`: who may sign up: `open`, `invite` or `closed`. */
  async registration(): Promise<RegistrationMode> {
    return (await this.authed<{ registration: RegistrationMode }>('GET', ACCOUNT_PATHS.settings)).registration
  }

  /** `PUT /admin/settings`: resolves with the mode now in force. */
  async setRegistration(registration: RegistrationMode): Promise<RegistrationMode> {
    return (await this.authed<{ registration: RegistrationMode }>('PUT', ACCOUNT_PATHS.settings, { json: { registration } })).registration
  }

  /** `GET /admin/audit`: what admins did, newest first; pass the oldest id as `before` for the next page. */
  audit(opts: { before?: number; limit?: number } = {}): Promise<AuditPage> {
    return this.authed('GET', ACCOUNT_PATHS.audit, { query: opts })
  }
}
