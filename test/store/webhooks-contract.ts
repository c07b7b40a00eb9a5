/**
 * The bots-and-webhooks part of the store contract (src/store/webhooks.ts), run against every store:
 * incoming webhooks found by their token's hash only while their bot exists, outgoing webhooks with
 * their rooms and bot, each creation and deletion audited with the change, a bot's webhooks removed
 * with it, and the delivery queue: claimed when due, oldest due first, leased so that no other claim
 * (on any instance) takes a delivery until the lease runs out, finished, logged and pruned.
 */
import { describe, expect, test } from 'bun:test'
import type { User } from '../../src/protocol.ts'
import type { AuditNote } from '../../src/store/accounts.ts'
import type { ClaimedDelivery, DeliveryRecord, NewDelivery, OutgoingWebhookRecord, Store } from '../../src/store/store.ts'
import { addUser } from './contract.ts'
import type { RoomsFixture } from './rooms-contract.ts'

const T0 = Date.UTC(2026, 11, 1, 12, 0, 0, 0)
const CLI: AuditNote = { actor: null }

/** A bot account (not audited: the store audits `bot.create` only when asked). */
async function makeBot(store: Store, username: string): Promise<User> {
  const created = await store.createUser({ username, usernameKey: username, passwordHash: 'h', bot: true, role: 'member' })
  if (typeof created === 'string') throw new Error(`createUser refused ${username}: ${created}`)
  return { id: created.id, username: created.username }
}

/** An admin to act in the audit log (the first account on a server without one is admin). */
async function makeAdmin(store: Store): Promise<{ actor: User }> {
  const admin = await addUser(store, 'admin')
  return { actor: { id: admin.id, username: admin.username } }
}

function outgoing(store: Store, name: string, rooms: string[], bot: User | null, actor = CLI): Promise<OutgoingWebhookRecord> {
  return store.createOutgoingWebhook({
    name,
    url: `https://example.test/${name}`,
    secret: `whsec_${name}`,
    rooms,
    botId: bot?.id ?? null,
    at: T0,
    audit: actor,
  })
}

const delivery = (webhookId: number, messageId: number, event: NewDelivery['event'] = 'message'): NewDelivery => ({
  webhookId,
  event,
  room: 'lobby',
  messageId,
  payload: JSON.stringify({ webhookId, messageId, text: 'héllo ✓' }),
})

/** Queues the deliveries at `at` and gives their ids, in the order given (from the webhooks' logs). */
async function queue(store: Store, deliveries: NewDelivery[], at: number): Promise<number[]> {
  await store.queueDeliveries(deliveries, at)
  const ids: number[] = []
  for (const d of deliveries) {
    const log = await store.listDeliveries(d.webhookId, { limit: 1000 })
    const found = log.filter((r) => r.messageId === d.messageId && r.event === d.event && r.createdAt === at && !ids.includes(r.id))
    if (found.length !== 1) throw new Error(`queued delivery of message ${d.messageId} not found once in webhook ${d.webhookId}'s log`)
    ids.push(found[0]!.id)
  }
  return ids
}

/** The claimed ids, in id order (which ones were taken is the contract; the order they come in is not checked). */
const claimedIds = (claimed: ClaimedDelivery[]) => claimed.map((c) => c.id).sort((a, b) => a - b)
const sorted = (ids: number[]) => [...ids].sort((a, b) => a - b)

