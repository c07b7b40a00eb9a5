/**
 * The OpenAPI document's component schemas (JSON Schema 2020-12): the shapes of protocol.ts,
 * protocol-rooms.ts and protocol-conversation.ts, with their limits taken from the same constants
 * (protocol-bots.ts's: schemas-bots.ts).
 */
import { INVITE_EXPIRES_IN_MAX, INVITE_USES_MAX } from '../../chat/invites.ts'
import { BAN_REASON_MAX_LENGTH } from '../../chat/moderation.ts'
import { CONVERSATION_LIMITS } from '../../protocol-conversation.ts'
import { ROOM_LIMITS } from '../../protocol-rooms.ts'
import { LIMITS } from '../../protocol.ts'

export type Schema = Record<string, unknown>

export const ref = (name: string): Schema => ({ $ref: `#/components/schemas/${name}` })
export const nullable = (schema: Schema): Schema => ({ oneOf: [schema, { type: 'null' }] })
export const object = (properties: Record<string, Schema>, required: string[] = Object.keys(properties)): Schema => ({ type: 'object', properties, required })
export const arrayOf = (items: Schema): Schema => ({ type: 'array', items })

export const id: Schema = { type: 'integer', minimum: 1 }
export const iso: Schema = { type: 'string', format: 'date-time' }
export const count: Schema = { type: 'integer', minimum: 0 }

