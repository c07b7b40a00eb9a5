/**
 * Spec §6 on room sockets, on SQLite and PostgreSQL: a private room's socket is for its members. To
 * anyone else (anonymous readers, non-members, admins who have not added themselves) the upgrade
 * completes, then an `error` frame ROOM_NOT_FOUND and close 4004 ROOM_NOT_FOUND, and the members see
 * no presence of them. A removed member's open sockets close with 4004 at once and their user stream
 * gets `room` member:false; a room registered private while others read its (empty) name closes their
 * sockets with 4004, the owner's stays.
 */
import { expect } from 'bun:test'
import { CLOSE } from '../../src/protocol.ts'
import { call, expectError, expectNoContent } from '../support/accounts.ts'
import type { Account } from '../support/http.ts'
import {
  addMember,
  cast,
  connectRoom,
  createRoom,
  expectClosedWith,
  expectRoomNotFoundSocket,
  frameOf,
  get,
  historyPath,
  openUserStream,
  removeMember,
  sync,
} from '../support/private-rooms.ts'
import { post, roomWs } from '../support/rooms.ts'
import type { TestServer } from '../support/server.ts'
import { openSocket } from '../support/socket.ts'
import { STORES } from '../support/stores.ts'

async function scene(server: TestServer) {
  const [root, alice, bob, carol] = (await cast(server, 'root', 'alice', 'bob', 'carol')) as [Account, Account, Account, Account]
  await createRoom(server, alice, 'secret', 'private', 'plans')
  await addMember(server, alice, 'secret', 'bob')
  return { root, alice, bob, carol }
}

