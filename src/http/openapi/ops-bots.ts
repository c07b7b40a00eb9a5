/**
 * Operations of bots and webhooks (docs/BOTS.md): the admin's bots and webhooks, with the admin API's
 * rules (an admin's token; ADMIN_STATUS), and the incoming webhook's secret URL, which takes no token.
 * Also what an outgoing webhook POSTs: a callback of the operation that makes one.
 */
import { ATTEMPT_TIMEOUT_MS, RETRY_DELAYS_MS } from '../../chat/webhook-delivery.ts'
import { BOT_LIMITS, WEBHOOK_HEADERS } from '../../protocol-bots.ts'
import { LIMITS } from '../../protocol.ts'
import { ADMIN_STATUS } from '../respond.ts'
import type { OperationSpec, OperationTable, QueryParam } from './operation.ts'
import { ref, type Schema } from './schemas.ts'

const TAG = 'Bots'

const botId: QueryParam = {
  schema: { type: 'integer', minimum: 1 },
  description: 'A bot’s user id; anything else, a person’s id included, names no bot (404 USER_NOT_FOUND).',
}
const hookId = (kind: string): QueryParam => ({
  schema: { type: 'integer', minimum: 1 },
  description: `An ${kind} webhook’s id; anything else names none (404 NOT_FOUND).`,
})

const header = (name: string, description: string, pattern: string): Schema => ({
  name,
  in: 'header',
  required: true,
  description,
  schema: { type: 'string', pattern },
})

/** What an outgoing webhook POSTs to its URL (Standard Webhooks), as the callback of createOutgoingWebhook. */
const DELIVERY: Schema = {
  '{$request.body#/url}': {
    post: {
      operationId: 'webhookDelivery',
      summary: 'What an outgoing webhook POSTs to its URL',
      description: [
        'One POST per new message in a watched room (`type` message) or mentioning the webhook’s bot (`type` mention), never for the bot’s own;',
        'a private room’s messages only through a webhook whose bot is a member there. The User-Agent is `bun-chat-server-webhooks`.',
        `A 2xx answer within ${ATTEMPT_TIMEOUT_MS / 1000} s delivers it; anything else (another status, a redirect, no answer) is tried again`,
        `${RETRY_DELAYS_MS.length} times with back-off, with the same id and body, then logged as failed (GET /api/v1/admin/webhooks/outgoing/{id}/deliveries).`,
      ].join(' '),
      tags: [TAG],
      parameters: [
        header(WEBHOOK_HEADERS.id, 'The delivery’s id, as in the delivery log; the same on every attempt.', '^[1-9][0-9]*$'),
        header(WEBHOOK_HEADERS.timestamp, 'When this attempt was sent, in seconds since the Unix epoch.', '^[0-9]+$'),
        header(
          WEBHOOK_HEADERS.signature,
          '`v1,` and the base64 HMAC-SHA256 of `<webhook-id>.<webhook-timestamp>.<body>`, keyed with the webhook’s secret: the base64 after its `whsec_`.',
          '^v1,[A-Za-z0-9+/]{43}=$',
        ),
      ],
      requestBody: { required: true, content: { 'application/json': { schema: ref('WebhookPayload') } } },
      responses: {
        '2XX': { description: 'Delivered (the answer’s body is not read).' },
        default: { description: 'Not delivered: tried again later, then given up on.' },
      },
    },
  },
}

/** Every admin operation here: the admin's auth and the admin API's statuses. */
const admin = (op: Omit<OperationSpec, 'tag' | 'auth' | 'statusOf'>): OperationSpec => ({ ...op, tag: TAG, auth: 'admin', statusOf: ADMIN_STATUS })

