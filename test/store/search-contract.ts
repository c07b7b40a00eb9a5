/**
 * The search half of the store contract (spec §7), run against every store: a case-insensitive
 * substring match of messages' current text in any script, newest first, paged by `before`, never an
 * event, a deleted message or an edited message's old text, and only in rooms the caller may read
 * (spec §6: public rooms to anyone, private rooms and DMs to their members; anonymous: public only).
 */
import { describe, expect, test } from 'bun:test'
import type { Message, User } from '../../src/protocol.ts'
import { privateBase } from '../../src/store/sqlite-search.ts'
import type { Store } from '../../src/store/store.ts'
import { addUser, type StoreFixture } from './contract.ts'

const T0 = Date.UTC(2026, 10, 30, 12, 0, 0, 0)

async function post(store: Store, room: string, by: User, text: string): Promise<Message> {
  return (await store.insertMessage({ room, user: by, text, nonce: undefined, mentions: [], createdAt: T0 })).message
}

const ids = (messages: Message[]) => messages.map((m) => m.id)

/** Two room names that share a stretch of SQLite's private index (the same privateBase): found by trying names. */
function sharingAStretch(): [string, string] {
  const seen = new Map<number, string>()
  for (let i = 0; ; i++) {
    const name = `crew-${i}`
    const other = seen.get(privateBase(name))
    if (other !== undefined) return [other, name]
    seen.set(privateBase(name), name)
  }
}

