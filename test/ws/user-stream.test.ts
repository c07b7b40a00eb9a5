/**
 * Spec §6, the user stream `GET /api/v1/users/me/ws`, on SQLite and PostgreSQL: token as the first
 * subprotocol (none or a bad one: `error` TOKEN_INVALID + 4001; banned: USER_BANNED + 4003); a
 * `welcome` first with the user's rooms as `GET /api/v1/users/me/rooms` lists them; then `mention`,
 * `read`, `unread` and `room` events wherever the user is; `?since=` brings the mentions missed; a
 * revocation closes it 4001 TOKEN_REVOKED, a ban 4003.
 */
import { expect } from 'bun:test'
import { CLOSE } from '../../src/protocol.ts'
import { ROOM_LIMITS } from '../../src/protocol-rooms.ts'
import { call, closedWithin2s, expectError, expectNoContent } from '../support/accounts.ts'
import { change } from '../support/changes.ts'
import { request, type Account } from '../support/http.ts'
import {
  addMember,
  cast,
  connectRoom,
  createRoom,
  frameOf,
  framesOf,
  joinRoom,
  markRead,
  myRooms,
  openUserStream,
  removeMember,
  sync,
  unreadReaches,
  userStreamUrl,
} from '../support/private-rooms.ts'
import { errorFrame, post, postMany } from '../support/rooms.ts'
import type { TestServer } from '../support/server.ts'
import { rawUpgrade } from '../support/raw-ws.ts'
import { openSocket } from '../support/socket.ts'
import { STORES } from '../support/stores.ts'

async function trio(server: TestServer) {
  const [root, alice, bob, carol] = (await cast(server, 'root', 'alice', 'bob', 'carol')) as [Account, Account, Account, Account]
  return { root, alice, bob, carol }
}

