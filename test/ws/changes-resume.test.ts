/**
 * Edits and deletions as events of the room's stream (spec §5): they share the message id sequence,
 * so live every frame of a room comes in id order, messages and events alike, and one cursor
 * (`?since=`, the largest id seen in any event frame) resumes them too. With `?since=`,
 * `welcome.history` holds the messages after the cursor as they are now, and `welcome.changes`, in
 * id order, the `edited` and `deleted` events after the cursor that concern messages at or before
 * it, each as `{"type", ...the event's data}`; RESUME_MAX counts both. Without `?since=`, history is
 * current and `changes` is empty. Answers are checked from the room's cache (a socket stays), from
 * the database (everyone left), and after a restart; and a deleted text must be gone from the
 * database file, not only from the answers.
 */
import { expect, test } from 'bun:test'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Change, Message, TextMessage, Welcome } from '../../src/protocol.ts'
import { change, registerAdmin } from '../support/changes.ts'
import { register, type Account } from '../support/http.ts'
import { post, postMany, roomWs, storedMessages } from '../support/rooms.ts'
import { startTestServer, type TestServer } from '../support/server.ts'
import { openSocket, type Frame, type TestSocket } from '../support/socket.ts'
import { until } from '../support/wait.ts'

const FAST = { messageBurst: 100_000, messageRate: 100_000 }

async function connect(server: TestServer, token?: string): Promise<TestSocket> {
  const socket = await openSocket(roomWs(server, 'lobby'), token === undefined ? undefined : [token])
  await socket.next('welcome')
  return socket
}

async function welcome(server: TestServer, query = ''): Promise<Welcome> {
  using reader = await openSocket(roomWs(server, 'lobby', query))
  return (await reader.next('welcome')).data
}

const isStream = (f: Frame) => f.type === 'message' || f.type === 'edited' || f.type === 'deleted'

test('posts, edits and deletions from several sockets reach every reader once, in strictly increasing id order, ending in the stored state', async () => {
  await using server = await startTestServer({ config: FAST })
  const root = await registerAdmin(server)
  const people: Account[] = [root, await register(server.url, 'alice'), await register(server.url, 'bob')]
  const writers = await Promise.all(people.map((p) => connect(server, p.token)))
  const readers = await Promise.all([connect(server), connect(server)])
  const ROUNDS = 30
  // Each round every writer posts, edits its previous post, and every third round deletes the one before.
  const mine: number[][] = people.map(() => [])
  const expected = { messages: 0, edits: 0, deletes: 0 }
  for (let round = 0; round < ROUNDS; round++) {
    await Promise.all(
      writers.map(async (socket, w) => {
        const own = mine[w]!
        socket.send({ type: 'message', text: `w${w} r${round}`, nonce: `w${w}-${round}` })
        expected.messages++
        if (own.length >= 1) {
          socket.send({ type: 'edit', id: own.at(-1)!, text: `w${w} r${round - 1} edited` })
          expected.edits++
        }
        if (own.length >= 2 && round % 3 === 0) {
          socket.send({ type: 'delete', id: own.splice(-2, 1)[0]! })
          expected.deletes++
        }
        let echo = await socket.next('message')
        while (echo.data.nonce !== `w${w}-${round}`) echo = await socket.next('message')
        own.push(echo.data.id)
      }),
    )
  }
  const total = expected.messages + expected.edits + expected.deletes
  for (const socket of [...readers, ...writers]) {
    await until(() => socket.frames.filter(isStream).length >= total, 10_000, `${total} stream frames`)
    expect(socket.frames.filter((f) => f.type === 'error')).toEqual([])
    const seen = socket.frames.filter(isStream)
    expect(seen).toHaveLength(total)
    const ids = seen.map((f) => f.data.id)
    expect(ids.filter((id, i) => i > 0 && id <= ids[i - 1]!)).toEqual([])
    expect(seen.filter((f) => f.type === 'edited')).toHaveLength(expected.edits)
    expect(seen.filter((f) => f.type === 'deleted')).toHaveLength(expected.deletes)
  }
  // A reader that applies what it saw has the stored history.
  const applied = new Map<number, Message>()
  for (const f of readers[0]!.frames.filter(isStream)) {
    if (f.type === 'message') applied.set(f.data.id, f.data)
    const m = applied.get(f.data.messageId)
    if (f.type === 'edited' && m) applied.set(m.id, { ...m, text: f.data.text, editedAt: f.data.editedAt } as Message)
    if (f.type === 'deleted' && m) applied.set(m.id, { id: m.id, room: m.room, user: m.user, ts: m.ts, deleted: true })
  }
  const stored = await storedMessages(server, 'lobby')
  expect(stored.map(({ nonce: _, ...m }) => m)).toEqual([...applied.values()].map(({ nonce: _, ...m }) => m))
  for (const s of [...writers, ...readers]) s.close()
})

