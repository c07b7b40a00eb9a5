/**
 * Spec §7 in a cluster (issue 14 item 6): two instances (child processes) on one PostgreSQL and one
 * Redis. Messages, replies and `reaction` events made on A and on B at once reach every socket on both
 * instances as the same sequence, in id order, each once; replies carry their quote and history on
 * either instance shows the reactions (counts, `me` per reader) and the quotes. An original edited or
 * deleted on the other instance is quoted as it is now by a new socket on either instance. A PNG
 * uploaded on A is served by B with the same bytes and headers; its uploader may post it from B, no
 * one else may; deleting that message on B makes the download 404 on A. Search on B finds what was
 * said on A, and keeps private rooms private there too.
 */
import { expect } from 'bun:test'
import type { Message } from '../../src/protocol.ts'
import { CONVERSATION_PATHS } from '../../src/protocol-conversation.ts'
import { expectError } from '../support/accounts.ts'
import { startChildServer, type ChildServer } from '../support/child-server.ts'
import { answerToMessage, byId, MANY_EMOJI, restHistory, WAIT_MS, welcomeOf } from '../support/conversation.ts'
import { register, request, type Account } from '../support/http.ts'
import { makePng } from '../support/images.ts'
import { addMember, connectRoom, createRoom, frameOf, sync, type AnyFrame } from '../support/private-rooms.ts'
import { errorFrame, post, sansNonce } from '../support/rooms.ts'
import { requireServices } from '../support/require-services.ts'
import type { TestServer } from '../support/server.ts'
import { startPostgres, startRedis, type Service } from '../support/services.ts'
import type { TestSocket } from '../support/socket.ts'
import { until } from '../support/wait.ts'

// Skipped, with one line per missing service, where PostgreSQL or redis-server is not installed.
const { test, beforeAll, afterAll } = requireServices('postgresql', 'redis-server')

const CLUSTER_ENV = { INSTANCE_TTL: '3', MESSAGE_RATE: '1000', MESSAGE_BURST: '1000' }

let pg: Service
let redis: Service
let a: ChildServer
let b: ChildServer
/** The same instances as the §6/§7 helpers take them (they only read `url` and `wsUrl`). */
let A: TestServer
let B: TestServer

beforeAll(async () => {
  ;[pg, redis] = await Promise.all([startPostgres(), startRedis()])
  const env = { REDIS_URL: redis.url, ...CLUSTER_ENV }
  ;[a, b] = await Promise.all([startChildServer({ database: pg.url, env }), startChildServer({ database: pg.url, env })])
  A = a as unknown as TestServer
  B = b as unknown as TestServer
  // The cluster's first account is its admin (spec §5); the tests' users are ordinary ones.
  await register(a.url, 'root')
}, 60_000)

afterAll(async () => {
  await Promise.all([a, b].map((s) => s?.stop(2000).catch(() => {})))
  await Promise.all([pg?.[Symbol.asyncDispose](), redis?.[Symbol.asyncDispose]()])
})

/** Signs up `names` (suffixed with the test's tag, so every test has its own users), alternating A and B. */
async function people<const N extends string[]>(tag: string, ...names: N): Promise<{ [K in keyof N]: Account }> {
  const accounts: Account[] = []
  for (const [i, name] of names.entries()) accounts.push(await register((i % 2 ? b : a).url, `${name}-${tag}`))
  return accounts as { [K in keyof N]: Account }
}

/** The room's ordered stream as one socket received it after `afterId`: message and reaction frames only. */
const streamAfter = (socket: TestSocket, afterId: number): AnyFrame[] =>
  (socket.frames as AnyFrame[]).filter((f) => (f.type === 'message' || f.type === 'reaction') && f.data.id > afterId)

/** A stream frame as every socket must see it: others' copies may or may not carry the sender's nonce. */
const comparable = (f: AnyFrame) => ({ type: f.type, data: f.type === 'message' ? sansNonce(f.data) : f.data })