/** The room-name rule (protocol.ts ROOM_NAME). */
export const ROOM_NAME_SCHEMA: Schema = { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$', maxLength: LIMITS.ROOM_NAME_MAX_LENGTH }

export const SCHEMAS: Record<string, Schema> = {
  User: object({ id, username: { type: 'string' } }),
  Role: { type: 'string', enum: ['admin', 'member'] },
  Me: object({ id, username: { type: 'string' }, role: ref('Role') }),
  Session: object({ token: { type: 'string', description: 'A JWT (HS256); send it as `Authorization: Bearer <token>`.' }, user: ref('User') }),
  Health: object({ status: { const: 'ok' } }),

  Quote: object({ id, user: ref('User'), text: { ...nullable({ type: 'string' }), description: 'The original as it is now; null once deleted.' } }),
  ReactionCount: object({ emoji: { type: 'string' }, count: { type: 'integer', minimum: 1 }, me: { type: 'boolean' } }),
  Attachment: object(
    {
      id: { type: 'string' },
      name: { type: 'string' },
      type: { type: 'string', description: 'Judged from the bytes: image/png, image/jpeg, image/gif, image/webp or application/octet-stream.' },
      size: count,
      url: { type: 'string' },
      width: { type: 'integer', minimum: 1 },
      height: { type: 'integer', minimum: 1 },
    },
    ['id', 'name', 'type', 'size', 'url'],
  ),
  TextMessage: object(
    {
      id,
      room: ROOM_NAME_SCHEMA,
      user: ref('User'),
      text: { type: 'string' },
      ts: iso,
      nonce: { type: 'string' },
      editedAt: iso,
      mentions: arrayOf(ref('User')),
      replyTo: ref('Quote'),
      reactions: arrayOf(ref('ReactionCount')),
      attachments: { ...arrayOf(ref('Attachment')), maxItems: CONVERSATION_LIMITS.ATTACHMENTS_PER_MESSAGE },
    },
    ['id', 'room', 'user', 'text', 'ts'],
  ),
  DeletedMessage: object({ id, room: ROOM_NAME_SCHEMA, user: ref('User'), ts: iso, deleted: { const: true } }),
  Message: { oneOf: [ref('TextMessage'), ref('DeletedMessage')], description: 'A message as it is now: its latest text, or a tombstone once deleted.' },
  MessagePage: object({ messages: arrayOf(ref('Message')), hasMore: { type: 'boolean' } }),
  RoomSummary: object({ name: ROOM_NAME_SCHEMA, members: count, lastMessageId: nullable(id) }),
  RoomPage: object({
    rooms: arrayOf(ref('RoomSummary')),
    next: { ...nullable({ type: 'string' }), description: 'The next page’s opaque cursor; null on the last page.' },
  }),

  Visibility: { type: 'string', enum: ['public', 'private'] },
  RoomInfo: object({ name: ROOM_NAME_SCHEMA, visibility: ref('Visibility'), topic: nullable({ type: 'string' }), owner: nullable(ref('User')) }),
  Members: object({ members: arrayOf(ref('User')) }),
  DmRoom: object({ room: ROOM_NAME_SCHEMA }),
  MyRoom: object({
    name: ROOM_NAME_SCHEMA,
    visibility: ref('Visibility'),
    topic: nullable({ type: 'string' }),
    lastMessageId: nullable(id),
    lastReadId: count,
    unread: count,
    mentions: count,
    peer: nullable(ref('User')),
  }),
  MyRooms: object({ rooms: arrayOf(ref('MyRoom')) }),

  Excerpt: object({
    text: { type: 'string' },
    highlights: arrayOf({ type: 'array', prefixItems: [count, count], minItems: 2, maxItems: 2, description: '[start, end) in code points' }),
  }),
  SearchHit: { allOf: [ref('Message'), object({ excerpt: ref('Excerpt') })] },
  SearchPage: object({ messages: arrayOf(ref('SearchHit')), hasMore: { type: 'boolean' } }),

  RegistrationMode: { type: 'string', enum: ['open', 'invite', 'closed'] },
  Registration: object({ registration: ref('RegistrationMode') }),
  AdminUser: object({ id, username: { type: 'string' }, role: ref('Role'), banned: { type: 'boolean' }, createdAt: iso }),
  AdminUserPage: object({ users: arrayOf(ref('AdminUser')), hasMore: { type: 'boolean' } }),
  Invite: object({ code: { type: 'string', pattern: '^[A-Za-z0-9_-]{22}$' }, uses: { type: 'integer', minimum: 1 }, used: count, expiresAt: nullable(iso) }),
  Invites: object({ invites: arrayOf(ref('Invite')) }),
  AuditEntry: object({
    id,
    at: iso,
    actor: { ...nullable(ref('User')), description: 'null: the owner’s CLI' },
    action: {
      type: 'string',
      enum: [
        'user.role',
        'user.ban',
        'user.unban',
        'user.password',
        'user.delete',
        'invite.create',
        'invite.revoke',
        'registration.set',
        'message.delete',
        'room.member.add',
        'room.member.remove',
        'bot.create',
        'bot.token',
        'webhook.create',
        'webhook.delete',
      ],
    },
    target: { type: 'object' },
  }),
  AuditPage: object({ entries: arrayOf(ref('AuditEntry')), hasMore: { type: 'boolean' } }),

  // Request bodies: what the handlers accept (unknown fields are ignored, spec §2).
  Credentials: object({ username: { type: 'string' }, secret: { type: 'string' } }),
  SignUp: object({ username: { type: 'string' }, secret: { type: 'string' }, invite: nullable({ type: 'string' }) }, ['username', 'secret']),
  SecretConfirmation: object({ secret: { type: 'string', description: 'The current password.' } }),
  PasswordChange: object({ secret: { type: 'string' }, newSecret: { type: 'string' } }),
  RoomRegistration: object(
    {
      name: ROOM_NAME_SCHEMA,
      visibility: ref('Visibility'),
      topic: nullable({ type: 'string', maxLength: ROOM_LIMITS.TOPIC_MAX_LENGTH, description: 'No control characters; "" means no topic.' }),
    },
    ['name', 'visibility'],
  ),
  DmRequest: object({ username: { type: 'string' } }),
  ReadMarker: object({ id }),
  RoleChange: object({ role: ref('Role') }),
  Ban: object({ reason: nullable({ type: 'string', maxLength: BAN_REASON_MAX_LENGTH }) }, []),
  PasswordReset: object({ newSecret: { type: 'string' } }),
  InviteRequest: object(
    {
      uses: { type: 'integer', minimum: 1, maximum: INVITE_USES_MAX, default: 1 },
      expiresIn: { ...nullable({ type: 'integer', minimum: 1, maximum: INVITE_EXPIRES_IN_MAX }), description: 'Seconds; absent or null: never expires.' },
    },
    [],
  ),
}
