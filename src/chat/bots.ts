/**
 * Bot accounts (docs/BOTS.md): made by an admin, signed in with an API token instead of a password.
 * A bot is a member like any other (rooms, bans and rate limits apply to it); its password is random
 * and thrown away, so it cannot log in. The token is shown once; only its hash is kept.
 */
import type { PasswordHasher } from '../auth/passwords.ts'
import { formatApiToken, newSecret } from '../auth/api-tokens.ts'
import { AppError } from '../errors.ts'
import type { Bot, BotToken } from '../protocol-bots.ts'
import type { Actor, Asker } from '../store/accounts.ts'
import type { BotRecord, Store } from '../store/store.ts'
import { changed } from './accounts.ts'
import { checkUsername, DELETED_USERNAME, usernameKey } from './usernames.ts'

export interface BotDeps {
  store: Store
  passwords: PasswordHasher
  now: () => number
  /** Applies a standing change on this instance at once (the change feed tells the others). */
  onChange: (userId: number) => unknown
  /** Called once a bot is gone, with its webhooks: the webhook cache forgets them. */
  onBotDeleted: () => unknown
}

const notFound = () => new AppError('USER_NOT_FOUND', 'no bot has that id')

const toBot = (b: BotRecord): Bot => ({ id: b.id, username: b.username, createdAt: new Date(b.createdAt).toISOString(), hasToken: b.hasToken })

export async function listBots(store: Pick<Store, 'listBots'>): Promise<{ bots: Bot[] }> {
  return { bots: (await store.listBots()).map(toBot) }
}

/** The bot with this id; USER_NOT_FOUND for an unknown id or a person's. */
export async function findBot(store: Pick<Store, 'listBots'>, id: number): Promise<BotRecord> {
  const bot = (await store.listBots()).find((b) => b.id === id)
  if (!bot) throw notFound()
  return bot
}

/** `POST /api/v1/admin/bots`: the account and its first token. */
export async function createBot(deps: BotDeps, actor: Actor, username: unknown): Promise<BotToken> {
  if (typeof username !== 'string') throw new AppError('BAD_BINDING', 'username must be a string')
  const name = checkUsername(username)
  const unusable = Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString('base64url')
  const created = await deps.store.createUser({
    username: name,
    usernameKey: usernameKey(name),
    passwordHash: await deps.passwords.hash(unusable),
    role: 'member',
    bot: true,
    at: deps.now(),
    audit: { actor },
  })
  if (created === 'USER_EXISTS' || created === 'INVITE_INVALID') throw new AppError('USER_EXISTS', 'that username is taken (names are compared ignoring case)')
  return issueToken(deps, actor, created.id)
}

/** A new API token for the bot; the one before stops working at once, and its sockets are closed. */
export async function issueToken(deps: Omit<BotDeps, 'passwords' | 'onBotDeleted'>, actor: Actor, id: number, asker?: Asker): Promise<BotToken> {
  const bot = await findBot(deps.store, id)
  const { secret, hash } = newSecret()
  const standing = changed(await deps.store.changeUser(id, { kind: 'apiToken', hash }, { at: deps.now(), audit: { actor }, asker }), notFound)
  await deps.onChange(id)
  return { bot: toBot({ ...bot, hasToken: true }), token: formatApiToken({ userId: id, ver: standing.tokenVersion, secret }) }
}

/** The bot keeps no token: every one it had is revoked. */
export async function revokeToken(deps: Omit<BotDeps, 'passwords' | 'onBotDeleted'>, actor: Actor, id: number, asker?: Asker): Promise<void> {
  await findBot(deps.store, id)
  changed(await deps.store.changeUser(id, { kind: 'apiToken', hash: null }, { at: deps.now(), audit: { actor }, asker }), notFound)
  await deps.onChange(id)
}

/** Deletes the bot and its webhooks; its messages stay, shown under the deleted-user name. */
export async function deleteBot(deps: Omit<BotDeps, 'passwords'>, actor: Actor, id: number, asker?: Asker): Promise<void> {
  await findBot(deps.store, id)
  // The account first: its deletion can be refused (a bot made the last admin), its webhooks' cannot.
  const result = await deps.store.deleteUser(id, { at: deps.now(), placeholder: DELETED_USERNAME, audit: { actor }, asker })
  if (result === false) throw notFound()
  if (result !== true) changed(result, notFound)
  await deps.store.deleteBotWebhooks(id)
  await deps.onChange(id)
  await deps.onBotDeleted()
}