function upload(server: TestServer, account: Account | undefined, room: string, body: Uint8Array<ArrayBuffer>, filename: string) {
  const auth: Record<string, string> = account === undefined ? {} : { Authorization: `Bearer ${account.token}` }
  return request(`${server.url}${CONVERSATION_PATHS.upload(room)}?filename=${encodeURIComponent(filename)}`, {
    method: 'POST',
    headers: auth,
    body,
  })
}

async function download(server: TestServer, url: string, account?: Account) {
  const res = await fetch(`${server.url}${url}`, { headers: account === undefined ? {} : { Authorization: `Bearer ${account.token}` } })
  return { res, bytes: new Uint8Array(await res.arrayBuffer()) }
}

const search = (server: TestServer, query: string, account?: Account) =>
  request(`${server.url}${CONVERSATION_PATHS.search}?${query}`, account === undefined ? {} : { headers: { Authorization: `Bearer ${account.token}` } })

test('messages, replies and reactions made on A and B at once reach every socket on both instances as one sequence, in id order, each once; history on both shows reactions and quotes', async () => {
  const [alice, bob] = await people('order', 'alice', 'bob')
  const room = 'conv-order'
  const aliceOnA = await connectRoom(A, room, alice)
  const bobOnB = await connectRoom(B, room, bob)
  const bobOnA = await connectRoom(A, room, bob)
  const anonymousOnA = await connectRoom(A, room)
  const anonymousOnB = await connectRoom(B, room)
  const sockets = [aliceOnA, bobOnB, bobOnA, anonymousOnA, anonymousOnB]

  const seedA = await post(aliceOnA, 'seed from A')
  const seedB = await post(bobOnB, 'seed from B')
  for (const s of sockets) await frameOf(s, 'message', (d) => d.id === seedB.id)
  const start = seedB.id

  // Both writers at once, as fast as they can: replies to the other's seed, plain messages, reactions.
  const N = 8
  for (let i = 0; i < N; i++) {
    aliceOnA.send({ type: 'message', text: `a${i}`, nonce: `order-a${i}`, replyTo: seedB.id })
    bobOnB.send({ type: 'message', text: `b${i}`, nonce: `order-b${i}`, ...(i % 2 ? {} : { replyTo: seedA.id }) })
    bobOnB.send({ type: 'react', id: seedA.id, emoji: MANY_EMOJI[i], on: true })
    if (i < 4) aliceOnA.send({ type: 'react', id: seedA.id, emoji: MANY_EMOJI[i], on: true })
  }
  aliceOnA.send({ type: 'react', id: seedB.id, emoji: '👍', on: true })
  bobOnB.send({ type: 'react', id: seedB.id, emoji: '👍', on: true })
  const expected = 2 * N /* messages */ + N + 4 + 2 /* reactions */

  for (const s of sockets) {
    await until(() => streamAfter(s, start).length >= expected, 10_000, `every frame of the burst on each socket`)
    // Nothing more arrives: each was delivered once, and nothing was refused.
    await sync(s)
    expect(s.frames.filter((f) => f.type === 'error')).toEqual([])
  }
  const reference = streamAfter(aliceOnA, start)
  expect(reference).toHaveLength(expected)
  const ids = reference.map((f) => f.data.id)
  expect(ids).toEqual([...ids].sort((x, y) => x - y))
  expect(new Set(ids).size).toBe(expected)
  for (const s of sockets) expect(streamAfter(s, start).map(comparable)).toEqual(reference.map(comparable))

  // Each writer's messages came in the order they were sent; replies carry their quote.
  const messages = reference.filter((f) => f.type === 'message').map((f) => f.data)
  expect(messages.filter((m) => m.user.id === alice.user.id).map((m) => m.text)).toEqual([...Array(N).keys()].map((i) => `a${i}`))
  expect(messages.filter((m) => m.user.id === bob.user.id).map((m) => m.text)).toEqual([...Array(N).keys()].map((i) => `b${i}`))
  const quoteOfA = { id: seedA.id, user: alice.user, text: 'seed from A' }
  const quoteOfB = { id: seedB.id, user: bob.user, text: 'seed from B' }
  for (const m of messages) {
    if (m.user.id === alice.user.id) expect(m.replyTo).toEqual(quoteOfB)
    else if (Number(m.text.slice(1)) % 2 === 0) expect(m.replyTo).toEqual(quoteOfA)
    else expect('replyTo' in m).toBe(false)
  }
  const reactions = reference.filter((f) => f.type === 'reaction').map((f) => f.data)
  for (const r of reactions) expect(r).toEqual({ id: expect.any(Number), messageId: r.messageId, emoji: r.emoji, user: r.user, on: true })

  // History on both instances: counts in the order the emoji were first put, `me` per reader.
  const firstPut = (messageId: number) => [...new Set(reactions.filter((r) => r.messageId === messageId).map((r) => r.emoji as string))]
  const expectedReactions = (messageId: number, reader?: Account) =>
    firstPut(messageId).map((emoji) => {
      const by = reactions.filter((r) => r.messageId === messageId && r.emoji === emoji).map((r) => r.user.id)
      return { emoji, count: by.length, me: reader !== undefined && by.includes(reader.user.id) }
    })
  expect(firstPut(seedA.id).sort()).toEqual(MANY_EMOJI.slice(0, N).sort())
  expect(expectedReactions(seedA.id, alice).filter((r) => r.me)).toHaveLength(4)
  for (const server of [A, B]) {
    for (const reader of [alice, bob, undefined]) {
      const who = `${reader?.user.username ?? 'anonymous'} on ${server === A ? 'A' : 'B'}`
      const fromRest = await restHistory(server, room, reader)
      const fromWelcome = (await welcomeOf(server, room, reader)).history as Message[]
      for (const history of [fromRest, fromWelcome]) {
        expect({ who, reactions: byId(history, seedA.id)?.reactions }).toEqual({ who, reactions: expectedReactions(seedA.id, reader) })
        expect({ who, reactions: byId(history, seedB.id)?.reactions }).toEqual({
          who,
          reactions: [{ emoji: '👍', count: 2, me: reader !== undefined }],
        })
        for (const m of messages) {
          const stored = byId(history, m.id)
          expect({ who, message: stored }).toEqual({ who, message: expect.objectContaining(sansNonce(m)) })
          expect('reactions' in stored!).toBe(false)
        }
      }
    }
  }
  for (const s of sockets) s.close()
})

