/** Component schemas of bots and webhooks (protocol-bots.ts, docs/BOTS.md): the admin API's shapes, and what webhooks send and take. */
import { BOT_LIMITS } from '../../protocol-bots.ts'
import { LIMITS } from '../../protocol.ts'
import { arrayOf, count, id, iso, nullable, object, ref, ROOM_NAME_SCHEMA, type Schema } from './schemas.ts'

/** A webhook's name as shown, and as asked for (trimmed; else 400 BAD_REQUEST). */
const hookName: Schema = { type: 'string', minLength: 1, maxLength: BOT_LIMITS.NAME_MAX_LENGTH }
const newHookName = { ...hookName, description: `1 to ${BOT_LIMITS.NAME_MAX_LENGTH} characters once trimmed.` }

export const BOT_SCHEMAS: Record<string, Schema> = {
  Bot: object({
    id,
    username: { type: 'string' },
    createdAt: iso,
    hasToken: { type: 'boolean', description: 'Whether it has a valid API token (one at a time).' },
  }),
  Bots: object({ bots: arrayOf(ref('Bot')) }),
  BotToken: object({
    bot: ref('Bot'),
    token: {
      type: 'string',
      pattern: '^cbt_[1-9][0-9]*_(0|[1-9][0-9]*)_[A-Za-z0-9_-]{43}$',
      description: 'The bot’s API token, shown this once: send it as `Authorization: Bearer <token>`; the one before stops working.',
    },
  }),
  IncomingWebhook: object({ id, name: hookName, room: ROOM_NAME_SCHEMA, bot: { ...ref('User'), description: 'The bot it posts as.' }, createdAt: iso }),
  IncomingWebhooks: object({ webhooks: arrayOf(ref('IncomingWebhook')) }),
  IncomingWebhookCreated: object({
    webhook: ref('IncomingWebhook'),
    token: { type: 'string', pattern: '^whk_[A-Za-z0-9_-]{43}$', description: 'Shown this once; only its hash is kept.' },
    url: { type: 'string', pattern: '^/api/v1/hooks/whk_[A-Za-z0-9_-]{43}$', description: 'The secret URL (a path on this server) to POST to.' },
  }),
  OutgoingWebhook: object({
    id,
    name: hookName,
    url: { type: 'string', description: 'Where deliveries are POSTed (an absolute http:// or https:// URL, normalized).' },
    rooms: { ...arrayOf(ROOM_NAME_SCHEMA), maxItems: BOT_LIMITS.ROOMS_MAX, description: 'Rooms whose new messages it sends, sorted.' },
    bot: { ...nullable(ref('User')), description: 'The bot whose mentions it sends, or null.' },
    createdAt: iso,
  }),
  OutgoingWebhooks: object({ webhooks: arrayOf(ref('OutgoingWebhook')) }),
  OutgoingWebhookCreated: object({
    webhook: ref('OutgoingWebhook'),
    secret: { type: 'string', pattern: '^whsec_[A-Za-z0-9+/]{43}=$', description: 'The signing secret (Standard Webhooks), shown this once.' },
  }),
  WebhookEvent: { type: 'string', enum: ['message', 'mention'], description: '`message`: a new message in a watched room; `mention`: one mentioning the bot.' },
  WebhookDelivery: object({
    id,
    event: ref('WebhookEvent'),
    room: ROOM_NAME_SCHEMA,
    messageId: id,
    status: {
      type: 'string',
      enum: ['pending', 'delivered', 'failed'],
      description: '`pending`: on its way or waiting for a retry; `failed`: every attempt failed.',
    },
    attempts: count,
    responseStatus: { ...nullable({ type: 'integer' }), description: 'The receiver’s last HTTP status, if it answered.' },
    error: { ...nullable({ type: 'string' }), description: 'Why the last attempt failed (a status, a timeout, a refused connection).' },
    createdAt: iso,
    updatedAt: iso,
    nextAttemptAt: { ...nullable(iso), description: 'When a pending delivery is tried next.' },
  }),
  WebhookDeliveryPage: object({ deliveries: arrayOf(ref('WebhookDelivery')), hasMore: { type: 'boolean' } }),
  WebhookPayload: object({
    type: ref('WebhookEvent'),
    timestamp: { ...iso, description: 'When the delivery was queued (the same on every retry).' },
    data: object({ room: ROOM_NAME_SCHEMA, message: ref('TextMessage') }),
  }),
  PostedMessage: object({ message: ref('TextMessage') }),

  // Request bodies.
  BotRequest: object({ username: { type: 'string', description: 'Checked as a person’s at sign-up (400 BAD_USERNAME); unique ignoring case.' } }),
  IncomingWebhookRequest: object(
    {
      room: ROOM_NAME_SCHEMA,
      botId: { ...id, description: 'The bot it posts as; a private room needs the bot as a member.' },
      name: { ...newHookName, description: `${newHookName.description} Absent: "<room> webhook".` },
    },
    ['room', 'botId'],
  ),
  OutgoingWebhookRequest: {
    ...object(
      {
        url: {
          type: 'string',
          pattern: '^[Hh][Tt][Tt][Pp][Ss]?://',
          maxLength: BOT_LIMITS.URL_MAX_LENGTH,
          description: 'An absolute http:// or https:// URL; deliveries do not follow redirects.',
        },
        rooms: {
          ...arrayOf(ROOM_NAME_SCHEMA),
          description: `Rooms whose new messages to send: at most ${BOT_LIMITS.ROOMS_MAX} different ones (repeats are dropped).`,
        },
        botId: { ...nullable(id), description: 'A bot whose mentions to send; null or absent: none.' },
        name: { ...newHookName, description: `${newHookName.description} Absent: the URL’s host.` },
      },
      ['url'],
    ),
    description: 'Rooms to watch, a bot whose mentions to send, or both (else 400 BAD_REQUEST).',
  },
  IncomingWebhookPost: object({
    text: {
      type: 'string',
      minLength: 1,
      maxLength: LIMITS.TEXT_MAX_LENGTH,
      description: `A message text as on a room socket: well-formed Unicode without NUL, showing something, at most MAX_TEXT_LENGTH code points (${LIMITS.TEXT_MAX_LENGTH} by default); else 400 MESSAGE_INVALID.`,
    },
  }),
}
