/**
 * Edits and deletions across instances (spec §4, §5): two instances (real child processes) on one
 * PostgreSQL and one Redis. A change made on one instance is an event of the room's stream like a
 * message, so readers on every instance see messages, edits and deletions once each, in one id
 * order, whichever instance each came from; and a resume on another instance replays them.
 */
import { expect } from 'bun:test'
import type { Frame } from '../support/socket.ts'
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
let a: ChildServer, b: ChildServer

const CLUSTER_ENV = { INSTANCE_TTL: '3', MESSAGE_RATE: '1000', MESSAGE_BURST: '1000' }

beforeAll(async () => {
  ;[pg, redis] = await Promise.all([startPostgres(), startRedis()])
  const start = () => startChildServer({ database: pg.url, env: { REDIS_URL: redis.url, ...CLUSTER_ENV } })
  ;[a, b] = await Promise.all([start(), start()])
}, 60_000)

afterAll(async () => {
  await Promise.all([a, b].map((s) => s?.stop(2000).catch(() => {})))
  await Promise.all([pg?.[Symbol.asyncDispose](), redis?.[Symbol.asyncDispose]()])
})

async function join(s: ChildServer, room: string, token?: string, since?: number): Promise<TestSocket> {
  const url = `${s.wsUrl}/api/v1/rooms/${room}/messages/ws${since === undefined ? '' : `?since=${since}`}`
  const socket = await openSocket(url, token ? [token] : undefined)
  await socket.next('welcome')
  return socket
}

const isStream = (f: Frame) => f.type === 'message' || f.type === 'edited' || f.type === 'deleted'

test('edits and deletions made on A and B reach readers on both in one id order with the messages, once each', async () => {
  // The first account of the cluster becomes its admin (spec §5).
  const root = await register(a.url, 'root')
  const alice = await register(a.url, 'alice')
  const bob = await register(b.url, 'bob')
  const onA = await join(a, 'mixed', alice.token)
  const onB = await join(b, 'mixed', bob.token)
  const readers = [await join(a, 'mixed'), await join(b, 'mixed')]
  // Each writer's own messages, as its sender copies come back.
  const mine = async (socket: TestSocket, count: number, prefix: string) => {
    for (let i = 0; i < count; i++) socket.send({ type: 'message', text: `${prefix}${i}`, nonce: `${prefix}${i}` })
    const ids: number[] = []
    while (ids.length < count) {
      const f = await socket.next('message')
      if (String(f.data.nonce).startsWith(prefix)) ids.push(f.data.id)
    }
    return ids
  }
  const [fromA, fromB] = await Promise.all([mine(onA, 11, 'a'), mine(onB, 10, 'b')])
  // Interleaved from both instances at once: edits and deletions by the authors, more posts, and
  // the admin deleting alice's last message (nobody else touches it) over REST on B.
  for (let i = 0; i < 10; i++) {
    onA.send({ type: 'edit', id: fromA[i]!, text: `a${i} edited` })
    onB.send({ type: i % 2 ? 'delete' : 'edit', id: fromB[i]!, text: `b${i} edited` })
    onA.send({ type: 'message', text: `a more ${i}` })
    onB.send({ type: 'message', text: `b more ${i}` })
  }
  const byAdmin = await request(`${b.url}/api/v1/rooms/mixed/messages/${fromA[10]}`, { method: 'DELETE', headers: { Authorization: `Bearer ${root.token}` } })
  expect(byAdmin.status).toBe(204)
  // 21 messages + 10 edits on A + 5 edits and 5 deletions on B + 20 more + 1 deletion by the admin.
  const total = 21 + 20 + 20 + 1
  const sequences: { type: string; id: number }[][] = []
  for (const socket of [...readers, onA, onB]) {
    await until(() => socket.frames.filter(isStream).length >= total, 15_000, `${total} stream frames`)
    expect(socket.frames.filter((f) => f.type === 'error')).toEqual([])
    const seen = socket.frames.filter(isStream).map((f) => ({ type: f.type, id: f.data.id }))
    expect(seen).toHaveLength(total)
    expect(seen.filter((f, i) => i > 0 && f.id <= seen[i - 1]!.id)).toEqual([])
    sequences.push(seen)
  }
  for (const seen of sequences.slice(1)) expect(seen).toEqual(sequences[0]!)

  // The same state from both instances' history, and a resume on B from before the changes replays them.
  const pages = await Promise.all([a, b].map((s) => request(`${s.url}/api/v1/rooms/mixed/messages?limit=200`)))
  expect(pages[1]!.body).toEqual(pages[0]!.body)
  const messages = pages[0]!.body.data.messages
  expect(messages.find((m: { id: number }) => m.id === fromA[10])).toEqual({
    id: fromA[10],
    room: 'mixed',
    user: alice.user,
    ts: expect.any(String),
    deleted: true,
  })
  expect(messages.find((m: { id: number }) => m.id === fromA[1])).toMatchObject({ text: 'a1 edited', editedAt: expect.any(String) })
  const cursor = Math.max(...fromA, ...fromB)
  const resumed = await join(b, 'mixed', undefined, cursor)
  const { changes } = resumed.frames[0]!.data
  const changesSeen = sequences[0]!.filter((f) => f.type !== 'message' && f.id > cursor)
  expect(changes.map((c: { type: string; id: number }) => ({ type: c.type, id: c.id }))).toEqual(changesSeen)
  for (const s of [...readers, onA, onB, resumed]) s.close()
})