/**
 * Posts m1..m4, the cursor at m2, then: edit m1, delete m2, edit m3 (after the cursor: its history
 * entry shows it, changes don't), post m5, edit m1 again, edit then delete m4 (that edit is erased).
 */
async function scenario(socket: TestSocket) {
  const [m1, m2, m3, m4] = [await post(socket, 'one'), await post(socket, 'two'), await post(socket, 'three'), await post(socket, 'four')]
  const e1 = await change(socket, { type: 'edit', id: m1.id, text: 'one, edited' })
  const d2 = await change(socket, { type: 'delete', id: m2.id })
  await change(socket, { type: 'edit', id: m3.id, text: 'three, edited' })
  const m5 = await post(socket, 'five')
  const e1b = await change(socket, { type: 'edit', id: m1.id, text: 'one, edited twice' })
  await change(socket, { type: 'edit', id: m4.id, text: 'four, edited' })
  await change(socket, { type: 'delete', id: m4.id })
  const changes = [e1, d2, e1b].map((f) => ({ type: f.type, ...f.data }) as Change)
  return { m1, m2, m3, m4, m5, cursor: m2.id, changes }
}

test('?since= gives the messages after the cursor as they are now and the changes to earlier ones, from the cache and from the database', async () => {
  await using server = await startTestServer({ config: FAST })
  const alice = await registerAdmin(server, 'alice')
  const socket = await connect(server, alice.token)
  const s = await scenario(socket)
  const expected = {
    history: [
      { ...s.m3, text: 'three, edited', editedAt: expect.any(String) },
      { id: s.m4.id, room: 'lobby', user: alice.user, ts: s.m4.ts, deleted: true as const },
      s.m5,
    ],
    changes: s.changes,
    truncated: false,
  }
  expect(await welcome(server, `?since=${s.cursor}`)).toMatchObject(expected)
  // From the database: nobody is in the room any more, so nothing is cached.
  socket.close()
  await socket.closed
  expect(await welcome(server, `?since=${s.cursor}`)).toMatchObject(expected)
  // Past every change and message: nothing; without since: history current, no changes.
  const last = s.changes.at(-1)!.id + 10
  expect(await welcome(server, `?since=${last}`)).toMatchObject({ history: [], changes: [], truncated: false })
  const fresh = await welcome(server)
  expect(fresh.changes).toEqual([])
  expect(fresh.history).toEqual([
    { ...s.m1, text: 'one, edited twice', editedAt: expect.any(String) },
    { id: s.m2.id, room: 'lobby', user: alice.user, ts: s.m2.ts, deleted: true as const },
    ...expected.history,
  ])
})