for (const store of STORES()) {
  store.describe(`on ${store.name}`, () => {
    const test = store.test

    test('no token or a bad one: error TOKEN_INVALID then 4001; a banned user: USER_BANNED then 4003; a plain GET 426; a bad since 400', async () => {
      await using server = await store.start()
      const { root, carol } = await trio(server)
      for (const protocols of [undefined, ['not.a.token']]) {
        using socket = await openSocket(userStreamUrl(server), protocols)
        expect(await socket.closed).toEqual(CLOSE.TOKEN_INVALID)
        expect(socket.frames).toEqual([errorFrame('TOKEN_INVALID')])
      }
      expectNoContent(await call(server.url, 'PUT', `/api/v1/admin/users/${carol.user.id}/ban`, root.token, {}))
      using banned = await openSocket(userStreamUrl(server), [carol.token])
      expect(await banned.closed).toEqual(CLOSE.BANNED)
      expect(banned.frames).toEqual([errorFrame('USER_BANNED')])
      expectError(await request(`${server.url}/api/v1/users/me/ws`), 426, 'UPGRADE_REQUIRED')
      for (const since of ['abc', '-1', '1.5']) {
        const refused = await rawUpgrade(userStreamUrl(server, `?since=${since}`), { protocols: [root.token] })
        expect({ status: refused.response.status, body: refused.response.body }).toEqual({
          status: 400,
          body: { error: { type: 'BAD_QUERY', message: expect.any(String) }, data: null },
        })
      }
    })

    test('welcome comes first, with the user and their rooms as GET /users/me/rooms lists them; ping is answered, anything else is MESSAGE_INVALID', async () => {
      await using server = await store.start()
      const { alice, bob } = await trio(server)
      await createRoom(server, alice, 'secret', 'private', 'plans')
      await addMember(server, alice, 'secret', 'bob')
      await joinRoom(server, bob, 'lobby')
      using aliceIn = await connectRoom(server, 'secret', alice)
      await post(aliceIn, 'hey @bob')
      const listed = await myRooms(server, bob)
      expect(listed.map((r) => r.name).sort()).toEqual(['lobby', 'secret'])
      using stream = await openSocket(userStreamUrl(server), [bob.token])
      expect(stream.ws.protocol).toBe(bob.token)
      expect(await stream.next()).toEqual({ type: 'welcome', error: null, data: { user: bob.user, rooms: listed, mentions: [], truncated: false } })
      stream.send({ type: 'ping' })
      expect(await stream.next()).toEqual({ type: 'pong', error: null, data: null })
      for (const frame of [{ type: 'message', text: 'hi' }, { type: 'typing' }, { type: 'read', id: 1 }, { nope: 1 }]) {
        stream.send(frame)
        expect(await stream.next()).toEqual(errorFrame('MESSAGE_INVALID'))
      }
      stream.sendRaw('not json')
      expect(await stream.next()).toEqual(errorFrame('MESSAGE_INVALID'))
      await sync(stream)
    })

    test('`mention` reaches the mentioned user wherever they are, with the message; `unread` carries the counts', async () => {
      await using server = await store.start()
      const { alice, bob } = await trio(server)
      await joinRoom(server, bob, 'lobby')
      const { stream } = await openUserStream(server, bob)
      using aliceIn = await connectRoom(server, 'lobby', alice)
      const m = await post(aliceIn, 'ping @bob, are you there?')
      expect(m.mentions).toEqual([bob.user])
      expect(await frameOf(stream, 'mention')).toEqual({ type: 'mention', error: null, data: { room: 'lobby', message: m } })
      expect((await unreadReaches(stream, 'lobby', { unread: 1, mentions: 1 })).data).toEqual({ room: 'lobby', lastMessageId: m.id, unread: 1, mentions: 1 })
      // A mention in a public room bob has not joined still reaches him (he can read it); no counts there.
      using elsewhere = await connectRoom(server, 'elsewhere', alice)
      const m2 = await post(elsewhere, '@bob look here')
      expect((await frameOf(stream, 'mention', (d) => d.room === 'elsewhere')).data).toEqual({ room: 'elsewhere', message: m2 })
      await sync(stream)
      expect(framesOf(stream, 'unread').filter((f) => f.data.room === 'elsewhere')).toEqual([])
      // Mentioning oneself notifies nobody: alice's stream gets no mention for her own message.
      const { stream: aliceStream } = await openUserStream(server, alice)
      const self = await post(aliceIn, 'note to @alice')
      expect(self.mentions).toEqual([alice.user])
      const after = await post(aliceIn, 'and @bob')
      await frameOf(stream, 'mention', (d) => d.message.id === after.id)
      await sync(aliceStream)
      expect(framesOf(aliceStream, 'mention')).toEqual([])
      stream.close()
      aliceStream.close()
    })

    test('`room` events: added by an owner, a DM created, a room registered, a public room joined and left, removed', async () => {
      await using server = await store.start()
      const { alice, bob } = await trio(server)
      const { stream: bobStream } = await openUserStream(server, bob)
      const { stream: aliceStream } = await openUserStream(server, alice)
      const event = (room: string, visibility: string, member: boolean) => ({ type: 'room', error: null, data: { room, visibility, member } })
      await createRoom(server, alice, 'secret', 'private')
      expect(await frameOf(aliceStream, 'room', (d) => d.room === 'secret')).toEqual(event('secret', 'private', true))
      await addMember(server, alice, 'secret', 'bob')
      expect(await frameOf(bobStream, 'room', (d) => d.room === 'secret')).toEqual(event('secret', 'private', true))
      const dm = (await call(server.url, 'POST', '/api/v1/dms', alice.token, { username: 'bob' })).body.data.room
      expect(await frameOf(bobStream, 'room', (d) => d.room === dm)).toEqual(event(dm, 'private', true))
      await joinRoom(server, bob, 'lobby')
      expect(await frameOf(bobStream, 'room', (d) => d.room === 'lobby')).toEqual(event('lobby', 'public', true))
      expectNoContent(await call(server.url, 'DELETE', '/api/v1/users/me/rooms/lobby', bob.token))
      expect(await frameOf(bobStream, 'room', (d) => d.room === 'lobby' && !d.member)).toEqual(event('lobby', 'public', false))
      await removeMember(server, alice, 'secret', 'bob')
      expect(await frameOf(bobStream, 'room', (d) => d.room === 'secret' && !d.member)).toEqual(event('secret', 'private', false))
      bobStream.close()
      aliceStream.close()
    })

    test('`read` reaches every device of the user, from a socket frame or PUT …/read; `unread` drops; a marker only moves forward', async () => {
      await using server = await store.start()
      const { alice, bob } = await trio(server)
      await joinRoom(server, bob, 'lobby')
      using aliceIn = await connectRoom(server, 'lobby', alice)
      const [m1, m2, m3] = [await post(aliceIn, 'one'), await post(aliceIn, 'two @bob'), await post(aliceIn, 'three')]
      const { stream: phone } = await openUserStream(server, bob)
      const { stream: laptop } = await openUserStream(server, bob)
      expect(laptop.frames[0]!.data.rooms).toEqual([expect.objectContaining({ name: 'lobby', lastMessageId: m3.id, lastReadId: 0, unread: 3, mentions: 1 })])
      // The laptop's room socket reads up to m2.
      using bobIn = await connectRoom(server, 'lobby', bob)
      bobIn.send({ type: 'read', id: m2.id })
      for (const stream of [phone, laptop]) {
        expect(await frameOf(stream, 'read')).toEqual({ type: 'read', error: null, data: { room: 'lobby', id: m2.id } })
        await unreadReaches(stream, 'lobby', { unread: 1, mentions: 0, lastMessageId: m3.id })
      }
      // The phone reads an older id: ignored, no marker moves.
      await markRead(server, bob, 'lobby', m1.id)
      expect((await myRooms(server, bob))[0]).toMatchObject({ lastReadId: m2.id, unread: 1, mentions: 0 })
      // The phone reads everything over REST.
      await markRead(server, bob, 'lobby', m3.id)
      for (const stream of [phone, laptop]) {
        expect(await frameOf(stream, 'read', (d) => d.id === m3.id)).toEqual({ type: 'read', error: null, data: { room: 'lobby', id: m3.id } })
        await unreadReaches(stream, 'lobby', { unread: 0, mentions: 0, lastMessageId: m3.id })
      }
      await sync(phone)
      expect(framesOf(phone, 'read').map((f) => f.data.id)).toEqual([m2.id, m3.id])
      phone.close()
      laptop.close()
    })

    test('`unread` follows deletions and edits that add or remove a mention', async () => {
      await using server = await store.start()
      const { alice, bob } = await trio(server)
      await joinRoom(server, bob, 'lobby')
      const { stream } = await openUserStream(server, bob)
      using aliceIn = await connectRoom(server, 'lobby', alice)
      const m1 = await post(aliceIn, 'hello')
      const m2 = await post(aliceIn, 'world')
      await unreadReaches(stream, 'lobby', { unread: 2, mentions: 0, lastMessageId: m2.id })
      await change(aliceIn, { type: 'edit', id: m1.id, text: 'hello @bob' })
      expect((await frameOf(stream, 'mention')).data).toMatchObject({ room: 'lobby', message: { id: m1.id } })
      await unreadReaches(stream, 'lobby', { unread: 2, mentions: 1, lastMessageId: m2.id })
      await change(aliceIn, { type: 'edit', id: m1.id, text: 'hello' })
      await unreadReaches(stream, 'lobby', { unread: 2, mentions: 0, lastMessageId: m2.id })
      await change(aliceIn, { type: 'delete', id: m1.id })
      await unreadReaches(stream, 'lobby', { unread: 1, mentions: 0, lastMessageId: m2.id })
      stream.close()
    })

    test('`unread` updates are gathered per room (at most ten a second) and end with the counts as they are', async () => {
      await using server = await store.start({ config: { messageRate: 1000, messageBurst: 1000 } })
      const { alice, bob } = await trio(server)
      await joinRoom(server, bob, 'lobby')
      const { stream } = await openUserStream(server, bob)
      using aliceIn = await connectRoom(server, 'lobby', alice)
      const started = Date.now()
      const sent = await postMany(aliceIn, 40)
      const last = sent.at(-1)!
      await unreadReaches(stream, 'lobby', { unread: 40, mentions: 0, lastMessageId: last.id })
      const elapsed = Date.now() - started
      const updates = framesOf(stream, 'unread').filter((f) => f.data.room === 'lobby')
      // One per 100 ms window, plus one for the window the burst started in.
      expect(updates.length).toBeLessThanOrEqual(Math.ceil(elapsed / ROOM_LIMITS.UNREAD_COALESCE_MS) + 1)
      expect(updates.length).toBeLessThan(40)
      stream.close()
    })

    test('resume with ?since=: welcome.mentions holds the mentions missed that are still readable and not deleted, oldest first', async () => {
      await using server = await store.start()
      const { alice, bob } = await trio(server)
      await createRoom(server, alice, 'secret', 'private')
      await addMember(server, alice, 'secret', 'bob')
      using lobby = await connectRoom(server, 'lobby', alice)
      using secret = await connectRoom(server, 'secret', alice)
      const seen = await post(lobby, '@bob first')
      const { stream } = await openUserStream(server, bob)
      await frameOf(stream, 'welcome')
      stream.close()
      await stream.closed
      // While bob is away.
      const a = await post(lobby, 'hi @Bob')
      const gone = await post(lobby, '@bob oops')
      const hidden = await post(secret, '@bob in secret')
      const b = await post(secret, 'and @bob again')
      await post(lobby, 'no mention')
      await change(lobby, { type: 'delete', id: gone.id })
      const { welcome } = await openUserStream(server, bob, `?since=${seen.id}`)
      expect(welcome.data.mentions).toEqual([
        { room: 'lobby', message: a },
        { room: 'secret', message: hidden },
        { room: 'secret', message: b },
      ])
      expect(welcome.data.truncated).toBe(false)
      // Removed from the secret room: those mentions are no longer his to see.
      await removeMember(server, alice, 'secret', 'bob')
      const { welcome: later, stream: again } = await openUserStream(server, bob, `?since=${seen.id}`)
      expect(later.data.mentions).toEqual([{ room: 'lobby', message: a }])
      // Without since: none.
      const { welcome: plain, stream: third } = await openUserStream(server, bob)
      expect(plain.data.mentions).toEqual([])
      again.close()
      third.close()
    })

    test('resume past RESUME_MAX mentions: the newest ones, oldest first, with truncated', async () => {
      await using server = await store.start({ config: { resumeMax: 5, messageRate: 1000, messageBurst: 1000 } })
      const { alice, bob } = await trio(server)
      using lobby = await connectRoom(server, 'lobby', alice)
      const first = await post(lobby, 'before')
      const sent = await postMany(lobby, 8, '@bob number')
      const { welcome, stream } = await openUserStream(server, bob, `?since=${first.id}`)
      expect(welcome.data.mentions.map((m: { message: { id: number } }) => m.message.id)).toEqual(sent.slice(-5).map((m) => m.id))
      expect(welcome.data.truncated).toBe(true)
      const { welcome: exact, stream: again } = await openUserStream(server, bob, `?since=${sent[2]!.id}`)
      expect(exact.data).toMatchObject({ truncated: false })
      expect(exact.data.mentions).toEqual(sent.slice(3).map((message) => ({ room: 'lobby', message })))
      stream.close()
      again.close()
    })

    test('logging out everywhere closes the stream with 4001 TOKEN_REVOKED; a ban with 4003', async () => {
      await using server = await store.start()
      const { root, alice, bob } = await trio(server)
      const { stream: aliceStream } = await openUserStream(server, alice)
      const { stream: bobStream } = await openUserStream(server, bob)
      expectNoContent(await call(server.url, 'POST', '/api/v1/logout', alice.token))
      expect(await closedWithin2s(aliceStream)).toEqual({ code: 4001, reason: 'TOKEN_REVOKED', error: 'TOKEN_INVALID' })
      expectNoContent(await call(server.url, 'PUT', `/api/v1/admin/users/${bob.user.id}/ban`, root.token, {}))
      expect(await closedWithin2s(bobStream)).toEqual({ code: 4003, reason: 'BANNED', error: 'USER_BANNED' })
      // The old token gets no new stream.
      using stale = await openSocket(userStreamUrl(server), [alice.token])
      expect(await stale.closed).toEqual(CLOSE.TOKEN_INVALID)
    })

    test('a mention of someone in a private room who is not a member notifies nobody; their own rooms show nothing', async () => {
      await using server = await store.start()
      const { alice, bob, carol } = await trio(server)
      await createRoom(server, alice, 'secret', 'private')
      await addMember(server, alice, 'secret', 'bob')
      const { stream } = await openUserStream(server, carol)
      using secret = await connectRoom(server, 'secret', alice)
      const m = await post(secret, '@carol @bob')
      expect(m.mentions).toEqual([bob.user])
      // A later mention in a public room does reach her: nothing from the secret room came before it.
      using lobby = await connectRoom(server, 'lobby', alice)
      const later = await post(lobby, '@carol public')
      expect((await frameOf(stream, 'mention')).data).toEqual({ room: 'lobby', message: later })
      expect(stream.frames.filter((f) => f.data?.room === 'secret')).toEqual([])
      expect(await myRooms(server, carol)).toEqual([])
      stream.close()
    })
  })
}
