/**
 * The admin's side of webhooks (docs/BOTS.md): making, listing and removing them, and reading an
 * outgoing webhook's delivery log. Secrets are made here and shown once: an incoming webhook's URL
 * token is kept only as a hash; an outgoing webhook's signing secret is kept as is, since signing needs it.
 */
import { hashSecret } from '../auth/api-tokens.ts'
import { AppError } from '../errors.ts'
import { LIMITS } from '../protocol.ts'
import {
  BOT_LIMITS,
  BOT_PATHS,
  INCOMING_TOKEN_PREFIX,
  WEBHOOK_SECRET_PREFIX,
  type IncomingWebhook,
  type IncomingWebhookCreated,
  type OutgoingWebhook,
  type OutgoingWebhookCreated,
  type WebhookDeliveryPage,
} from '../protocol-bots.ts'
import type { Actor } from '../store/accounts.ts'
import type { IncomingWebhookRecord, OutgoingWebhookRecord, Store } from '../store/store.ts'
import { findBot } from './bots.ts'
import type { RoomGate } from './room-access.ts'
import { checkRoomName } from './rooms.ts'
import { exceedsCodePoints } from './text.ts'

export interface WebhookAdminDeps {
  store: Store
  gate: Pick<RoomGate, 'canRead'>
  now: () => number
  /** A change made here: this instance's outgoing webhooks are read again at once. */
  onChange: () => void
}

const iso = (ms: number) => new Date(ms).toISOString()
const toIncoming = ({ createdAt, ...h }: IncomingWebhookRecord): IncomingWebhook => ({ ...h, createdAt: iso(createdAt) })
const toOutgoing = ({ createdAt, secret: _, ...h }: OutgoingWebhookRecord): OutgoingWebhook => ({ ...h, createdAt: iso(createdAt) })
const randomPart = () => Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString('base64url')
const hookNotFound = () => new AppError('NOT_FOUND', 'no webhook has that id')

function checkName(name: unknown, fallback: string): string {
  if (name === undefined) return fallback
  if (typeof name !== 'string') throw new AppError('BAD_BINDING', 'name must be a string')
  const trimmed = name.trim()
  if (trimmed === '' || exceedsCodePoints(trimmed, BOT_LIMITS.NAME_MAX_LENGTH) || !trimmed.isWellFormed() || trimmed.includes('\u0000'))
    throw new AppError('BAD_REQUEST', `name must be 1 to ${BOT_LIMITS.NAME_MAX_LENGTH} characters`)
  return trimmed
}

function checkBotId(botId: unknown): number {
  if (typeof botId !== 'number' || !Number.isSafeInteger(botId) || botId < 1)
    throw new AppError('BAD_BINDING', 'botId must be a user id (a whole number from 1)')
  return botId
}