export function describeWebhooksContract(name: string, open: () => Promise<RoomsFixture>): void {
  describe(`${name} store: bots and webhooks`, () => {
    test('incoming webhooks are created, listed in id order, found by their token hash and deleted once, audited', async () => {
      await using f = await open()
      const by = await makeAdmin(f.store)
      const bot = await makeBot(f.store, 'ci-bot')
      const ci = await f.store.createIncomingWebhook({ name: 'CI', room: 'lobby', botId: bot.id, tokenHash: 'hash-ci', at: T0, audit: by })
      expect(ci).toEqual({ id: expect.any(Number), name: 'CI', room: 'lobby', bot, createdAt: T0 })
      const alerts = await f.store.createIncomingWebhook({ name: 'Alerts', room: 'ops', botId: bot.id, tokenHash: 'hash-alerts', at: T0 + 1, audit: CLI })
      expect(alerts).toEqual({ id: expect.any(Number), name: 'Alerts', room: 'ops', bot, createdAt: T0 + 1 })
      expect(alerts.id).toBeGreaterThan(ci.id)

      expect(await f.store.listIncomingWebhooks()).toEqual([ci, alerts])
      expect(await f.store.findIncomingWebhook('hash-ci')).toEqual(ci)
      expect(await f.store.findIncomingWebhook('hash-alerts')).toEqual(alerts)
      expect(await f.store.findIncomingWebhook('hash-nope')).toBeUndefined()
      expect(await f.store.findIncomingWebhook('')).toBeUndefined()

      expect(await f.store.deleteIncomingWebhook(ci.id, { at: T0 + 2, audit: by })).toBe(true)
      expect(await f.store.deleteIncomingWebhook(ci.id, { at: T0 + 3, audit: by })).toBe(false)
      expect(await f.store.deleteIncomingWebhook(alerts.id + 1000, { at: T0 + 3, audit: by })).toBe(false)
      expect(await f.store.findIncomingWebhook('hash-ci')).toBeUndefined()
      expect(await f.store.listIncomingWebhooks()).toEqual([alerts])

      // Written with the change; a refused deletion writes nothing.
      expect((await f.store.listAudit({ limit: 10 })).map((e) => [e.action, e.at, e.actor, e.target])).toEqual([
        ['webhook.delete', T0 + 2, by.actor, { kind: 'incoming', id: ci.id, name: 'CI' }],
        ['webhook.create', T0 + 1, null, { kind: 'incoming', id: alerts.id, name: 'Alerts' }],
        ['webhook.create', T0, by.actor, { kind: 'incoming', id: ci.id, name: 'CI' }],
      ])
    })

    test('an incoming webhook whose bot was deleted is not found', async () => {
      await using f = await open()
      const gone = await makeBot(f.store, 'gone-bot')
      const kept = await makeBot(f.store, 'kept-bot')
      await f.store.createIncomingWebhook({ name: 'old', room: 'lobby', botId: gone.id, tokenHash: 'hash-old', at: T0, audit: CLI })
      const other = await f.store.createIncomingWebhook({ name: 'other', room: 'lobby', botId: kept.id, tokenHash: 'hash-other', at: T0, audit: CLI })
      expect(await f.store.findIncomingWebhook('hash-old')).toMatchObject({ name: 'old', bot: gone })
      expect(await f.store.deleteUser(gone.id, { at: T0 + 1, placeholder: 'deleted user' })).toBe(true)
      expect(await f.store.findIncomingWebhook('hash-old')).toBeUndefined()
      expect(await f.store.findIncomingWebhook('hash-other')).toEqual(other)
    })

    test('outgoing webhooks are created with their rooms in name order and their bot, listed in id order, audited', async () => {
      await using f = await open()
      const by = await makeAdmin(f.store)
      const bot = await makeBot(f.store, 'helper')
      // Bytewise name order ('B' < 'a'), whatever the database's locale.
      const rooms = await outgoing(f.store, 'rooms', ['b-room', 'B', 'a'], null, by)
      expect(rooms).toEqual({
        id: expect.any(Number),
        name: 'rooms',
        url: 'https://example.test/rooms',
        secret: 'whsec_rooms',
        rooms: ['B', 'a', 'b-room'],
        bot: null,
        createdAt: T0,
      })
      const mentions = await outgoing(f.store, 'mentions', [], bot)
      expect(mentions).toEqual({
        id: expect.any(Number),
        name: 'mentions',
        url: 'https://example.test/mentions',
        secret: 'whsec_mentions',
        rooms: [],
        bot,
        createdAt: T0,
      })
      const both = await outgoing(f.store, 'both', ['lobby'], bot)
      expect(both).toMatchObject({ rooms: ['lobby'], bot })
      expect(await f.store.listOutgoingWebhooks()).toEqual([rooms, mentions, both])

      expect((await f.store.listAudit({ limit: 10 })).map((e) => [e.action, e.actor, e.target])).toEqual([
        ['webhook.create', null, { kind: 'outgoing', id: both.id, name: 'both' }],
        ['webhook.create', null, { kind: 'outgoing', id: mentions.id, name: 'mentions' }],
        ['webhook.create', by.actor, { kind: 'outgoing', id: rooms.id, name: 'rooms' }],
      ])
    })

    test('an outgoing webhook whose bot is gone is still listed, with no bot', async () => {
      await using f = await open()
      const bot = await makeBot(f.store, 'helper')
      const hook = await outgoing(f.store, 'hook', ['lobby'], bot)
      expect(await f.store.deleteUser(bot.id, { at: T0 + 1, placeholder: 'deleted user' })).toBe(true)
      expect(await f.store.listOutgoingWebhooks()).toEqual([{ ...hook, bot: null }])
    })

    test('deleting an outgoing webhook removes its rooms and its deliveries, audited; the others keep theirs', async () => {
      await using f = await open()
      const by = await makeAdmin(f.store)
      const one = await outgoing(f.store, 'one', ['lobby', 'dev'], null)
      const two = await outgoing(f.store, 'two', ['lobby'], null)
      const [d1, d2] = await queue(f.store, [delivery(one.id, 1), delivery(one.id, 2)], T0)
      const [d3] = await queue(f.store, [delivery(two.id, 1)], T0)
      expect(d1).toBeDefined()
      expect(d2).toBeDefined()

      expect(await f.store.deleteOutgoingWebhook(one.id, { at: T0 + 5, audit: by })).toBe(true)
      expect(await f.store.deleteOutgoingWebhook(one.id, { at: T0 + 6, audit: by })).toBe(false)
      expect(await f.store.deleteOutgoingWebhook(two.id + 1000, { at: T0 + 6, audit: by })).toBe(false)
      expect(await f.store.listOutgoingWebhooks()).toEqual([two])
      expect(await f.store.listDeliveries(one.id, { limit: 10 })).toEqual([])
      expect((await f.store.listDeliveries(two.id, { limit: 10 })).map((d) => d.id)).toEqual([d3!])
      // Its queued deliveries are gone from the queue too.
      expect(claimedIds(await f.store.claimDeliveries(T0 + 10, T0 + 1000, 10))).toEqual([d3!])

      const [entry, ...rest] = await f.store.listAudit({ limit: 10 })
      expect(entry).toMatchObject({ at: T0 + 5, actor: by.actor, action: 'webhook.delete', target: { kind: 'outgoing', id: one.id, name: 'one' } })
      expect(rest.map((e) => e.action)).toEqual(['webhook.create', 'webhook.create'])
    })

    test("deleteBotWebhooks removes the bot's incoming and outgoing webhooks with their deliveries, and nothing else, unaudited", async () => {
      await using f = await open()
      const doomed = await makeBot(f.store, 'doomed')
      const other = await makeBot(f.store, 'other')
      await f.store.createIncomingWebhook({ name: 'in-doomed', room: 'lobby', botId: doomed.id, tokenHash: 'hash-doomed', at: T0, audit: CLI })
      const inOther = await f.store.createIncomingWebhook({ name: 'in-other', room: 'lobby', botId: other.id, tokenHash: 'hash-other', at: T0, audit: CLI })
      const outDoomed = await outgoing(f.store, 'out-doomed', ['lobby'], doomed)
      const outOther = await outgoing(f.store, 'out-other', [], other)
      const outNone = await outgoing(f.store, 'out-none', ['lobby'], null)
      await queue(f.store, [delivery(outDoomed.id, 1, 'mention'), delivery(outDoomed.id, 1)], T0)
      const [kept] = await queue(f.store, [delivery(outNone.id, 1)], T0)
      const audited = await f.store.listAudit({ limit: 100 })

      await f.store.deleteBotWebhooks(doomed.id)
      expect(await f.store.listIncomingWebhooks()).toEqual([inOther])
      expect(await f.store.findIncomingWebhook('hash-doomed')).toBeUndefined()
      expect(await f.store.listOutgoingWebhooks()).toEqual([outOther, outNone])
      expect(await f.store.listDeliveries(outDoomed.id, { limit: 10 })).toEqual([])
      expect((await f.store.listDeliveries(outNone.id, { limit: 10 })).map((d) => d.id)).toEqual([kept!])
      expect(claimedIds(await f.store.claimDeliveries(T0, T0 + 1000, 10))).toEqual([kept!])
      expect(await f.store.listAudit({ limit: 100 })).toEqual(audited)

      // A bot without webhooks: nothing to do.
      await f.store.deleteBotWebhooks(doomed.id)
      await f.store.deleteBotWebhooks(other.id + 1000)
      expect(await f.store.listOutgoingWebhooks()).toEqual([outOther, outNone])
    })

    test('queued deliveries are pending and due at once; a claim takes those due, oldest due first, and leases them', async () => {
      await using f = await open()
      const hook = await outgoing(f.store, 'hook', ['lobby'], null)
      await f.store.queueDeliveries([], T0)
      expect(await f.store.listDeliveries(hook.id, { limit: 10 })).toEqual([])

      const [a, b] = await queue(f.store, [delivery(hook.id, 1), delivery(hook.id, 2, 'mention')], T0)
      const [c] = await queue(f.store, [delivery(hook.id, 3)], T0 + 10)
      const pending = (id: number, messageId: number, event: string, at: number): DeliveryRecord => ({
        id,
        event: event as DeliveryRecord['event'],
        room: 'lobby',
        messageId,
        status: 'pending',
        attempts: 0,
        responseStatus: null,
        error: null,
        nextAttemptAt: at,
        createdAt: at,
        updatedAt: at,
      })
      expect(await f.store.listDeliveries(hook.id, { limit: 10 })).toEqual([
        pending(c!, 3, 'message', T0 + 10),
        pending(b!, 2, 'mention', T0),
        pending(a!, 1, 'message', T0),
      ])

      // Only those due: c is due at T0 + 10.
      const first = await f.store.claimDeliveries(T0 + 5, T0 + 1000, 10)
      expect(first.sort((x, y) => x.id - y.id)).toEqual([
        { id: a!, webhookId: hook.id, payload: delivery(hook.id, 1).payload, attempts: 0 },
        { id: b!, webhookId: hook.id, payload: delivery(hook.id, 2).payload, attempts: 0 },
      ])
      // Leased: a second claim at the same time gets nothing, and c only once due.
      expect(await f.store.claimDeliveries(T0 + 5, T0 + 1000, 10)).toEqual([])
      expect(claimedIds(await f.store.claimDeliveries(T0 + 10, T0 + 1000, 10))).toEqual([c!])
      expect(await f.store.claimDeliveries(T0 + 999, T0 + 2000, 10)).toEqual([])
      // The lease moved the due time, and nothing else.
      expect((await f.store.listDeliveries(hook.id, { limit: 10 })).map((d) => [d.status, d.attempts, d.nextAttemptAt])).toEqual([
        ['pending', 0, T0 + 1000],
        ['pending', 0, T0 + 1000],
        ['pending', 0, T0 + 1000],
      ])
      // An instance that claimed them and died: they come due again when the lease runs out.
      expect(claimedIds(await f.store.claimDeliveries(T0 + 1000, T0 + 2000, 10))).toEqual([a!, b!, c!])
      expect(await f.store.claimDeliveries(T0 + 1500, T0 + 3000, 10)).toEqual([])

      // Oldest due first, whatever the ids: due at 4000 (b), 4500 (c), 5000 (a).
      const retry = (attempts: number, nextAttemptAt: number) => ({
        status: 'pending' as const,
        attempts,
        responseStatus: 503,
        error: 'HTTP 503',
        nextAttemptAt,
        at: T0 + 2000,
      })
      await f.store.finishDelivery(a!, retry(1, T0 + 5000))
      await f.store.finishDelivery(b!, retry(2, T0 + 4000))
      await f.store.finishDelivery(c!, retry(3, T0 + 4500))
      expect(claimedIds(await f.store.claimDeliveries(T0 + 6000, T0 + 7000, 2))).toEqual(sorted([b!, c!]))
      const last = await f.store.claimDeliveries(T0 + 6000, T0 + 7000, 2)
      expect(last).toEqual([{ id: a!, webhookId: hook.id, payload: delivery(hook.id, 1).payload, attempts: 1 }])
      expect(await f.store.claimDeliveries(T0 + 6000, T0 + 7000, 2)).toEqual([])
    })

    test('a claim passes over the webhooks it is told to skip; released deliveries are due again, attempts untouched', async () => {
      await using f = await open()
      const busy = await outgoing(f.store, 'busy', ['lobby'], null)
      const quiet = await outgoing(f.store, 'quiet', ['lobby'], null)
      await f.store.queueDeliveries([delivery(busy.id, 1), delivery(busy.id, 2), delivery(quiet.id, 3)], T0)
      const [b1, b2, q] = (await f.store.listDeliveries(busy.id, { limit: 10 }))
        .map((d) => d.id)
        .reverse()
        .concat((await f.store.listDeliveries(quiet.id, { limit: 10 })).map((d) => d.id))
      expect(claimedIds(await f.store.claimDeliveries(T0, T0 + 1000, 10, [busy.id]))).toEqual([q!])
      expect(claimedIds(await f.store.claimDeliveries(T0, T0 + 1000, 1))).toEqual([b1!])
      await f.store.releaseDeliveries([b1!], T0 + 5)
      expect(await f.store.claimDeliveries(T0 + 4, T0 + 1000, 10, [])).toEqual([
        { id: b2!, webhookId: busy.id, payload: delivery(busy.id, 2).payload, attempts: 0 },
      ])
      expect(claimedIds(await f.store.claimDeliveries(T0 + 5, T0 + 1000, 10))).toEqual([b1!])
      // Releasing nothing, or a delivery no longer pending, changes nothing.
      await f.store.releaseDeliveries([], T0)
      await f.store.finishDelivery(q!, { status: 'delivered', attempts: 1, responseStatus: 200, error: null, nextAttemptAt: null, at: T0 + 6 })
      await f.store.releaseDeliveries([q!], T0)
      expect(await f.store.claimDeliveries(T0 + 10, T0 + 1000, 10)).toEqual([])
    })

    test('finishDelivery records the outcome: delivered, failed, or pending again until its next attempt', async () => {
      await using f = await open()
      const hook = await outgoing(f.store, 'hook', ['lobby'], null)
      const [ok, bad, later] = await queue(f.store, [delivery(hook.id, 1), delivery(hook.id, 2), delivery(hook.id, 3)], T0)
      expect(claimedIds(await f.store.claimDeliveries(T0, T0 + 30_000, 10))).toEqual(sorted([ok!, bad!, later!]))

      await f.store.finishDelivery(ok!, { status: 'delivered', attempts: 1, responseStatus: 204, error: null, nextAttemptAt: null, at: T0 + 1 })
      await f.store.finishDelivery(bad!, { status: 'failed', attempts: 8, responseStatus: null, error: 'connection refused', nextAttemptAt: null, at: T0 + 2 })
      await f.store.finishDelivery(later!, { status: 'pending', attempts: 1, responseStatus: 500, error: 'HTTP 500', nextAttemptAt: T0 + 60_000, at: T0 + 3 })
      const base = { event: 'message' as const, room: 'lobby', createdAt: T0 }
      expect(await f.store.listDeliveries(hook.id, { limit: 10 })).toEqual([
        {
          ...base,
          id: later!,
          messageId: 3,
          status: 'pending',
          attempts: 1,
          responseStatus: 500,
          error: 'HTTP 500',
          nextAttemptAt: T0 + 60_000,
          updatedAt: T0 + 3,
        },
        {
          ...base,
          id: bad!,
          messageId: 2,
          status: 'failed',
          attempts: 8,
          responseStatus: null,
          error: 'connection refused',
          nextAttemptAt: null,
          updatedAt: T0 + 2,
        },
        { ...base, id: ok!, messageId: 1, status: 'delivered', attempts: 1, responseStatus: 204, error: null, nextAttemptAt: null, updatedAt: T0 + 1 },
      ])

      // Only the retry is claimed again, once due, with the attempts made so far.
      expect(await f.store.claimDeliveries(T0 + 59_999, T0 + 90_000, 10)).toEqual([])
      expect(await f.store.claimDeliveries(T0 + 60_000, T0 + 90_000, 10)).toEqual([
        { id: later!, webhookId: hook.id, payload: delivery(hook.id, 3).payload, attempts: 1 },
      ])
      // Its lease run out, it is due again (it was never finished); the others never are.
      expect(claimedIds(await f.store.claimDeliveries(T0 + 10_000_000, T0 + 20_000_000, 10))).toEqual([later!])
    })

    test("listDeliveries pages one webhook's deliveries newest first, below an id", async () => {
      await using f = await open()
      const hook = await outgoing(f.store, 'hook', ['lobby'], null)
      const other = await outgoing(f.store, 'other', ['lobby'], null)
      const mine: number[] = []
      for (let i = 1; i <= 5; i++) {
        mine.push(...(await queue(f.store, [delivery(hook.id, i)], T0 + i)))
        await queue(f.store, [delivery(other.id, i)], T0 + i)
      }
      const newest = [...mine].reverse()
      const page = async (before?: number) => (await f.store.listDeliveries(hook.id, { before, limit: 2 })).map((d) => d.id)
      expect(await page()).toEqual(newest.slice(0, 2))
      expect(await page(newest[1])).toEqual(newest.slice(2, 4))
      expect(await page(newest[3])).toEqual(newest.slice(4))
      expect(await page(newest[4])).toEqual([])
      expect((await f.store.listDeliveries(hook.id, { before: newest[0]! + 1000, limit: 10 })).map((d) => d.id)).toEqual(newest)
      expect((await f.store.listDeliveries(hook.id, { limit: 10 })).map((d) => d.messageId)).toEqual([5, 4, 3, 2, 1])
      expect(await f.store.listDeliveries(other.id + 1000, { limit: 10 })).toEqual([])
    })

    test('pruneDeliveries removes deliveries created before a time, whatever their status', async () => {
      await using f = await open()
      const hook = await outgoing(f.store, 'hook', ['lobby'], null)
      const [done, waiting] = await queue(f.store, [delivery(hook.id, 1), delivery(hook.id, 2)], T0)
      const [fresh] = await queue(f.store, [delivery(hook.id, 3)], T0 + 100)
      await f.store.finishDelivery(done!, { status: 'delivered', attempts: 1, responseStatus: 200, error: null, nextAttemptAt: null, at: T0 + 200 })
      expect(waiting).toBeDefined()

      await f.store.pruneDeliveries(T0)
      expect(await f.store.listDeliveries(hook.id, { limit: 10 })).toHaveLength(3)
      await f.store.pruneDeliveries(T0 + 100)
      expect((await f.store.listDeliveries(hook.id, { limit: 10 })).map((d) => d.id)).toEqual([fresh!])
      // The pruned pending one is gone from the queue too.
      expect(claimedIds(await f.store.claimDeliveries(T0 + 100, T0 + 1000, 10))).toEqual([fresh!])
    })

    test('claims made at once, on two instances, never take the same delivery', async () => {
      await using f = await open()
      await using g = await f.another()
      const hook = await outgoing(f.store, 'hook', ['lobby'], null)
      const all = Array.from({ length: 200 }, (_, i) => delivery(hook.id, i + 1))
      await f.store.queueDeliveries(all, T0)

      const taken: number[] = []
      for (let round = 0; round < 3; round++) {
        const claims = await Promise.all(Array.from({ length: 8 }, (_, i) => (i % 2 ? g : f).store.claimDeliveries(T0, T0 + 1000, 15)))
        taken.push(...claims.flat().map((c) => c.id))
      }
      taken.push(...(await f.store.claimDeliveries(T0, T0 + 1000, 1000)).map((c) => c.id))
      expect(new Set(taken).size).toBe(taken.length)
      const queued = (await f.store.listDeliveries(hook.id, { limit: 1000 })).map((d) => d.id)
      expect(sorted(taken)).toEqual(sorted(queued))
      expect(queued).toHaveLength(200)
    })
  })
}
