/**
 * Spec §6, the client frames `typing` and `read` on room sockets, on SQLite and PostgreSQL:
 * `{"type":"typing"}` reaches the others in the room as `typing` `{"user"}` (never the sender's
 * socket), at most one every 2 s per user and room (the rest dropped silently), and is never stored
 * nor resumed; `{"type":"read","id"}` moves the marker (only forward, never past the newest message;
 * a bad id is MESSAGE_INVALID); a read-only socket sending either is closed 1008 READ_ONLY.
 */
import { expect } from 'bun:test'
import { CLOSE } from '../../src/protocol.ts'
import { ROOM_LIMITS } from '../../src/protocol-rooms.ts'
import type { Account } from '../support/http.ts'
import { cast, connectRoom, createRoom, addMember, expectMyRoom, frameOf, get, historyPath, joinRoom, myRoom, sync } from '../support/private-rooms.ts'
import { errorFrame, post } from '../support/rooms.ts'
import type { TestServer } from '../support/server.ts'
import type { TestSocket } from '../support/socket.ts'
import { STORES } from '../support/stores.ts'
import { until, withTimeout } from '../support/wait.ts'

async function pair(server: TestServer) {
  const [root, alice, bob] = (await cast(server, 'root', 'alice', 'bob')) as [Account, Account, Account]
  return { root, alice, bob }
}

const typingFrames = (socket: TestSocket) => socket.frames.filter((f) => f.type === 'typing')