export function describeSearchContract(name: string, open: () => Promise<StoreFixture>): void {
  describe(`${name} store: search (spec §7)`, () => {
    async function people(store: Store) {
      const [alice, bob, carol] = await Promise.all(['alice', 'bob', 'carol'].map((n) => addUser(store, n)))
      const user = (u: typeof alice) => ({ id: u!.id, username: u!.username })
      return { alice: user(alice), bob: user(bob), carol: user(carol) }
    }

    test('finds substrings in Latin, CJK and emoji text, case-insensitively, newest first, as history shows them', async () => {
      await using f = await open()
      const { alice } = await people(f.store)
      const latin = await post(f.store, 'lobby', alice, 'The Quick brown fox')
      const cjk = await post(f.store, 'lobby', alice, '明日は東京都に行きます')
      const emoji = await post(f.store, 'lobby', alice, 'party 🎉🎉🎉 tonight')
      const again = await post(f.store, 'other', alice, 'QUICKSILVER')
      const search = (q: string) => f.store.searchMessages({ q, userId: null, limit: 10 })
      expect(await search('quick')).toEqual([again, latin])
      expect(await search('uic')).toEqual([again, latin])
      expect(await search('own fo')).toEqual([latin])
      expect(await search('東京都')).toEqual([cjk])
      expect(await search('京都に')).toEqual([cjk])
      expect(await search('🎉🎉🎉')).toEqual([emoji])
      expect(await search('🎉 to')).toEqual([emoji])
      expect(await search('nothing like it')).toEqual([])
    })

    test('LIKE and FTS5 syntax in the query is matched literally', async () => {
      await using f = await open()
      const { alice } = await people(f.store)
      const percent = await post(f.store, 'lobby', alice, 'up 100% today')
      const quoted = await post(f.store, 'lobby', alice, 'she said "hi there" twice')
      const under = await post(f.store, 'lobby', alice, 'snake_case_name')
      const slash = await post(f.store, 'lobby', alice, 'C:\\dir\\file')
      await post(f.store, 'lobby', alice, 'up 1000 today, snakeXcase, hi* there OR NOT')
      const search = (q: string) => f.store.searchMessages({ q, userId: null, limit: 10 })
      expect(await search('00%')).toEqual([percent])
      expect(await search('"hi there"')).toEqual([quoted])
      expect(await search('e_case')).toEqual([under])
      expect(await search(':\\dir\\')).toEqual([slash])
      expect(await search('hi* there OR')).toHaveLength(1)
    })

    test('an edited message is found by its new text only; a deleted one never; events never', async () => {
      await using f = await open()
      const { alice } = await people(f.store)
      const kept = await post(f.store, 'lobby', alice, 'original wording')
      const edited = await post(f.store, 'lobby', alice, 'original wording too')
      const gone = await post(f.store, 'lobby', alice, 'original and secret')
      const edit = await f.store.changeMessage({
        type: 'edited',
        room: 'lobby',
        messageId: edited.id,
        user: alice,
        text: 'revised phrasing',
        mentions: [],
        at: T0 + 1,
      })
      expect(edit.ok).toBe(true)
      expect((await f.store.changeMessage({ type: 'deleted', room: 'lobby', messageId: gone.id, user: alice, byAdmin: false, at: T0 + 2 })).ok).toBe(true)
      const search = (q: string) => f.store.searchMessages({ q, userId: alice.id, limit: 10 })
      expect(await search('original')).toEqual([kept])
      const [found] = await search('revised')
      // One result, the message itself (not the `edited` event that carries the same text), as history shows it.
      expect(found).toEqual((await f.store.listMessages('lobby', { limit: 10 })).find((m) => m.id === edited.id))
      expect(found).toMatchObject({ id: edited.id, text: 'revised phrasing' })
      expect(await search('revised')).toHaveLength(1)
      expect(await search('secret')).toEqual([])
    })

    test('a private room or DM is searched by its members only; anonymous callers get public rooms', async () => {
      await using f = await open()
      const { alice, bob, carol } = await people(f.store)
      expect(await f.store.createRoom({ name: 'team', visibility: 'private', topic: null, owner: alice, at: T0 })).toBe(true)
      expect(await f.store.addMember('team', bob, T0)).toBe(true)
      await f.store.openDm('dm.1.2', alice.id, bob.id, T0)
      const lobby = await post(f.store, 'lobby', carol, 'launch plan, public')
      const team = await post(f.store, 'team', alice, 'launch plan, team only')
      const dm = await post(f.store, 'dm.1.2', bob, 'launch plan, just us')
      const search = (userId: number | null, room?: string) => f.store.searchMessages({ q: 'launch', userId, room, limit: 10 })
      expect(ids(await search(alice.id))).toEqual([dm.id, team.id, lobby.id])
      expect(ids(await search(bob.id))).toEqual([dm.id, team.id, lobby.id])
      expect(ids(await search(carol.id))).toEqual([lobby.id])
      expect(ids(await search(null))).toEqual([lobby.id])
      // Naming the room changes nothing for an outsider: the same empty answer as an unknown room.
      expect(await search(carol.id, 'team')).toEqual([])
      expect(await search(null, 'dm.1.2')).toEqual([])
      expect(await search(carol.id, 'no-such-room')).toEqual([])
      expect(ids(await search(bob.id, 'team'))).toEqual([team.id])
      expect(ids(await search(null, 'lobby'))).toEqual([lobby.id])
      // A member removed no longer finds it.
      expect(await f.store.removeMember('team', bob, T0)).toBe(true)
      expect(ids(await search(bob.id))).toEqual([dm.id, lobby.id])
      // A public room someone joined is public to everyone still.
      expect(await f.store.addMember('lobby', alice, T0)).toBe(true)
      expect(ids(await search(null, 'lobby'))).toEqual([lobby.id])
    })

    test('private rooms are searched room by room: merged newest first, paged across rooms, each message once, however rooms share a stretch', async () => {
      await using f = await open()
      const { alice, bob, carol } = await people(f.store)
      const [crew, twin] = sharingAStretch()
      for (const room of [crew, twin, 'team'])
        expect(await f.store.createRoom({ name: room, visibility: 'private', topic: null, owner: alice, at: T0 })).toBe(true)
      expect(await f.store.addMember(crew, bob, T0)).toBe(true)
      expect(await f.store.addMember('team', bob, T0)).toBe(true)
      // Interleaved across three private rooms (two sharing a stretch) and a public one.
      const posted: Message[] = []
      for (let i = 0; i < 4; i++) for (const room of [crew, twin, 'team', 'lobby']) posted.push(await post(f.store, room, alice, `shared word ${room} ${i}`))
      const newest = (room: (r: string) => boolean) => ids(posted.filter((m) => room(m.room))).reverse()
      const search = (userId: number, before?: number, limit = 50) => f.store.searchMessages({ q: 'shared word', userId, before, limit })
      expect(ids(await search(alice.id))).toEqual(newest(() => true))
      // Bob shares crew's stretch with twin, which he is not in: never shown.
      const bobs = newest((r) => r !== twin)
      expect(ids(await search(bob.id))).toEqual(bobs)
      expect(ids(await search(carol.id))).toEqual(newest((r) => r === 'lobby'))
      const pages: number[] = []
      for (let before: number | undefined, i = 0; i < 10; i++) {
        const page = ids(await search(bob.id, before, 5))
        pages.push(...page)
        if (page.length < 5) break
        before = page.at(-1)
      }
      expect(pages).toEqual(bobs)
      expect(ids(await f.store.searchMessages({ q: 'shared word', userId: alice.id, room: twin, limit: 50 }))).toEqual(newest((r) => r === twin))
      // Edits and deletions in a private room reach its stretch.
      const [first, second] = posted.filter((m) => m.room === crew)
      const edited = await f.store.changeMessage({ type: 'edited', room: crew, messageId: first!.id, user: alice, text: 'renamed', mentions: [], at: T0 + 1 })
      expect(edited.ok).toBe(true)
      expect((await f.store.changeMessage({ type: 'deleted', room: crew, messageId: second!.id, user: alice, byAdmin: false, at: T0 + 2 })).ok).toBe(true)
      expect(ids(await search(bob.id))).toEqual(bobs.filter((id) => id !== first!.id && id !== second!.id))
      expect(ids(await f.store.searchMessages({ q: 'renamed', userId: bob.id, limit: 5 }))).toEqual([first!.id])
      expect(await f.store.searchMessages({ q: 'renamed', userId: carol.id, limit: 5 })).toEqual([])
    })

    test("pages full of public matches still take in a private room's newer matches in their place, and its older ones on the later pages", async () => {
      await using f = await open()
      const { alice, bob } = await people(f.store)
      for (const room of ['old-crew', 'new-crew', 'quiet', 'secret'])
        expect(await f.store.createRoom({ name: room, visibility: 'private', topic: null, owner: alice, at: T0 })).toBe(true)
      for (const room of ['old-crew', 'new-crew', 'quiet']) expect(await f.store.addMember(room, bob, T0)).toBe(true)
      const posted: Message[] = []
      for (let i = 0; i < 3; i++) posted.push(await post(f.store, 'old-crew', alice, `status report old ${i}`))
      for (let i = 0; i < 12; i++) {
        posted.push(await post(f.store, 'lobby', alice, `status report public ${i}`))
        if (i === 5 || i === 10) posted.push(await post(f.store, 'new-crew', alice, `status report new ${i}`))
      }
      posted.push(await post(f.store, 'secret', alice, 'status report not for bob'))
      await post(f.store, 'quiet', alice, 'nothing to find here')
      const bobs = ids(posted.filter((m) => m.room !== 'secret')).reverse()
      const search = (before?: number, limit = 5) => f.store.searchMessages({ q: 'status report', userId: bob.id, before, limit })
      expect(ids(await search())).toEqual(bobs.slice(0, 5))
      const pages: number[] = []
      for (let before: number | undefined, i = 0; i < 10; i++) {
        const page = ids(await search(before))
        pages.push(...page)
        if (page.length < 5) break
        before = page.at(-1)
      }
      expect(pages).toEqual(bobs)
      expect(ids(await search(undefined, 50))).toEqual(bobs)
    })

    test('in private rooms: a word inside a longer one in any script and case; rooms whose names run into one another find their own only', async () => {
      await using f = await open()
      const { alice, bob } = await people(f.store)
      // PostgreSQL keys a private message by its room and each of its trigrams, hashed; a trigram of a
      // character of several bytes is itself a hash, and one at a word's edge is never a key.
      const rooms = ['ab', 'ab.c', 'ab-c', 'abc', 'ab0x1']
      for (const room of rooms) expect(await f.store.createRoom({ name: room, visibility: 'private', topic: null, owner: alice, at: T0 })).toBe(true)
      expect(await f.store.addMember('ab', bob, T0)).toBe(true)
      const posted: Record<string, number> = {}
      for (const room of rooms) posted[room] = (await post(f.store, room, alice, `Les Cafés de ${room}: naïvetés, 東京都庁, SHOUTED`)).id
      const newest = rooms.map((room) => posted[room]!).reverse()
      const search = (q: string, userId: number, room?: string) => f.store.searchMessages({ q, userId, room, limit: 10 }).then(ids)
      for (const q of ['café', 'CAFÉS', 'naïve', 'aïveté', '東京都', 'shout', 'de ab']) expect(await search(q, alice.id)).toEqual(newest)
      expect(await search('ab.c:', alice.id)).toEqual([posted['ab.c']!])
      expect(await search('café', alice.id, 'ab.c')).toEqual([posted['ab.c']!])
      expect(await search('café', bob.id)).toEqual([posted['ab']!])
      expect(await search('café', bob.id, 'abc')).toEqual([])
      expect(await search('cafés du', alice.id)).toEqual([])
    })

    test('a busy private room: its newest matches, whether among its newest messages or far back, paged, edits and deletions followed', async () => {
      await using f = await open()
      const { alice, bob, carol } = await people(f.store)
      expect(await f.store.createRoom({ name: 'busy', visibility: 'private', topic: null, owner: alice, at: T0 })).toBe(true)
      expect(await f.store.addMember('busy', bob, T0)).toBe(true)
      // More messages than PostgreSQL reads from its index at once (BUSY_ROOM, postgres-search.ts): every third
      // holds a common word, the oldest two a rare one.
      const posted: Message[] = []
      for (let i = 0; i < 1100; i++) posted.push(await post(f.store, 'busy', alice, `${i % 3 === 0 ? 'often' : 'filler'} ${i}${i < 2 ? ' seldom' : ''}`))
      const often = ids(posted.filter((_, i) => i % 3 === 0)).reverse()
      const search = (q: string, userId: number, before?: number) => f.store.searchMessages({ q, userId, before, limit: 21 }).then(ids)
      expect(await search('often', bob.id)).toEqual(often.slice(0, 21))
      expect(await search('often', bob.id, often[20])).toEqual(often.slice(21, 42))
      // Below the 30th message: 10 matches, fewer than a page, among many more messages that do not match.
      expect(await search('often', alice.id, posted[30]!.id)).toEqual(often.slice(-10))
      expect(await search('seldom', bob.id)).toEqual([posted[1]!.id, posted[0]!.id])
      expect(await search('often', carol.id)).toEqual([])
      const [newest, second] = often
      expect(
        (await f.store.changeMessage({ type: 'edited', room: 'busy', messageId: newest!, user: alice, text: 'reworded', mentions: [], at: T0 + 1 })).ok,
      ).toBe(true)
      expect((await f.store.changeMessage({ type: 'deleted', room: 'busy', messageId: second!, user: alice, byAdmin: false, at: T0 + 2 })).ok).toBe(true)
      expect(await search('often', bob.id)).toEqual(often.slice(2, 23))
    }, 60_000)

    test('pages with before and limit, newest first', async () => {
      await using f = await open()
      const { alice } = await people(f.store)
      const posted: Message[] = []
      for (let i = 0; i < 7; i++) posted.push(await post(f.store, 'lobby', alice, `page item ${i}`))
      await post(f.store, 'lobby', alice, 'unrelated')
      const newest = ids(posted).reverse()
      const page = (before?: number) => f.store.searchMessages({ q: 'item', userId: null, before, limit: 3 })
      expect(ids(await page())).toEqual(newest.slice(0, 3))
      expect(ids(await page(newest[2]))).toEqual(newest.slice(3, 6))
      expect(ids(await page(newest[5]))).toEqual(newest.slice(6))
      expect(await page(newest[6])).toEqual([])
    })

    test('readable matches are found past many more matches the caller may not read', async () => {
      await using f = await open()
      const { alice, carol } = await people(f.store)
      expect(await f.store.createRoom({ name: 'vault', visibility: 'private', topic: null, owner: alice, at: T0 }).then(Boolean)).toBe(true)
      const older = await post(f.store, 'lobby', carol, 'needle in public, older')
      await Promise.all(Array.from({ length: 1500 }, (_, i) => post(f.store, 'vault', alice, `needle ${i} in the vault`)))
      await Promise.all(Array.from({ length: 500 }, (_, i) => post(f.store, 'other', alice, `needle ${i} elsewhere`)))
      const newer = await post(f.store, 'lobby', carol, 'needle in public, newer')
      expect(ids(await f.store.searchMessages({ q: 'needle', userId: carol.id, room: 'lobby', limit: 5 }))).toEqual([newer.id, older.id])
      expect(ids(await f.store.searchMessages({ q: 'needle', userId: null, room: 'vault', limit: 5 }))).toEqual([])
      const all = await f.store.searchMessages({ q: 'needle', userId: carol.id, limit: 600 })
      expect(all).toHaveLength(502)
      expect(all.every((m) => m.room !== 'vault')).toBe(true)
      expect(await f.store.searchMessages({ q: 'needle', userId: alice.id, room: 'vault', limit: 100 })).toHaveLength(100)
    }, 30_000)
  })
}
