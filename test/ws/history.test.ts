/**
 * History in `welcome` and resuming with `?since=` (spec §3, "Rules"). Without `since`, history is
 * the newest `historySize` (50) messages, oldest first; with it, every message with a larger id, at
 * most `resumeMax` (500) of them — the newest — and `truncated: true` when some were left out.
 *
 * The server keeps a per-room cache of recent messages (up to 100; a room opened after a restart
 * starts with its newest 50 and what followed them): several tests post more than
 * that so the answer has to come from the database and be merged, and some ask while the room is
 * busy (cache warm), some after everyone has left (cache gone).
 */
import { expect, test } from 'bun:test'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Welcome } from '../../src/protocol.ts'
import { register } from '../support/http.ts'
import { post, postMany, roomWs } from '../support/rooms.ts'
import { startTestServer, type TestServer } from '../support/server.ts'
import { openSocket, type TestSocket } from '../support/socket.ts'

/** Rate limits out of the way: these tests post many messages at once. */
const FAST = { messageBurst: 100_000, messageRate: 100_000 }

async function poster(server: TestServer, name = 'alice', room = 'lobby'): Promise<TestSocket> {
  const account = await register(server.url, name)
  const socket = await openSocket(roomWs(server, room), [account.token])
  await socket.next('welcome')
  return socket
}

async function welcome(server: TestServer, query = '', room = 'lobby'): Promise<Welcome> {
  using reader = await openSocket(roomWs(server, room, query))
  return (await reader.next('welcome')).data
}

const ids = (messages: { id: number }[]) => messages.map((m) => m.id)
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i)

test('welcome.history is the newest 50 messages, oldest first (60 posted: ids 11..60)', async () => {
  await using server = await startTestServer({ config: FAST })
  using alice = await poster(server)
  const sent = await postMany(alice, 60)
  expect(ids(sent)).toEqual(range(1, 60))
  const { history, truncated } = await welcome(server)
  expect(ids(history)).toEqual(range(11, 60))
  expect(history).toEqual(sent.slice(10))
  expect(truncated).toBe(false)
})

test('welcome.history is the same when read from the database after everyone left', async () => {
  await using server = await startTestServer({ config: FAST })
  const alice = await poster(server)
  const sent = await postMany(alice, 60)
  alice.close()
  await alice.closed
  const { history, truncated } = await welcome(server)
  expect(history).toEqual(sent.slice(10))
  expect(truncated).toBe(false)
})

test('welcome.history holds all messages when there are fewer than 50', async () => {
  await using server = await startTestServer({ config: FAST })
  using alice = await poster(server)
  const sent = await postMany(alice, 3)
  expect((await welcome(server)).history).toEqual(sent)
})

test('welcome.history follows the historySize setting', async () => {
  await using server = await startTestServer({ config: { ...FAST, historySize: 5 } })
  using alice = await poster(server)
  const sent = await postMany(alice, 8)
  expect(ids((await welcome(server)).history)).toEqual(range(4, 8))
})

test('historySize 0 gives an empty welcome.history', async () => {
  await using server = await startTestServer({ config: { ...FAST, historySize: 0 } })
  using alice = await poster(server)
  await postMany(alice, 3)
  expect(await welcome(server)).toMatchObject({ history: [], truncated: false })
})

test('welcome.history holds only messages of its own room', async () => {
  await using server = await startTestServer({ config: FAST })
  using alice = await poster(server, 'alice', 'a')
  using bob = await poster(server, 'bob', 'b')
  const inA = [await post(alice, 'a1')]
  await post(bob, 'b1')
  inA.push(await post(alice, 'a2'))
  expect((await welcome(server, '', 'a')).history).toEqual(inA)
  expect(ids((await welcome(server, '?since=0', 'a')).history)).toEqual(ids(inA))
})

