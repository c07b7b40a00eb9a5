/**
 * Spec §6 over HTTP, on SQLite and PostgreSQL: registering a room (`POST /api/v1/rooms`), what a
 * private room shows to whom (anonymous, a non-member, a member, its owner, an admin who is not a
 * member), the room list that never shows a private room, and its members (`GET` / `PUT` / `DELETE
 * /api/v1/rooms/{room}/members/{username}`): the owner or an admin add and remove (an admin audited
 * as `room.member.add` / `room.member.remove`), a member may remove themselves, other members get
 * 403 FORBIDDEN, and to an outsider the room does not exist (404 ROOM_NOT_FOUND).
 *
 * The first account of a server becomes its admin (spec §5), so each scene signs up `root` first.
 */
import { expect } from 'bun:test'
import { call, expectError, expectNoContent, expectOk } from '../support/accounts.ts'
import type { Account } from '../support/http.ts'
import {
  addMember,
  auditOf,
  cast,
  connectRoom,
  createRoom,
  frameOf,
  get,
  historyPath,
  joinRoom,
  myRoom,
  openUserStream,
  removeMember,
} from '../support/private-rooms.ts'
import { post } from '../support/rooms.ts'
import type { TestServer } from '../support/server.ts'
import { STORES } from '../support/stores.ts'

const members = (room: string) => `/api/v1/rooms/${room}/members`
const member = (room: string, username: string) => `/api/v1/rooms/${room}/members/${encodeURIComponent(username)}`
const roomPath = (room: string) => `/api/v1/rooms/${room}`

/** root (admin, not a member), alice (owner of private `secret`), bob (a member), carol (an outsider); one message in `secret`. */
async function scene(server: TestServer) {
  const [root, alice, bob, carol] = (await cast(server, 'root', 'alice', 'bob', 'carol')) as [Account, Account, Account, Account]
  const info = await createRoom(server, alice, 'secret', 'private', 'plans')
  await addMember(server, alice, 'secret', 'bob')
  using socket = await connectRoom(server, 'secret', alice)
  const message = await post(socket, 'the plan')
  return { root, alice, bob, carol, info, message }
}

