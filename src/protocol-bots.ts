/**
 * Bots and webhooks on the wire (docs/BOTS.md): the admin API's shapes, the API token and webhook
 * formats, and what an outgoing webhook POSTs. Imports nothing but the protocol.
 */
import type { Message, User } from './protocol.ts'

/** A bot account as the admin API shows it. */
export interface Bot {
  id: number
  username: string
  createdAt: string
  /** Whether it has a valid API token (one at a time; a new one revokes the old). */
  hasToken: boolean
}

/** `POST /api/v1/admin/bots` and `POST /api/v1/admin/bots/{id}/token`: the token is shown this once. */
export interface BotToken {
  bot: Bot
  token: string
}

export interface IncomingWebhook {
  id: number
  name: string
  /** The room it posts into. */
  room: string
  /** The bot it posts as. */
  bot: User
  createdAt: string
}

/** `POST /api/v1/admin/webhooks/incoming`: the secret URL (a path on this server) is shown this once. */
export interface IncomingWebhookCreated {
  webhook: IncomingWebhook
  token: string
  url: string
}

export interface OutgoingWebhook {
  id: number
  name: string
  url: string
  /** Rooms whose new messages it sends. */
  rooms: string[]
  /** The bot whose mentions it sends, or null. */
  bot: User | null
  createdAt: string
}

/** `POST /api/v1/admin/webhooks/outgoing`: the signing secret is shown this once. */
export interface OutgoingWebhookCreated {
  webhook: OutgoingWebhook
  secret: string
}

/** `message`: a new message in one of the webhook's rooms; `mention`: one that mentions its bot. */
export type WebhookEvent = 'message' | 'mention'

/** One delivery in the admin's log. */
export interface WebhookDelivery {
  id: number
  event: WebhookEvent
  room: string
  messageId: number
  /** `pending`: on its way or waiting for a retry; `failed`: every attempt failed. */
  status: 'pending' | 'delivered' | 'failed'
  attempts: number
  /** The receiver's last HTTP status, if it answered. */
  responseStatus: number | null
  /** Why the last attempt failed (a status, a timeout, a refused connection). */
  error: string | null
  createdAt: string
  updatedAt: string
  /** When a pending delivery is tried next. */
  nextAttemptAt: string | null
}

export interface WebhookDeliveryPage {
  deliveries: WebhookDelivery[]
  hasMore: boolean
}

/** The JSON body of an outgoing webhook's POST (the Standard Webhooks payload shape). */
export interface WebhookPayload {
  type: WebhookEvent
  /** When the delivery was queued, ISO 8601. */
  timestamp: string
  data: { room: string; message: Message }
}

/** The body of a POST to an incoming webhook. */
export interface IncomingWebhookPost {
  text: string
}

export const BOT_TOKEN_PREFIX = 'cbt_'
export const INCOMING_TOKEN_PREFIX = 'whk_'
export const WEBHOOK_SECRET_PREFIX = 'whsec_'

/** Headers of an outgoing webhook's POST (Standard Webhooks): the signature is `v1,` + base64 HMAC-SHA256 of `id.timestamp.body`. */
export const WEBHOOK_HEADERS = {
  id: 'webhook-id',
  timestamp: 'webhook-timestamp',
  signature: 'webhook-signature',
} as const

export const BOT_LIMITS = {
  /** A webhook's name, in code points. */
  NAME_MAX_LENGTH: 100,
  URL_MAX_LENGTH: 2000,
  /** Rooms one outgoing webhook watches. */
  ROOMS_MAX: 100,
  /** Webhooks of each kind on one server. */
  WEBHOOKS_MAX: 1000,
} as const

export const BOT_PATHS = {
  bots: '/api/v1/admin/bots',
  bot: (id: number) => `/api/v1/admin/bots/${id}`,
  botToken: (id: number) => `/api/v1/admin/bots/${id}/token`,
  incoming: '/api/v1/admin/webhooks/incoming',
  incomingOne: (id: number) => `/api/v1/admin/webhooks/incoming/${id}`,
  outgoing: '/api/v1/admin/webhooks/outgoing',
  outgoingOne: (id: number) => `/api/v1/admin/webhooks/outgoing/${id}`,
  deliveries: (id: number) => `/api/v1/admin/webhooks/outgoing/${id}/deliveries`,
  hook: (token: string) => `/api/v1/hooks/${encodeURIComponent(token)}`,
} as const
