/** Operations of rooms (spec §2, §3, §6, §7): the room list, registering, history, the room socket, attachments, search. */
import { CONVERSATION_LIMITS } from '../../protocol-conversation.ts'
import { LIMITS } from '../../protocol.ts'
import type { HeaderSpec, OperationSpec, OperationTable, QueryParam } from './operation.ts'
import { ref, ROOM_NAME_SCHEMA } from './schemas.ts'

export const ROOM_PARAM: QueryParam = { schema: ROOM_NAME_SCHEMA, description: 'A room name: 1-64 of A-Z a-z 0-9 . _ -, starting with a letter or digit.' }
const before: QueryParam = { schema: { type: 'integer', minimum: 1, maximum: Number.MAX_SAFE_INTEGER }, description: 'Only ids below this one (to page back).' }
const pageLimit: QueryParam = { schema: { type: 'integer', minimum: 1, maximum: LIMITS.PAGE_MAX, default: LIMITS.PAGE_DEFAULT }, description: 'Page size.' }

/** The client's half of a WebSocket handshake (RFC 6455 §4.1); the token rides as the first subprotocol. */
const HANDSHAKE: Record<string, HeaderSpec> = {
  Upgrade: { schema: { type: 'string', enum: ['websocket'] }, description: 'Without it: 426 UPGRADE_REQUIRED.', required: true },
  Connection: { schema: { type: 'string' }, description: 'Upgrade' },
  'Sec-WebSocket-Key': { schema: { type: 'string' }, description: 'RFC 6455' },
  'Sec-WebSocket-Version': { schema: { type: 'string' }, description: '13' },
  'Sec-WebSocket-Protocol': {
    schema: { type: 'string' },
    description: 'The token, as the first offered subprotocol (echoed back); none for a read-only room socket.',
  },
}

/** A WebSocket endpoint as an HTTP operation: the handshake, 101, and the refusals that happen before it. */
export function upgradeOperation(op: Pick<OperationSpec, 'operationId' | 'summary' | 'tag' | 'description'>): OperationSpec {
  return {
    ...op,
    headers: HANDSHAKE,
    query: { since: { schema: { type: 'integer', minimum: 0, maximum: Number.MAX_SAFE_INTEGER }, description: 'Resume after this id (docs/PROTOCOL.md).' } },
    success: {
      status: 101,
      description:
        'Switching Protocols. A bad token, a room the caller may not read or a full server still upgrade, then close with 4001 / 4004 / 4029 (docs/asyncapi.yaml).',
      headers: { 'Sec-WebSocket-Protocol': { schema: { type: 'string' }, description: 'The offered token, echoed.' } },
    },
    errors: ['UPGRADE_REQUIRED', 'BAD_QUERY'],
  }
}

