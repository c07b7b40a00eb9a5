/**
 * The store contract, run against every implementation (SQLite, PostgreSQL), like hono's
 * router/common.case.test.ts: whatever the database, the server sees the same behaviour.
 */
import { describe, expect, test } from 'bun:test'
import type { Message, NewMessage, Store } from '../../src/store/store.ts'

export interface StoreFixture {
  store: Store
  [Symbol.asyncDispose](): Promise<void>
}

const alice = { id: 0, username: 'alice' }

function newMessage(room: string, text: string, nonce?: string): NewMessage {
  return { room, user: alice, text, nonce, createdAt: Date.UTC(2026, 10, 28, 23, 0, 0, 250) }
}

export function describeStoreContract(name: string, open: () => Promise<StoreFixture>): void {
  describe(`${name} store`, () => {
    test('createUser inserts once per username key and returns the id and name', async () => {
      await using f = await open()
      const user = await f.store.createUser({ username: 'Alice', usernameKey: 'alice', passwordHash: 'h' })
      expect(user).toEqual({ id: expect.any(Number), username: 'Alice' })
      expect(await f.store.createUser({ username: 'ALICE', usernameKey: 'alice', passwordHash: 'h2' })).toBeUndefined()
      expect(await f.store.findUserByKey('alice')).toEqual({ id: user!.id, username: 'Alice', passwordHash: 'h' })
      expect(await f.store.findUserById(user!.id)).toEqual({ id: user!.id, username: 'Alice' })
      expect(await f.store.findUserById(user!.id + 1000)).toBeUndefined()
      expect(await f.store.findUserByKey('bob')).toBeUndefined()
    })

    test('getOrCreateSetting keeps the first value written', async () => {
      await using f = await open()
      expect(await f.store.getOrCreateSetting('k', () => 'first')).toBe('first')
      expect(await f.store.getOrCreateSetting('k', () => 'second')).toBe('first')
    })

    test('insertMessage assigns increasing ids, delivers in id order after commit, keeps the nonce', async () => {
      await using f = await open()
      const delivered: Message[] = []
      const posted = await Promise.all(
        ['a', 'b', 'c'].map((t, i) => f.store.insertMessage(newMessage('lobby', t, i === 1 ? 'n1' : undefined), (m) => void delivered.push(m))),
      )
      expect(posted.map((m) => m.text)).toEqual(['a', 'b', 'c'])
      expect(posted[0]!.id).toBeLessThan(posted[1]!.id)
      expect(posted[1]!.id).toBeLessThan(posted[2]!.id)
      expect(delivered).toEqual(posted)
      expect(posted[1]).toEqual({ id: posted[1]!.id, room: 'lobby', user: alice, text: 'b', ts: '2026-11-28T23:00:00.250Z', nonce: 'n1' })
      expect(posted[0]).not.toHaveProperty('nonce')
      // Delivered means committed: a reader sees it.
      expect((await f.store.listMessages('lobby', { limit: 10 })).map((m) => m.id)).toEqual(posted.map((m) => m.id))
    })

    test("deliver's `after` is 0 (order given) or exactly the room's previous message", async () => {
      await using f = await open()
      const seen: { id: number; after: number }[] = []
      const first = await f.store.insertMessage(newMessage('r', 'one'), (m, after) => void seen.push({ id: m.id, after }))
      await f.store.insertMessage(newMessage('other', 'elsewhere'), () => {})
      await Promise.all(['two', 'three'].map((t) => f.store.insertMessage(newMessage('r', t), (m, after) => void seen.push({ id: m.id, after }))))
      const ids = (await f.store.listMessages('r', { limit: 10 })).map((m) => m.id)
      expect(seen.map((s) => s.id)).toEqual(ids)
      expect(seen[0]!.after).toBe(0)
      for (let i = 1; i < seen.length; i++) expect([0, ids[i - 1]]).toContain(seen[i]!.after)
      expect(first.id).toBe(ids[0]!)
    })

    test('listMessages returns the newest matches oldest first, bounded by before/after/limit, per room', async () => {
      await using f = await open()
      const ids: number[] = []
      for (let i = 0; i < 10; i++) ids.push((await f.store.insertMessage(newMessage(i % 2 ? 'odd' : 'even', `m${i}`), () => {})).id)
      const even = ids.filter((_, i) => i % 2 === 0)
      expect((await f.store.listMessages('even', { limit: 3 })).map((m) => m.id)).toEqual(even.slice(-3))
      expect((await f.store.listMessages('even', { limit: 2, before: even[3] })).map((m) => m.id)).toEqual(even.slice(1, 3))
      expect((await f.store.listMessages('even', { limit: 100, after: even[2] })).map((m) => m.id)).toEqual(even.slice(3))
      expect(await f.store.listMessages('nobody', { limit: 5 })).toEqual([])
    })

    test('listRoomActivity gives each room its newest message id', async () => {
      await using f = await open()
      const a = await f.store.insertMessage(newMessage('a', 'x'), () => {})
      await f.store.insertMessage(newMessage('b', 'y'), () => {})
      const b = await f.store.insertMessage(newMessage('b', 'z'), () => {})
      const rooms = await f.store.listRoomActivity()
      expect(rooms.sort((x, y) => x.room.localeCompare(y.room))).toEqual([
        { room: 'a', lastMessageId: a.id },
        { room: 'b', lastMessageId: b.id },
      ])
    })

    test('text is stored byte for byte, whatever it contains', async () => {
      await using f = await open()
      const text = `'; DROP TABLE messages; -- ✓ 😀 <img src=x onerror=alert(1)> \n\t`
      const m = await f.store.insertMessage(newMessage('lobby', text), () => {})
      expect((await f.store.listMessages('lobby', { limit: 1 }))[0]).toEqual(m)
      expect(m.text).toBe(text)
    })

    test('ping answers while open', async () => {
      await using f = await open()
      await f.store.ping()
    })
  })
}
