/**
 * Spec §6, direct messages, on SQLite and PostgreSQL: `POST /api/v1/dms {"username"}` answers the
 * pair's one private two-member room `dm.{lower id}.{higher id}`, the same from either side and every
 * time; its members are fixed; nobody else can read it, open a socket to it, register it or any other
 * `dm.` name; and to an outsider a DM that was never created answers byte for byte as an existing
 * one does (REST history, members, the room, read markers, membership changes, and the socket).
 */
import { expect } from 'bun:test'
import { dmName } from '../../src/protocol-rooms.ts'
import { call, expectError, expectNoContent, expectOk } from '../support/accounts.ts'
import type { Account } from '../support/http.ts'
import {
  cast,
  connectRoom,
  expectRoomNotFoundSocket,
  frameOf,
  framesOf,
  get,
  historyPath,
  myRoom,
  myRooms,
  openDm,
  openUserStream,
  rawAnswer,
  rawSocketLife,
  sync,
} from '../support/private-rooms.ts'
import { post } from '../support/rooms.ts'
import type { TestServer } from '../support/server.ts'
import { STORES } from '../support/stores.ts'

async function trio(server: TestServer) {
  const [root, alice, bob, carol] = (await cast(server, 'root', 'alice', 'bob', 'carol')) as [Account, Account, Account, Account]
  return { root, alice, bob, carol }
}