test('an original edited, then deleted, on the other instance: a new socket on either instance shows the new quote', async () => {
  const [alice, bob] = await people('quote', 'alice', 'bob')
  const room = 'conv-quote'
  const aliceOnA = await connectRoom(A, room, alice)
  const bobOnA = await connectRoom(A, room, bob)
  const aliceOnB = await connectRoom(B, room, alice)
  const original = await post(aliceOnA, 'meet at noon?')
  const answer = await answerToMessage(bobOnA, { text: 'yes', replyTo: original.id })
  expect(answer.type).toBe('message')
  const r = answer.data as Message & { replyTo: unknown }
  expect(r.replyTo).toEqual({ id: original.id, user: alice.user, text: 'meet at noon?' })
  // Both instances have shown the old quote before the edit (anything they cache is warm).
  for (const server of [A, B]) expect(byId((await welcomeOf(server, room, bob)).history, r.id)?.replyTo?.text).toBe('meet at noon?')

  aliceOnB.send({ type: 'edit', id: original.id, text: 'meet at one?' })
  const edited = await frameOf(aliceOnB, 'edited', (d) => d.messageId === original.id)
  expect(edited.error).toBeNull()
  await frameOf(bobOnA, 'edited', (d) => d.messageId === original.id)
  const newQuote = { id: original.id, user: alice.user, text: 'meet at one?' }
  for (const server of [A, B]) {
    const where = server === A ? 'A' : 'B'
    for (const reader of [alice, bob, undefined]) {
      expect({ where, quote: byId((await welcomeOf(server, room, reader)).history, r.id)?.replyTo }).toEqual({ where, quote: newQuote })
      expect({ where, quote: byId(await restHistory(server, room, reader), r.id)?.replyTo }).toEqual({ where, quote: newQuote })
    }
  }

  aliceOnB.send({ type: 'delete', id: original.id })
  await frameOf(aliceOnB, 'deleted', (d) => d.messageId === original.id)
  await frameOf(bobOnA, 'deleted', (d) => d.messageId === original.id)
  const goneQuote = { id: original.id, user: alice.user, text: null }
  for (const server of [A, B]) {
    const where = server === A ? 'A' : 'B'
    expect({ where, quote: byId((await welcomeOf(server, room, bob)).history, r.id)?.replyTo }).toEqual({ where, quote: goneQuote })
    expect({ where, quote: byId(await restHistory(server, room), r.id)?.replyTo }).toEqual({ where, quote: goneQuote })
  }
  for (const s of [aliceOnA, bobOnA, aliceOnB]) s.close()
})

