/**
 * Several instances on one PostgreSQL and one Redis (spec §4): each instance is a real child
 * process (`bun src/main.ts`), the services are throwaway servers this file starts (and, for the
 * fault tests, stops and restarts). Every test uses its own rooms and users, so they share the cluster.
 */
import { expect } from 'bun:test'
import { register, request } from '../support/http.ts'
import { startChildServer, type ChildServer } from '../support/child-server.ts'
import { requireServices } from '../support/require-services.ts'
import { startPostgres, startRedis, type Service } from '../support/services.ts'
import { openSocket, type TestSocket } from '../support/socket.ts'
import { until } from '../support/wait.ts'

// Skipped, with one line per missing service, where PostgreSQL or redis-server is not installed.
const { test, beforeAll, afterAll } = requireServices('postgresql', 'redis-server')

let pg: Service
let redis: Service
const instances: ChildServer[] = []

const CLUSTER_ENV = { INSTANCE_TTL: '3', MESSAGE_RATE: '1000', MESSAGE_BURST: '1000' }

function startInstance(env: Record<string, string> = {}): Promise<ChildServer> {
  return startChildServer({ database: pg.url, env: { REDIS_URL: redis.url, ...CLUSTER_ENV, ...env } }).then((s) => {
    instances.push(s)
    return s
  })
}

let a: ChildServer, b: ChildServer, c: ChildServer

beforeAll(async () => {
  ;[pg, redis] = await Promise.all([startPostgres(), startRedis()])
  // Started together on purpose: the migration advisory lock must let exactly one migrate.
  ;[a, b, c] = await Promise.all([startInstance(), startInstance(), startInstance()])
}, 60_000)

afterAll(async () => {
  await Promise.all(instances.map((s) => s.stop(2000).catch(() => {})))
  await Promise.all([pg?.[Symbol.asyncDispose](), redis?.[Symbol.asyncDispose]()])
})

const roomUrl = (s: ChildServer, room: string, since?: number) => `${s.wsUrl}/api/v1/rooms/${room}/messages/ws${since === undefined ? '' : `?since=${since}`}`

async function join(s: ChildServer, room: string, token?: string, since?: number): Promise<TestSocket> {
  const socket = await openSocket(roomUrl(s, room, since), token ? [token] : undefined)
  await socket.next('welcome')
  return socket
}

/** How long state shared through Redis and PostgreSQL gets to converge across instances. */
const CONVERGE_MS = 10_000

test('a user created on one instance logs in on another, and its token works on a third', async () => {
  const created = await request(`${a.url}/api/v1/users`, { json: { username: 'carol', secret: 'pw-carol' } })
  expect(created.status).toBe(201)
  const login = await request(`${b.url}/api/v1/login`, { json: { username: 'carol', secret: 'pw-carol' } })
  expect(login.status).toBe(200)
  const me = await request(`${c.url}/api/v1/users/me`, { headers: { Authorization: `Bearer ${login.body.data.token}` } })
  // The cluster's first account: its admin (spec §5).
  expect(me.body).toEqual({ error: null, data: { ...created.body.data, role: 'admin' } })
  const dup = await request(`${c.url}/api/v1/users`, { json: { username: 'CAROL', secret: 'x' } })
  expect(dup.status).toBe(409)
})

test('a message posted on A reaches readers on B and C exactly once, in id order', async () => {
  const alice = await register(a.url, 'alice-fanout')
  const bob = await register(b.url, 'bob-fanout')
  const onA = await join(a, 'fanout', alice.token)
  const onB = await join(b, 'fanout', bob.token)
  const readerB = await join(b, 'fanout')
  const readerC = await join(c, 'fanout')
  // Two writers on two instances, interleaved, as fast as they can.
  for (let i = 0; i < 20; i++) {
    onA.send({ type: 'message', text: `a${i}` })
    onB.send({ type: 'message', text: `b${i}` })
  }
  for (const reader of [readerB, readerC, onA, onB]) {
    const texts: string[] = []
    const ids: number[] = []
    while (texts.length < 40) {
      const m = (await reader.next('message')).data
      texts.push(m.text)
      ids.push(m.id)
    }
    expect(new Set(texts).size).toBe(40)
    expect(ids).toEqual([...ids].sort((x, y) => x - y))
  }
  // Nothing more arrives: each was delivered once.
  readerC.send({ type: 'ping' })
  await readerC.next('pong')
  expect(readerC.frames.filter((f) => f.type === 'message')).toHaveLength(40)
  for (const s of [onA, onB, readerB, readerC]) s.close()
})

test('history is the same from every instance', async () => {
  const alice = await register(a.url, 'alice-history')
  const socket = await join(b, 'history', alice.token)
  for (let i = 0; i < 5; i++) socket.send({ type: 'message', text: `h${i}` })
  for (let i = 0; i < 5; i++) await socket.next('message')
  const pages = await Promise.all([a, b, c].map((s) => request(`${s.url}/api/v1/rooms/history/messages`)))
  expect(pages[0]!.body.data.messages).toHaveLength(5)
  expect(pages[1]!.body).toEqual(pages[0]!.body)
  expect(pages[2]!.body).toEqual(pages[0]!.body)
  socket.close()
})

