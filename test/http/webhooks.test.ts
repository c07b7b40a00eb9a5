/**
 * Webhooks (docs/BOTS.md). Incoming: a secret URL posts into one room as a bot, rate limited,
 * revocable, stored only as a hash. Outgoing: a signed POST (Standard Webhooks: HMAC-SHA256 of
 * id.timestamp.body) to a real receiver on 127.0.0.1 for each new message in chosen rooms or
 * mentioning a bot; retried with back-off; never holding up delivery to people; logged for the admin.
 */
import { Database } from 'bun:sqlite'
import { expect, test } from 'bun:test'
import { call, expectError, expectNoContent, expectOk } from '../support/accounts.ts'
import { registerAdmin } from '../support/changes.ts'
import { register, request, type Account } from '../support/http.ts'
import { addMember, connectRoom, createRoom } from '../support/private-rooms.ts'
import { post, postMany } from '../support/rooms.ts'
import { startTestServer, type TestServer } from '../support/server.ts'
import { withTimeout } from '../support/wait.ts'
import { signatureValid, startReceiver } from '../support/webhook-receiver.ts'

const WAIT_MS = 5_000

async function makeBot(server: TestServer, admin: Account, username = 'relay'): Promise<{ id: number; username: string }> {
  const res = await call(server.url, 'POST', '/api/v1/admin/bots', admin.token, { username })
  expect(res.status).toBe(201)
  const { id, username: name } = res.body.data.bot
  return { id, username: name }
}

async function incoming(server: TestServer, admin: Account, room: string, botId: number) {
  const res = await call(server.url, 'POST', '/api/v1/admin/webhooks/incoming', admin.token, { room, botId, name: 'CI' })
  expect(res.status).toBe(201)
  return res.body.data as { webhook: { id: number }; token: string; url: string }
}

async function outgoing(server: TestServer, admin: Account, body: Record<string, unknown>) {
  const res = await call(server.url, 'POST', '/api/v1/admin/webhooks/outgoing', admin.token, body)
  expect(res.status).toBe(201)
  return res.body.data as { webhook: Record<string, unknown> & { id: number; rooms: string[] }; secret: string }
}

const hookPost = (server: TestServer, url: string, json: unknown) => request(`${server.url}${url}`, { method: 'POST', json })

const deliveries = async (server: TestServer, admin: Account, id: number, query = '') =>
  (await call(server.url, 'GET', `/api/v1/admin/webhooks/outgoing/${id}/deliveries${query}`, admin.token)).body.data

test('an incoming webhook posts into its room as its bot; people see it; the URL is shown once and stored as a hash', async () => {
  const clock = Date.UTC(2026, 10, 30, 9)
  const logs: string[] = []
  await using server = await startTestServer({ now: () => clock, onLog: (line) => logs.push(line) })
  const admin = await registerAdmin(server)
  const bot = await makeBot(server, admin)
  const res = await call(server.url, 'POST', '/api/v1/admin/webhooks/incoming', admin.token, { room: 'builds', botId: bot.id, name: 'CI' })
  expect(res.status).toBe(201)
  const { webhook, token, url } = res.body.data
  expect(webhook).toEqual({ id: expect.any(Number), name: 'CI', room: 'builds', bot, createdAt: new Date(clock).toISOString() })
  expect(token).toMatch(/^whk_[A-Za-z0-9_-]{43}$/)
  expect(url).toBe(`/api/v1/hooks/${token}`)
  expectOk(await call(server.url, 'GET', '/api/v1/admin/webhooks/incoming', admin.token), { webhooks: [webhook] })

  const watcher = await connectRoom(server, 'builds', await register(server.url, 'dev'))
  const posted = await hookPost(server, url, { text: 'build #42 passed' })
  expect(posted.status).toBe(201)
  expect(posted.body.data.message).toMatchObject({ room: 'builds', text: 'build #42 passed', user: bot })
  expect((await withTimeout(watcher.next('message'), WAIT_MS, 'the posted message')).data).toMatchObject({ id: posted.body.data.message.id, user: bot })

  const db = new Database(server.config.database, { readonly: true })
  const stored = db.query<{ token_hash: string }, []>('SELECT token_hash FROM incoming_webhooks').get()!
  db.close()
  expect(stored.token_hash).toBe(new Bun.CryptoHasher('sha256').update(token).digest('hex'))
  // The path is the credential: the request log shows it masked.
  expect(logs.some((line) => line.includes('/api/v1/hooks/***'))).toBe(true)
  expect(logs.filter((line) => line.includes(token.slice(4)))).toEqual([])
  watcher.close()
})