export const BOT_OPERATIONS: OperationTable = {
  '/api/v1/admin/bots': {
    GET: admin({
      operationId: 'listBots',
      summary: 'List bots, ids ascending',
      success: { status: 200, data: ref('Bots'), description: 'Every bot; tokens are never shown again.' },
      errors: [],
    }),
    POST: admin({
      operationId: 'createBot',
      summary: 'Create a bot account and its first API token',
      description:
        'A bot is a member like any other (rooms, bans and rate limits apply to it) that signs in with its API token, never a password. ' +
        'Audited as `bot.create` and `bot.token`.',
      body: { schema: 'BotRequest' },
      success: { status: 201, data: ref('BotToken'), description: 'The bot, and its token (shown this once).' },
      // USER_NOT_FOUND only if the bot is deleted between its creation and its token.
      errors: ['BAD_USERNAME', 'USER_EXISTS', 'USER_NOT_FOUND'],
    }),
  },
  '/api/v1/admin/bots/:id': {
    DELETE: admin({
      operationId: 'deleteBot',
      summary: 'Delete a bot and its webhooks',
      params: { id: botId },
      success: { status: 204, description: 'Deleted; its token stops working, and its messages stay under the deleted-user name.' },
      errors: ['USER_NOT_FOUND', 'LAST_ADMIN'],
    }),
  },
  '/api/v1/admin/bots/:id/token': {
    POST: admin({
      operationId: 'issueBotToken',
      summary: 'Give a bot a new API token',
      params: { id: botId },
      success: { status: 201, data: ref('BotToken'), description: 'The new token (shown this once); the one before stops working and its sockets close.' },
      errors: ['USER_NOT_FOUND'],
    }),
    DELETE: admin({
      operationId: 'revokeBotToken',
      summary: 'Revoke a bot’s API token',
      params: { id: botId },
      success: { status: 204, description: 'The bot has no token now (audited as `bot.token`).' },
      errors: ['USER_NOT_FOUND'],
    }),
  },
  '/api/v1/admin/webhooks/incoming': {
    GET: admin({
      operationId: 'listIncomingWebhooks',
      summary: 'List incoming webhooks',
      success: { status: 200, data: ref('IncomingWebhooks'), description: 'Every incoming webhook; tokens are never shown again.' },
      errors: [],
    }),
    POST: admin({
      operationId: 'createIncomingWebhook',
      summary: 'Create an incoming webhook: a secret URL that posts into a room as a bot',
      description: `Audited as \`webhook.create\`. A server has at most ${BOT_LIMITS.WEBHOOKS_MAX} incoming webhooks (else 400 BAD_REQUEST).`,
      body: { schema: 'IncomingWebhookRequest' },
      success: { status: 201, data: ref('IncomingWebhookCreated'), description: 'The webhook, and its token and URL (shown this once).' },
      errors: ['ROOM_INVALID', 'BAD_REQUEST', 'USER_NOT_FOUND', 'ROOM_NOT_FOUND'],
    }),
  },
  '/api/v1/admin/webhooks/incoming/:id': {
    DELETE: admin({
      operationId: 'deleteIncomingWebhook',
      summary: 'Delete an incoming webhook',
      params: { id: hookId('incoming') },
      success: { status: 204, description: 'Deleted: its URL is no webhook any more (audited as `webhook.delete`).' },
      errors: ['NOT_FOUND'],
    }),
  },
  '/api/v1/admin/webhooks/outgoing': {
    GET: admin({
      operationId: 'listOutgoingWebhooks',
      summary: 'List outgoing webhooks',
      success: { status: 200, data: ref('OutgoingWebhooks'), description: 'Every outgoing webhook; secrets are never shown again.' },
      errors: [],
    }),
    POST: admin({
      operationId: 'createOutgoingWebhook',
      summary: 'Create an outgoing webhook: a signed POST to a URL for new messages of rooms, or mentioning a bot',
      description: `What it POSTs: its callback \`webhookDelivery\`. Audited as \`webhook.create\`. A server has at most ${BOT_LIMITS.WEBHOOKS_MAX} outgoing webhooks (else 400 BAD_REQUEST).`,
      body: { schema: 'OutgoingWebhookRequest' },
      success: { status: 201, data: ref('OutgoingWebhookCreated'), description: 'The webhook, and its signing secret (shown this once).' },
      errors: ['ROOM_INVALID', 'BAD_REQUEST', 'USER_NOT_FOUND'],
      callbacks: { webhookDelivery: DELIVERY },
    }),
  },
  '/api/v1/admin/webhooks/outgoing/:id': {
    DELETE: admin({
      operationId: 'deleteOutgoingWebhook',
      summary: 'Delete an outgoing webhook and its delivery log',
      params: { id: hookId('outgoing') },
      success: { status: 204, description: 'Deleted: nothing more is sent (audited as `webhook.delete`).' },
      errors: ['NOT_FOUND'],
    }),
  },
  '/api/v1/admin/webhooks/outgoing/:id/deliveries': {
    GET: admin({
      operationId: 'listWebhookDeliveries',
      summary: 'An outgoing webhook’s delivery log, newest first (a week of it)',
      params: { id: hookId('outgoing') },
      query: {
        before: { schema: { type: 'integer', minimum: 1, maximum: Number.MAX_SAFE_INTEGER }, description: 'Deliveries with ids below this one.' },
        limit: { schema: { type: 'integer', minimum: 1, maximum: LIMITS.PAGE_MAX, default: LIMITS.PAGE_DEFAULT }, description: 'Page size.' },
      },
      success: { status: 200, data: ref('WebhookDeliveryPage'), description: 'A page of deliveries.' },
      errors: ['BAD_QUERY', 'NOT_FOUND'],
    }),
  },
  '/api/v1/hooks/:token': {
    POST: {
      operationId: 'postThroughWebhook',
      summary: 'Post into an incoming webhook’s room, as its bot',
      description:
        'No Authorization header: the token in the path is the credential. The bot’s standing and its right to the room are checked on every post. ' +
        'Rate limited per webhook, and requests naming no webhook per client address (WEBHOOK_LIMIT_PER_MINUTE each).',
      tag: TAG,
      auth: 'none',
      params: {
        token: {
          schema: { type: 'string', pattern: '^whk_[A-Za-z0-9_-]{43}$' },
          description: 'The webhook’s token (its `url` is this path); any other names no webhook (404 NOT_FOUND).',
        },
      },
      body: { schema: 'IncomingWebhookPost' },
      success: { status: 201, data: ref('PostedMessage'), description: 'The stored message, as the room’s sockets get it.' },
      errors: ['MESSAGE_INVALID', 'NOT_FOUND', 'RATE_LIMITED', 'USER_BANNED', 'ROOM_NOT_FOUND'],
    },
  },
}