test('presence spans instances: members, join/leave, two tabs on two instances are one presence, room counts', async () => {
  const alice = await register(a.url, 'alice-presence')
  const bob = await register(b.url, 'bob-presence')
  const aliceOnA = await join(a, 'presence', alice.token)
  const bobOnB = await openSocket(roomUrl(b, 'presence'), [bob.token])
  const welcome = await bobOnB.next('welcome')
  expect(welcome.data.members.map((u: { username: string }) => u.username).sort()).toEqual(['alice-presence', 'bob-presence'])
  expect((await aliceOnA.next('join')).data).toEqual({ user: bob.user })

  // Bob's second tab on C: no second join anywhere.
  const bobOnC = await join(c, 'presence', bob.token)
  await until(
    async () => {
      const rooms = await request(`${c.url}/api/v1/rooms`)
      expect(rooms.body.data.rooms.find((r: { name: string }) => r.name === 'presence')).toEqual({ name: 'presence', members: 2, lastMessageId: null })
      return true
    },
    CONVERGE_MS,
    'C to count both members of presence',
  )
  bobOnB.close()
  await bobOnB.closed
  // Bob is still on C, so Alice sees no leave. Carol joining on B after the close proves it: B shares
  // presence through Redis in order, so any leave it sent for Bob would reach Alice before Carol's join.
  const carol = await register(b.url, 'carol-presence')
  const carolOnB = await join(b, 'presence', carol.token)
  expect((await aliceOnA.next('join')).data).toEqual({ user: carol.user })
  expect(aliceOnA.frames.filter((f) => f.type === 'leave')).toHaveLength(0)
  bobOnC.close()
  expect((await aliceOnA.next('leave')).data).toEqual({ user: bob.user })
  carolOnB.close()
  aliceOnA.close()
})

test('the room list pages across instances: a cursor from one is good on the next, and presence anywhere counts', async () => {
  const alice = await register(a.url, 'alice-list')
  for (const room of ['list-1', 'list-2']) {
    const socket = await join(a, room, alice.token)
    socket.send({ type: 'message', text: 'hi' })
    await socket.next('message')
    socket.close()
    await socket.closed
  }
  const present = await join(b, 'list-quiet', alice.token)
  const lurker = await join(c, 'list-lurk')
  await until(
    async () => {
      const seen: { name: string; members: number; lastMessageId: number | null }[] = []
      let cursor: string | null = null
      for (let page = 0; page === 0 || cursor !== null; page++) {
        const s = [a, b, c][page % 3]!
        const res = await request(`${s.url}/api/v1/rooms?limit=2${cursor === null ? '' : `&cursor=${encodeURIComponent(cursor)}`}`)
        expect(res.status).toBe(200)
        expect(res.body.data.next === null || typeof res.body.data.next === 'string').toBe(true)
        seen.push(...res.body.data.rooms)
        cursor = res.body.data.next
      }
      const mine = seen.filter((r) => r.name.startsWith('list-'))
      expect(mine).toEqual([
        { name: 'list-2', members: 0, lastMessageId: expect.any(Number) },
        { name: 'list-1', members: 0, lastMessageId: expect.any(Number) },
        { name: 'list-quiet', members: 1, lastMessageId: null },
      ])
      return true
    },
    CONVERGE_MS,
    'every instance to page the list- rooms alike',
  )
  present.close()
  lurker.close()
})

test('the per-user message rate limit holds across instances', async () => {
  const d = await startInstance({ MESSAGE_RATE: '1', MESSAGE_BURST: '4' })
  const e = await startInstance({ MESSAGE_RATE: '1', MESSAGE_BURST: '4' })
  const dave = await register(d.url, 'dave-rate')
  const onD = await join(d, 'rate', dave.token)
  const onE = await join(e, 'rate', dave.token)
  for (let i = 0; i < 3; i++) onD.send({ type: 'message', text: `d${i}` })
  for (let i = 0; i < 3; i++) onE.send({ type: 'message', text: `e${i}` })
  // One bucket of 4 for dave across both instances: 2 of the 6 are refused, and the 4 let through reach both his sockets.
  await until(
    () => {
      const rejected = [...onD.frames, ...onE.frames].filter((f) => f.type === 'error')
      expect(rejected.map((f) => f.error?.type)).toEqual(['RATE_LIMITED', 'RATE_LIMITED'])
      for (const s of [onD, onE]) expect(s.frames.filter((f) => f.type === 'message')).toHaveLength(4)
      return true
    },
    CONVERGE_MS,
    'two of six messages refused cluster-wide',
  )
  onD.close()
  onE.close()
  await Promise.all([d.stop(), e.stop()])
})