/** An absolute http(s) URL: where deliveries go. */
function checkUrl(url: unknown): string {
  if (typeof url !== 'string') throw new AppError('BAD_BINDING', 'url must be a string')
  const parsed = URL.parse(url)
  if (!parsed || (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') || url.length > BOT_LIMITS.URL_MAX_LENGTH)
    throw new AppError('BAD_REQUEST', `url must be an absolute http:// or https:// URL of at most ${BOT_LIMITS.URL_MAX_LENGTH} characters`)
  return parsed.href
}

function checkRooms(rooms: unknown): string[] {
  if (rooms === undefined) return []
  if (!Array.isArray(rooms) || rooms.some((r) => typeof r !== 'string')) throw new AppError('BAD_BINDING', 'rooms must be an array of room names')
  const unique = [...new Set(rooms as string[])]
  if (unique.length > BOT_LIMITS.ROOMS_MAX) throw new AppError('BAD_REQUEST', `an outgoing webhook watches at most ${BOT_LIMITS.ROOMS_MAX} rooms`)
  for (const room of unique) checkRoomName(room)
  return unique
}

async function roomForBot(gate: WebhookAdminDeps['gate'], room: string, botId: number): Promise<void> {
  if (!(await gate.canRead(room, botId))) throw new AppError('ROOM_NOT_FOUND', 'no such room, or it is private and the bot is not a member: add the bot first')
}

export async function listIncoming(store: Pick<Store, 'listIncomingWebhooks'>): Promise<{ webhooks: IncomingWebhook[] }> {
  return { webhooks: (await store.listIncomingWebhooks()).map(toIncoming) }
}

export async function createIncoming(deps: WebhookAdminDeps, actor: Actor, body: Record<string, unknown>): Promise<IncomingWebhookCreated> {
  if (typeof body.room !== 'string') throw new AppError('BAD_BINDING', 'room must be a string')
  const room = body.room
  checkRoomName(room)
  const botId = checkBotId(body.botId)
  const name = checkName(body.name, `${room} webhook`)
  const bot = await findBot(deps.store, botId)
  await roomForBot(deps.gate, room, bot.id)
  if ((await deps.store.listIncomingWebhooks()).length >= BOT_LIMITS.WEBHOOKS_MAX)
    throw new AppError('BAD_REQUEST', `a server has at most ${BOT_LIMITS.WEBHOOKS_MAX} incoming webhooks; delete one first`)
  const token = `${INCOMING_TOKEN_PREFIX}${randomPart()}`
  const hook = await deps.store.createIncomingWebhook({ name, room, botId: bot.id, tokenHash: hashSecret(token), at: deps.now(), audit: { actor } })
  return { webhook: toIncoming(hook), token, url: BOT_PATHS.hook(token) }
}

export async function deleteIncoming(deps: WebhookAdminDeps, actor: Actor, id: number): Promise<void> {
  if (!(await deps.store.deleteIncomingWebhook(id, { at: deps.now(), audit: { actor } }))) throw hookNotFound()
}

export async function listOutgoing(store: Pick<Store, 'listOutgoingWebhooks'>): Promise<{ webhooks: OutgoingWebhook[] }> {
  return { webhooks: (await store.listOutgoingWebhooks()).map(toOutgoing) }
}

export async function createOutgoing(deps: WebhookAdminDeps, actor: Actor, body: Record<string, unknown>): Promise<OutgoingWebhookCreated> {
  const url = checkUrl(body.url)
  const rooms = checkRooms(body.rooms)
  const botId = body.botId === undefined || body.botId === null ? null : checkBotId(body.botId)
  if (rooms.length === 0 && botId === null) throw new AppError('BAD_REQUEST', 'give rooms to watch, a botId whose mentions to send, or both')
  const name = checkName(body.name, new URL(url).host)
  if (botId !== null) await findBot(deps.store, botId)
  const existing = await deps.store.listOutgoingWebhooks()
  if (existing.length >= BOT_LIMITS.WEBHOOKS_MAX)
    throw new AppError('BAD_REQUEST', `a server has at most ${BOT_LIMITS.WEBHOOKS_MAX} outgoing webhooks; delete one first`)
  const secret = `${WEBHOOK_SECRET_PREFIX}${Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString('base64')}`
  const hook = await deps.store.createOutgoingWebhook({ name, url, secret, rooms: rooms.sort(), botId, at: deps.now(), audit: { actor } })
  deps.onChange()
  return { webhook: toOutgoing(hook), secret }
}

export async function deleteOutgoing(deps: WebhookAdminDeps, actor: Actor, id: number): Promise<void> {
  if (!(await deps.store.deleteOutgoingWebhook(id, { at: deps.now(), audit: { actor } }))) throw hookNotFound()
  deps.onChange()
}

/** The webhook's deliveries, newest first, with an id below `before`. */
export async function listDeliveries(
  store: Pick<Store, 'listOutgoingWebhooks' | 'listDeliveries'>,
  id: number,
  { before, limit = LIMITS.PAGE_DEFAULT }: { before?: number; limit?: number },
): Promise<WebhookDeliveryPage> {
  if (!(await store.listOutgoingWebhooks()).some((h) => h.id === id)) throw hookNotFound()
  const rows = await store.listDeliveries(id, { before, limit: limit + 1 })
  const deliveries = rows.slice(0, limit).map((d) => ({
    ...d,
    createdAt: iso(d.createdAt),
    updatedAt: iso(d.updatedAt),
    nextAttemptAt: d.status === 'pending' && d.nextAttemptAt !== null ? iso(d.nextAttemptAt) : null,
  }))
  return { deliveries, hasMore: rows.length > limit }
}