test('an incoming webhook: bad text 400, unknown or revoked token 404, rate limited 429 with Retry-After, audited', async () => {
  await using server = await startTestServer({ config: { webhookLimitPerMinute: 2 } })
  const admin = await registerAdmin(server)
  const bot = await makeBot(server, admin)
  const { webhook, url } = await incoming(server, admin, 'builds', bot.id)
  expectError(await hookPost(server, url, { text: '   ' }), 400, 'MESSAGE_INVALID')
  expectError(await hookPost(server, url, { text: 5 }), 400, 'MESSAGE_INVALID')
  expectError(await hookPost(server, url, {}), 400, 'MESSAGE_INVALID')
  expect((await hookPost(server, url, { text: 'one' })).status).toBe(201)
  expect((await hookPost(server, url, { text: 'two' })).status).toBe(201)
  const limited = await hookPost(server, url, { text: 'three' })
  expectError(limited, 429, 'RATE_LIMITED')
  expect(Number(limited.headers.get('retry-after'))).toBeGreaterThanOrEqual(1)
  expectError(await hookPost(server, `/api/v1/hooks/whk_${'A'.repeat(43)}`, { text: 'guess' }), 404, 'NOT_FOUND')
  expectError(await hookPost(server, '/api/v1/hooks/nonsense', { text: 'guess' }), 404, 'NOT_FOUND')
  // Guessing is limited per address too.
  expectError(await hookPost(server, '/api/v1/hooks/nonsense', { text: 'guess' }), 429, 'RATE_LIMITED')

  expectNoContent(await call(server.url, 'DELETE', `/api/v1/admin/webhooks/incoming/${webhook.id}`, admin.token))
  expectError(await call(server.url, 'DELETE', `/api/v1/admin/webhooks/incoming/${webhook.id}`, admin.token), 404, 'NOT_FOUND')
  expectOk(await call(server.url, 'GET', '/api/v1/admin/webhooks/incoming', admin.token), { webhooks: [] })
  const audit = (await call(server.url, 'GET', '/api/v1/admin/audit', admin.token)).body.data.entries
  expect(audit.slice(0, 2).map((e: { action: string; target: unknown }) => [e.action, e.target])).toEqual([
    ['webhook.delete', { kind: 'incoming', id: webhook.id, name: 'CI' }],
    ['webhook.create', { kind: 'incoming', id: webhook.id, name: 'CI' }],
  ])
})

test("an incoming webhook follows its bot's rights: a private room needs it as member, a ban stops it, its deletion removes the webhook", async () => {
  await using server = await startTestServer()
  const admin = await registerAdmin(server)
  const bot = await makeBot(server, admin)
  await createRoom(server, admin, 'ops', 'private')
  expectError(await call(server.url, 'POST', '/api/v1/admin/webhooks/incoming', admin.token, { room: 'ops', botId: bot.id }), 404, 'ROOM_NOT_FOUND')
  await addMember(server, admin, 'ops', bot.username)
  const { url } = await incoming(server, admin, 'ops', bot.id)
  expect((await hookPost(server, url, { text: 'deploy started' })).status).toBe(201)

  expectNoContent(await call(server.url, 'DELETE', `/api/v1/rooms/ops/members/${bot.username}`, admin.token))
  expectError(await hookPost(server, url, { text: 'deploy done' }), 404, 'ROOM_NOT_FOUND')
  await addMember(server, admin, 'ops', bot.username)
  expectNoContent(await call(server.url, 'PUT', `/api/v1/admin/users/${bot.id}/ban`, admin.token, {}))
  expectError(await hookPost(server, url, { text: 'deploy done' }), 403, 'USER_BANNED')
  expectNoContent(await call(server.url, 'DELETE', `/api/v1/admin/bots/${bot.id}`, admin.token))
  expectError(await hookPost(server, url, { text: 'deploy done' }), 404, 'NOT_FOUND')
  expectOk(await call(server.url, 'GET', '/api/v1/admin/webhooks/incoming', admin.token), { webhooks: [] })

  // Refusals of the admin endpoints.
  const member = await register(server.url, 'member')
  expectError(await call(server.url, 'POST', '/api/v1/admin/webhooks/incoming', member.token, { room: 'x', botId: 1 }), 403, 'FORBIDDEN')
  expectError(await call(server.url, 'POST', '/api/v1/admin/webhooks/incoming', admin.token, { room: 'x', botId: member.user.id }), 404, 'USER_NOT_FOUND')
  expectError(await call(server.url, 'POST', '/api/v1/admin/webhooks/incoming', admin.token, { room: 'bad room!', botId: 1 }), 400, 'ROOM_INVALID')
  expectError(await call(server.url, 'POST', '/api/v1/admin/webhooks/incoming', admin.token, { room: 'x', botId: '1' }), 400, 'BAD_BINDING')
})

