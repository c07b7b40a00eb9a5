/**
 * The OpenAPI 3.1 document, built from the operation tables: each operation's error types become its
 * error responses, grouped by the status respond.ts gives them (STATUS, or the route's own), with
 * `error.type` enumerated per status. What an operation's auth, path and body imply is added here
 * once, so the tables list only what is particular to an operation.
 */
import type { ErrorType } from '../../errors.ts'
import { LIMITS } from '../../protocol.ts'
import { STATUS } from '../respond.ts'
import type { HeaderSpec, OperationSpec, OperationTable, QueryParam } from './operation.ts'
import { ACCOUNT_OPERATIONS } from './ops-accounts.ts'
import { ADMIN_OPERATIONS } from './ops-admin.ts'
import { BOT_OPERATIONS } from './ops-bots.ts'
import { MEMBERSHIP_OPERATIONS } from './ops-memberships.ts'
import { ROOM_OPERATIONS, ROOM_PARAM } from './ops-rooms.ts'
import { SITE_OPERATIONS } from './ops-site.ts'
export { STATIC_OPERATIONS } from './ops-site.ts'
import { ref, SCHEMAS, type Schema } from './schemas.ts'
import { BOT_SCHEMAS } from './schemas-bots.ts'

/** Every operation the router serves, by route path: the parity test holds the router to this. */
export const OPERATIONS: OperationTable = {
  ...ACCOUNT_OPERATIONS,
  ...ROOM_OPERATIONS,
  ...MEMBERSHIP_OPERATIONS,
  ...ADMIN_OPERATIONS,
  ...BOT_OPERATIONS,
  ...SITE_OPERATIONS,
}

/**
 * Answers no operation gives, because they come before one is found (server.ts, router.ts): an
 * unknown path, a method the path does not take, a request target without a path.
 */
export const SERVER_WIDE: ErrorType[] = ['NOT_FOUND', 'METHOD_NOT_ALLOWED', 'BAD_REQUEST']

/** Error types only WebSocket frames carry (docs/asyncapi.yaml), never an HTTP answer. */
export const WEBSOCKET_ONLY: ErrorType[] = ['TOKEN_EXPIRED']

/** Every operation's tag, in the order a reader meets them. */
export const TAGS: Record<string, string> = {
  Accounts: 'Sign-up, login, tokens and the caller’s own account (docs/API.md#accounts).',
  Rooms: 'The room list, registering rooms, a room’s settings.',
  Messages: 'History, deleting a message, and the room’s WebSocket (frames: docs/asyncapi.yaml).',
  Memberships: 'Members, direct messages, the caller’s rooms with unread counts, and the user stream.',
  Attachments: 'Uploading files for a room and serving them.',
  Search: 'Full-text search over the messages the caller may read.',
  Admin: 'The owner’s API: users, roles, bans, invitations, registration, the audit log.',
  Bots: 'The owner’s bots and their API tokens, incoming and outgoing webhooks, and posting through an incoming webhook (docs/BOTS.md).',
  Operations: 'Health and Prometheus metrics.',
  Site: 'The web client, and this description (JSON and rendered).',
}

/** `/rooms/:room` → `/rooms/{room}`. */
export const toOpenApiPath = (path: string) => path.replace(/:([A-Za-z]+)/g, '{$1}')

const RESPONSE_HEADERS: Partial<Record<ErrorType, Record<string, HeaderSpec>>> = {
  RATE_LIMITED: { 'Retry-After': { schema: { type: 'integer', minimum: 1 }, description: 'Seconds until a retry may succeed.', required: true } },
  METHOD_NOT_ALLOWED: { Allow: { schema: { type: 'string' }, description: 'The methods the path takes, e.g. `GET, POST`.', required: true } },
  UPGRADE_REQUIRED: { Upgrade: { schema: { const: 'websocket' }, description: 'This endpoint speaks WebSocket.', required: true } },
}

/** Every error type an operation can answer with: its own plus what its auth, path, body and store imply. */
export function errorTypesOf(path: string, op: OperationSpec): ErrorType[] {
  const types = new Set<ErrorType>()
  if (path.includes(':room')) types.add('ROOM_INVALID')
  if (op.auth && op.auth !== 'none') types.add('TOKEN_INVALID').add('USER_BANNED')
  if (op.auth === 'admin') types.add('FORBIDDEN')
  if (op.body) types.add('BAD_BINDING')
  // spec §2: a body declared over 16 KiB is refused on every route, whether it reads one or not (server.ts).
  types.add('PAYLOAD_TOO_LARGE')
  for (const type of op.errors) types.add(type)
  if (op.store !== false) types.add('UNAVAILABLE')
  types.add('INTERNAL')
  return [...types]
}

/** The status an operation answers a type with. */
export const statusOf = (op: OperationSpec, type: ErrorType): number => op.statusOf?.[type] ?? STATUS[type]

function headers(specs: Record<string, HeaderSpec> | undefined): Schema | undefined {
  if (!specs) return undefined
  return Object.fromEntries(
    Object.entries(specs).map(([name, { schema, description, required }]) => [name, { schema, description, required: required ?? false }]),
  )
}

/** The envelope of a failure whose `error.type` is one of `types`. */
function errorResponse(types: ErrorType[]): Schema {
  const header = Object.assign({}, ...types.map((t) => RESPONSE_HEADERS[t] ?? {})) as Record<string, HeaderSpec>
  return {
    description: types.join(', '),
    headers: headers(Object.keys(header).length > 0 ? header : undefined),
    content: {
      'application/json': {
        schema: {
          type: 'object',
          required: ['error', 'data'],
          properties: {
            error: { type: 'object', required: ['type', 'message'], properties: { type: { type: 'string', enum: types }, message: { type: 'string' } } },
            data: { type: 'null' },
          },
        },
      },
    },
  }
}