test('failed logins are limited across instances', async () => {
  const d = await startInstance({ LOGIN_LIMIT_PER_USER: '3' })
  const e = await startInstance({ LOGIN_LIMIT_PER_USER: '3' })
  await register(d.url, 'erin-login')
  for (const s of [d, e, d]) expect((await request(`${s.url}/api/v1/login`, { json: { username: 'erin-login', secret: 'wrong' } })).status).toBe(401)
  const limited = await request(`${e.url}/api/v1/login`, { json: { username: 'erin-login', secret: 'wrong' } })
  expect(limited.status).toBe(429)
  expect(limited.body.error.type).toBe('RATE_LIMITED')
  expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0)
  await Promise.all([d.stop(), e.stop()])
})

test('an instance killed mid-conversation: its users stop counting, its clients resume elsewhere with nothing lost', async () => {
  const d = await startInstance()
  const alice = await register(a.url, 'alice-kill')
  const bob = await register(a.url, 'bob-kill')
  const aliceOnD = await join(d, 'kill', alice.token)
  const bobOnA = await join(a, 'kill', bob.token)
  await aliceOnD.next('join')
  aliceOnD.send({ type: 'message', text: 'before' })
  const acked = (await aliceOnD.next('message')).data
  d.proc.kill('SIGKILL')
  await aliceOnD.closed
  // Within INSTANCE_TTL (3 s) plus a heartbeat, the survivors drop Alice.
  expect((await bobOnA.next('leave')).data).toEqual({ user: alice.user })
  bobOnA.send({ type: 'message', text: 'while-away' })
  await bobOnA.next('message')
  const resumed = await openSocket(roomUrl(b, 'kill', acked.id), [alice.token])
  const welcome = await resumed.next('welcome')
  expect(welcome.data.history.map((m: { text: string }) => m.text)).toEqual(['while-away'])
  resumed.close()
  bobOnA.close()
})

test('Redis restarting: instances re-subscribe, missed messages are repaired, and frames flow again', async () => {
  const alice = await register(a.url, 'alice-redis')
  const onA = await join(a, 'redis-restart', alice.token)
  const readerB = await join(b, 'redis-restart')
  onA.send({ type: 'message', text: 'first' })
  expect((await readerB.next('message')).data.text).toBe('first')

  await redis.stop()
  onA.send({ type: 'message', text: 'during-outage' })
  expect((await onA.next('message')).data.text).toBe('first')
  expect((await onA.next('message')).data.text).toBe('during-outage')
  await redis.start()

  // B repairs the gap from the database once its subscription is back, then live frames flow again.
  expect((await readerB.next('message')).data.text).toBe('during-outage')
  // Then live frames flow again: A posts every 500 ms until one reaches B.
  let after = 0
  await until(
    () => {
      if (readerB.frames.some((f) => f.type === 'message' && f.data.text.startsWith('after-'))) return true
      onA.send({ type: 'message', text: `after-${++after}` })
      return false
    },
    20_000,
    'a live message on B after Redis came back',
    500,
  )
  const texts = readerB.frames.filter((f) => f.type === 'message').map((f) => f.data.text)
  expect(texts.filter((t) => t === 'during-outage')).toHaveLength(1)
  onA.close()
  readerB.close()
}, 40_000)

test('PostgreSQL briefly unavailable: 503 UNAVAILABLE, nothing half-written, recovery on its own', async () => {
  const alice = await register(a.url, 'alice-pg')
  const open = await join(c, 'pg-outage', alice.token)
  await pg.stop()
  // A message sent while the database is away is refused, not half-stored.
  open.send({ type: 'message', text: 'lost-in-outage', nonce: 'n-outage' })
  const refused = await open.next('error')
  expect(refused.error?.type).toBe('UNAVAILABLE')
  const health = await request(`${a.url}/healthz`)
  expect(health.status).toBe(503)
  expect(health.body).toEqual({ error: { type: 'UNAVAILABLE', message: expect.any(String) }, data: null })
  const login = await request(`${b.url}/api/v1/login`, { json: { username: 'alice-pg', secret: 'correct horse battery staple' } })
  expect(login.status).toBe(503)
  expect(login.body.error.type).toBe('UNAVAILABLE')
  await pg.start()
  await until(async () => (await request(`${a.url}/healthz`)).status === 200, 20_000, 'A to be healthy again')
  const again = await request(`${b.url}/api/v1/login`, { json: { username: 'alice-pg', secret: 'correct horse battery staple' } })
  expect(again.status).toBe(200)
  const socket = await join(c, 'pg-back', alice.token)
  socket.send({ type: 'message', text: 'back' })
  expect((await socket.next('message')).data.text).toBe('back')
  socket.close()
  const history = await request(`${a.url}/api/v1/rooms/pg-outage/messages`)
  expect(history.body.data.messages).toEqual([])
  open.close()
}, 40_000)
