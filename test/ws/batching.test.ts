/**
 * Batched delivery (docs/PROTOCOL.md "Batched delivery"): a room socket opened with `?batch=<ms>`
 * gets the room's frames gathered for at most that long, several frames to a WebSocket message, one
 * per line. Every frame still comes once and in order, frames sent to the socket alone (pong, error,
 * typing) keep their place after the batched ones, the welcome and `?since=` resume lose and repeat
 * nothing even mid-burst, shutdown sends what was held before 1001, and plain sockets in the same
 * room get exactly the frames they always got.
 */
import { expect, test } from 'bun:test'
import { BATCH } from '../../src/protocol-batch.ts'
import { CLOSE } from '../../src/protocol.ts'
import { call, closedWithin2s } from '../support/accounts.ts'
import { register } from '../support/http.ts'
import { rawUpgrade } from '../support/raw-ws.ts'
import { post, postMany, roomWs } from '../support/rooms.ts'
import { startTestServer, type TestServer } from '../support/server.ts'
import { openSocket, type Frame, type TestSocket } from '../support/socket.ts'
import { frameWhere, until, withTimeout } from '../support/wait.ts'

const FAST = { messageBurst: 100_000, messageRate: 100_000 }
const WAIT_MS = 10_000
const JSON_TYPE = 'application/json; charset=utf-8'

async function connect(server: TestServer, query = '', token?: string): Promise<TestSocket> {
  const socket = await openSocket(roomWs(server, 'lobby', query), token === undefined ? undefined : [token])
  await socket.next('welcome')
  return socket
}

const messageIds = (socket: TestSocket) => socket.frames.filter((f) => f.type === 'message').map((f) => f.data.id as number)
const lastMessage = (socket: TestSocket, id: number) => frameWhere(socket, (f) => f.type === 'message' && f.data.id === id, WAIT_MS, `message ${id}`)

/** performance.now() at which each message id arrived on `socket`. */
function arrivals(socket: TestSocket): Map<number, number> {
  const at = new Map<number, number>()
  socket.ws.addEventListener('message', (e) => {
    const now = performance.now()
    for (const line of String(e.data).split('\n')) {
      const frame = JSON.parse(line) as Frame
      if (frame.type === 'message') at.set(frame.data.id, now)
    }
  })
  return at
}

const isIncreasing = (ids: number[]) => ids.every((id, i) => i === 0 || id > ids[i - 1]!)

test.each(['abc', '-1', '1.5', '', '1e1', '0x10', String(BATCH.MAX_MS + 1)])('batch=%p is 400 BAD_QUERY before the upgrade', async (batch) => {
  await using server = await startTestServer()
  const raw = await rawUpgrade(roomWs(server, 'lobby', `?${BATCH.PARAM}=${batch}`))
  expect(raw.response).toEqual({
    status: 400,
    headers: expect.objectContaining({ 'content-type': JSON_TYPE }),
    body: { error: { type: 'BAD_QUERY', message: expect.any(String) }, data: null },
  })
})

test('a burst reaches a batched socket whole, in order, in fewer WebSocket messages and within the delay; plain sockets get one frame per message as before', async () => {
  await using server = await startTestServer({ config: FAST })
  const alice = await register(server.url, 'alice')
  const writer = await connect(server, '', alice.token)
  const batched = await connect(server, `?batch=20`)
  const plain = await connect(server)
  const zero = await connect(server, '?batch=0')
  const batchedAt = arrivals(batched)
  const plainAt = arrivals(plain)

  const acked = await postMany(writer, 300)
  const last = acked.at(-1)!.id
  await Promise.all([batched, plain, zero].map((s) => lastMessage(s, last)))

  const sent = acked.map((m) => m.id)
  for (const socket of [batched, plain, zero]) expect(messageIds(socket)).toEqual(sent)
  expect(isIncreasing(sent)).toBe(true)
  // The same frames, byte for byte once split: only their packing differs.
  expect(batched.frames).toEqual(plain.frames)
  expect(zero.frames).toEqual(plain.frames)
  for (const socket of [plain, zero, writer]) {
    expect(socket.messages.length).toBe(socket.frames.length)
    expect(socket.messages.some((m) => m.includes('\n'))).toBe(false)
  }
  expect(batched.messages.length).toBeLessThan(batched.frames.length / 2)
  // No frame waits much longer than the 20 ms asked for, counted from its plain copy's arrival.
  const lags = sent.map((id) => batchedAt.get(id)! - plainAt.get(id)!)
  expect(Math.max(...lags)).toBeLessThan(20 + 80)
  for (const s of [writer, batched, plain, zero]) s.close()
})

