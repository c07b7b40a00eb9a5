/**
 * Spec §7 search over HTTP, on SQLite and PostgreSQL: `GET /api/v1/search?q=&room=&before=&limit=`
 * answers `{"messages":[Message + "excerpt"],"hasMore"}`, newest first, with highlight offsets in code
 * points into a plain-text excerpt. Latin, CJK and emoji text and substrings match; an edited message
 * matches its new text only, a deleted one never. The access matrix of spec §6 applies: anonymous
 * callers search public rooms, members their private rooms and DMs too, and to an outsider a private
 * room naming it in `?room=` answers exactly as an unknown room does (an empty page).
 */
import { expect } from 'bun:test'
import { call, expectError, expectNoContent, expectOk } from '../support/accounts.ts'
import type { Account } from '../support/http.ts'
import { addMember, cast, connectRoom, createRoom, get, openDm, removeMember } from '../support/private-rooms.ts'
import { post } from '../support/rooms.ts'
import type { TestServer } from '../support/server.ts'
import { STORES } from '../support/stores.ts'

const searchPath = (params: Record<string, string | number>) =>
  `/api/v1/search?${new URLSearchParams(Object.entries(params).map(([k, v]) => [k, String(v)])).toString()}`

const search = (server: TestServer, params: Record<string, string | number>, account?: Account) => get(server, searchPath(params), account)

/** The ids of a search's answer, which must be 200. */
async function found(server: TestServer, params: Record<string, string | number>, account?: Account): Promise<number[]> {
  const res = await search(server, params, account)
  expect(res.status).toBe(200)
  return res.body.data.messages.map((m: { id: number }) => m.id)
}