test('a PNG uploaded on A is served by B with the same bytes and headers; its uploader may post it from B, another user may not; deleting the message on B makes it 404 on A', async () => {
  const [alice, bob] = await people('files', 'alice', 'bob')
  const room = 'conv-files'
  const png = makePng(5, 4)
  const uploaded = await upload(A, alice, room, png, 'x.png')
  expect(uploaded.status).toBe(201)
  const meta = uploaded.body.data
  expect(meta).toEqual({
    id: expect.any(String),
    name: 'x.png',
    type: 'image/png',
    size: png.byteLength,
    url: `/api/v1/attachments/${meta.id}`,
    width: 5,
    height: 4,
  })

  const fromA = await download(A, meta.url)
  const fromB = await download(B, meta.url)
  for (const { res, bytes } of [fromA, fromB]) {
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toBe('image/png')
    expect(res.headers.get('x-content-type-options')).toBe('nosniff')
    expect(res.headers.get('content-disposition')).toBe(`inline; filename*=UTF-8''x.png`)
    expect(res.headers.get('content-length')).toBe(String(png.byteLength))
    expect(bytes).toEqual(png)
  }
  const headersOf = (res: Response) => Object.fromEntries([...res.headers].filter(([k]) => k !== 'date'))
  expect(headersOf(fromB.res)).toEqual(headersOf(fromA.res))

  const aliceOnB = await connectRoom(B, room, alice)
  const bobOnB = await connectRoom(B, room, bob)
  const aliceOnA = await connectRoom(A, room, alice)
  // Not bob's upload: refused, nothing stored.
  expect(await answerToMessage(bobOnB, { text: 'mine now', attachments: [meta.id] })).toEqual(errorFrame('MESSAGE_INVALID'))
  // The uploader posts it from the other instance.
  const sent = await answerToMessage(aliceOnB, { text: 'a picture', attachments: [meta.id] })
  expect(sent.type).toBe('message')
  expect(sent.data.attachments).toEqual([meta])
  const onA = await frameOf(aliceOnA, 'message', (d) => d.id === sent.data.id)
  expect(onA.data.attachments).toEqual([meta])
  // Used now, by anyone, from either instance: refused.
  expect(await answerToMessage(bobOnB, { text: 'again', attachments: [meta.id] })).toEqual(errorFrame('MESSAGE_INVALID'))
  expect(await answerToMessage(aliceOnA, { text: 'twice', attachments: [meta.id] })).toEqual(errorFrame('MESSAGE_INVALID'))
  for (const server of [A, B]) {
    const history = await restHistory(server, room)
    expect(history.map((m) => m.id)).toEqual([sent.data.id])
    expect(byId(history, sent.data.id)).toMatchObject({ text: 'a picture', attachments: [meta] })
  }

  // Deleting the message on B removes the attachment everywhere.
  aliceOnB.send({ type: 'delete', id: sent.data.id })
  await frameOf(aliceOnB, 'deleted', (d) => d.messageId === sent.data.id)
  await frameOf(aliceOnA, 'deleted', (d) => d.messageId === sent.data.id)
  for (const server of [A, B]) {
    await until(async () => (await download(server, meta.url)).res.status === 404, WAIT_MS, `the attachment to be gone on ${server === A ? 'A' : 'B'}`)
    // The same answer as for an id that never existed.
    const gone = await request(`${server.url}${meta.url}`)
    expectError(gone, 404, 'NOT_FOUND')
    const unknown = await request(`${server.url}${CONVERSATION_PATHS.attachment('AAAAAAAAAAAAAAAAAAAAAA')}`)
    expect(gone.body).toEqual(unknown.body)
  }
  for (const s of [aliceOnB, bobOnB, aliceOnA]) s.close()
})