test('batches of ASCII (sent socket by socket) and of any other text (published on the batch topic) keep every socket whole and in order', async () => {
  await using server = await startTestServer({ config: FAST })
  const alice = await register(server.url, 'alice')
  const writer = await connect(server, '', alice.token)
  const batched = [await connect(server, '?batch=10'), await connect(server, '?batch=10')]
  const plain = await connect(server)
  // Alternate bursts: some batches are all ASCII, some hold accents and emoji; a pong in between keeps its place.
  const texts = ['plain ascii', 'café 😀 中文', 'more ascii', 'ünïcödé ✓']
  let last = 0
  for (let round = 0; round < 8; round++) {
    const acked = await postMany(writer, 15, texts[round % texts.length])
    last = acked.at(-1)!.id
    batched[0]!.send({ type: 'ping' })
    await batched[0]!.next('pong')
    await Bun.sleep(round % 3)
  }
  await Promise.all([...batched, plain].map((s) => lastMessage(s, last)))
  const messageFrames = (socket: TestSocket) => socket.frames.filter((f) => f.type === 'message')
  for (const socket of batched) expect(messageFrames(socket)).toEqual(messageFrames(plain))
  expect(messageFrames(plain).map((f) => f.data.text)).toContain('café 😀 中文 1')
  // Both kinds of batch were sent: several frames in one WebSocket message, all ASCII or not.
  const joined = batched[1]!.messages.filter((m) => m.includes('\n'))
  expect(joined.some((m) => /^[\x00-\x7f]*$/.test(m))).toBe(true)
  expect(joined.some((m) => m.includes('😀'))).toBe(true)
  // Each pong came after every message acknowledged before its ping.
  const kinds = batched[0]!.frames.map((f) => (f.type === 'pong' ? 'pong' : f.type === 'message' ? 'm' : f.type))
  expect(kinds.filter((k) => k === 'pong').length).toBe(8)
  const pongAt = kinds.flatMap((k, i) => (k === 'pong' ? [i] : []))
  pongAt.forEach((at, round) => expect(kinds.slice(0, at).filter((k) => k === 'm').length).toBeGreaterThanOrEqual(15 * (round + 1)))
  for (const s of [writer, ...batched, plain]) s.close()
})

test('a message after a quiet spell goes at once; what follows within the delay waits for it, not much longer', async () => {
  await using server = await startTestServer()
  const alice = await register(server.url, 'alice')
  const writer = await connect(server, '', alice.token)
  const batched = await connect(server, `?batch=${BATCH.MAX_MS}`)
  const plain = await connect(server)
  const batchedAt = arrivals(batched)
  const plainAt = arrivals(plain)
  const lag = (id: number) => batchedAt.get(id)! - plainAt.get(id)!
  const lone: number[] = []
  const held: number[] = []
  for (let i = 0; i < 3; i++) {
    await Bun.sleep(BATCH.MAX_MS + 20)
    const first = await post(writer, `lone ${i}`)
    await lastMessage(batched, first.id)
    // Posted as soon as the first was delivered: within the delay after that WebSocket message went out.
    const next = await post(writer, `next ${i}`)
    await lastMessage(batched, next.id)
    await lastMessage(plain, next.id)
    lone.push(lag(first.id))
    held.push(lag(next.id))
  }
  // Held for the whole delay, a lone message would lag its plain copy by 50 ms every time.
  expect(Math.min(...lone)).toBeLessThan(BATCH.MAX_MS / 2)
  expect(Math.max(...held)).toBeGreaterThan(BATCH.MAX_MS / 4)
  for (const l of [...lone, ...held]) expect(l).toBeLessThan(BATCH.MAX_MS + 80)
  expect(batched.messages.length).toBe(batched.frames.length)
})

