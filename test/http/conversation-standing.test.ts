/**
 * Spec §5–§7 together: what a user may no longer do stays undone on the conversation paths too. A token
 * revoked by "log out everywhere", a banned user's token, and a member removed from a private room: none
 * of them finds that room's messages by search or fetches its files, on either store.
 */
import { expect } from 'bun:test'
import { call, expectError, expectNoContent } from '../support/accounts.ts'
import type { Account } from '../support/http.ts'
import { addMember, cast, connectRoom, createRoom, get, removeMember } from '../support/private-rooms.ts'
import { post } from '../support/rooms.ts'
import type { TestServer } from '../support/server.ts'
import { STORES } from '../support/stores.ts'
import { CONVERSATION_PATHS } from '../../src/protocol-conversation.ts'

async function uploadTo(server: TestServer, account: Account, room: string): Promise<string> {
  const res = await fetch(`${server.url}${CONVERSATION_PATHS.upload(room)}?filename=plan.txt`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${account.token}` },
    body: 'the plan',
  })
  expect(res.status).toBe(201)
  return ((await res.json()) as { data: { url: string } }).data.url
}

const download = (server: TestServer, url: string, account: Account) => call(server.url, 'GET', url, account.token)
const search = (server: TestServer, account: Account) => get(server, '/api/v1/search?q=secret', account)

for (const store of STORES()) {
  store.describe(`on ${store.name}`, () => {
    store.test('a revoked token, a banned user and a removed member neither find a private room’s messages nor fetch its files', async () => {
      await using server = await store.start()
      const [alice, bob, carol, dave] = (await cast(server, 'alice', 'bob', 'carol', 'dave')) as [Account, Account, Account, Account]
      await createRoom(server, alice, 'vault')
      for (const name of ['bob', 'carol', 'dave']) await addMember(server, alice, 'vault', name)
      using socket = await connectRoom(server, 'vault', alice)
      const secret = await post(socket, 'secret plans')
      const url = await uploadTo(server, alice, 'vault')
      for (const member of [bob, carol, dave]) {
        expect((await search(server, member)).body.data.messages.map((m: { id: number }) => m.id)).toEqual([secret.id])
        expect((await download(server, url, member)).status).toBe(200)
      }

      // Bob logs out everywhere: his old token is refused outright.
      expectNoContent(await call(server.url, 'POST', '/api/v1/logout', bob.token))
      expectError(await search(server, bob), 401, 'TOKEN_INVALID')
      expectError(await download(server, url, bob), 401, 'TOKEN_INVALID')

      // Carol is banned (alice, the first account, is admin).
      expectNoContent(await call(server.url, 'PUT', `/api/v1/admin/users/${carol.user.id}/ban`, alice.token, { reason: 'leaks' }))
      expectError(await search(server, carol), 403, 'USER_BANNED')
      expectError(await download(server, url, carol), 403, 'USER_BANNED')

      // Dave is removed from the room: for him it is as if it never existed.
      await removeMember(server, alice, 'vault', 'dave')
      expect((await search(server, dave)).body.data.messages).toEqual([])
      expectError(await download(server, url, dave), 404, 'NOT_FOUND')
    })
  })
}