for (const store of STORES()) {
  store.describe(`on ${store.name}`, () => {
    const test = store.test

    test('members get a welcome with the room, its members and its history; their messages reach each other', async () => {
      await using server = await store.start()
      const { alice, bob } = await scene(server)
      using aliceIn = await connectRoom(server, 'secret', alice)
      const m = await post(aliceIn, 'hello bob')
      using bobIn = await openSocket(roomWs(server, 'secret'), [bob.token])
      const welcome = await bobIn.next()
      expect(welcome).toEqual({
        type: 'welcome',
        error: null,
        data: { room: 'secret', user: bob.user, readOnly: false, members: expect.any(Array), history: [m], changes: [], truncated: false },
      })
      expect([...welcome.data.members].sort((a, b) => a.id - b.id)).toEqual([alice.user, bob.user])
      expect((await aliceIn.next('join')).data).toEqual({ user: bob.user })
      const reply = await post(bobIn, 'hi alice')
      expect((await aliceIn.next('message')).data).toMatchObject({ id: reply.id, text: 'hi alice', user: bob.user })
    })

    test('outsiders (anonymous, a non-member, an admin who is no member) get error ROOM_NOT_FOUND and close 4004; the members see no presence of them', async () => {
      await using server = await store.start()
      const { root, alice, carol } = await scene(server)
      using aliceIn = await connectRoom(server, 'secret', alice)
      await post(aliceIn, 'not for you')
      for (const outsider of [undefined, carol, root]) {
        await expectRoomNotFoundSocket(server, 'secret', outsider)
        // With a resume cursor too.
        await expectRoomNotFoundSocket(server, 'secret', outsider, '?since=0')
      }
      await sync(aliceIn)
      expect(aliceIn.frames.filter((f) => f.type === 'join' || f.type === 'leave')).toEqual([])
      // A banned user is told they are banned first (spec §5), whatever the room.
      expectNoContent(await call(server.url, 'PUT', `/api/v1/admin/users/${carol.user.id}/ban`, root.token, {}))
      using banned = await openSocket(roomWs(server, 'secret'), [carol.token])
      expect(await banned.closed).toEqual(CLOSE.BANNED)
    })

    test('a bad token to a private room is still TOKEN_INVALID + 4001 (the token is checked first)', async () => {
      await using server = await store.start()
      await scene(server)
      using socket = await openSocket(roomWs(server, 'secret'), ['not.a.token'])
      expect(await socket.closed).toEqual(CLOSE.TOKEN_INVALID)
    })

    test('an admin who adds themselves (audited) may open the socket, and the members see them join', async () => {
      await using server = await store.start()
      const { root, alice } = await scene(server)
      using aliceIn = await connectRoom(server, 'secret', alice)
      await expectRoomNotFoundSocket(server, 'secret', root)
      await addMember(server, root, 'secret', 'root')
      using rootIn = await connectRoom(server, 'secret', root)
      expect((await aliceIn.next('join')).data).toEqual({ user: root.user })
      void rootIn
    })

    test('a removed member: every socket of theirs to the room closes with 4004 at once, their user stream gets `room` member:false, history is gone to them', async () => {
      await using server = await store.start()
      const { alice, bob } = await scene(server)
      using aliceIn = await connectRoom(server, 'secret', alice)
      using bobTab1 = await connectRoom(server, 'secret', bob)
      using bobTab2 = await connectRoom(server, 'secret', bob)
      using bobElsewhere = await connectRoom(server, 'lobby', bob)
      const { stream } = await openUserStream(server, bob)
      await post(aliceIn, 'before')
      await removeMember(server, alice, 'secret', 'bob')
      await expectClosedWith(bobTab1, 'ROOM_NOT_FOUND', CLOSE.ROOM_NOT_FOUND)
      await expectClosedWith(bobTab2, 'ROOM_NOT_FOUND', CLOSE.ROOM_NOT_FOUND)
      expect(await frameOf(stream, 'room', (d) => d.room === 'secret')).toEqual({
        type: 'room',
        error: null,
        data: { room: 'secret', visibility: 'private', member: false },
      })
      expect((await aliceIn.next('leave')).data).toEqual({ user: bob.user })
      // Nothing else of bob's was closed.
      await sync(bobElsewhere)
      await sync(stream)
      expectError(await get(server, historyPath('secret'), bob), 404, 'ROOM_NOT_FOUND')
      await expectRoomNotFoundSocket(server, 'secret', bob)
      // What alice posts now never reaches him.
      await post(aliceIn, 'after')
      stream.close()
    })

    test('a member who leaves (removes themselves) has their sockets to the room closed with 4004 too', async () => {
      await using server = await store.start()
      const { bob } = await scene(server)
      using bobIn = await connectRoom(server, 'secret', bob)
      expectNoContent(await call(server.url, 'DELETE', '/api/v1/users/me/rooms/secret', bob.token))
      await expectClosedWith(bobIn, 'ROOM_NOT_FOUND', CLOSE.ROOM_NOT_FOUND)
      await expectRoomNotFoundSocket(server, 'secret', bob)
    })

    test('registering a room private while people read its empty name closes their sockets with 4004; the owner stays', async () => {
      await using server = await store.start()
      const [, alice, bob] = (await cast(server, 'root', 'alice', 'bob')) as [Account, Account, Account]
      using anonymous = await connectRoom(server, 'hideout')
      using bobIn = await connectRoom(server, 'hideout', bob)
      using aliceIn = await connectRoom(server, 'hideout', alice)
      await createRoom(server, alice, 'hideout', 'private')
      await expectClosedWith(anonymous, 'ROOM_NOT_FOUND', CLOSE.ROOM_NOT_FOUND)
      await expectClosedWith(bobIn, 'ROOM_NOT_FOUND', CLOSE.ROOM_NOT_FOUND)
      await sync(aliceIn)
      const m = await post(aliceIn, 'mine now')
      expect(m.room).toBe('hideout')
      await expectRoomNotFoundSocket(server, 'hideout')
      await expectRoomNotFoundSocket(server, 'hideout', bob)
    })

    test('a message sent into an empty room as it is registered private: the registration or the message wins, never both', async () => {
      await using server = await store.start()
      const [, alice, eve] = (await cast(server, 'root', 'alice', 'eve')) as [Account, Account, Account]
      for (let i = 0; i < 8; i++) {
        const room = `race-${i}`
        using eveIn = await connectRoom(server, room, eve)
        // The frame is accepted while the room is public; the registration commits before or after it is stored.
        const registering = call(server.url, 'POST', '/api/v1/rooms', alice.token, { name: room, visibility: 'private' })
        eveIn.send({ type: 'message', text: 'racing', nonce: `race-${i}` })
        const { status } = await registering
        expect([201, 409]).toContain(status)
        // Alice's own message is stored after Eve's frame was settled, stored or refused (one writer, in order).
        using aliceIn = await connectRoom(server, room, alice)
        await post(aliceIn, 'settled')
        const texts = ((await get(server, historyPath(room), alice)).body.data.messages as { text: string }[]).map((m) => m.text)
        expect({ status, texts }).toEqual(status === 201 ? { status, texts: ['settled'] } : { status, texts: ['racing', 'settled'] })
      }
    })

    test('registering a room public while people read it leaves them connected', async () => {
      await using server = await store.start()
      const [, alice, bob] = (await cast(server, 'root', 'alice', 'bob')) as [Account, Account, Account]
      using anonymous = await connectRoom(server, 'square')
      using bobIn = await connectRoom(server, 'square', bob)
      await createRoom(server, alice, 'square', 'public', 'town square')
      await sync(anonymous)
      await post(bobIn, 'still here')
      expect((await anonymous.next('message')).data.text).toBe('still here')
    })

    test('a member added while the room is open to others: their new socket is welcomed with the history', async () => {
      await using server = await store.start()
      const { alice, carol } = await scene(server)
      using aliceIn = await connectRoom(server, 'secret', alice)
      const m = await post(aliceIn, 'welcome aboard')
      await expectRoomNotFoundSocket(server, 'secret', carol)
      await addMember(server, alice, 'secret', 'carol')
      using carolIn = await connectRoom(server, 'secret', carol)
      expect(carolIn.frames[0]!.data.history).toEqual([m])
    })
  })
}