for (const store of STORES()) {
  store.describe(`on ${store.name}`, () => {
    const test = store.test

    test('typing reaches the others in the room as {user}, not the sender; it is never stored nor resumed', async () => {
      await using server = await store.start()
      const { alice, bob } = await pair(server)
      using aliceIn = await connectRoom(server, 'lobby', alice)
      using bobIn = await connectRoom(server, 'lobby', bob)
      using bobElsewhere = await connectRoom(server, 'elsewhere', bob)
      const before = await post(bobIn, 'before')
      aliceIn.send({ type: 'typing' })
      expect(await frameOf(bobIn, 'typing')).toEqual({ type: 'typing', error: null, data: { user: alice.user } })
      await sync(aliceIn)
      await sync(bobElsewhere)
      expect(typingFrames(aliceIn)).toEqual([])
      expect(typingFrames(bobElsewhere)).toEqual([])
      // Never stored: history and a resume hold the messages only.
      const after = await post(aliceIn, 'after')
      expect((await get(server, historyPath('lobby'))).body.data.messages.map((m: { id: number }) => m.id)).toEqual([before.id, after.id])
      using resumed = await connectRoom(server, 'lobby', bob, `?since=${before.id}`)
      expect(resumed.frames[0]!.data).toMatchObject({ history: [after], changes: [] })
      await sync(resumed)
      expect(typingFrames(resumed)).toEqual([])
    })

    test('typing is throttled per user and room: five fast ones pass one; another room and another user are not held back; after 2 s it passes again', async () => {
      await using server = await store.start()
      const { alice, bob } = await pair(server)
      const [carol] = (await cast(server, 'carol')) as [Account]
      using aliceIn = await connectRoom(server, 'lobby', alice)
      using aliceOther = await connectRoom(server, 'other', alice)
      using carolIn = await connectRoom(server, 'lobby', carol)
      using bobIn = await connectRoom(server, 'lobby', bob)
      using bobOther = await connectRoom(server, 'other', bob)
      const started = Date.now()
      for (let i = 0; i < 5; i++) aliceIn.send({ type: 'typing' })
      aliceOther.send({ type: 'typing' })
      carolIn.send({ type: 'typing' })
      // A message after the typing frames: once bob has it, he has whatever typing was passed on.
      const marker = await post(aliceIn, 'sentinel')
      await frameOf(bobIn, 'message', (d) => d.id === marker.id)
      await frameOf(bobOther, 'typing')
      await sync(bobIn)
      expect(
        typingFrames(bobIn)
          .map((f) => f.data.user.username)
          .sort(),
      ).toEqual(['alice', 'carol'])
      expect(typingFrames(bobOther)).toEqual([{ type: 'typing', error: null, data: { user: alice.user } }])
      // A second tab of alice's in the same room shares her throttle.
      using aliceTab2 = await connectRoom(server, 'lobby', alice)
      aliceTab2.send({ type: 'typing' })
      await sync(aliceTab2)
      await sync(bobIn)
      if (Date.now() - started < ROOM_LIMITS.TYPING_INTERVAL_MS - 200)
        expect(typingFrames(bobIn).filter((f) => f.data.user.id === alice.user.id)).toHaveLength(1)
      // Once 2 s have passed since the one passed on, the next is passed on.
      await Bun.sleep(Math.max(0, started + ROOM_LIMITS.TYPING_INTERVAL_MS + 100 - Date.now()))
      aliceIn.send({ type: 'typing' })
      const fromAlice = () => typingFrames(bobIn).filter((f) => f.data.user.id === alice.user.id).length
      await until(() => fromAlice() === 2, 3000, 'a second typing from alice after 2 s')
    })

    test('a read-only socket sending typing or read is closed 1008 READ_ONLY, and nothing is passed on', async () => {
      await using server = await store.start()
      const { bob } = await pair(server)
      using bobIn = await connectRoom(server, 'lobby', bob)
      for (const frame of [{ type: 'typing' }, { type: 'read', id: 1 }]) {
        using reader = await connectRoom(server, 'lobby')
        reader.send(frame)
        expect(await withTimeout(reader.closed, 3000, 'the read-only socket to close')).toEqual(CLOSE.READ_ONLY)
      }
      await sync(bobIn)
      expect(typingFrames(bobIn)).toEqual([])
    })

    test('the read frame moves the marker forward only, never past the newest message; a bad id is MESSAGE_INVALID and the socket stays', async () => {
      await using server = await store.start()
      const { alice, bob } = await pair(server)
      await joinRoom(server, bob, 'lobby')
      using aliceIn = await connectRoom(server, 'lobby', alice)
      const [m1, m2, m3] = [await post(aliceIn, 'one'), await post(aliceIn, 'two'), await post(aliceIn, 'three')]
      using bobIn = await connectRoom(server, 'lobby', bob)
      bobIn.send({ type: 'read', id: m2.id })
      await expectMyRoom(server, bob, 'lobby', { lastReadId: m2.id, unread: 1 })
      bobIn.send({ type: 'read', id: m1.id })
      await sync(bobIn)
      await expectMyRoom(server, bob, 'lobby', { lastReadId: m2.id, unread: 1 })
      bobIn.send({ type: 'read', id: m3.id + 1000 })
      await expectMyRoom(server, bob, 'lobby', { lastReadId: m3.id, unread: 0 })
      for (const frame of [
        { type: 'read' },
        { type: 'read', id: 0 },
        { type: 'read', id: -1 },
        { type: 'read', id: 1.5 },
        { type: 'read', id: String(m3.id) },
        { type: 'read', id: null },
      ]) {
        bobIn.send(frame)
        expect(await bobIn.next('error')).toEqual(errorFrame('MESSAGE_INVALID'))
      }
      await sync(bobIn)
      expect(await myRoom(server, bob, 'lobby')).toMatchObject({ lastReadId: m3.id, unread: 0 })
      // Reads are not rate limited: a burst is fine and the highest one wins.
      const more = [await post(aliceIn, 'four'), await post(aliceIn, 'five')]
      for (let i = 0; i < 50; i++) bobIn.send({ type: 'read', id: more[i % 2]!.id })
      bobIn.send({ type: 'read', id: more[1]!.id })
      await sync(bobIn)
      await expectMyRoom(server, bob, 'lobby', { lastReadId: more[1]!.id, unread: 0 })
      expect(bobIn.frames.filter((f) => f.type === 'error')).toHaveLength(6)
    })

    test('typing in a private room reaches its members', async () => {
      await using server = await store.start()
      const { alice, bob } = await pair(server)
      await createRoom(server, alice, 'secret', 'private')
      await addMember(server, alice, 'secret', 'bob')
      using aliceIn = await connectRoom(server, 'secret', alice)
      using bobIn = await connectRoom(server, 'secret', bob)
      bobIn.send({ type: 'typing' })
      expect((await frameOf(aliceIn, 'typing')).data).toEqual({ user: bob.user })
    })
  })
}