test('a resume survives a restart: the same history and changes from the database', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'chat-changes-'))
  try {
    let s: Awaited<ReturnType<typeof scenario>>
    let before: Welcome
    {
      await using server = await startTestServer({ dir, config: FAST })
      const alice = await registerAdmin(server, 'alice')
      using socket = await connect(server, alice.token)
      s = await scenario(socket)
      before = await welcome(server, `?since=${s.cursor}`)
    }
    await using server = await startTestServer({ dir, config: FAST })
    const after = await welcome(server, `?since=${s.cursor}`)
    expect(after).toEqual({ ...before, members: [] })
    expect(after.changes).toEqual(s.changes)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

test('an edit erased by a later deletion is not in welcome.changes: only the deletion is', async () => {
  await using server = await startTestServer({ config: FAST })
  const alice = await registerAdmin(server, 'alice')
  using socket = await connect(server, alice.token)
  const m = await post(socket, 'secret')
  await change(socket, { type: 'edit', id: m.id, text: 'secret, edited' })
  const deleted = await change(socket, { type: 'delete', id: m.id })
  expect((await welcome(server, `?since=${m.id}`)).changes).toEqual([{ type: 'deleted', ...deleted.data }])
})

test('RESUME_MAX counts history and changes together: the newest of both by id, truncated', async () => {
  await using server = await startTestServer({ config: { ...FAST, resumeMax: 3 } })
  const alice = await registerAdmin(server, 'alice')
  const socket = await connect(server, alice.token)
  const [m1, m2] = [await post(socket, 'one'), await post(socket, 'two')]
  const e1 = await change(socket, { type: 'edit', id: m1.id, text: 'one, edited' })
  const m3 = await post(socket, 'three')
  const e2 = await change(socket, { type: 'edit', id: m2.id, text: 'two, edited' })
  const m4 = await post(socket, 'four')
  // After m2: e1, m3, e2, m4 — four entries, the newest three kept.
  const expected = { history: [m3, m4], changes: [{ type: 'edited', ...e2.data }], truncated: true }
  expect(await welcome(server, `?since=${m2.id}`)).toMatchObject(expected)
  expect(await welcome(server, `?since=${e1.data.id}`)).toMatchObject({ history: [m3, m4], changes: [{ type: 'edited', ...e2.data }], truncated: false })
  socket.close()
  await socket.closed
  expect(await welcome(server, `?since=${m2.id}`)).toMatchObject(expected)
})

test('welcome.history is current when edits crowd the messages out of the room cache', async () => {
  await using server = await startTestServer({ config: FAST })
  const alice = await registerAdmin(server, 'alice')
  const socket = await connect(server, alice.token)
  const posted: TextMessage[] = []
  for (let i = 0; i < 60; i++) posted.push(await post(socket, `m${i}`))
  // 150 edits of the oldest shown message: more than the 100 entries of the stream a room caches.
  let last: Frame | undefined
  for (let i = 0; i < 150; i++) last = await change(socket, { type: 'edit', id: posted[10]!.id, text: `edit ${i}` })
  const firstEdit = posted.at(-1)!.id + 1
  const check = async () => {
    const { history } = await welcome(server)
    expect(history.map((m) => m.id)).toEqual(posted.slice(10).map((m) => m.id))
    expect(history[0]).toEqual({ ...posted[10]!, text: 'edit 149', editedAt: last!.data.editedAt })
    const resumed = await welcome(server, `?since=${posted[10]!.id}`)
    expect(resumed.history).toEqual(posted.slice(11))
    expect(resumed.changes.map((c) => c.id)).toEqual(Array.from({ length: 150 }, (_, i) => firstEdit + i))
  }
  await check()
  // Loaded again once everyone left: the newest 100 entries of the stream are all edits.
  socket.close()
  await socket.closed
  await check()
})

test("a deleted message's text, and its edits' texts, are gone from the database file once the server has closed", async () => {
  const dir = mkdtempSync(join(tmpdir(), 'chat-erase-'))
  try {
    {
      await using server = await startTestServer({ dir })
      const alice = await registerAdmin(server, 'alice')
      using socket = await connect(server, alice.token)
      const m = await post(socket, 'ORIGINAL-SECRET-7f3a')
      await change(socket, { type: 'edit', id: m.id, text: 'EDITED-SECRET-9c2e' })
      await post(socket, 'KEPT-TEXT-4b1d')
      await change(socket, { type: 'delete', id: m.id })
    }
    const bytes = readFileSync(join(dir, 'chat.db'))
    expect(bytes.includes('KEPT-TEXT-4b1d')).toBe(true)
    expect(bytes.includes('ORIGINAL-SECRET-7f3a')).toBe(false)
    expect(bytes.includes('EDITED-SECRET-9c2e')).toBe(false)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

test('after a restart a room loads only its welcome’s messages and what followed them: resumes on either side of that get what the database holds', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'chat-cold-load-'))
  try {
    let sent: TextMessage[]
    let edit: Frame
    {
      await using server = await startTestServer({ dir, config: FAST })
      const alice = await registerAdmin(server, 'alice')
      using socket = await connect(server, alice.token)
      sent = await postMany(socket, 80)
      // An edit of an old message, after them all: a change to a message the first welcome does not load.
      edit = await change(socket, { type: 'edit', id: sent[5]!.id, text: 'six, edited' })
    }
    await using server = await startTestServer({ dir, config: FAST })
    const bob = await register(server.url, 'bob')
    // Bob's socket keeps the room loaded: its welcome (the newest 50) is the first load after the restart.
    using held = await connect(server, bob.token)
    expect(await welcome(server)).toMatchObject({ history: sent.slice(30), changes: [], truncated: false })
    const edited = { ...sent[5]!, text: 'six, edited', editedAt: expect.any(String) }
    const asEdited = (m: TextMessage) => (m.id === edited.id ? edited : m)
    const changes = [{ type: edit.type, ...edit.data } as Change]
    // Around the oldest message loaded (sent[30]), from memory above it and from the database below.
    for (const at of [0, 5, 6, 28, 29, 30, 31, 60, 79]) {
      const since = sent[at]!.id
      const expected = { history: sent.slice(at + 1).map(asEdited), changes: at >= 5 ? changes : [], truncated: false }
      expect({ at, welcome: await welcome(server, `?since=${since}`) }).toMatchObject({ at, welcome: expected })
    }
    held.close()
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})