test('search on B finds what was said on A (public rooms for everyone, a private room for its members only)', async () => {
  const [alice, bob, carol] = await people('search', 'alice', 'bob', 'carol')
  const aliceOnA = await connectRoom(A, 'conv-search', alice)
  const said = await post(aliceOnA, 'the quokkazebra crossed the river')
  const privateRoom = 'conv-search-private'
  await createRoom(A, alice, privateRoom)
  await addMember(A, alice, privateRoom, bob.user.username)
  const aliceInPrivate = await connectRoom(A, privateRoom, alice)
  const secret = await post(aliceInPrivate, 'a quokkazebra in secret')

  // Each hit is the message as history shows it (the sender's nonce included), plus its excerpt.
  const publicHit = { ...said, excerpt: { text: 'the quokkazebra crossed the river', highlights: [[4, 15]] } }
  const privateHit = { ...secret, excerpt: { text: 'a quokkazebra in secret', highlights: [[2, 13]] } }
  for (const server of [B, A]) {
    const where = server === A ? 'A' : 'B'
    for (const reader of [undefined, carol]) {
      const res = await search(server, 'q=quokkazebra', reader)
      expect({ where, status: res.status, body: res.body }).toEqual({
        where,
        status: 200,
        body: { error: null, data: { messages: [publicHit], hasMore: false } },
      })
    }
    const member = await search(server, 'q=QuokkaZebra', bob)
    expect({ where, status: member.status, body: member.body }).toEqual({
      where,
      status: 200,
      body: { error: null, data: { messages: [privateHit, publicHit], hasMore: false } },
    })
    const oneRoom = await search(server, `q=quokkazebra&room=${privateRoom}`, carol)
    expect({ where, body: oneRoom.body }).toEqual({ where, body: { error: null, data: { messages: [], hasMore: false } } })
  }

  // An edit on A: B searches the new text only.
  aliceOnA.send({ type: 'edit', id: said.id, text: 'the wombatfox crossed the river' })
  await frameOf(aliceOnA, 'edited', (d) => d.messageId === said.id)
  expect((await search(B, 'q=quokkazebra')).body.data.messages).toEqual([])
  expect((await search(B, 'q=wombatfox')).body.data.messages.map((m: Message) => m.id)).toEqual([said.id])
  for (const s of [aliceOnA, aliceInPrivate]) s.close()
})

test("one sender's messages are stored and delivered in the order sent, those that mention someone (a look-up first) included", async () => {
  const [alice, bob] = await people('sent', 'alice', 'bob')
  const room = 'order-room'
  const sender = await connectRoom(A, room, alice)
  const watcher = await connectRoom(B, room, bob)
  // Back to back, as a reconnecting client sends what it queued: mentions of a member, of no one, and plain text.
  const texts = ['first @bob-sent', 'second', 'third a@b', 'fourth', 'fifth @nobody', 'sixth']
  for (const [i, text] of texts.entries()) sender.send({ type: 'message', text, nonce: `n${i}` })
  for (const socket of [sender, watcher]) {
    await until(() => socket.frames.filter((f) => f.type === 'message').length >= texts.length, WAIT_MS, 'every message')
    const got = socket.frames.filter((f) => f.type === 'message').map((f) => f.data as Message)
    expect(got.map((m) => m.text)).toEqual(texts)
    expect(got.map((m) => m.id)).toEqual([...got.map((m) => m.id)].sort((x, y) => x - y))
  }
  expect((await restHistory(B, room, bob)).map((m) => m.text)).toEqual(texts)
  sender.close()
  watcher.close()
})