test('in a busy room a batch goes every `ms`, timed from the batch before it rather than from the first frame after it', async () => {
  await using server = await startTestServer({ config: FAST })
  const alice = await register(server.url, 'alice')
  const writer = await connect(server, '', alice.token)
  const batched = await connect(server, `?batch=${BATCH.MAX_MS}`)
  const sentAt: number[] = []
  batched.ws.addEventListener('message', () => sentAt.push(performance.now()))

  // A message every ~42 ms: each batch's next frame comes 0–42 ms after it went. Timed from that
  // frame, batches would go 50–92 ms apart (median ~71); timed from the batch before, 50.
  let last = 0
  for (let i = 0; i < 40; i++) {
    last = (await post(writer, `tick ${i}`)).id
    await Bun.sleep(40)
  }
  await lastMessage(batched, last)
  const gaps = sentAt.slice(2).map((at, i) => at - sentAt[i + 1]!)
  gaps.sort((a, b) => a - b)
  expect(gaps[Math.floor(gaps.length / 2)]!).toBeLessThan(BATCH.MAX_MS + 10)
  // Still one WebSocket message per delay, not one per frame.
  expect(batched.messages.length).toBeLessThan(batched.frames.length)
  for (const s of [writer, batched]) s.close()
})

test('frames sent to a batched socket alone (pong, error, typing) come after the room frames made before them', async () => {
  await using server = await startTestServer({ config: FAST })
  const [alice, bob] = await Promise.all([register(server.url, 'alice'), register(server.url, 'bob')])
  const writer = await connect(server, '', alice.token)
  const batched = await connect(server, `?batch=${BATCH.MAX_MS}`, bob.token)
  await writer.next('join')
  const kinds = (from: number) => batched.frames.slice(from).map((f) => f.type)

  // Each time: a room frame is held (its batch sent one less than 50 ms before) when bob's own frame is made; it must not overtake.
  const cases: [string, () => void, Frame['type']][] = [
    ['pong', () => batched.send({ type: 'ping' }), 'pong'],
    ['error', () => batched.send({ type: 'message', text: '' }), 'error'],
    ['typing', () => writer.send({ type: 'typing' }), 'typing'],
  ]
  for (const [what, act, answer] of cases) {
    const opened = await post(writer, `opens the window before the ${what}`)
    await lastMessage(batched, opened.id)
    const from = batched.frames.length
    await post(writer, `before the ${what}`)
    act()
    await frameWhere(batched, (f) => f.type === answer && batched.frames.indexOf(f) >= from, WAIT_MS, what)
    expect(kinds(from)).toEqual(['message', answer])
  }
})

test('sockets entering mid-burst, batched or not, with or without ?since=, get every message once, in order, between welcome and live', async () => {
  await using server = await startTestServer({ config: { ...FAST, resumeMax: 10_000 } })
  const alice = await register(server.url, 'alice')
  const writer = await connect(server, '', alice.token)
  const before = await postMany(writer, 10, 'before')
  const cursor = before.at(-1)!.id
  // Its batch holds frames when the others below join it.
  const early = await connect(server, '?batch=10')

  // The writer keeps 20 messages in flight until every socket below has its welcome.
  let stop = false
  let sent = 0
  const acked: number[] = []
  const pump = (async () => {
    const send = () => writer.send({ type: 'message', text: `burst ${sent}`, nonce: `p${sent++}` })
    for (let i = 0; i < 20; i++) send()
    while (acked.length < sent) {
      const frame = await writer.next()
      if (frame.type !== 'message' || !String(frame.data.nonce).startsWith('p')) continue
      acked.push(frame.data.id)
      if (!stop && sent < 5000) send()
    }
  })()
  await until(() => acked.length >= 20, WAIT_MS, 'the burst under way')
  const queries = [`?since=${cursor}&batch=10`, `?batch=1&since=${cursor}`, `?since=${cursor}`, '?batch=10', '?batch=5', '']
  const joining = await Promise.all(queries.map((q) => connect(server, q)))
  stop = true
  await pump
  const all = [...before.map((m) => m.id), ...acked]
  const seen = (socket: TestSocket) => [...socket.frames[0]!.data.history.map((m: { id: number }) => m.id), ...messageIds(socket)]
  for (const [i, socket] of joining.entries()) {
    await until(() => seen(socket).at(-1) === all.at(-1), WAIT_MS, `the last message on ${queries[i]}`)
    const ids = seen(socket)
    // With ?since=: everything after the cursor; without: the newest history, then every later one.
    if (queries[i]!.includes('since')) expect(ids[0]).toBe(cursor + 1)
    expect({ query: queries[i], ids }).toEqual({ query: queries[i], ids: all.slice(all.indexOf(ids[0]!)) })
    // The burst went on after the welcome: some of it came live.
    expect(messageIds(socket).length).toBeGreaterThan(0)
  }
  expect(messageIds(early)).toEqual(acked)
})