test('resume with ?since= gives every later message, including those posted while disconnected', async () => {
  await using server = await startTestServer({ config: FAST })
  using alice = await poster(server)
  const reader = await openSocket(roomWs(server, 'lobby'))
  await reader.next('welcome')
  const seen = await postMany(alice, 3)
  for (const m of seen) expect((await reader.next('message')).data.id).toBe(m.id)
  reader.close()
  await reader.closed
  const missed = await postMany(alice, 4)
  const resumed = await welcome(server, `?since=${seen.at(-1)!.id}`)
  expect(resumed.history).toEqual(missed)
  expect(resumed.truncated).toBe(false)
})

test('resume is not limited by historySize', async () => {
  await using server = await startTestServer({ config: { ...FAST, historySize: 2 } })
  using alice = await poster(server)
  const sent = await postMany(alice, 5)
  expect(await welcome(server, '?since=0')).toMatchObject({ history: sent, truncated: false })
})

test('resume reaches past the recent-message cache (130 posted, since=5: ids 6..130)', async () => {
  await using server = await startTestServer({ config: FAST })
  using alice = await poster(server)
  const sent = await postMany(alice, 130)
  const resumed = await welcome(server, '?since=5')
  expect(ids(resumed.history)).toEqual(range(6, 130))
  expect(resumed.history).toEqual(sent.slice(5))
  expect(resumed.truncated).toBe(false)
})

test('resume from the database after everyone left gives the same answer', async () => {
  await using server = await startTestServer({ config: FAST })
  const alice = await poster(server)
  const sent = await postMany(alice, 130)
  alice.close()
  await alice.closed
  expect(await welcome(server, '?since=5')).toMatchObject({ history: sent.slice(5), truncated: false })
  expect(await welcome(server, '?since=125')).toMatchObject({ history: sent.slice(125), truncated: false })
})

test('resume past resumeMax gives the newest resumeMax messages and truncated: true', async () => {
  await using server = await startTestServer({ config: { ...FAST, resumeMax: 5 } })
  using alice = await poster(server)
  const sent = await postMany(alice, 12)
  expect(await welcome(server, '?since=0')).toMatchObject({ history: sent.slice(7), truncated: true })
  expect(await welcome(server, '?since=6')).toMatchObject({ history: sent.slice(7), truncated: true })
})

test('resume of exactly resumeMax messages is not truncated', async () => {
  await using server = await startTestServer({ config: { ...FAST, resumeMax: 5 } })
  using alice = await poster(server)
  const sent = await postMany(alice, 12)
  expect(await welcome(server, '?since=7')).toMatchObject({ history: sent.slice(7), truncated: false })
})

test('resume past resumeMax from beyond the cache gives the newest ones, truncated', async () => {
  await using server = await startTestServer({ config: { ...FAST, resumeMax: 5 } })
  const alice = await poster(server)
  const sent = await postMany(alice, 130)
  expect(await welcome(server, '?since=0')).toMatchObject({ history: sent.slice(125), truncated: true })
  alice.close()
  await alice.closed
  expect(await welcome(server, '?since=3')).toMatchObject({ history: sent.slice(125), truncated: true })
})

test('resume with the default resumeMax caps at 500', async () => {
  await using server = await startTestServer({ config: FAST })
  using alice = await poster(server)
  const sent = await postMany(alice, 502)
  const resumed = await welcome(server, '?since=0')
  expect(ids(resumed.history)).toEqual(range(3, 502))
  expect(resumed.history).toEqual(sent.slice(2))
  expect(resumed.truncated).toBe(true)
  expect(await welcome(server, '?since=2')).toMatchObject({ truncated: false })
})

test('since at or beyond the last id gives an empty history', async () => {
  await using server = await startTestServer({ config: FAST })
  using alice = await poster(server)
  await postMany(alice, 3)
  for (const since of [3, 4, 1000, Number.MAX_SAFE_INTEGER]) {
    expect(await welcome(server, `?since=${since}`)).toMatchObject({ history: [], truncated: false })
  }
})

test('since on an empty room gives an empty history', async () => {
  await using server = await startTestServer()
  expect(await welcome(server, '?since=0')).toMatchObject({ history: [], truncated: false })
})

/**
 * Keeps `window` messages from `socket` in flight until stopped: a new one goes out as each comes
 * back. Resolves with the number of acknowledged messages once stopped.
 */