test('an outgoing webhook POSTs each new message of its rooms to a real receiver, signed (HMAC-SHA256 of id.timestamp.body), and logs it', async () => {
  await using receiver = await startReceiver()
  await using server = await startTestServer()
  const admin = await registerAdmin(server)
  const { webhook, secret } = await outgoing(server, admin, { url: receiver.url, rooms: ['lobby'], name: 'audit trail' })
  expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/)
  expect(webhook).toEqual({ id: expect.any(Number), name: 'audit trail', url: receiver.url, rooms: ['lobby'], bot: null, createdAt: expect.any(String) })
  // The secret is shown once: never in the listing.
  const listed = await call(server.url, 'GET', '/api/v1/admin/webhooks/outgoing', admin.token)
  expectOk(listed, { webhooks: [webhook] })

  const socket = await connectRoom(server, 'lobby', admin)
  const other = await connectRoom(server, 'elsewhere', admin)
  await post(other, 'not watched')
  const sent = await post(socket, 'hello, hooks')
  await receiver.waitFor(1)
  const [got] = receiver.received
  expect(got!.contentType).toBe('application/json')
  expect(signatureValid(secret, got!)).toBe(true)
  expect(signatureValid(`whsec_${Buffer.alloc(32).toString('base64')}`, got!)).toBe(false)
  expect(Math.abs(Number(got!.timestamp) - Date.now() / 1000)).toBeLessThan(60)
  const payload = JSON.parse(got!.body)
  expect(payload).toEqual({
    type: 'message',
    timestamp: expect.any(String),
    data: { room: 'lobby', message: expect.objectContaining({ id: sent.id, text: 'hello, hooks' }) },
  })

  await Bun.sleep(200)
  expect(receiver.received).toHaveLength(1)
  const log = await deliveries(server, admin, webhook.id)
  expect(log).toEqual({
    deliveries: [
      {
        id: Number(got!.id),
        event: 'message',
        room: 'lobby',
        messageId: sent.id,
        status: 'delivered',
        attempts: 1,
        responseStatus: 200,
        error: null,
        createdAt: expect.any(String),
        updatedAt: expect.any(String),
        nextAttemptAt: null,
      },
    ],
    hasMore: false,
  })
  socket.close()
  other.close()
})

