/**
 * Posting through an incoming webhook (docs/BOTS.md): whoever holds its secret URL posts into its
 * room as its bot, within the webhook's rate limit. The bot's standing and its right to the room are
 * checked on every post, as a socket's are; a revoked (deleted) webhook is not found.
 */
import { hashSecret } from '../auth/api-tokens.ts'
import type { AttemptLimiter } from '../auth/rate-limit.ts'
import type { StandingCache } from '../auth/standing.ts'
import { AppError } from '../errors.ts'
import type { Message } from '../protocol.ts'
import { INCOMING_TOKEN_PREFIX } from '../protocol-bots.ts'
import type { Store } from '../store/store.ts'
import type { Poster } from './messages.ts'
import type { RoomGate } from './room-access.ts'
import { rateLimited } from './users.ts'

export interface IncomingDeps {
  store: Pick<Store, 'findIncomingWebhook'>
  standing: Pick<StandingCache, 'get'>
  gate: Pick<RoomGate, 'check'>
  poster: Pick<Poster, 'post'>
  /** Posts per webhook, and unknown tokens per client address. */
  limit: AttemptLimiter
}

const TOKEN = new RegExp(`^${INCOMING_TOKEN_PREFIX}[A-Za-z0-9_-]{43}$`)

const notFound = () => new AppError('NOT_FOUND', 'no such webhook (it may have been deleted)')

export async function postThroughWebhook(deps: IncomingDeps, token: string, text: string, address: string): Promise<Message> {
  const hook = TOKEN.test(token) ? await deps.store.findIncomingWebhook(hashSecret(token)) : undefined
  if (!hook) {
    // Guessing a 256-bit token is hopeless, but each guess costs a look-up: an address gets so many a minute.
    const taken = await deps.limit.take(`miss:${address}`)
    throw taken.ok ? notFound() : rateLimited('too many requests for unknown webhooks', taken.retryAfter)
  }
  const taken = await deps.limit.take(`hook:${hook.id}`)
  if (!taken.ok) throw rateLimited('too many posts through this webhook', taken.retryAfter)
  const bot = await deps.standing.get(hook.bot.id)
  if (!bot) throw notFound()
  if (bot.banned) throw new AppError('USER_BANNED', "this webhook's bot is banned")
  // A private room the bot was removed from answers ROOM_NOT_FOUND, as it would to the bot itself.
  await deps.gate.check(hook.room, bot.id)
  return deps.poster.post(hook.room, { id: bot.id, username: bot.username }, text, undefined)
}
