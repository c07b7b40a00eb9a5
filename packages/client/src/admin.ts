/**
 * The admin API (`/api/v1/admin/…`, docs/API.md §5): users, roles, bans, password resets, invites, the
 * registration mode, the audit log, bot accounts and webhooks. Every call needs the session of an
 * admin (else FORBIDDEN).
 */
import {
  ACCOUNT_PATHS,
  BOT_PATHS,
  type AdminUser,
  type AdminUserPage,
  type AuditPage,
  type Bot,
  type BotToken,
  type IncomingWebhook,
  type IncomingWebhookCreated,
  type Invite,
  type OutgoingWebhook,
  type OutgoingWebhookCreated,
  type RegistrationMode,
  type Role,
  type WebhookDeliveryPage,
} from './protocol.ts'
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

  // Bots: accounts that act through an API token (`new ChatClient({ apiToken })`) instead of a password.

  /** `GET /admin/bots`. */
  async bots(): Promise<Bot[]> {
    return (await this.authed<{ bots: Bot[] }>('GET', BOT_PATHS.bots)).bots
  }

  /** `POST /admin/bots`: a bot account and its API token, which is shown this once. */
  createBot(username: string): Promise<BotToken> {
    return this.authed('POST', BOT_PATHS.bots, { json: { username } })
  }

  /** `POST /admin/bots/{id}/token`: a new API token; the previous one stops working (its sockets close with 4001). */
  issueBotToken(id: number): Promise<BotToken> {
    return this.authed('POST', BOT_PATHS.botToken(id))
  }

  /** `DELETE /admin/bots/{id}/token`: the bot is left without a working token. */
  revokeBotToken(id: number): Promise<void> {
    return this.authed('DELETE', BOT_PATHS.botToken(id))
  }

  /** `DELETE /admin/bots/{id}`: deletes the bot account. */
  deleteBot(id: number): Promise<void> {
    return this.authed('DELETE', BOT_PATHS.bot(id))
  }

  // Webhooks

  /** `GET /admin/webhooks/incoming`. */
  async incomingWebhooks(): Promise<IncomingWebhook[]> {
    return (await this.authed<{ webhooks: IncomingWebhook[] }>('GET', BOT_PATHS.incoming)).webhooks
  }

  /**
   * `POST /admin/webhooks/incoming`: a URL that posts to `room` as the bot `botId`. Anyone holding it
   * may post (`POST <url>` with `{"text"}`, no Authorization), so its token is shown this once.
   */
  createIncomingWebhook(opts: { room: string; botId: number; name?: string }): Promise<IncomingWebhookCreated> {
    return this.authed('POST', BOT_PATHS.incoming, { json: opts })
  }

  /** `DELETE /admin/webhooks/incoming/{id}`: its URL stops working. */
  deleteIncomingWebhook(id: number): Promise<void> {
    return this.authed('DELETE', BOT_PATHS.incomingOne(id))
  }

  /** `GET /admin/webhooks/outgoing`. */
  async outgoingWebhooks(): Promise<OutgoingWebhook[]> {
    return (await this.authed<{ webhooks: OutgoingWebhook[] }>('GET', BOT_PATHS.outgoing)).webhooks
  }

  /**
   * `POST /admin/webhooks/outgoing`: the server POSTs events of `rooms` to `url`, signed with the
   * answer's `secret` (shown this once; check deliveries with verifyWebhook).
   */
  createOutgoingWebhook(opts: { url: string; rooms?: string[]; botId?: number; name?: string }): Promise<OutgoingWebhookCreated> {
    return this.authed('POST', BOT_PATHS.outgoing, { json: opts })
  }

  /** `DELETE /admin/webhooks/outgoing/{id}`. */
  deleteOutgoingWebhook(id: number): Promise<void> {
    return this.authed('DELETE', BOT_PATHS.outgoingOne(id))
  }

  /** `GET /admin/webhooks/outgoing/{id}/deliveries`: newest first; pass the oldest id as `before` for the next page (`limit` 1–200). */
  deliveries(id: number, opts: { before?: number; limit?: number } = {}): Promise<WebhookDeliveryPage> {
    return this.authed('GET', BOT_PATHS.deliveries(id), { query: opts })
  }
}