function successResponse(op: OperationSpec): [string, Schema] {
  const s = op.success
  if ('data' in s) {
    const schema = { type: 'object', required: ['error', 'data'], properties: { error: { type: 'null' }, data: s.data } }
    return [String(s.status), { description: s.description, content: { 'application/json': { schema } } }]
  }
  if ('content' in s) return [String(s.status), { description: s.description, headers: headers(s.headers), content: s.content }]
  return [String(s.status), { description: s.description, headers: headers(s.headers) }]
}

const JSON_BODY = `A JSON object, whatever the Content-Type says (none is needed); unknown fields are ignored. At most ${LIMITS.BODY_MAX_BYTES} bytes.`

/**
 * The server reads a JSON body whatever its Content-Type (docs/API.md): `fetch` labels a string body
 * text/plain, curl form-urlencoded, and either is the same JSON text to the server.
 */
const jsonBody = (schema: Schema): Schema => ({
  // First: Prism (CI's validating proxy) checks fetch's `text/plain;charset=UTF-8` against the first entry.
  'text/plain': { schema: { type: 'string', contentMediaType: 'application/json', contentSchema: schema } },
  'application/json': { schema },
  // Not a form at all: the JSON text under curl's default label, which form encoding cannot describe.
  'application/x-www-form-urlencoded': { schema: { description: 'The JSON text, sent with curl’s default Content-Type.' } },
  '*/*': { schema },
})

function parameter(name: string, where: 'path' | 'query' | 'header', { schema, description, required }: QueryParam | HeaderSpec): Schema {
  return { name, in: where, required: where === 'path' ? true : (required ?? false), description, schema }
}

function operation(path: string, method: string, op: OperationSpec): Schema {
  const byStatus = new Map<number, ErrorType[]>()
  for (const type of errorTypesOf(path, op)) byStatus.set(statusOf(op, type), [...(byStatus.get(statusOf(op, type)) ?? []), type])
  const pathParams = [...path.matchAll(/:([A-Za-z]+)/g)].map(([, name]) => {
    const param = name === 'room' ? ROOM_PARAM : op.params?.[name!]
    if (!param) throw new Error(`openapi: ${method} ${path} does not describe its :${name}`)
    return parameter(name!, 'path', param)
  })
  const parameters = [
    ...pathParams,
    ...Object.entries(op.query ?? {}).map(([name, p]) => parameter(name, 'query', p)),
    ...Object.entries(op.headers ?? {}).map(([name, h]) => parameter(name, 'header', h)),
  ]
  const json = op.body && { required: !op.body.optional, description: JSON_BODY, content: jsonBody(ref(op.body.schema)) }
  const requestBody = json ?? (op.rawBody && { required: true, ...op.rawBody })
  const security = op.auth === 'required' || op.auth === 'admin' ? [{ bearer: [] }] : op.auth === 'optional' ? [{}, { bearer: [] }] : undefined
  return {
    operationId: op.operationId,
    summary: op.summary,
    description: op.description,
    tags: [op.tag],
    security,
    parameters: parameters.length > 0 ? parameters : undefined,
    requestBody,
    responses: Object.fromEntries([
      successResponse(op),
      ...Object.entries(op.also ?? {}).map(([status, r]) => [status, { description: r.description, headers: headers(r.headers), content: r.content }]),
      ...[...byStatus].sort(([a], [b]) => a - b).map(([status, types]) => [String(status), errorResponse(types)]),
    ]),
    callbacks: op.callbacks,
  }
}

/** Drops undefined members, so the JSON holds only what was said. */
const prune = <T>(value: T): T => JSON.parse(JSON.stringify(value)) as T

/** The whole document. `version` is the server's release. */
export function buildOpenApi(version: string): Schema {
  const paths: Record<string, Record<string, Schema>> = {}
  for (const [path, methods] of Object.entries(OPERATIONS)) {
    const item: Record<string, Schema> = {}
    for (const [method, op] of Object.entries(methods)) item[method.toLowerCase()] = operation(path, method, op!)
    paths[toOpenApiPath(path)] = item
  }
  return prune({
    openapi: '3.1.0',
    info: {
      title: 'bun-chat-server HTTP API',
      version,
      license: { name: 'MIT', identifier: 'MIT' },
      description: [
        'Every JSON answer is the envelope `{"error": null | {"type", "message"}, "data"}`; `error.type` is a stable code.',
        `Any path answers ${SERVER_WIDE.map((t) => `${STATUS[t]} ${t}`).join(', ')} (see components.responses) before an operation is chosen.`,
        'The WebSocket frames and close codes are described in docs/asyncapi.yaml, which also carries',
        `the error types only frames use (${WEBSOCKET_ONLY.join(', ')}).`,
      ].join(' '),
    },
    servers: [{ url: '/' }],
    tags: Object.entries(TAGS).map(([name, description]) => ({ name, description })),
    security: [],
    paths,
    components: {
      schemas: { ...SCHEMAS, ...BOT_SCHEMAS },
      securitySchemes: {
        bearer: {
          type: 'http',
          scheme: 'bearer',
          bearerFormat: 'JWT',
          description:
            'A JWT from POST /api/v1/login or /api/v1/token; or a bot’s API token (`cbt_…`, from POST /api/v1/admin/bots or /api/v1/admin/bots/{id}/token), accepted anywhere a JWT is.',
        },
      },
      responses: Object.fromEntries(SERVER_WIDE.map((t) => [t, errorResponse([t])])),
    },
  })
}