test('join and leave go through the batch too', async () => {
  await using server = await startTestServer()
  const [alice, bob] = await Promise.all([register(server.url, 'alice'), register(server.url, 'bob')])
  const batched = await connect(server, '?batch=5', alice.token)
  const plain = await connect(server)
  const other = await connect(server, '', bob.token)
  await frameWhere(batched, (f) => f.type === 'join', WAIT_MS, 'join')
  other.close()
  await frameWhere(batched, (f) => f.type === 'leave', WAIT_MS, 'leave')
  await frameWhere(plain, (f) => f.type === 'leave', WAIT_MS, 'leave')
  expect(batched.frames.slice(1)).toEqual(plain.frames.slice(1))
})

test('a batched socket the server closes leaves its batch: the others keep every frame, and a batch emptied and made again works', async () => {
  await using server = await startTestServer({ config: FAST })
  const admin = await register(server.url, 'admin')
  const [bob, carol, dave] = await Promise.all([register(server.url, 'bob'), register(server.url, 'carol'), register(server.url, 'dave')])
  const writer = await connect(server, '', admin.token)
  const banned = await connect(server, '?batch=20', bob.token)
  const stays = await connect(server, '?batch=20', carol.token)
  const plain = await connect(server)

  const ban = await call(server.url, 'PUT', `/api/v1/admin/users/${bob.user.id}/ban`, admin.token, { reason: 'spam' })
  expect(ban.status).toBe(204)
  expect((await closedWithin2s(banned)).code).toBe(CLOSE.BANNED.code)
  const after = await postMany(writer, 20)
  await Promise.all([stays, plain].map((s) => lastMessage(s, after.at(-1)!.id)))
  expect(messageIds(stays)).toEqual(messageIds(plain))
  expect(messageIds(banned).some((id) => id >= after[0]!.id)).toBe(false)

  // The batch's last socket leaves; a new one makes the room's batch again.
  stays.close()
  await stays.closed
  const again = await connect(server, '?batch=20', dave.token)
  const later = await postMany(writer, 5)
  await lastMessage(again, later.at(-1)!.id)
  expect(messageIds(again)).toEqual(later.map((m) => m.id))
  for (const s of [writer, plain, again]) s.close()
})

test('shutdown sends what a batch holds before closing with 1001', async () => {
  const server = await startTestServer()
  const alice = await register(server.url, 'alice')
  const writer = await connect(server, '', alice.token)
  const batched = await connect(server, `?batch=${BATCH.MAX_MS}`)
  const { id } = await post(writer, 'last words')
  await server.stop()
  expect(await withTimeout(batched.closed, WAIT_MS, 'the close')).toEqual(CLOSE.SHUTDOWN)
  expect(messageIds(batched)).toEqual([id])
})

test('chat_messages_delivered_total counts every batched subscriber of every message', async () => {
  await using server = await startTestServer({ config: FAST })
  const alice = await register(server.url, 'alice')
  const writer = await connect(server, '', alice.token)
  const readers = await Promise.all(['', '?batch=10', '?batch=10', '?batch=3'].map((q) => connect(server, q)))
  const acked = await postMany(writer, 20)
  await Promise.all(readers.map((s) => lastMessage(s, acked.at(-1)!.id)))
  await until(
    async () => {
      const text = await (await fetch(`${server.url}/metrics`)).text()
      return /^chat_messages_delivered_total 100$/m.test(text)
    },
    WAIT_MS,
    '100 deliveries (20 messages × 5 sockets) counted',
  )
})