for (const store of STORES()) {
  store.describe(`on ${store.name}`, () => {
    const test = store.test

    test('finds Latin, CJK and emoji text and substrings, newest first, each as history shows it with a highlighted excerpt', async () => {
      await using server = await store.start()
      const [alice] = (await cast(server, 'alice')) as [Account]
      using socket = await connectRoom(server, 'lobby', alice)
      const latin = await post(socket, 'The Quick brown fox')
      const cjk = await post(socket, '明日は東京都に行きます')
      const emoji = await post(socket, 'party 🎉🎉🎉 tonight')
      const upper = await post(socket, 'QUICK quick')
      const history = (await get(server, '/api/v1/rooms/lobby/messages')).body.data.messages
      const asHistory = (id: number) => history.find((m: { id: number }) => m.id === id)

      const quick = await search(server, { q: 'quick' })
      expectOk(quick, {
        messages: [
          {
            ...asHistory(upper.id),
            excerpt: {
              text: 'QUICK quick',
              highlights: [
                [0, 5],
                [6, 11],
              ],
            },
          },
          { ...asHistory(latin.id), excerpt: { text: 'The Quick brown fox', highlights: [[4, 9]] } },
        ],
        hasMore: false,
      })
      expect(quick.headers.get('content-type')).toBe('application/json; charset=utf-8')
      // Offsets count code points: 明日は is 3, 🎉 is one each (two UTF-16 units).
      expectOk(await search(server, { q: '東京都' }), {
        messages: [{ ...asHistory(cjk.id), excerpt: { text: cjk.text, highlights: [[3, 6]] } }],
        hasMore: false,
      })
      expectOk(await search(server, { q: '🎉🎉🎉' }), {
        messages: [{ ...asHistory(emoji.id), excerpt: { text: emoji.text, highlights: [[6, 9]] } }],
        hasMore: false,
      })
      expect(await found(server, { q: 'rown f' })).toEqual([latin.id])
      // Spaces around q are not part of it.
      expect(await found(server, { q: '  uic  ' })).toEqual([upper.id, latin.id])
      expect(await found(server, { q: 'no such text' })).toEqual([])
    })

    test('a reply and a reacted message are shown as history shows them: quote, reactions with me for the caller', async () => {
      await using server = await store.start()
      const [alice, bob] = (await cast(server, 'alice', 'bob')) as [Account, Account]
      using socket = await connectRoom(server, 'lobby', alice)
      const original = await post(socket, 'what about the quarterly numbers?')
      socket.send({ type: 'message', text: 'quarterly numbers are fine', nonce: 'r1', replyTo: original.id })
      const reply = (await socket.next('message')).data
      expect(reply.replyTo).toMatchObject({ id: original.id })
      socket.send({ type: 'react', id: original.id, emoji: '👍', on: true })
      await socket.next('reaction')
      for (const reader of [alice, bob, undefined]) {
        const history = (await get(server, '/api/v1/rooms/lobby/messages', reader)).body.data.messages.reverse()
        const messages = (await search(server, { q: 'quarterly' }, reader)).body.data.messages
        expect(messages.map(({ excerpt: _, ...m }: { excerpt: unknown }) => m)).toEqual(history)
      }
      const [, first] = (await search(server, { q: 'quarterly' }, alice)).body.data.messages
      expect(first.reactions).toEqual([{ emoji: '👍', count: 1, me: true }])
    })

    test('a long message is shown as a window of at most 160 code points around the first match', async () => {
      await using server = await store.start()
      const [alice] = (await cast(server, 'alice')) as [Account]
      using socket = await connectRoom(server, 'lobby', alice)
      const text = `${'a'.repeat(300)} needle ${'b'.repeat(300)} needle`
      await post(socket, text)
      const [hit] = (await search(server, { q: 'NEEDLE' })).body.data.messages
      const shown = [...hit.excerpt.text]
      expect(shown.length).toBeLessThanOrEqual(160)
      expect(shown[0]).toBe('…')
      expect(shown.at(-1)).toBe('…')
      expect(hit.excerpt.highlights).toHaveLength(1)
      const [[start, end]] = hit.excerpt.highlights
      expect(shown.slice(start, end).join('')).toBe('needle')
      expect(hit.text).toBe(text)
    })

    test('an edited message is found by its new text, not its old; a deleted message is never found', async () => {
      await using server = await store.start()
      const [alice] = (await cast(server, 'alice')) as [Account]
      using socket = await connectRoom(server, 'lobby', alice)
      const edited = await post(socket, 'first draft wording')
      const deleted = await post(socket, 'draft to be removed')
      socket.send({ type: 'edit', id: edited.id, text: 'final polished wording' })
      await socket.next('edited')
      expectNoContent(await call(server.url, 'DELETE', `/api/v1/rooms/lobby/messages/${deleted.id}`, alice.token))
      expect(await found(server, { q: 'draft' })).toEqual([])
      expect(await found(server, { q: 'removed' })).toEqual([])
      const res = await search(server, { q: 'polished' })
      expect(res.body.data.messages).toHaveLength(1)
      expect(res.body.data.messages[0]).toMatchObject({ id: edited.id, text: 'final polished wording', excerpt: { highlights: [[6, 14]] } })
      expect(res.body.data.messages[0].editedAt).toEqual(expect.any(String))
    })

    test('the access matrix: members find their private rooms and DMs, outsiders and anonymous callers only public rooms', async () => {
      await using server = await store.start()
      const [, alice, bob, carol] = (await cast(server, 'root', 'alice', 'bob', 'carol')) as [Account, Account, Account, Account]
      await createRoom(server, alice, 'secret', 'private')
      await addMember(server, alice, 'secret', 'bob')
      const dm = await openDm(server, alice, 'bob')
      using pub = await connectRoom(server, 'lobby', carol)
      using priv = await connectRoom(server, 'secret', alice)
      using direct = await connectRoom(server, dm, bob)
      const inLobby = await post(pub, 'rendezvous at noon')
      const inSecret = await post(priv, 'rendezvous at the safe house')
      const inDm = await post(direct, 'rendezvous, just us')
      const q = 'rendezvous'
      for (const member of [alice, bob]) expect(await found(server, { q }, member)).toEqual([inDm.id, inSecret.id, inLobby.id])
      expect(await found(server, { q }, carol)).toEqual([inLobby.id])
      expect(await found(server, { q })).toEqual([inLobby.id])
      // An admin is not a member by right.
      expect(await found(server, { q }, (await cast(server, 'dave'))[0])).toEqual([inLobby.id])
      // Naming a private room: an outsider gets what an unknown room gives, an empty page, never an error.
      const empty = { messages: [], hasMore: false }
      for (const room of ['secret', dm, 'dm.998.999', 'never-used']) {
        expectOk(await search(server, { q, room }, carol), empty)
        expectOk(await search(server, { q, room }), empty)
      }
      expect(await found(server, { q, room: 'secret' }, bob)).toEqual([inSecret.id])
      expect(await found(server, { q, room: dm }, alice)).toEqual([inDm.id])
      expect(await found(server, { q, room: 'lobby' })).toEqual([inLobby.id])
      // A bad token is refused rather than treated as anonymous.
      expectError(await call(server.url, 'GET', searchPath({ q }), 'not-a-token'), 401, 'TOKEN_INVALID')
    })

    test("a string only in others' private rooms and DMs is not found by someone in private rooms of their own; membership counts from the moment it changes", async () => {
      await using server = await store.start()
      const [, alice, , carol] = (await cast(server, 'root', 'alice', 'bob', 'carol', 'dave')) as [Account, Account, Account, Account]
      await createRoom(server, alice, 'vault', 'private')
      await createRoom(server, carol, 'den', 'private')
      const theirs = await openDm(server, alice, 'bob')
      const hers = await openDm(server, carol, 'dave')
      using vault = await connectRoom(server, 'vault', alice)
      using direct = await connectRoom(server, theirs, alice)
      using den = await connectRoom(server, 'den', carol)
      using other = await connectRoom(server, hers, carol)
      const inVault = await post(vault, 'the blueprint is in the vault')
      const inDm = await post(direct, 'blueprint, between us')
      await post(den, 'nothing to see here')
      await post(other, 'nor here')
      const q = 'blueprint'
      expect(await found(server, { q }, carol)).toEqual([])
      for (const room of ['vault', theirs, 'den', hers]) expect(await found(server, { q, room }, carol)).toEqual([])
      expect(await found(server, { q }, alice)).toEqual([inDm.id, inVault.id])
      await addMember(server, alice, 'vault', 'carol')
      expect(await found(server, { q }, carol)).toEqual([inVault.id])
      await removeMember(server, alice, 'vault', 'carol')
      expect(await found(server, { q }, carol)).toEqual([])
    })

    test('pages with before and limit: newest first, hasMore until the oldest match', async () => {
      await using server = await store.start({ config: { messageRate: 1000, messageBurst: 1000 } })
      const [alice] = (await cast(server, 'alice')) as [Account]
      using socket = await connectRoom(server, 'lobby', alice)
      const ids: number[] = []
      for (let i = 0; i < 25; i++) ids.push((await post(socket, `entry number ${i}`)).id)
      const newest = ids.reverse()
      const first = (await search(server, { q: 'entry' })).body.data
      expect(first.messages.map((m: { id: number }) => m.id)).toEqual(newest.slice(0, 20))
      expect(first.hasMore).toBe(true)
      const second = (await search(server, { q: 'entry', before: first.messages.at(-1).id })).body.data
      expect(second).toMatchObject({ hasMore: false })
      expect(second.messages.map((m: { id: number }) => m.id)).toEqual(newest.slice(20))
      const small = (await search(server, { q: 'entry', limit: 5, before: newest[4]! })).body.data
      expect(small.messages.map((m: { id: number }) => m.id)).toEqual(newest.slice(5, 10))
      expect(small.hasMore).toBe(true)
      expect(await found(server, { q: 'entry', limit: 100, before: newest.at(-1)! })).toEqual([])
    })

    test('refuses a bad query: q of 3 to 200 code points, limit 1-100, before an id, room a room name', async () => {
      await using server = await store.start()
      const bad = (params: Record<string, string | number>) => search(server, params)
      for (const q of ['', 'ab', '  ab  ', '🎉🎉', 'x'.repeat(201), 'ab\u0000c']) expectError(await bad({ q }), 400, 'BAD_QUERY')
      expectError(await get(server, '/api/v1/search'), 400, 'BAD_QUERY')
      for (const limit of ['0', '101', '-1', '1.5', 'ten']) expectError(await bad({ q: 'abc', limit }), 400, 'BAD_QUERY')
      for (const before of ['0', '-3', 'x', '9'.repeat(17)]) expectError(await bad({ q: 'abc', before }), 400, 'BAD_QUERY')
      expectError(await bad({ q: 'abc', room: 'bad room!' }), 400, 'ROOM_INVALID')
      expectError(await bad({ q: 'abc', room: '' }), 400, 'ROOM_INVALID')
      // The edges are fine: 3 and 200 code points (emoji count one each), limit 1 and 100.
      expectOk(await bad({ q: '🎉🎉🎉' }), { messages: [], hasMore: false })
      expectOk(await bad({ q: '😀'.repeat(200), limit: 100 }), { messages: [], hasMore: false })
      expectOk(await bad({ q: 'abc', limit: 1, before: 1 }), { messages: [], hasMore: false })
      // LIKE and FTS syntax is only text.
      expectOk(await bad({ q: '%_%' }), { messages: [], hasMore: false })
      expectOk(await bad({ q: '"a" OR b*' }), { messages: [], hasMore: false })
      const wrongMethod = await call(server.url, 'POST', '/api/v1/search', undefined, {})
      expectError(wrongMethod, 405, 'METHOD_NOT_ALLOWED')
      expect(wrongMethod.headers.get('allow')).toBe('GET')
    })
  })
}
