/**
 * The store contract, run against every implementation (SQLite, PostgreSQL), like hono's
 * router/common.case.test.ts: whatever the database, the server sees the same behaviour.
 */
import { describe, expect, test } from 'bun:test'
import type { NewMessage, Standing, Store } from '../../src/store/store.ts'

export interface StoreFixture {
  store: Store
  [Symbol.asyncDispose](): Promise<void>
}

/** A database as the first migration left it, before the rooms table: what an upgrade starts from. */
export interface LegacyFixture {
  /** Inserts a messages row as the server did then (the rooms table did not exist); returns its id. */
  insertMessage(room: string, createdAt: number): Promise<number>
  /** Opens the store on it, which applies every later migration. */
  open(): Promise<StoreFixture>
  [Symbol.asyncDispose](): Promise<void>
}

const alice = { id: 0, username: 'alice' }

/** Creates a user, failing the test if the store refuses. */
export async function addUser(store: Store, username: string, usernameKey = username, passwordHash = 'h'): Promise<Standing> {
  const created = await store.createUser({ username, usernameKey, passwordHash })
  if (typeof created === 'string') throw new Error(`createUser refused ${username}: ${created}`)
  return created
}

function newMessage(room: string, text: string, nonce?: string): NewMessage {
  return { room, user: alice, text, nonce, mentions: [], createdAt: Date.UTC(2026, 10, 28, 23, 0, 0, 250) }
}

const T0 = Date.UTC(2026, 10, 28, 23, 0, 0, 0)

/** A message in `room` posted `ms` after T0. */
function at(room: string, ms: number): NewMessage {
  return { ...newMessage(room, `at ${ms}`), createdAt: T0 + ms }
}