for (const store of STORES()) {
  store.describe(`on ${store.name}`, () => {
    const test = store.test

    test('the same DM room from either side, every time: dm.{lower id}.{higher id}, with both as members and a `room` event for each', async () => {
      await using server = await store.start()
      const { alice, bob } = await trio(server)
      const { stream: aliceStream } = await openUserStream(server, alice)
      const { stream: bobStream } = await openUserStream(server, bob)
      const expected = dmName(alice.user.id, bob.user.id)
      expect(expected).toBe(`dm.${alice.user.id}.${bob.user.id}`)
      expectOk(await call(server.url, 'POST', '/api/v1/dms', bob.token, { username: 'alice' }), { room: expected })
      expectOk(await call(server.url, 'POST', '/api/v1/dms', alice.token, { username: 'bob' }), { room: expected })
      // The name is matched as at login.
      expectOk(await call(server.url, 'POST', '/api/v1/dms', alice.token, { username: 'BOB' }), { room: expected })
      const event = { type: 'room', error: null, data: { room: expected, visibility: 'private', member: true } }
      expect(await frameOf(aliceStream, 'room')).toEqual(event)
      expect(await frameOf(bobStream, 'room')).toEqual(event)
      const members = await get(server, `/api/v1/rooms/${expected}/members`, alice)
      expect(members.status).toBe(200)
      expect([...members.body.data.members].sort((a: { id: number }, b: { id: number }) => a.id - b.id)).toEqual([alice.user, bob.user])
      const info = await get(server, `/api/v1/rooms/${expected}`, bob)
      expect(info.status).toBe(200)
      expect(info.body.data).toMatchObject({ name: expected, visibility: 'private', topic: null })
      const row = { name: expected, visibility: 'private' as const, topic: null, lastMessageId: null, lastReadId: 0, unread: 0, mentions: 0 }
      expect(await myRoom(server, alice, expected)).toEqual({ ...row, peer: bob.user })
      expect(await myRoom(server, bob, expected)).toEqual({ ...row, peer: alice.user })
      // Only one room event each: calling again created nothing new.
      await sync(aliceStream)
      await sync(bobStream)
      aliceStream.close()
      bobStream.close()
      expect(framesOf(aliceStream, 'room')).toHaveLength(1)
      expect(framesOf(bobStream, 'room')).toHaveLength(1)
    })

    test('the two talk in it; the messages are theirs alone', async () => {
      await using server = await store.start()
      const { alice, bob } = await trio(server)
      const room = await openDm(server, alice, 'bob')
      using aliceIn = await connectRoom(server, room, alice)
      using bobIn = await connectRoom(server, room, bob)
      const m = await post(aliceIn, 'psst')
      expect((await bobIn.next('message')).data).toMatchObject({ id: m.id, text: 'psst', room })
      expectOk(await get(server, historyPath(room), bob), { messages: [m], hasMore: false })
      expect(await myRoom(server, bob, room)).toMatchObject({ lastMessageId: m.id, unread: 1 })
    })

    test('a DM with yourself is a room for notes: dm.{id}.{id}, you alone, peer yourself', async () => {
      await using server = await store.start()
      const { alice } = await trio(server)
      const room = await openDm(server, alice, 'alice')
      expect(room).toBe(`dm.${alice.user.id}.${alice.user.id}`)
      expectOk(await get(server, `/api/v1/rooms/${room}/members`, alice), { members: [alice.user] })
      expect(await myRoom(server, alice, room)).toMatchObject({ name: room, visibility: 'private', peer: alice.user })
      using socket = await connectRoom(server, room, alice)
      await post(socket, 'note to self')
      expect(await myRoom(server, alice, room)).toMatchObject({ unread: 0, mentions: 0 })
    })

    test('POST /dms refusals: 401 without a token, 404 USER_NOT_FOUND, 400 BAD_BINDING; nothing is created', async () => {
      await using server = await store.start()
      const { alice } = await trio(server)
      expectError(await call(server.url, 'POST', '/api/v1/dms', undefined, { username: 'bob' }), 401, 'TOKEN_INVALID')
      expectError(await call(server.url, 'POST', '/api/v1/dms', 'not.a.token', { username: 'bob' }), 401, 'TOKEN_INVALID')
      expectError(await call(server.url, 'POST', '/api/v1/dms', alice.token, { username: 'nobody' }), 404, 'USER_NOT_FOUND')
      for (const body of [{}, { username: 5 }, { username: null }, [], 'bob', null])
        expectError(await call(server.url, 'POST', '/api/v1/dms', alice.token, body), 400, 'BAD_BINDING')
      expect(await myRooms(server, alice)).toEqual([])
    })

    test('its members are fixed: adding or removing anyone is 403 FORBIDDEN, for the pair and for admins; leaving it is 403', async () => {
      await using server = await store.start()
      const { root, alice, bob } = await trio(server)
      const room = await openDm(server, alice, 'bob')
      for (const by of [alice, bob]) {
        expectError(await call(server.url, 'PUT', `/api/v1/rooms/${room}/members/carol`, by.token), 403, 'FORBIDDEN')
        expectError(await call(server.url, 'DELETE', `/api/v1/rooms/${room}/members/${by.user.username}`, by.token), 403, 'FORBIDDEN')
        expectError(await call(server.url, 'DELETE', `/api/v1/users/me/rooms/${room}`, by.token), 403, 'FORBIDDEN')
      }
      // For admins too (API.md: "for admins too"); and, a DM answering an outsider as a never-created one
      // does, an admin outside it gets the same answer for a DM name that does not exist.
      expectError(await call(server.url, 'PUT', `/api/v1/rooms/${room}/members/root`, root.token), 403, 'FORBIDDEN')
      expectError(await call(server.url, 'DELETE', `/api/v1/rooms/${room}/members/bob`, root.token), 403, 'FORBIDDEN')
      expectError(await call(server.url, 'PUT', `/api/v1/rooms/dm.4242.4243/members/root`, root.token), 403, 'FORBIDDEN')
      // Joining it again as one of the pair changes nothing.
      expectNoContent(await call(server.url, 'PUT', `/api/v1/users/me/rooms/${room}`, alice.token))
      const members = await get(server, `/api/v1/rooms/${room}/members`, alice)
      expect(members.body.data.members).toHaveLength(2)
      expectError(await get(server, historyPath(room), root), 404, 'ROOM_NOT_FOUND')
    })

    test('a third user cannot read it, open its socket, join it, or register it or any dm. name', async () => {
      await using server = await store.start()
      const { root, alice, bob, carol } = await trio(server)
      const room = await openDm(server, alice, 'bob')
      for (const outsider of [carol, root, undefined]) {
        for (const path of [historyPath(room), `/api/v1/rooms/${room}`, `/api/v1/rooms/${room}/members`])
          expectError(await get(server, path, outsider), 404, 'ROOM_NOT_FOUND')
        await expectRoomNotFoundSocket(server, room, outsider)
      }
      expectError(await call(server.url, 'PUT', `/api/v1/users/me/rooms/${room}`, carol.token), 404, 'ROOM_NOT_FOUND')
      expectError(await call(server.url, 'PUT', `/api/v1/rooms/${room}/members/carol`, carol.token), 404, 'ROOM_NOT_FOUND')
      for (const name of [room, `dm.${carol.user.id}.${carol.user.id}`, 'dm.anything', 'dm.9.99'])
        for (const visibility of ['public', 'private'])
          expectError(await call(server.url, 'POST', '/api/v1/rooms', carol.token, { name, visibility }), 409, 'ROOM_EXISTS')
      expect(await myRooms(server, carol)).toEqual([])
      expect((await get(server, historyPath(room), alice)).status).toBe(200)
    })

    test('to an outsider a DM that was never created answers exactly as an existing one: same status and bytes on every path and on the socket', async () => {
      await using server = await store.start()
      const { alice, bob, carol } = await trio(server)
      using lobby = await connectRoom(server, 'lobby', alice)
      const before = await post(lobby, 'public')
      const room = dmName(alice.user.id, bob.user.id)
      // The id the DM's first message will most likely get; either way both rounds ask the same.
      const id = before.id + 1
      const requests: [string, string, unknown?][] = [
        ['GET', historyPath(room)],
        ['GET', historyPath(room, '?limit=5')],
        ['GET', `/api/v1/rooms/${room}`],
        ['GET', `/api/v1/rooms/${room}/members`],
        ['PUT', `/api/v1/rooms/${room}/members/carol`],
        ['DELETE', `/api/v1/rooms/${room}/members/bob`],
        ['DELETE', `/api/v1/rooms/${room}/messages/${id}`],
        ['PUT', `/api/v1/users/me/rooms/${room}`],
        ['DELETE', `/api/v1/users/me/rooms/${room}`],
        ['PUT', `/api/v1/users/me/rooms/${room}/read`, { id }],
      ]
      const answers = async () => {
        const all: unknown[] = []
        for (const outsider of [carol, undefined]) {
          for (const [method, path, body] of requests) {
            if (outsider === undefined && method !== 'GET') continue
            all.push({ who: outsider?.user.username ?? 'anonymous', method, path, ...(await rawAnswer(server, method, path, outsider, body)) })
          }
          all.push({ who: outsider?.user.username ?? 'anonymous', socket: await rawSocketLife(server, room, outsider) })
        }
        return all
      }
      const neverCreated = await answers()
      for (const answer of neverCreated as { status?: number; text?: string }[]) {
        if (answer.status === undefined) continue
        expect(answer.status).toBe(404)
        expect(JSON.parse(answer.text!).error.type).toBe('ROOM_NOT_FOUND')
      }
      expect((neverCreated.at(-1) as { socket: { status: number } }).socket.status).toBe(101)
      // Now it exists, with a message in it: to the outsiders nothing changed, byte for byte.
      expect(await openDm(server, alice, 'bob')).toBe(room)
      using socket = await connectRoom(server, room, alice)
      const m = await post(socket, 'private')
      expect(await answers()).toEqual(neverCreated)
      // And the message is still there for the pair.
      expectOk(await get(server, historyPath(room), bob), { messages: [m], hasMore: false })
    })
  })
}
