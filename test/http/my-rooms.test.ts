/**
 * Spec §6, "my rooms", unread state and mentions, on SQLite and PostgreSQL: `GET /api/v1/users/me/rooms`
 * lists the rooms a user is in (private rooms, DMs, public rooms joined with `PUT
 * /api/v1/users/me/rooms/{room}`; `DELETE` leaves) with `lastMessageId`, `lastReadId`, `unread`
 * (others' messages after the marker, not deleted) and `mentions`; `PUT …/read {"id"}` moves the
 * marker forward only; the counts follow messages, edits and deletions and survive a restart. A
 * message mentions `@name` of someone who can read the room (case-insensitively, the longest name
 * ending at the end, at whitespace or at `, . : ; ! ? ) ] } ' "`).
 */
import { expect } from 'bun:test'
import { call, expectError, expectNoContent, expectOk } from '../support/accounts.ts'
import { change } from '../support/changes.ts'
import type { Account } from '../support/http.ts'
import {
  addMember,
  cast,
  connectRoom,
  createRoom,
  expectMyRoom,
  get,
  historyPath,
  joinRoom,
  markRead,
  myRoom,
  myRooms,
  openDm,
} from '../support/private-rooms.ts'
import { post } from '../support/rooms.ts'
import type { TestServer } from '../support/server.ts'
import { STORES } from '../support/stores.ts'

async function trio(server: TestServer) {
  const [root, alice, bob, carol] = (await cast(server, 'root', 'alice', 'bob', 'carol')) as [Account, Account, Account, Account]
  return { root, alice, bob, carol }
}

const mentionsOf = (users: Account[]) => users.map((u) => u.user).sort((a, b) => a.id - b.id)
const sortedMentions = (message: { mentions?: { id: number }[] }) =>
  message.mentions === undefined ? undefined : [...message.mentions].sort((a, b) => a.id - b.id)