export function describeStoreContract(name: string, open: () => Promise<StoreFixture>, openLegacy: () => Promise<LegacyFixture>): void {
  describe(`${name} store`, () => {
    test('createUser inserts once per username key and returns the standing', async () => {
      await using f = await open()
      const user = await addUser(f.store, 'Alice', 'alice')
      // spec §5: the first account on a server without an admin is admin.
      expect(user).toEqual({ id: expect.any(Number), username: 'Alice', role: 'admin', tokenVersion: 0, banned: false, apiTokenHash: null })
      expect(await f.store.createUser({ username: 'ALICE', usernameKey: 'alice', passwordHash: 'h2' })).toBe('USER_EXISTS')
      expect(await f.store.findUserByKey('alice')).toEqual({ ...user, passwordHash: 'h' })
      expect(await f.store.findUserById(user.id)).toEqual({ id: user.id, username: 'Alice', role: 'admin' })
      expect(await f.store.findUserById(user.id + 1000)).toBeUndefined()
      expect(await f.store.findUserByKey('bob')).toBeUndefined()
    })

    test('updatePasswordHash replaces the hash only while it is still the one expected', async () => {
      await using f = await open()
      const alice = await addUser(f.store, 'alice', 'alice', 'old')
      const bob = await addUser(f.store, 'bob', 'bob', 'old')
      expect(await f.store.updatePasswordHash(alice.id, 'old', 'new')).toBe(true)
      expect(await f.store.findUserByKey('alice')).toEqual({ ...alice, passwordHash: 'new' })
      expect(await f.store.findUserByKey('bob')).toEqual({ ...bob, passwordHash: 'old' })
      // A rehash that read the hash before a change must not undo it.
      expect(await f.store.updatePasswordHash(alice.id, 'old', 'stale')).toBe(false)
      expect(await f.store.findUserByKey('alice')).toEqual({ ...alice, passwordHash: 'new' })
      expect(await f.store.updatePasswordHash(bob.id + 1000, 'old', 'new')).toBe(false)
    })

    test('listUserKeys pages users in id order; setUsernameKey moves a key only when no one else holds it', async () => {
      await using f = await open()
      const a = await addUser(f.store, 'STRAẞE', 'straße')
      const b = await addUser(f.store, 'straße', 'strasse')
      const c = await addUser(f.store, 'ａｌｉｃｅ', 'ａｌｉｃｅ')
      expect(await f.store.listUserKeys(0, 2)).toEqual([
        { id: a.id, username: 'STRAẞE', usernameKey: 'straße' },
        { id: b.id, username: 'straße', usernameKey: 'strasse' },
      ])
      expect(await f.store.listUserKeys(b.id, 2)).toEqual([{ id: c.id, username: 'ａｌｉｃｅ', usernameKey: 'ａｌｉｃｅ' }])
      expect(await f.store.listUserKeys(c.id, 2)).toEqual([])

      expect(await f.store.setUsernameKey(a.id, 'strasse')).toBe(false)
      expect(await f.store.setUsernameKey(c.id, 'alice')).toBe(true)
      expect(await f.store.setUsernameKey(c.id, 'alice')).toBe(true)
      expect(await f.store.setUsernameKey(c.id + 1000, 'nobody')).toBe(false)
      expect(await f.store.findUserByKey('straße')).toEqual({ ...a, passwordHash: 'h' })
      expect(await f.store.findUserByKey('alice')).toEqual({ ...c, passwordHash: 'h' })
      expect(await f.store.findUserByKey('ａｌｉｃｅ')).toBeUndefined()
    })

    test('getOrCreateSetting keeps the first value written', async () => {
      await using f = await open()
      expect(await f.store.getOrCreateSetting('k', () => 'first')).toBe('first')
      expect(await f.store.getOrCreateSetting('k', () => 'second')).toBe('first')
    })

    test('insertMessage assigns increasing ids, resolves after commit, keeps the nonce', async () => {
      await using f = await open()
      const posted = (await Promise.all(['a', 'b', 'c'].map((t, i) => f.store.insertMessage(newMessage('lobby', t, i === 1 ? 'n1' : undefined))))).map(
        (c) => c.message,
      )
      expect(posted.map((m) => m.text)).toEqual(['a', 'b', 'c'])
      expect(posted[0]!.id).toBeLessThan(posted[1]!.id)
      expect(posted[1]!.id).toBeLessThan(posted[2]!.id)
      expect(posted[1]).toEqual({ id: posted[1]!.id, room: 'lobby', user: alice, text: 'b', ts: '2026-11-28T23:00:00.250Z', nonce: 'n1' })
      expect(posted[0]).not.toHaveProperty('nonce')
      // Resolved means committed: a reader sees it.
      expect((await f.store.listMessages('lobby', { limit: 10 })).map((m) => m.id)).toEqual(posted.map((m) => m.id))
    })

    test("each committed message's `after` is exactly the room's previous message (0 for the first)", async () => {
      await using f = await open()
      const first = await f.store.insertMessage(newMessage('r', 'one'))
      await f.store.insertMessage(newMessage('other', 'elsewhere'))
      const rest = await Promise.all(['two', 'three', 'four'].map((t) => f.store.insertMessage(newMessage('r', t))))
      const ids = (await f.store.listMessages('r', { limit: 10 })).map((m) => m.id)
      const chain = [first, ...rest].sort((a, b) => a.message.id - b.message.id)
      expect(chain.map((c) => c.message.id)).toEqual(ids)
      expect(chain.map((c) => c.after)).toEqual([0, ...ids.slice(0, -1)])
    })

    test('listMessages returns the newest matches oldest first, bounded by before/after/limit, per room', async () => {
      await using f = await open()
      const ids: number[] = []
      for (let i = 0; i < 10; i++) ids.push((await f.store.insertMessage(newMessage(i % 2 ? 'odd' : 'even', `m${i}`)).then((c) => c.message)).id)
      const even = ids.filter((_, i) => i % 2 === 0)
      expect((await f.store.listMessages('even', { limit: 3 })).map((m) => m.id)).toEqual(even.slice(-3))
      expect((await f.store.listMessages('even', { limit: 2, before: even[3] })).map((m) => m.id)).toEqual(even.slice(1, 3))
      expect((await f.store.listMessages('even', { limit: 100, after: even[2] })).map((m) => m.id)).toEqual(even.slice(3))
      expect(await f.store.listMessages('nobody', { limit: 5 })).toEqual([])
    })

    test('listRoomActivity lists each room once at its newest message, most recent first, paged below an id', async () => {
      await using f = await open()
      const a1 = await f.store.insertMessage(at('a', 1)).then((c) => c.message)
      const b1 = await f.store.insertMessage(at('b', 2)).then((c) => c.message)
      // Posted in one turn: one batch holding two messages of "c" and one of "a".
      const [c1, a2, c2] = await Promise.all([at('c', 3), at('a', 4), at('c', 5)].map((m) => f.store.insertMessage(m).then((c) => c.message)))
      const d1 = await f.store.insertMessage(at('d', 6)).then((c) => c.message)
      expect(a1.id).toBeLessThan(a2!.id)
      expect(c1!.id).toBeLessThan(c2!.id)
      // Which of "a" and "c" got the higher id is the store's business (PostgreSQL commits rooms apart).
      const all = [
        { room: 'd', lastMessageId: d1.id, visibility: 'public' },
        { room: 'c', lastMessageId: c2!.id, visibility: 'public' },
        { room: 'a', lastMessageId: a2!.id, visibility: 'public' },
        { room: 'b', lastMessageId: b1.id, visibility: 'public' },
      ].sort((x, y) => y.lastMessageId - x.lastMessageId)
      expect(all.map((r) => r.room)).toEqual(['d', ...all.slice(1, 3).map((r) => r.room), 'b'])
      expect(await f.store.listRoomActivity({ limit: 10 })).toEqual(all)
      expect(await f.store.listRoomActivity({ limit: 2 })).toEqual(all.slice(0, 2))
      expect(await f.store.listRoomActivity({ limit: 2, before: all[1]!.lastMessageId })).toEqual(all.slice(2))
      expect(await f.store.listRoomActivity({ limit: 10, before: b1.id })).toEqual([])
      expect(await f.store.listRoomActivity({ limit: 10, before: b1.id + 1 })).toEqual(all.slice(3))
    })

    test('a new message moves its room to the front of listRoomActivity', async () => {
      await using f = await open()
      for (const room of ['a', 'b', 'c']) await f.store.insertMessage(at(room, 1)).then((c) => c.message)
      const a = await f.store.insertMessage(at('a', 2)).then((c) => c.message)
      expect((await f.store.listRoomActivity({ limit: 10 })).map((r) => r.room)).toEqual(['a', 'c', 'b'])
      expect((await f.store.listRoomActivity({ limit: 1 }))[0]).toEqual({ room: 'a', lastMessageId: a.id, visibility: 'public' })
    })

    test('listRoomActivity is empty without messages', async () => {
      await using f = await open()
      expect(await f.store.listRoomActivity({ limit: 10 })).toEqual([])
    })

    test('findRoomActivity gives the activity of those named rooms that have messages', async () => {
      await using f = await open()
      const a = await f.store.insertMessage(at('a', 1)).then((c) => c.message)
      const b = await f.store.insertMessage(at('b', 2)).then((c) => c.message)
      const found = await f.store.findRoomActivity(['b', 'quiet', 'a', 'A'])
      expect(found.sort((x, y) => x.lastMessageId - y.lastMessageId)).toEqual([
        { room: 'a', lastMessageId: a.id, visibility: 'public' },
        { room: 'b', lastMessageId: b.id, visibility: 'public' },
      ])
      expect(await f.store.findRoomActivity([])).toEqual([])
      expect(await f.store.findRoomActivity(['quiet'])).toEqual([])
    })

    test('upgrading a database that already has messages fills the room activity from them', async () => {
      await using legacy = await openLegacy()
      const a1 = await legacy.insertMessage('a', T0 + 1)
      const b1 = await legacy.insertMessage('b', T0 + 2)
      const a2 = await legacy.insertMessage('a', T0 + 3)
      const c1 = await legacy.insertMessage('c', T0 + 4)
      expect(a1).toBeLessThan(a2)
      await using f = await legacy.open()
      expect(await f.store.listRoomActivity({ limit: 10 })).toEqual([
        { room: 'c', lastMessageId: c1, visibility: 'public' },
        { room: 'a', lastMessageId: a2, visibility: 'public' },
        { room: 'b', lastMessageId: b1, visibility: 'public' },
      ])
      // Kept up from there on.
      const b2 = await f.store.insertMessage(at('b', 5)).then((c) => c.message)
      expect((await f.store.listRoomActivity({ limit: 10 })).map((r) => [r.room, r.lastMessageId])).toEqual([
        ['b', b2.id],
        ['c', c1],
        ['a', a2],
      ])
    })

    // spec §6 on an upgraded database: unread counts work in rooms that had messages, and a name of
    // the direct-message namespace used as a public room before is no public room any more.
    test('after an upgrade, unread counts work in old rooms and dm. names are out of the public rooms', async () => {
      await using legacy = await openLegacy()
      for (let i = 1; i <= 3; i++) await legacy.insertMessage('old', T0 + i)
      await legacy.insertMessage('dm.1.2', T0 + 4)
      await using f = await legacy.open()
      expect((await f.store.listRoomActivity({ limit: 10 })).map((r) => r.room)).toEqual(['old'])
      expect((await f.store.roomAccess('dm.1.2', null))?.visibility).toBe('private')
      const bob = await addUser(f.store, 'bob')
      expect(await f.store.addMember('old', bob, T0 + 10)).toBe(true)
      expect((await f.store.listMyRooms(bob.id)).map((r) => [r.name, r.unread])).toEqual([['old', 0]])
      await f.store.insertMessage(at('old', 11))
      expect((await f.store.listMyRooms(bob.id)).map((r) => [r.name, r.unread])).toEqual([['old', 1]])
    })

    test('text is stored byte for byte, whatever it contains', async () => {
      await using f = await open()
      const text = `'; DROP TABLE messages; -- ✓ 😀 <img src=x onerror=alert(1)> \n\t`
      const m = await f.store.insertMessage(newMessage('lobby', text)).then((c) => c.message)
      expect((await f.store.listMessages('lobby', { limit: 1 }))[0]).toEqual(m)
      expect(m.text).toBe(text)
    })

    test('ping answers while open', async () => {
      await using f = await open()
      await f.store.ping()
    })
  })
}