test('a failing receiver is retried with back-off (same id and body each time), then given up on; a redirect counts as a failure', async () => {
  await using receiver = await startReceiver()
  await using server = await startTestServer({ retryDelaysMs: [50, 100, 150] })
  const admin = await registerAdmin(server)
  const { webhook } = await outgoing(server, admin, { url: receiver.url, rooms: ['lobby'] })
  const socket = await connectRoom(server, 'lobby', admin)

  receiver.answer = (_req, n) => new Response('nope', { status: n < 3 ? 503 : 200 })
  const first = await post(socket, 'third time lucky')
  await receiver.waitFor(3)
  expect(new Set(receiver.received.map((r) => r.id)).size).toBe(1)
  expect(new Set(receiver.received.map((r) => r.body)).size).toBe(1)
  await withTimeout(
    (async () => {
      while ((await deliveries(server, admin, webhook.id)).deliveries[0].status !== 'delivered') await Bun.sleep(20)
    })(),
    WAIT_MS,
    'the delivery to be logged as delivered',
  )
  expect((await deliveries(server, admin, webhook.id)).deliveries[0]).toMatchObject({
    messageId: first.id,
    status: 'delivered',
    attempts: 3,
    responseStatus: 200,
  })

  receiver.received.length = 0
  receiver.answer = () => new Response(null, { status: 302, headers: { Location: 'http://127.0.0.1:1/elsewhere' } })
  const second = await post(socket, 'never arrives')
  // 1 attempt + 3 retries, then no more.
  await receiver.waitFor(4)
  await withTimeout(
    (async () => {
      while ((await deliveries(server, admin, webhook.id)).deliveries[0].status !== 'failed') await Bun.sleep(20)
    })(),
    WAIT_MS,
    'the delivery to be logged as failed',
  )
  await Bun.sleep(400)
  expect(receiver.received).toHaveLength(4)
  expect((await deliveries(server, admin, webhook.id)).deliveries[0]).toMatchObject({
    messageId: second.id,
    status: 'failed',
    attempts: 4,
    responseStatus: 302,
    error: 'the receiver answered 302',
    nextAttemptAt: null,
  })
  // Operators see the same in /metrics: 2 + 3 retries, 1 delivered, 1 given up.
  const metrics = await (await fetch(`${server.url}/metrics`)).text()
  expect(metrics).toContain('chat_webhook_attempts_total{result="retry"} 5')
  expect(metrics).toContain('chat_webhook_attempts_total{result="delivered"} 1')
  expect(metrics).toContain('chat_webhook_attempts_total{result="failed"} 1')
  socket.close()
}, 20_000)

test('a receiver that does not answer holds up no one: every message reaches people while all its POSTs hang', async () => {
  await using receiver = await startReceiver()
  await using server = await startTestServer({ config: { messageRate: 1000, messageBurst: 1000 } })
  const admin = await registerAdmin(server)
  await outgoing(server, admin, { url: receiver.url, rooms: ['lobby'] })
  const release = Promise.withResolvers<void>()
  receiver.answer = async () => {
    await release.promise
    return new Response('late')
  }
  const sender = await connectRoom(server, 'lobby', admin)
  const reader = await connectRoom(server, 'lobby', await register(server.url, 'reader'))
  await post(sender, 'first')
  await receiver.waitFor(1)
  // The receiver now holds a request open and answers nothing; chat goes on at full speed.
  const acked = await withTimeout(postMany(sender, 30), WAIT_MS, '30 messages acknowledged')
  for (let i = 0; i < 31; i++) await withTimeout(reader.next('message'), WAIT_MS, `message ${i + 1} at the reader`)
  expect(acked).toHaveLength(30)
  expect(receiver.received.length).toBeGreaterThanOrEqual(1)
  release.resolve()
  // Once it answers, every message is delivered.
  await receiver.waitFor(31, 15_000)
  sender.close()
  reader.close()
}, 30_000)

test("a receiver that hangs holds two sending slots, not the others: another webhook's deliveries go on", async () => {
  await using stuck = await startReceiver()
  await using healthy = await startReceiver()
  await using server = await startTestServer({ config: { messageRate: 1000, messageBurst: 1000 } })
  const admin = await registerAdmin(server)
  await outgoing(server, admin, { url: stuck.url, rooms: ['lobby'] })
  await outgoing(server, admin, { url: healthy.url, rooms: ['lobby'] })
  const release = Promise.withResolvers<void>()
  stuck.answer = async () => {
    await release.promise
    return new Response('late')
  }
  const socket = await connectRoom(server, 'lobby', admin)
  await postMany(socket, 20)
  await healthy.waitFor(20)
  // The stuck one has had at most its two slots' worth.
  expect(stuck.received.length).toBeLessThanOrEqual(2)
  release.resolve()
  await stuck.waitFor(20, 15_000)
  socket.close()
}, 30_000)