function keepPosting(socket: TestSocket, window = 10): { latest: () => number; stop: () => Promise<void> } {
  let latest = 0
  let stopped = false
  let outstanding = 0
  const send = () => {
    outstanding++
    socket.send({ type: 'message', text: 'flow', nonce: 'flow' })
  }
  const done = (async () => {
    for (let i = 0; i < window; i++) send()
    while (outstanding > 0) {
      const frame = await socket.next()
      if (frame.type !== 'message' || frame.data.nonce !== 'flow') continue
      outstanding--
      latest = frame.data.id
      if (!stopped) send()
    }
  })()
  return {
    latest: () => latest,
    stop: async () => {
      stopped = true
      await done
    },
  }
}

/** Reads the welcome and then live messages until `count` ids past the history; returns all ids seen. */
async function readOn(server: TestServer, query: string, count: number): Promise<{ ids: number[]; truncated: boolean }> {
  using reader = await openSocket(roomWs(server, 'lobby', query))
  const { history, truncated } = (await reader.next('welcome')).data
  const seen = ids(history)
  for (let i = 0; i < count; i++) seen.push((await reader.next('message')).data.id)
  return { ids: seen, truncated }
}

const contiguous = (list: number[]) => list.every((id, i) => i === 0 || id === list[i - 1]! + 1)

test('a client that connects while messages flow misses none and sees none twice', async () => {
  await using server = await startTestServer({ config: FAST })
  using alice = await poster(server)
  const flow = keepPosting(alice)
  try {
    for (let round = 0; round < 15; round++) {
      // Resume from inside the cache, from beyond it (older than its 100 messages), and without since.
      const since = Math.max(0, flow.latest() - [5, 150, 400][round % 3]!)
      const resumed = await readOn(server, `?since=${since}`, 20)
      expect(contiguous(resumed.ids)).toBe(true)
      if (!resumed.truncated) expect(resumed.ids[0]).toBe(since + 1)
      const fresh = await readOn(server, '', 20)
      expect(contiguous(fresh.ids)).toBe(true)
    }
  } finally {
    await flow.stop()
  }
})

test('a reconnect storm after a restart: every socket resumes at once with its own cursor and gets exactly what followed it, the first to load the room and the rest from memory alike', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'chat-storm-'))
  try {
    const people: { token: string }[] = []
    let sent: Awaited<ReturnType<typeof postMany>>
    {
      await using server = await startTestServer({ dir, config: FAST })
      for (let i = 0; i < 4; i++) people.push(await register(server.url, `storm${i}`))
      using alice = await openSocket(roomWs(server, 'storm'), [people[0]!.token])
      await alice.next('welcome')
      sent = await postMany(alice, 30)
    }
    await using server = await startTestServer({ dir, config: FAST })
    // 40 sockets of 4 users, cursors spread over the last 10 messages, all opened at once.
    const cursors = Array.from({ length: 40 }, (_, i) => sent[19 + (i % 10)]!.id)
    const sockets = await Promise.all(cursors.map((since, i) => openSocket(roomWs(server, 'storm', `?since=${since}`), [people[i % 4]!.token])))
    try {
      const welcomes = await Promise.all(sockets.map(async (s) => (await s.next('welcome')).data as Welcome))
      welcomes.forEach((w, i) => {
        expect(ids(w.history)).toEqual(ids(sent.filter((m) => m.id > cursors[i]!)))
        expect(w.history).toEqual(sent.filter((m) => m.id > cursors[i]!))
        expect([w.changes, w.truncated]).toEqual([[], false])
        expect(ids(w.members)).toContain(w.user!.id)
      })
      // Each user joined once, seen by whoever was there before: no socket hears of a user already in its welcome.
      const joins = await Promise.all(
        sockets.map(async (s, i) => ({ i, frames: s.frames.filter((f) => f.type === 'join').map((f) => f.data.user.id as number) })),
      )
      for (const { i, frames } of joins) for (const id of frames) expect(ids(welcomes[i]!.members)).not.toContain(id)
    } finally {
      for (const s of sockets) s.close()
    }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})