for (const store of STORES()) {
  store.describe(`on ${store.name}`, () => {
    const test = store.test

    test('POST /rooms registers a room: 201 with its owner, who is its first member; GET /rooms/{room} shows it', async () => {
      await using server = await store.start()
      const [, alice] = (await cast(server, 'root', 'alice')) as [Account, Account]
      const created = await call(server.url, 'POST', '/api/v1/rooms', alice.token, { name: 'secret', visibility: 'private', topic: 'plans' })
      const info = { name: 'secret', visibility: 'private', topic: 'plans', owner: alice.user }
      expectOk(created, info, 201)
      expect(created.headers.get('content-type')).toBe('application/json; charset=utf-8')
      expectOk(await get(server, roomPath('secret'), alice), info)
      expectOk(await get(server, members('secret'), alice), { members: [alice.user] })
      // A public one, without a topic (and "" means none); unknown fields are ignored.
      expectOk(
        await call(server.url, 'POST', '/api/v1/rooms', alice.token, { name: 'open', visibility: 'public', extra: 1 }),
        { name: 'open', visibility: 'public', topic: null, owner: alice.user },
        201,
      )
      expectOk(
        await call(server.url, 'POST', '/api/v1/rooms', alice.token, { name: 'plain', visibility: 'public', topic: '' }),
        { name: 'plain', visibility: 'public', topic: null, owner: alice.user },
        201,
      )
      expectOk(await get(server, roomPath('open')), { name: 'open', visibility: 'public', topic: null, owner: alice.user })
      // A topic of exactly 250 code points is fine.
      const topic = '🙂'.repeat(250)
      expectOk(
        await call(server.url, 'POST', '/api/v1/rooms', alice.token, { name: 'long', visibility: 'private', topic }),
        { name: 'long', visibility: 'private', topic, owner: alice.user },
        201,
      )
      // Room names are case-sensitive: `Secret` is another room.
      expect((await call(server.url, 'POST', '/api/v1/rooms', alice.token, { name: 'Secret', visibility: 'public' })).status).toBe(201)
      // A room nobody registered: public, no topic, no owner.
      expectOk(await get(server, roomPath('lobby')), { name: 'lobby', visibility: 'public', topic: null, owner: null })
      // The owner has it in their rooms.
      expect(await myRoom(server, alice, 'secret')).toMatchObject({
        name: 'secret',
        visibility: 'private',
        topic: 'plans',
        lastMessageId: null,
        unread: 0,
        mentions: 0,
        peer: null,
      })
    })

    test('POST /rooms refusals: 401, 403 USER_BANNED, 400 ROOM_INVALID, 400 BAD_BINDING, 409 ROOM_EXISTS; nothing is registered', async () => {
      await using server = await store.start()
      const [root, alice, bob, banned] = (await cast(server, 'root', 'alice', 'bob', 'banned')) as [Account, Account, Account, Account]
      expectNoContent(await call(server.url, 'PUT', `/api/v1/admin/users/${banned.user.id}/ban`, root.token, {}))
      const register = (token: string | undefined, body: unknown) => call(server.url, 'POST', '/api/v1/rooms', token, body)
      expectError(await register(undefined, { name: 'r1', visibility: 'private' }), 401, 'TOKEN_INVALID')
      expectError(await register('not.a.token', { name: 'r1', visibility: 'private' }), 401, 'TOKEN_INVALID')
      expectError(await register(banned.token, { name: 'r1', visibility: 'private' }), 403, 'USER_BANNED')
      for (const name of ['bad name', '-dash', '.dot', 'x'.repeat(65), '', 'ünïcode', 'a/b'])
        expectError(await register(alice.token, { name, visibility: 'private' }), 400, 'ROOM_INVALID')
      for (const body of [
        { name: 'r1' },
        { name: 'r1', visibility: 'secret' },
        { name: 'r1', visibility: 'PRIVATE' },
        { name: 'r1', visibility: 1 },
        { name: 'r1', visibility: 'private', topic: 5 },
        { name: 'r1', visibility: 'private', topic: 'x'.repeat(251) },
        { name: 'r1', visibility: 'private', topic: 'line\nbreak' },
        { name: 'r1', visibility: 'private', topic: 'bell\u0007' },
        [],
        'r1',
        null,
      ])
        expectError(await register(alice.token, body), 400, 'BAD_BINDING')
      const notJson = await fetch(`${server.url}/api/v1/rooms`, { method: 'POST', headers: { Authorization: `Bearer ${alice.token}` }, body: '{"name":' })
      expect(notJson.status).toBe(400)
      expect((await notJson.json()).error.type).toBe('BAD_BINDING')
      // Nothing was registered by any of them.
      expectOk(await get(server, roomPath('r1')), { name: 'r1', visibility: 'public', topic: null, owner: null })

      // Taken: registered (whatever the visibility), with messages, or any DM name.
      await createRoom(server, alice, 'taken', 'public')
      using socket = await connectRoom(server, 'chatty', bob)
      await post(socket, 'first!')
      for (const name of ['taken', 'chatty', 'dm.1.2', `dm.${alice.user.id}.${bob.user.id}`, 'dm.x', 'dm.'])
        for (const visibility of ['public', 'private']) expectError(await register(bob.token, { name, visibility }), 409, 'ROOM_EXISTS')
      // The first registration stands.
      expectOk(await get(server, roomPath('taken')), { name: 'taken', visibility: 'public', topic: null, owner: alice.user })
      expectOk(await get(server, roomPath('chatty')), { name: 'chatty', visibility: 'public', topic: null, owner: null })
    })

    test('a name people joined but never used can be registered: private, it keeps only the owner, and those who joined are told; public, they stay', async () => {
      await using server = await store.start()
      const [, alice, bob] = (await cast(server, 'root', 'alice', 'bob')) as [Account, Account, Account]
      await joinRoom(server, bob, 'squatted')
      await joinRoom(server, bob, 'followed')
      const { stream } = await openUserStream(server, bob)
      await createRoom(server, alice, 'squatted', 'private')
      expect((await frameOf(stream, 'room', (d) => d.room === 'squatted')).data).toEqual({ room: 'squatted', visibility: 'private', member: false })
      stream.close()
      expectError(await get(server, historyPath('squatted'), bob), 404, 'ROOM_NOT_FOUND')
      expect(await myRoom(server, bob, 'squatted')).toBeUndefined()
      expect(await myRoom(server, alice, 'squatted')).toMatchObject({ name: 'squatted', visibility: 'private' })
      await createRoom(server, alice, 'followed', 'public')
      expect(await myRoom(server, bob, 'followed')).toMatchObject({ name: 'followed', visibility: 'public' })
      expectOk(await get(server, roomPath('followed')), { name: 'followed', visibility: 'public', topic: null, owner: alice.user })
    })

    test('every §6 endpoint: a bad token 401 TOKEN_INVALID, a banned user 403 USER_BANNED, a bad room name 400 ROOM_INVALID; a wrong method 405 with Allow', async () => {
      await using server = await store.start()
      const [root, alice, banned] = (await cast(server, 'root', 'alice', 'banned')) as [Account, Account, Account]
      await createRoom(server, alice, 'club', 'public')
      await joinRoom(server, banned, 'club')
      expectNoContent(await call(server.url, 'PUT', `/api/v1/admin/users/${banned.user.id}/ban`, root.token, {}))
      const withToken: [string, (room: string) => string, unknown?][] = [
        ['POST', () => '/api/v1/rooms', { name: 'new-room', visibility: 'private' }],
        ['PUT', (r) => member(r, 'alice')],
        ['DELETE', (r) => member(r, 'banned')],
        ['POST', () => '/api/v1/dms', { username: 'alice' }],
        ['GET', () => '/api/v1/users/me/rooms'],
        ['PUT', (r) => `/api/v1/users/me/rooms/${r}`],
        ['DELETE', (r) => `/api/v1/users/me/rooms/${r}`],
        ['PUT', (r) => `/api/v1/users/me/rooms/${r}/read`, { id: 1 }],
      ]
      const tokenOptional: [string, (room: string) => string][] = [
        ['GET', (r) => roomPath(r)],
        ['GET', (r) => members(r)],
      ]
      for (const [method, path, body] of [...withToken, ...tokenOptional]) {
        expectError(await call(server.url, method, path('club'), 'not.a.token', body), 401, 'TOKEN_INVALID')
        expectError(await call(server.url, method, path('club'), banned.token, body), 403, 'USER_BANNED')
      }
      for (const [method, path, body] of withToken) expectError(await call(server.url, method, path('club'), undefined, body), 401, 'TOKEN_INVALID')
      for (const [method, path, body] of [...withToken, ...tokenOptional]) {
        if (path('x') === path('y')) continue
        expectError(await call(server.url, method, path('bad name'), alice.token, body), 400, 'ROOM_INVALID')
        expectError(await call(server.url, method, path('-x'), alice.token, body), 400, 'ROOM_INVALID')
      }
      // Nothing happened to the banned user's membership.
      expectOk(await get(server, members('club')), { members: [alice.user, banned.user] })
      for (const [method, path] of [
        ['PATCH', '/api/v1/rooms/club/members'],
        ['POST', '/api/v1/rooms/club'],
        ['GET', '/api/v1/dms'],
        ['POST', '/api/v1/users/me/rooms'],
        ['GET', '/api/v1/users/me/rooms/club/read'],
        ['POST', '/api/v1/rooms/club/members/alice'],
      ] as const) {
        const res = await call(server.url, method, path, alice.token)
        expectError(res, 405, 'METHOD_NOT_ALLOWED')
        expect(res.headers.get('allow')).toBeTruthy()
        expect(res.headers.get('allow')).not.toContain(method)
      }
    })

    test('two registrations of one name at once: exactly one wins', async () => {
      await using server = await store.start()
      const [, alice, bob] = (await cast(server, 'root', 'alice', 'bob')) as [Account, Account, Account]
      const answers = await Promise.all(
        Array.from({ length: 6 }, (_, i) => call(server.url, 'POST', '/api/v1/rooms', (i % 2 ? alice : bob).token, { name: 'race', visibility: 'private' })),
      )
      expect(answers.map((a) => a.status).sort()).toEqual([201, 409, 409, 409, 409, 409])
      const winner = answers.find((a) => a.status === 201)!.body.data.owner
      expectOk(await get(server, members('race'), winner.id === alice.user.id ? alice : bob), { members: [winner] })
    })

    test('a private room to each reader: members and its owner read it; anonymous, a non-member and an admin who is no member get 404 ROOM_NOT_FOUND on every room path', async () => {
      await using server = await store.start()
      const { root, alice, bob, carol, info, message } = await scene(server)
      for (const reader of [alice, bob]) {
        expectOk(await get(server, historyPath('secret'), reader), { messages: [message], hasMore: false })
        expectOk(await get(server, roomPath('secret'), reader), info)
        expectOk(await get(server, members('secret'), reader), { members: [alice.user, bob.user] })
      }
      for (const reader of [undefined, carol, root]) {
        for (const path of [historyPath('secret'), historyPath('secret', `?before=${message.id + 1}&limit=5`), roomPath('secret'), members('secret')])
          expectError(await get(server, path, reader), 404, 'ROOM_NOT_FOUND')
      }
      for (const outsider of [carol, root]) {
        expectError(await call(server.url, 'DELETE', `${historyPath('secret')}/${message.id}`, outsider.token), 404, 'ROOM_NOT_FOUND')
        expectError(await call(server.url, 'PUT', `/api/v1/users/me/rooms/secret`, outsider.token), 404, 'ROOM_NOT_FOUND')
        expectError(await call(server.url, 'DELETE', `/api/v1/users/me/rooms/secret`, outsider.token), 404, 'ROOM_NOT_FOUND')
        expectError(await call(server.url, 'PUT', `/api/v1/users/me/rooms/secret/read`, outsider.token, { id: message.id }), 404, 'ROOM_NOT_FOUND')
        expect(await myRoom(server, outsider, 'secret')).toBeUndefined()
      }
      // A token that is sent must be valid, even where none is needed.
      expectError(await call(server.url, 'GET', historyPath('secret'), 'not.a.token'), 401, 'TOKEN_INVALID')
      // Nothing an outsider did changed anything: the message is there, the members are the same.
      expectOk(await get(server, historyPath('secret'), bob), { messages: [message], hasMore: false })
      expectOk(await get(server, members('secret'), alice), { members: [alice.user, bob.user] })
    })

    test('GET /rooms never lists a private room, with messages and members connected or not; public ones are listed', async () => {
      await using server = await store.start()
      const { root, alice, bob } = await scene(server)
      using aliceIn = await connectRoom(server, 'secret', alice)
      using bobIn = await connectRoom(server, 'secret', bob)
      using pub = await connectRoom(server, 'lobby', bob)
      await post(pub, 'hello lobby')
      for (const reader of [undefined, alice, root]) {
        const list = await get(server, '/api/v1/rooms', reader)
        expect(list.status).toBe(200)
        expect(list.body.data.rooms.map((r: { name: string }) => r.name)).toEqual(['lobby'])
      }
      void aliceIn
      void bobIn
    })

    test('members: the owner adds and removes (204, idempotent, names as at login); another member gets 403, an outsider 404, anonymous 401', async () => {
      await using server = await store.start()
      const { root, alice, bob, carol } = await scene(server)
      const [dave] = (await cast(server, 'dave')) as [Account]
      const change = (method: string, username: string, by?: Account) => call(server.url, method, member('secret', username), by?.token)
      // A member who is not the owner may not add or remove others.
      expectError(await change('PUT', 'carol', bob), 403, 'FORBIDDEN')
      expectError(await change('DELETE', 'alice', bob), 403, 'FORBIDDEN')
      // An outsider is told the room does not exist, whoever they name.
      for (const name of ['carol', 'bob', 'nobody']) {
        expectError(await change('PUT', name, carol), 404, 'ROOM_NOT_FOUND')
        expectError(await change('DELETE', name, carol), 404, 'ROOM_NOT_FOUND')
      }
      expectError(await change('PUT', 'carol'), 401, 'TOKEN_INVALID')
      expectError(await change('DELETE', 'bob'), 401, 'TOKEN_INVALID')
      expectError(await call(server.url, 'PUT', member('bad name', 'carol'), alice.token), 400, 'ROOM_INVALID')
      expectError(await change('PUT', 'nobody', alice), 404, 'USER_NOT_FOUND')
      expectError(await change('DELETE', 'nobody', alice), 404, 'USER_NOT_FOUND')
      expectOk(await get(server, members('secret'), alice), { members: [alice.user, bob.user] })
      // The owner adds, matched as at login (case-insensitive); adding again changes nothing.
      expectNoContent(await change('PUT', 'CAROL', alice))
      expectNoContent(await change('PUT', 'carol', alice))
      expectOk(await get(server, members('secret'), carol), { members: [alice.user, bob.user, carol.user] })
      expect(await myRoom(server, carol, 'secret')).toMatchObject({ name: 'secret', visibility: 'private', topic: 'plans', unread: 0, mentions: 0 })
      // The owner removes; removing someone who is not in changes nothing.
      expectNoContent(await change('DELETE', 'carol', alice))
      expectNoContent(await change('DELETE', 'carol', alice))
      expectNoContent(await change('DELETE', 'dave', alice))
      expectOk(await get(server, members('secret'), alice), { members: [alice.user, bob.user] })
      expectError(await get(server, historyPath('secret'), carol), 404, 'ROOM_NOT_FOUND')
      // A member may remove themselves.
      expectNoContent(await change('DELETE', 'bob', bob))
      expectOk(await get(server, members('secret'), alice), { members: [alice.user] })
      expectError(await get(server, historyPath('secret'), bob), 404, 'ROOM_NOT_FOUND')
      expect(await myRoom(server, bob, 'secret')).toBeUndefined()
      // None of it was an admin action.
      expect(await auditOf(server, root, 'room.member.add')).toEqual([])
      expect(await auditOf(server, root, 'room.member.remove')).toEqual([])
      void dave
    })

    test('an admin is no member by right: adding themselves (or anyone) is 204 and audited, and only then do they read the room', async () => {
      await using server = await store.start()
      const { root, alice, carol, message } = await scene(server)
      expectError(await get(server, historyPath('secret'), root), 404, 'ROOM_NOT_FOUND')
      expectNoContent(await call(server.url, 'PUT', member('secret', 'root'), root.token))
      expectOk(await get(server, historyPath('secret'), root), { messages: [message], hasMore: false })
      expectNoContent(await call(server.url, 'PUT', member('secret', 'carol'), root.token))
      expectNoContent(await call(server.url, 'DELETE', member('secret', 'bob'), root.token))
      const entry = (action: string, user: Account) => ({
        id: expect.any(Number),
        at: expect.any(String),
        actor: root.user,
        action,
        target: { room: 'secret', user: user.user },
      })
      expect(await auditOf(server, root, 'room.member.add')).toEqual([entry('room.member.add', carol), entry('room.member.add', root)])
      expect(await auditOf(server, root, 'room.member.remove')).toEqual([
        {
          id: expect.any(Number),
          at: expect.any(String),
          actor: root.user,
          action: 'room.member.remove',
          target: { room: 'secret', user: { id: expect.any(Number), username: 'bob' } },
        },
      ])
      expectOk(await get(server, members('secret'), alice), { members: [alice.user, root.user, carol.user] })
    })

    test('a removed member can no longer read the history, the members or the room', async () => {
      await using server = await store.start()
      const { alice, bob } = await scene(server)
      expect((await get(server, historyPath('secret'), bob)).status).toBe(200)
      await removeMember(server, alice, 'secret', 'bob')
      for (const path of [historyPath('secret'), roomPath('secret'), members('secret')]) expectError(await get(server, path, bob), 404, 'ROOM_NOT_FOUND')
      expect(await myRoom(server, bob, 'secret')).toBeUndefined()
      // Added back, they read it again.
      await addMember(server, alice, 'secret', 'bob')
      expect((await get(server, historyPath('secret'), bob)).status).toBe(200)
    })

    test('an owner who left their private room is an outsider: 404 on every room path, members included, until an admin adds them back', async () => {
      await using server = await store.start()
      const { root, alice, bob, carol, info } = await scene(server)
      expectNoContent(await call(server.url, 'DELETE', member('secret', 'alice'), alice.token))
      for (const path of [historyPath('secret'), roomPath('secret'), members('secret')]) expectError(await get(server, path, alice), 404, 'ROOM_NOT_FOUND')
      // Not even the owner's rights over the members: neither letting themselves or anyone else in, nor putting bob out.
      for (const [method, name] of [
        ['PUT', 'alice'],
        ['PUT', 'carol'],
        ['DELETE', 'bob'],
      ] as const)
        expectError(await call(server.url, method, member('secret', name), alice.token), 404, 'ROOM_NOT_FOUND')
      expectOk(await get(server, members('secret'), bob), { members: [bob.user] })
      // The room keeps them as its owner; let back in by an admin, they manage its members again.
      expectOk(await get(server, roomPath('secret'), bob), info)
      expectNoContent(await call(server.url, 'PUT', member('secret', 'alice'), root.token))
      expectNoContent(await call(server.url, 'PUT', member('secret', 'carol'), alice.token))
      expectOk(await get(server, members('secret'), carol), { members: [bob.user, alice.user, carol.user] })
    })

    test('a public room: anyone lists its members (who joined) and may add or remove themselves; only its owner or an admin others', async () => {
      await using server = await store.start()
      const [root, alice, bob, carol] = (await cast(server, 'root', 'alice', 'bob', 'carol')) as [Account, Account, Account, Account]
      await createRoom(server, alice, 'club', 'public')
      expectOk(await get(server, members('club')), { members: [alice.user] })
      expectNoContent(await call(server.url, 'PUT', member('club', 'bob'), bob.token))
      expectOk(await get(server, members('club')), { members: [alice.user, bob.user] })
      expectError(await call(server.url, 'PUT', member('club', 'carol'), bob.token), 403, 'FORBIDDEN')
      expectError(await call(server.url, 'DELETE', member('club', 'alice'), bob.token), 403, 'FORBIDDEN')
      expectNoContent(await call(server.url, 'PUT', member('club', 'carol'), alice.token))
      expectNoContent(await call(server.url, 'DELETE', member('club', 'bob'), bob.token))
      expectOk(await get(server, members('club'), carol), { members: [alice.user, carol.user] })
      // A room nobody registered: people who joined it; nobody may add anyone else (there is no owner), admins may.
      await joinRoom(server, bob, 'lobby')
      expectOk(await get(server, members('lobby')), { members: [bob.user] })
      expectError(await call(server.url, 'PUT', member('lobby', 'carol'), bob.token), 403, 'FORBIDDEN')
      expectNoContent(await call(server.url, 'PUT', member('lobby', 'carol'), root.token))
      expectOk(await get(server, members('lobby')), { members: [bob.user, carol.user] })
      expectOk(await get(server, members('nobody-here')), { members: [] })
    })
  })
}