export const ROOM_OPERATIONS: OperationTable = {
  '/api/v1/rooms': {
    GET: {
      operationId: 'listRooms',
      summary: 'Rooms with messages or people in them, most recently active first',
      tag: 'Rooms',
      auth: 'optional',
      query: { limit: pageLimit, cursor: { schema: { type: 'string' }, description: 'The previous page’s `next`, unchanged.' } },
      success: { status: 200, data: ref('RoomPage'), description: 'A page of public rooms.' },
      errors: ['BAD_QUERY'],
    },
    POST: {
      operationId: 'registerRoom',
      summary: 'Register a room, public or private, owned by the caller',
      tag: 'Rooms',
      auth: 'required',
      body: { schema: 'RoomRegistration' },
      success: { status: 201, data: ref('RoomInfo'), description: 'The room; the owner is its first member.' },
      errors: ['ROOM_INVALID', 'ROOM_EXISTS'],
    },
  },
  '/api/v1/rooms/:room': {
    GET: {
      operationId: 'getRoom',
      summary: 'A room’s visibility, topic and owner',
      tag: 'Rooms',
      auth: 'optional',
      success: { status: 200, data: ref('RoomInfo'), description: 'The room (owner and topic null for one nobody registered).' },
      errors: ['ROOM_NOT_FOUND'],
    },
  },
  '/api/v1/rooms/:room/messages': {
    GET: {
      operationId: 'listMessages',
      summary: 'A page of history, oldest first',
      tag: 'Messages',
      auth: 'optional',
      query: { before, limit: pageLimit },
      success: { status: 200, data: ref('MessagePage'), description: 'The newest `limit` messages below `before`.' },
      errors: ['ROOM_NOT_FOUND', 'BAD_QUERY'],
    },
  },
  '/api/v1/rooms/:room/messages/ws': {
    GET: upgradeOperation({ operationId: 'roomSocket', summary: 'The room’s WebSocket', tag: 'Messages' }),
  },
  '/api/v1/rooms/:room/messages/:id': {
    DELETE: {
      operationId: 'deleteMessage',
      summary: 'Delete a message (its author or an admin)',
      tag: 'Messages',
      auth: 'required',
      params: { id: { schema: { type: 'string', pattern: '^[1-9][0-9]{0,15}$' }, description: 'A message id; anything else names no message (404).' } },
      success: { status: 204, description: 'Deleted, and broadcast as `deleted`.' },
      errors: ['FORBIDDEN', 'MESSAGE_NOT_FOUND', 'ROOM_NOT_FOUND'],
    },
  },
  '/api/v1/rooms/:room/attachments': {
    POST: {
      operationId: 'uploadAttachment',
      summary: 'Upload a file for the room (the raw bytes as the body)',
      tag: 'Attachments',
      auth: 'required',
      query: { filename: { schema: { type: 'string' }, description: 'The name to show.' } },
      rawBody: {
        description: `The file’s bytes, streamed; any Content-Type (it is ignored). At most ATTACHMENT_MAX_BYTES (default ${CONVERSATION_LIMITS.ATTACHMENT_MAX_BYTES}).`,
        content: { '*/*': { schema: { type: 'string', contentMediaType: 'application/octet-stream' } } },
      },
      success: { status: 201, data: ref('Attachment'), description: 'The stored file’s metadata.' },
      errors: ['ROOM_NOT_FOUND', 'PAYLOAD_TOO_LARGE'],
    },
  },
  '/api/v1/attachments/:id': {
    GET: {
      operationId: 'downloadAttachment',
      summary: 'An attachment’s bytes, to those who may read its room',
      tag: 'Attachments',
      auth: 'optional',
      params: { id: { schema: { type: 'string' }, description: 'The attachment id (from its `url`).' } },
      success: {
        status: 200,
        description: 'The bytes: PNG, JPEG, GIF and WebP inline with their type; everything else a download.',
        content: {
          'application/octet-stream': { schema: { type: 'string', contentMediaType: 'application/octet-stream' } },
          'image/*': { schema: { type: 'string' } },
        },
        headers: {
          'Content-Disposition': { schema: { type: 'string' }, description: '`inline` (images) or `attachment`, with `filename*` (RFC 8187).', required: true },
          'Content-Length': { schema: { type: 'integer', minimum: 0 }, description: 'The size in bytes.', required: true },
          'X-Content-Type-Options': { schema: { const: 'nosniff' }, description: 'Never sniffed.', required: true },
          'Content-Security-Policy': { schema: { const: 'sandbox' }, description: 'Whatever it is, it runs in a sandbox.', required: true },
          'Cache-Control': { schema: { const: 'private, no-cache' }, description: 'No shared cache keeps it.', required: true },
          'Cross-Origin-Resource-Policy': { schema: { const: 'same-origin' }, description: 'No other site embeds it.', required: true },
        },
      },
      // Bun answers a Range request itself for a file served from disk (SQLite); from PostgreSQL it is 200, whole.
      also: {
        206: {
          description: 'A `Range` request, where the file is served from disk (SQLite): the bytes asked for, with the same headers.',
          headers: { 'Content-Range': { schema: { type: 'string' }, description: '`bytes first-last/size`.', required: true } },
          content: {
            'application/octet-stream': { schema: { type: 'string', contentMediaType: 'application/octet-stream' } },
            'image/*': { schema: { type: 'string' } },
          },
        },
        416: {
          description: 'A `Range` wholly past the end of a file served from disk (SQLite): no body.',
          headers: { 'Content-Range': { schema: { type: 'string' }, description: '`bytes */size`.', required: true } },
        },
      },
      errors: ['NOT_FOUND'],
    },
  },
  '/api/v1/search': {
    GET: {
      operationId: 'searchMessages',
      summary: 'Messages the caller may read whose text contains q, newest first',
      tag: 'Search',
      auth: 'optional',
      query: {
        q: {
          schema: { type: 'string', minLength: CONVERSATION_LIMITS.SEARCH_MIN_LENGTH },
          required: true,
          description: `${CONVERSATION_LIMITS.SEARCH_MIN_LENGTH}-${CONVERSATION_LIMITS.SEARCH_MAX_LENGTH} characters after trimming (required; else 400 BAD_QUERY).`,
        },
        room: { schema: ROOM_NAME_SCHEMA, description: 'Search this room only (a room the caller may not read gives no results).' },
        before,
        limit: {
          schema: { type: 'integer', minimum: 1, maximum: CONVERSATION_LIMITS.SEARCH_PAGE_MAX, default: CONVERSATION_LIMITS.SEARCH_PAGE_DEFAULT },
          description: 'Page size.',
        },
      },
      success: { status: 200, data: ref('SearchPage'), description: 'Matches with excerpts.' },
      errors: ['BAD_QUERY', 'ROOM_INVALID', 'RATE_LIMITED'],
    },
  },
}
