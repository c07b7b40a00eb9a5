/**
 * Bots and webhooks in a cluster (docs/BOTS.md): two instances (child processes) on one PostgreSQL
 * and one Redis. An outgoing webhook made on A is used for messages posted on B within about a
 * second, and each message is delivered exactly once though both instances claim from the same
 * queue; a bot token revoked on A stops working on B; an incoming webhook's rate limit is shared.
 */
import { expect } from 'bun:test'
import { call, closedWithin2s, expectError } from '../support/accounts.ts'
import { startChildServer, type ChildServer } from '../support/child-server.ts'
import { register, request, type Account } from '../support/http.ts'
import { connectRoom } from '../support/private-rooms.ts'
import { post, postMany } from '../support/rooms.ts'
import { requireServices } from '../support/require-services.ts'
import type { TestServer } from '../support/server.ts'
import { startPostgres, startRedis, type Service } from '../support/services.ts'
import { until } from '../support/wait.ts'
import { signatureValid, startReceiver, type Receiver } from '../support/webhook-receiver.ts'

// Skipped, with one line per missing service, where PostgreSQL or redis-server is not installed.
const { test, beforeAll, afterAll } = requireServices('postgresql', 'redis-server')

let pg: Service
let redis: Service
let a: ChildServer
let b: ChildServer
let A: TestServer
let B: TestServer
let admin: Account
let receiver: Receiver

beforeAll(async () => {
  ;[pg, redis, receiver] = await Promise.all([startPostgres(), startRedis(), startReceiver()])
  const env = { REDIS_URL: redis.url, INSTANCE_TTL: '3', MESSAGE_RATE: '1000', MESSAGE_BURST: '1000', WEBHOOK_LIMIT_PER_MINUTE: '3' }
  ;[a, b] = await Promise.all([startChildServer({ database: pg.url, env }), startChildServer({ database: pg.url, env })])
  A = a as unknown as TestServer
  B = b as unknown as TestServer
  admin = await register(a.url, 'root')
}, 60_000)

afterAll(async () => {
  await Promise.all([a, b].map((s) => s?.stop(2000).catch(() => {})))
  await Promise.all([pg?.[Symbol.asyncDispose](), redis?.[Symbol.asyncDispose](), receiver?.stop()])
})

test('a webhook made on A sends what is posted on B, each message exactly once, signed', async () => {
  const made = await call(a.url, 'POST', '/api/v1/admin/webhooks/outgoing', admin.token, { url: receiver.url, rooms: ['cluster-hooks'] })
  expect(made.status).toBe(201)
  const { secret } = made.body.data
  // B reads the webhooks again within about a second.
  await Bun.sleep(1200)
  const onB = await connectRoom(B, 'cluster-hooks', admin)
  const onA = await connectRoom(A, 'cluster-hooks', admin)
  const sent = [...(await postMany(onB, 20, 'from B')), ...(await postMany(onA, 20, 'from A'))]
  await receiver.waitFor(40, 15_000)
  await Bun.sleep(1500)
  const ids = receiver.received.map((r) => JSON.parse(r.body).data.message.id as number)
  expect(ids.length).toBe(40)
  expect(new Set(ids)).toEqual(new Set(sent.map((m) => m.id)))
  expect(receiver.received.every((r) => signatureValid(secret, r))).toBe(true)
  onA.close()
  onB.close()
}, 40_000)

test("a bot's token revoked on A is refused on B, and its socket on B closes", async () => {
  const made = await call(a.url, 'POST', '/api/v1/admin/bots', admin.token, { username: 'cluster-bot' })
  const { bot, token } = made.body.data
  const socket = await connectRoom(B, 'cluster-bots', { token, user: { id: bot.id, username: bot.username } })
  await post(socket, 'hello from the bot')
  expect((await call(a.url, 'DELETE', `/api/v1/admin/bots/${bot.id}/token`, admin.token)).status).toBe(204)
  expect((await closedWithin2s(socket)).code).toBe(4001)
  expectError(await call(b.url, 'GET', '/api/v1/users/me', token), 401, 'TOKEN_INVALID')
})

test("an incoming webhook's rate limit is shared by the instances", async () => {
  const bot = (await call(a.url, 'POST', '/api/v1/admin/bots', admin.token, { username: 'cluster-relay' })).body.data.bot
  const hook = (await call(a.url, 'POST', '/api/v1/admin/webhooks/incoming', admin.token, { room: 'cluster-relay', botId: bot.id })).body.data
  const statuses = await Promise.all(
    Array.from({ length: 10 }, (_, i) => request(`${(i % 2 ? a : b).url}${hook.url}`, { method: 'POST', json: { text: `post ${i}` } }).then((r) => r.status)),
  )
  expect(statuses.filter((s) => s === 201)).toHaveLength(3)
  expect(statuses.filter((s) => s === 429)).toHaveLength(7)
  await until(async () => (await request(`${b.url}/api/v1/rooms/cluster-relay/messages`)).body.data.messages.length === 3, 3000, 'three posts stored')
})