for (const store of STORES()) {
  store.describe(`on ${store.name}`, () => {
    const test = store.test

    test('GET /users/me/rooms: 401 without a token; joined public rooms, private rooms and DMs, newest message first, rooms without messages last by name', async () => {
      await using server = await store.start()
      const { alice, bob } = await trio(server)
      expectError(await call(server.url, 'GET', '/api/v1/users/me/rooms'), 401, 'TOKEN_INVALID')
      expectError(await call(server.url, 'GET', '/api/v1/users/me/rooms', 'not.a.token'), 401, 'TOKEN_INVALID')
      expectOk(await call(server.url, 'GET', '/api/v1/users/me/rooms', bob.token), { rooms: [] })
      await joinRoom(server, bob, 'zeta')
      await joinRoom(server, bob, 'alpha')
      await createRoom(server, alice, 'secret', 'private', 'plans')
      await addMember(server, alice, 'secret', 'bob')
      const dm = await openDm(server, alice, 'bob')
      await joinRoom(server, bob, 'lobby')
      using lobby = await connectRoom(server, 'lobby', alice)
      using secret = await connectRoom(server, 'secret', alice)
      const l = await post(lobby, 'in the lobby')
      const s = await post(secret, 'in secret')
      const empty = { lastMessageId: null, lastReadId: 0, unread: 0, mentions: 0, peer: null }
      await expectMyRoom(server, bob, 'secret', { unread: 1 })
      expectOk(await call(server.url, 'GET', '/api/v1/users/me/rooms', bob.token), {
        rooms: [
          { name: 'secret', visibility: 'private', topic: 'plans', lastMessageId: s.id, lastReadId: 0, unread: 1, mentions: 0, peer: null },
          { name: 'lobby', visibility: 'public', topic: null, lastMessageId: l.id, lastReadId: 0, unread: 1, mentions: 0, peer: null },
          { name: 'alpha', visibility: 'public', topic: null, ...empty },
          { name: dm, visibility: 'private', topic: null, ...empty, peer: alice.user },
          { name: 'zeta', visibility: 'public', topic: null, ...empty },
        ],
      })
    })

    test('joining a public room sets the marker to its newest message; leaving drops it; a private room is only for members; a DM cannot be left', async () => {
      await using server = await store.start()
      const { alice, bob, carol } = await trio(server)
      using lobby = await connectRoom(server, 'lobby', alice)
      const m = await post(lobby, 'old news')
      await joinRoom(server, bob, 'lobby')
      expect(await myRoom(server, bob, 'lobby')).toEqual({
        name: 'lobby',
        visibility: 'public',
        topic: null,
        lastMessageId: m.id,
        lastReadId: m.id,
        unread: 0,
        mentions: 0,
        peer: null,
      })
      // Joining twice changes nothing.
      await joinRoom(server, bob, 'lobby')
      expect(await myRooms(server, bob)).toHaveLength(1)
      expectNoContent(await call(server.url, 'DELETE', '/api/v1/users/me/rooms/lobby', bob.token))
      expect(await myRooms(server, bob)).toEqual([])
      // Leaving a room one is not in changes nothing.
      expectNoContent(await call(server.url, 'DELETE', '/api/v1/users/me/rooms/lobby', bob.token))
      await createRoom(server, alice, 'secret', 'private')
      expectError(await call(server.url, 'PUT', '/api/v1/users/me/rooms/secret', carol.token), 404, 'ROOM_NOT_FOUND')
      expectNoContent(await call(server.url, 'PUT', '/api/v1/users/me/rooms/secret', alice.token))
      expect((await myRooms(server, alice)).map((r) => r.name)).toEqual(['secret'])
      const dm = await openDm(server, alice, 'bob')
      expectError(await call(server.url, 'DELETE', `/api/v1/users/me/rooms/${dm}`, bob.token), 403, 'FORBIDDEN')
      for (const method of ['PUT', 'DELETE']) {
        expectError(await call(server.url, method, '/api/v1/users/me/rooms/bad%20name', bob.token), 400, 'ROOM_INVALID')
        expectError(await call(server.url, method, '/api/v1/users/me/rooms/lobby'), 401, 'TOKEN_INVALID')
      }
    })

    test('unread counts others’ messages after the marker, never one’s own; reads move the marker forward only and never past the newest message', async () => {
      await using server = await store.start()
      const { alice, bob } = await trio(server)
      await joinRoom(server, alice, 'lobby')
      await joinRoom(server, bob, 'lobby')
      using aliceIn = await connectRoom(server, 'lobby', alice)
      using bobIn = await connectRoom(server, 'lobby', bob)
      const [a1, a2, a3] = [await post(aliceIn, 'one'), await post(aliceIn, 'two'), await post(aliceIn, 'three')]
      const b1 = await post(bobIn, 'mine')
      await expectMyRoom(server, bob, 'lobby', { lastMessageId: b1.id, lastReadId: 0, unread: 3, mentions: 0 })
      await expectMyRoom(server, alice, 'lobby', { lastMessageId: b1.id, unread: 1 })
      await markRead(server, bob, 'lobby', a2.id)
      expect(await myRoom(server, bob, 'lobby')).toMatchObject({ lastReadId: a2.id, unread: 1 })
      // Older: ignored, 204 all the same.
      await markRead(server, bob, 'lobby', a1.id)
      expect(await myRoom(server, bob, 'lobby')).toMatchObject({ lastReadId: a2.id, unread: 1 })
      // Past the newest: the newest.
      await markRead(server, bob, 'lobby', b1.id + 1000)
      expect(await myRoom(server, bob, 'lobby')).toMatchObject({ lastReadId: b1.id, unread: 0 })
      await markRead(server, alice, 'lobby', a3.id)
      expect(await myRoom(server, alice, 'lobby')).toMatchObject({ lastReadId: a3.id, unread: 1 })
      // Bad ids, bad bodies, bad rooms, no token.
      const read = (body: unknown, token: string | undefined = bob.token, room = 'lobby') =>
        call(server.url, 'PUT', `/api/v1/users/me/rooms/${room}/read`, token, body)
      for (const body of [{}, { id: 0 }, { id: -1 }, { id: 1.5 }, { id: '3' }, { id: null }, [], null]) expectError(await read(body), 400, 'BAD_BINDING')
      expectError(await read({ id: 1 }, bob.token, 'bad%20name'), 400, 'ROOM_INVALID')
      expectError(await call(server.url, 'PUT', '/api/v1/users/me/rooms/lobby/read', undefined, { id: 1 }), 401, 'TOKEN_INVALID')
      expect(await myRoom(server, bob, 'lobby')).toMatchObject({ lastReadId: b1.id, unread: 0 })
      // A marker in a public room one has not joined is not kept.
      expectNoContent(await read({ id: a1.id }, bob.token, 'elsewhere'))
      expect((await myRooms(server, bob)).map((r) => r.name)).toEqual(['lobby'])
    })

    test('deletions: an unread message deleted stops counting (and its mention); a read one changes nothing', async () => {
      await using server = await store.start()
      const { alice, bob } = await trio(server)
      await joinRoom(server, bob, 'lobby')
      using aliceIn = await connectRoom(server, 'lobby', alice)
      const [m1, m2, m3] = [await post(aliceIn, 'one'), await post(aliceIn, 'two @bob'), await post(aliceIn, 'three')]
      await markRead(server, bob, 'lobby', m1.id)
      await expectMyRoom(server, bob, 'lobby', { unread: 2, mentions: 1 })
      await change(aliceIn, { type: 'delete', id: m1.id })
      await expectMyRoom(server, bob, 'lobby', { unread: 2, mentions: 1 })
      await change(aliceIn, { type: 'delete', id: m2.id })
      await expectMyRoom(server, bob, 'lobby', { unread: 1, mentions: 0, lastMessageId: m3.id })
      // Deleting the newest: lastMessageId is the newest message still, never an event's id.
      expectNoContent(await call(server.url, 'DELETE', `/api/v1/rooms/lobby/messages/${m3.id}`, alice.token))
      await expectMyRoom(server, bob, 'lobby', { unread: 0, mentions: 0 })
      const row = await myRoom(server, bob, 'lobby')
      expect([m3.id, m2.id, m1.id, null]).toContain(row!.lastMessageId)
      const m4 = await post(aliceIn, 'four')
      await expectMyRoom(server, bob, 'lobby', { unread: 1, lastMessageId: m4.id })
    })

    test('edits: adding a mention counts it, removing it uncounts it; the edited event and history carry the mentions', async () => {
      await using server = await store.start()
      const { alice, bob } = await trio(server)
      await joinRoom(server, bob, 'lobby')
      using aliceIn = await connectRoom(server, 'lobby', alice)
      using bobIn = await connectRoom(server, 'lobby', bob)
      const m = await post(aliceIn, 'hello')
      expect(m.mentions).toBeUndefined()
      await expectMyRoom(server, bob, 'lobby', { unread: 1, mentions: 0 })
      const edited = await change(aliceIn, { type: 'edit', id: m.id, text: 'hello @bob' })
      expect(edited.data).toMatchObject({ messageId: m.id, text: 'hello @bob', mentions: [bob.user] })
      expect((await bobIn.next('edited')).data).toEqual(edited.data)
      await expectMyRoom(server, bob, 'lobby', { unread: 1, mentions: 1 })
      expect((await get(server, historyPath('lobby'))).body.data.messages[0]).toMatchObject({ id: m.id, text: 'hello @bob', mentions: [bob.user] })
      const undone = await change(aliceIn, { type: 'edit', id: m.id, text: 'hello bob' })
      expect(undone.data.mentions).toBeUndefined()
      await expectMyRoom(server, bob, 'lobby', { unread: 1, mentions: 0 })
      expect((await get(server, historyPath('lobby'))).body.data.messages[0].mentions).toBeUndefined()
      // A new socket's history shows it as it is now too.
      await change(aliceIn, { type: 'edit', id: m.id, text: 'hello again @bob' })
      using late = await connectRoom(server, 'lobby')
      expect(late.frames[0]!.data.history[0]).toMatchObject({ id: m.id, text: 'hello again @bob', mentions: [bob.user] })
    })

    test('@name: case-insensitive, at the end, before whitespace or , . : ; ! ? ) ] } \' "; not inside a longer word; the longest name wins (names may hold spaces)', async () => {
      await using server = await store.start({ config: { messageRate: 1000, messageBurst: 1000 } })
      const { alice, bob } = await trio(server)
      const [ann, annLee] = (await cast(server, 'Ann', 'ann lee')) as [Account, Account]
      using socket = await connectRoom(server, 'lobby', alice)
      const cases: [string, Account[]][] = [
        ['@bob', [bob]],
        ['hey @BOB', [bob]],
        ['hey @Bob how are you', [bob]],
        ['@bob\tthere', [bob]],
        ['@bob\nthere', [bob]],
        ...[',', '.', ':', ';', '!', '?', ')', ']', '}', "'", '"'].map((p): [string, Account[]] => [`(hi @bob${p} there`, [bob]]),
        ['@bobby', []],
        ['@bob-x', []],
        ['@bob_', []],
        ['@bob/', []],
        ['bob', []],
        ['@ bob', []],
        ['@nobody here', []],
        ['@ann lee hi', [annLee]],
        ['@ANN LEE', [annLee]],
        ['@ann leex', [ann]],
        ['@ann, @ann lee.', [ann, annLee]],
        ['@bob @bob @bob', [bob]],
        ['@bob and @alice', [alice, bob]],
      ]
      const posted = []
      for (const [text, expected] of cases) {
        const m = await post(socket, text)
        posted.push(m)
        expect({ text, mentions: sortedMentions(m) }).toEqual({ text, mentions: expected.length === 0 ? undefined : mentionsOf(expected) })
      }
      // History (REST and a new socket's welcome) shows each message with its mentions, as it was sent.
      const history = (await get(server, historyPath('lobby', '?limit=200'))).body.data.messages
      expect(history.map(sortedMentions)).toEqual(posted.map(sortedMentions))
      using late = await connectRoom(server, 'lobby')
      expect(late.frames[0]!.data.history.map(sortedMentions)).toEqual(posted.map(sortedMentions))
      // Mentioning oneself puts one in `mentions` without counting.
      await joinRoom(server, alice, 'lobby')
      const self = await post(socket, 'note to @alice')
      expect(self.mentions).toEqual([alice.user])
      await expectMyRoom(server, alice, 'lobby', { unread: 0, mentions: 0 })
    })

    test('in a private room only members can be mentioned: an outsider named stays plain text and counts nowhere', async () => {
      await using server = await store.start()
      const { alice, bob, carol } = await trio(server)
      await createRoom(server, alice, 'secret', 'private')
      await addMember(server, alice, 'secret', 'bob')
      using socket = await connectRoom(server, 'secret', alice)
      const m = await post(socket, '@carol and @bob')
      expect(m.mentions).toEqual([bob.user])
      const outsiderOnly = await post(socket, 'hi @carol')
      expect(outsiderOnly.mentions).toBeUndefined()
      expect(Object.keys(outsiderOnly)).not.toContain('mentions')
      expect(await myRooms(server, carol)).toEqual([])
      await expectMyRoom(server, bob, 'secret', { unread: 2, mentions: 1 })
      // Once carol is a member, naming her mentions her.
      await addMember(server, alice, 'secret', 'carol')
      const now = await post(socket, 'welcome @carol')
      expect(now.mentions).toEqual([carol.user])
      await expectMyRoom(server, carol, 'secret', { unread: 1, mentions: 1, lastReadId: outsiderOnly.id })
    })

    test('the counts and markers survive a restart on the same database', async () => {
      await using database = await store.database()
      let server = await database.start()
      let before: unknown
      let bob: Account
      try {
        const cast3 = await trio(server)
        bob = cast3.bob
        const alice = cast3.alice
        await joinRoom(server, bob, 'lobby')
        await createRoom(server, alice, 'secret', 'private')
        await addMember(server, alice, 'secret', 'bob')
        using lobby = await connectRoom(server, 'lobby', alice)
        using secret = await connectRoom(server, 'secret', alice)
        const l1 = await post(lobby, 'one')
        await post(lobby, 'two @bob')
        await post(lobby, 'three')
        await post(secret, '@bob secret')
        await markRead(server, bob, 'lobby', l1.id)
        await expectMyRoom(server, bob, 'lobby', { unread: 2, mentions: 1 })
        await expectMyRoom(server, bob, 'secret', { unread: 1, mentions: 1 })
        before = await myRooms(server, bob)
      } finally {
        await server.stop()
      }
      server = await database.start()
      try {
        expect(await myRooms(server, bob!)).toEqual(before as never)
      } finally {
        await server.stop()
      }
    })
  })
}