test('mentions of a bot go to its webhook (event mention); its own messages never do; a private room needs the bot as member', async () => {
  await using receiver = await startReceiver()
  await using server = await startTestServer()
  const admin = await registerAdmin(server)
  const bot = await makeBot(server, admin, 'helper')
  const botToken = (await call(server.url, 'POST', `/api/v1/admin/bots/${bot.id}/token`, admin.token)).body.data.token
  await outgoing(server, admin, { url: receiver.url, botId: bot.id })
  // Watches a private room without a bot: nothing of it may leave.
  const watcher = await outgoing(server, admin, { url: `${receiver.url}?private`, rooms: ['secret'] })
  expect(watcher.webhook.rooms).toEqual(['secret'])

  const socket = await connectRoom(server, 'lobby', admin)
  await post(socket, 'no mention here')
  const mention = await post(socket, 'hey @helper, status?')
  const botSocket = await connectRoom(server, 'lobby', { token: botToken, user: bot })
  await post(botSocket, 'I am @helper and I mention myself')
  await receiver.waitFor(1)

  await createRoom(server, admin, 'secret', 'private')
  const secretSocket = await connectRoom(server, 'secret', admin)
  await post(secretSocket, 'the bot is not here, @helper')
  await addMember(server, admin, 'secret', 'helper')
  const inSecret = await post(secretSocket, 'now it is: @helper')
  await receiver.waitFor(2)
  await Bun.sleep(300)
  const payloads = receiver.received.map((r) => JSON.parse(r.body))
  expect(payloads.map((p) => [p.type, p.data.room, p.data.message.id])).toEqual([
    ['mention', 'lobby', mention.id],
    ['mention', 'secret', inSecret.id],
  ])
  socket.close()
  botSocket.close()
  secretSocket.close()
})

test('outgoing webhook admin: validation, the log pages newest first, deleting removes it and its log', async () => {
  await using receiver = await startReceiver()
  await using server = await startTestServer()
  const admin = await registerAdmin(server)
  const path = '/api/v1/admin/webhooks/outgoing'
  expectError(await call(server.url, 'POST', path, admin.token, { url: 'ftp://example.org/x', rooms: ['a'] }), 400, 'BAD_REQUEST')
  expectError(await call(server.url, 'POST', path, admin.token, { url: 'not a url', rooms: ['a'] }), 400, 'BAD_REQUEST')
  expectError(await call(server.url, 'POST', path, admin.token, { url: receiver.url }), 400, 'BAD_REQUEST')
  expectError(await call(server.url, 'POST', path, admin.token, { url: receiver.url, rooms: ['no good'] }), 400, 'ROOM_INVALID')
  expectError(await call(server.url, 'POST', path, admin.token, { url: receiver.url, rooms: 'lobby' }), 400, 'BAD_BINDING')
  expectError(await call(server.url, 'POST', path, admin.token, { url: receiver.url, botId: 999 }), 404, 'USER_NOT_FOUND')
  expectError(await call(server.url, 'GET', `${path}/999/deliveries`, admin.token), 404, 'NOT_FOUND')
  expectError(await call(server.url, 'DELETE', `${path}/abc`, admin.token), 404, 'NOT_FOUND')

  const { webhook } = await outgoing(server, admin, { url: receiver.url, rooms: ['lobby', 'lobby'] })
  expect(webhook.rooms).toEqual(['lobby'])
  const socket = await connectRoom(server, 'lobby', admin)
  await postMany(socket, 5)
  await receiver.waitFor(5)
  await withTimeout(
    (async () => {
      while ((await deliveries(server, admin, webhook.id)).deliveries.some((d: { status: string }) => d.status !== 'delivered')) await Bun.sleep(20)
    })(),
    WAIT_MS,
    'five deliveries logged',
  )
  const all = (await deliveries(server, admin, webhook.id)).deliveries.map((d: { id: number }) => d.id)
  expect(all).toHaveLength(5)
  expect([...all].sort((a, b) => b - a)).toEqual(all)
  const page = await deliveries(server, admin, webhook.id, '?limit=2')
  expect(page.deliveries.map((d: { id: number }) => d.id)).toEqual(all.slice(0, 2))
  expect(page.hasMore).toBe(true)
  const rest = await deliveries(server, admin, webhook.id, `?before=${all[1]}&limit=10`)
  expect(rest.deliveries.map((d: { id: number }) => d.id)).toEqual(all.slice(2))
  expect(rest.hasMore).toBe(false)

  expectNoContent(await call(server.url, 'DELETE', `${path}/${webhook.id}`, admin.token))
  expectError(await call(server.url, 'GET', `${path}/${webhook.id}/deliveries`, admin.token), 404, 'NOT_FOUND')
  await post(socket, 'after the webhook is gone')
  await Bun.sleep(300)
  expect(receiver.received).toHaveLength(5)
  socket.close()
})
