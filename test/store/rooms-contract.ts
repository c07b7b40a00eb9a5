/**
 * The rooms-and-membership half of the store contract (spec §6), run against every store: registered
 * rooms, DMs, members, and the unread counters kept beside them (src/store/rooms.ts), which must
 * always equal what a count over the messages would say, whatever the interleaving of writers.
 */
import { describe, expect, test } from 'bun:test'
import type { TextMessage, User } from '../../src/protocol.ts'
import { MessageRefused, type MessageChange, type Store } from '../../src/store/store.ts'
import { addUser, type StoreFixture } from './contract.ts'

/** A store that can be restarted on the same data, and can open a second instance beside itself. */
export interface RoomsFixture extends StoreFixture {
  /** Closes the store and opens it again on the same data (`store` is the new one afterwards). */
  restart(): Promise<void>
  /** Another instance on the same data where a store runs several (PostgreSQL); else this one. */
  another(): Promise<StoreFixture>
}

const T0 = Date.UTC(2026, 10, 29, 12, 0, 0, 0)
const user = ({ id, username }: User): User => ({ id, username })

/** One user per name, created in order (ids ascending). */
async function users<Names extends string[]>(store: Store, ...names: Names): Promise<{ [K in keyof Names]: User }> {
  const made: User[] = []
  for (const name of names) made.push(user(await addUser(store, name)))
  return made as { [K in keyof Names]: User }
}

async function post(store: Store, room: string, by: User, text: string, mentions: User[] = [], ms = 0): Promise<TextMessage> {
  return (await store.insertMessage({ room, user: by, text, nonce: undefined, mentions, createdAt: T0 + ms })).message as TextMessage
}

async function change(store: Store, c: MessageChange) {
  const outcome = await store.changeMessage(c)
  if (!outcome.ok) throw new Error(`change refused: ${outcome.refusal}`)
  return outcome
}
const edit = (room: string, messageId: number, by: User, text: string, mentions: User[] = []): MessageChange => ({
  type: 'edited',
  room,
  messageId,
  user: by,
  text,
  mentions,
  at: T0 + 100,
})
const remove = (room: string, messageId: number, by: User): MessageChange => ({ type: 'deleted', room, messageId, user: by, byAdmin: false, at: T0 + 200 })

/** `user`'s counts in `room` as their room list shows them. */
async function countsOf(store: Store, room: string, u: User) {
  const row = (await store.listMyRooms(u.id)).find((r) => r.name === room)
  return row && { lastReadId: row.lastReadId, unread: row.unread, mentions: row.mentions }
}

/** What the counters must equal: others' messages after the marker that are not deleted, and those mentioning `u`. */
async function recounted(store: Store, room: string, u: User) {
  const { lastReadId } = (await countsOf(store, room, u))!
  const stream = await store.listStream(room, { after: lastReadId, limit: 10_000 })
  const after = stream.flatMap((e) => (e.type === 'message' && !('deleted' in e.data) && e.data.user.id !== u.id ? [e.data] : []))
  return { lastReadId, unread: after.length, mentions: after.filter((m) => m.mentions?.some((x) => x.id === u.id)).length }
}

export function describeRoomsContract(name: string, open: () => Promise<RoomsFixture>): void {
  describe(`${name} store: rooms, members and unread state`, () => {
    test('createRoom registers a free name with its owner as member; a registered or used name is taken, a joined one is not', async () => {
      await using f = await open()
      const [alice, bob] = await users(f.store, 'alice', 'bob')
      const team = { name: 'team', visibility: 'private' as const, topic: 'plans', owner: alice, at: T0 }
      expect(await f.store.createRoom(team)).toBe(true)
      expect(await f.store.createRoom({ ...team, visibility: 'public', owner: bob })).toBe(false)
      expect(await f.store.findRoom('team')).toEqual({ name: 'team', visibility: 'private', topic: 'plans', owner: alice, registered: true, lastMessageId: 0 })
      expect(await f.store.listMembers('team')).toEqual([alice])

      const used = await post(f.store, 'used', bob, 'hi')
      expect(await f.store.createRoom({ ...team, name: 'used' })).toBe(false)
      expect(await f.store.findRoom('used')).toEqual({
        name: 'used',
        visibility: 'public',
        topic: null,
        owner: null,
        registered: false,
        lastMessageId: used.id,
      })
      expect(await f.store.listMembers('used')).toEqual([])

      // Joined but never used (spec §6: taken once registered or with messages): registered private, it keeps
      // only its owner; registered public, whoever joined stays.
      expect(await f.store.addMember('joined', bob, T0)).toBe(true)
      expect(await f.store.createRoom({ ...team, name: 'joined' })).toBe(true)
      expect(await f.store.findRoom('joined')).toEqual({
        name: 'joined',
        visibility: 'private',
        topic: 'plans',
        owner: alice,
        registered: true,
        lastMessageId: 0,
      })
      expect(await f.store.listMembers('joined')).toEqual([alice])
      expect(await f.store.createRoom({ ...team, name: 'joined', owner: bob })).toBe(false)
      expect(await f.store.addMember('followed', bob, T0)).toBe(true)
      expect(await f.store.createRoom({ ...team, name: 'followed', visibility: 'public' })).toBe(true)
      expect((await f.store.listMembers('followed')).sort((a, b) => a.id - b.id)).toEqual([alice, bob])
      expect(await f.store.findRoom('nothing')).toBeUndefined()

      // Registered at once from two sides: one wins, and only its owner is in.
      const raced = await Promise.all([alice, bob].map((owner) => f.store.createRoom({ ...team, name: 'race', owner })))
      expect(raced.filter(Boolean)).toHaveLength(1)
      expect(await f.store.listMembers('race')).toEqual([raced[0] ? alice : bob])
      // A registered room without messages is in no room list; a private one never is.
      await post(f.store, 'team', alice, 'first')
      expect((await f.store.listRoomActivity({ limit: 10 })).map((r) => r.room)).toEqual(['used'])
      expect((await f.store.findRoomActivity(['joined', 'team'])).sort((a, b) => a.room.localeCompare(b.room))).toEqual([
        { room: 'joined', lastMessageId: 0, visibility: 'private' },
        { room: 'team', lastMessageId: expect.any(Number), visibility: 'private' },
      ])
    })

    test('roomAccess, isMember and membersAmong read visibility, owner and membership', async () => {
      await using f = await open()
      const [alice, bob] = await users(f.store, 'alice', 'bob')
      await f.store.createRoom({ name: 'team', visibility: 'private', topic: null, owner: alice, at: T0 })
      expect(await f.store.roomAccess('team', alice.id)).toEqual({ visibility: 'private', ownerId: alice.id, member: true, hasMessages: false })
      expect(await f.store.roomAccess('team', bob.id)).toEqual({ visibility: 'private', ownerId: alice.id, member: false, hasMessages: false })
      expect(await f.store.roomAccess('team', null)).toEqual({ visibility: 'private', ownerId: alice.id, member: false, hasMessages: false })
      expect(await f.store.roomAccess('nothing', alice.id)).toBeUndefined()
      await post(f.store, 'team', alice, 'hi')
      expect(await f.store.roomAccess('team', alice.id)).toMatchObject({ hasMessages: true })
      expect(await f.store.isMember('team', alice.id)).toBe(true)
      expect(await f.store.isMember('team', bob.id)).toBe(false)
      expect(await f.store.isMember('nothing', alice.id)).toBe(false)
      expect(await f.store.membersAmong('team', [bob.id, alice.id, 999])).toEqual([alice.id])
      expect(await f.store.membersAmong('team', [])).toEqual([])
    })

    test("a private room takes only its members' messages and changes as they are written: registered private, or the sender removed, after the frame was accepted", async () => {
      await using f = await open()
      const [alice, bob, eve] = await users(f.store, 'alice', 'bob', 'eve')
      const refusal = async (work: Promise<unknown>) => {
        const err = await work.then(
          () => undefined,
          (e: unknown) => e,
        )
        expect(err).toBeInstanceOf(MessageRefused)
        return (err as MessageRefused).type
      }
      // Eve was let in while `open` was a public room without messages; Alice registered it private first.
      expect(await f.store.createRoom({ name: 'open', visibility: 'private', topic: null, owner: alice, at: T0 })).toBe(true)
      expect(await refusal(post(f.store, 'open', eve, 'plain'))).toBe('ROOM_NOT_FOUND')
      // In one batch with a member's messages (a reply, a mention: the general path), only Eve's is refused.
      const first = await post(f.store, 'open', alice, 'first')
      const batch = await Promise.allSettled([
        post(f.store, 'open', alice, 'plain'),
        post(f.store, 'open', eve, 'plain too'),
        f.store.insertMessage({ room: 'open', user: eve, text: 'a reply', nonce: undefined, mentions: [alice], replyTo: first.id, createdAt: T0 }),
        f.store.insertMessage({ room: 'open', user: alice, text: 'a reply', nonce: undefined, mentions: [], replyTo: first.id, createdAt: T0 }),
      ])
      expect(batch.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'rejected', 'fulfilled'])
      for (const r of batch) if (r.status === 'rejected') expect((r.reason as MessageRefused).type).toBe('ROOM_NOT_FOUND')
      // A batch of plain messages only (PostgreSQL's one-call path): the same.
      const plain = await Promise.allSettled([post(f.store, 'open', eve, 'plain 3'), post(f.store, 'open', alice, 'plain 4')])
      expect(plain.map((r) => r.status)).toEqual(['rejected', 'fulfilled'])
      // Bob, removed while his frames were on their way: his message, edit and reaction are refused.
      await f.store.addMember('open', bob, T0)
      const his = await post(f.store, 'open', bob, 'mine')
      await f.store.removeMember('open', bob, T0)
      expect(await refusal(post(f.store, 'open', bob, 'after'))).toBe('ROOM_NOT_FOUND')
      expect(await f.store.changeMessage(edit('open', his.id, bob, 'edited'))).toEqual({ ok: false, refusal: 'ROOM_NOT_FOUND' })
      expect(await f.store.changeMessage({ type: 'reaction', room: 'open', messageId: first.id, user: bob, emoji: '👍', on: true, at: T0 })).toEqual({
        ok: false,
        refusal: 'ROOM_NOT_FOUND',
      })
      // Nothing of theirs was stored; the members' messages were, and count as before.
      const texts = (await f.store.listMessages('open', { limit: 50 })).map((m) => `${m.user.username}: ${m.text}`)
      expect(texts).toEqual(['alice: first', 'alice: plain', 'alice: a reply', 'alice: plain 4', 'bob: mine'])
      // A public room takes anyone's, as before.
      expect((await post(f.store, 'lobby', eve, 'hi')).text).toBe('hi')
    })

    test('openDm makes the one private room of a pair, the same from either side, and a DM with oneself', async () => {
      await using f = await open()
      const [alice, bob, carol] = await users(f.store, 'alice', 'bob', 'carol')
      expect(await f.store.openDm('dm:ab', alice.id, bob.id, T0)).toBe(true)
      expect(await f.store.openDm('dm:ab', bob.id, alice.id, T0 + 1)).toBe(false)
      expect(await f.store.openDm('dm:ab', alice.id, bob.id, T0 + 2)).toBe(false)
      expect(await f.store.listMembers('dm:ab')).toEqual([alice, bob])
      expect(await f.store.findRoom('dm:ab')).toEqual({ name: 'dm:ab', visibility: 'private', topic: null, owner: null, registered: true, lastMessageId: 0 })
      expect(await f.store.isMember('dm:ab', carol.id)).toBe(false)
      expect(await f.store.openDm('dm:aa', alice.id, alice.id, T0)).toBe(true)
      expect(await f.store.openDm('dm:aa', alice.id, alice.id, T0)).toBe(false)
      expect(await f.store.listMembers('dm:aa')).toEqual([alice])
      // Opened at once from both sides: created once, two members.
      const both = await Promise.all([f.store.openDm('dm:bc', bob.id, carol.id, T0), f.store.openDm('dm:bc', carol.id, bob.id, T0)])
      expect(both.filter(Boolean)).toHaveLength(1)
      expect(new Set((await f.store.listMembers('dm:bc')).map((u) => u.id))).toEqual(new Set([bob.id, carol.id]))
      // A name of the DM namespace used as a public room before DMs existed becomes the pair's DM.
      const old = await post(f.store, 'dm:ac', carol, 'from before')
      expect(await f.store.openDm('dm:ac', alice.id, carol.id, T0)).toBe(true)
      expect(await f.store.findRoom('dm:ac')).toMatchObject({ visibility: 'private', registered: true, lastMessageId: old.id })
      expect((await f.store.listRoomActivity({ limit: 10 })).map((r) => r.room)).toEqual([])
    })

    test('addMember and removeMember change membership once, audited when asked; members are listed in the order they joined', async () => {
      await using f = await open()
      const [alice, bob, carol] = await users(f.store, 'alice', 'bob', 'carol')
      await f.store.createRoom({ name: 'team', visibility: 'private', topic: null, owner: bob, at: T0 })
      expect(await f.store.addMember('team', carol, T0 + 1, { actor: bob })).toBe(true)
      expect(await f.store.addMember('team', alice, T0 + 2)).toBe(true)
      expect(await f.store.addMember('team', alice, T0 + 3, { actor: bob })).toBe(false)
      expect(await f.store.listMembers('team')).toEqual([bob, carol, alice])
      const audits = await f.store.listAudit({ limit: 10 })
      expect(audits).toHaveLength(1)
      expect(audits[0]).toMatchObject({ at: T0 + 1, actor: bob, action: 'room.member.add', target: { room: 'team', user: carol } })

      expect(await f.store.removeMember('team', carol, T0 + 4, { actor: null })).toBe(true)
      expect(await f.store.removeMember('team', carol, T0 + 5, { actor: bob })).toBe(false)
      expect(await f.store.removeMember('team', alice, T0 + 6)).toBe(true)
      expect(await f.store.removeMember('nothing', alice, T0 + 6)).toBe(false)
      expect(await f.store.listMembers('team')).toEqual([bob])
      expect((await f.store.listAudit({ limit: 10 })).map((a) => [a.action, a.actor, a.target])).toEqual([
        ['room.member.remove', null, { room: 'team', user: carol }],
        ['room.member.add', bob, { room: 'team', user: carol }],
      ])
    })

    test('listMyRooms: most recently active first, rooms without messages last by name, with their counts', async () => {
      await using f = await open()
      const [alice, bob] = await users(f.store, 'alice', 'bob')
      await f.store.createRoom({ name: 'zeta', visibility: 'private', topic: 'z', owner: alice, at: T0 })
      await f.store.createRoom({ name: 'quiet', visibility: 'public', topic: null, owner: alice, at: T0 })
      await f.store.openDm('dm:ab', alice.id, bob.id, T0)
      const before = await post(f.store, 'lobby', bob, 'before alice joined')
      await f.store.addMember('lobby', alice, T0)
      const dm = await post(f.store, 'dm:ab', bob, 'hi @alice', [alice])
      const lobby = await post(f.store, 'lobby', bob, 'news')
      expect(await f.store.listMyRooms(alice.id)).toEqual([
        { name: 'lobby', visibility: 'public', topic: null, lastMessageId: lobby.id, lastReadId: before.id, unread: 1, mentions: 0 },
        { name: 'dm:ab', visibility: 'private', topic: null, lastMessageId: dm.id, lastReadId: 0, unread: 1, mentions: 1 },
        { name: 'quiet', visibility: 'public', topic: null, lastMessageId: null, lastReadId: 0, unread: 0, mentions: 0 },
        { name: 'zeta', visibility: 'private', topic: 'z', lastMessageId: null, lastReadId: 0, unread: 0, mentions: 0 },
      ])
      expect(await f.store.listMyRooms(bob.id)).toEqual([
        { name: 'dm:ab', visibility: 'private', topic: null, lastMessageId: dm.id, lastReadId: 0, unread: 0, mentions: 0 },
      ])
      expect(await f.store.unreadOf('dm:ab', [alice.id, bob.id, 999])).toEqual(
        expect.arrayContaining([
          { userId: alice.id, lastMessageId: dm.id, unread: 1, mentions: 1 },
          { userId: bob.id, lastMessageId: dm.id, unread: 0, mentions: 0 },
        ]),
      )
      expect(await f.store.unreadOf('dm:ab', [])).toEqual([])
      expect(await f.store.listMyRooms(999)).toEqual([])
    })

    test("others' messages raise unread and own ones do not; in a private room only members are mentioned and counted", async () => {
      await using f = await open()
      const [alice, bob, carol] = await users(f.store, 'alice', 'bob', 'carol')
      await f.store.createRoom({ name: 'team', visibility: 'private', topic: null, owner: alice, at: T0 })
      await f.store.addMember('team', bob, T0)
      await post(f.store, 'team', bob, 'one')
      await post(f.store, 'team', bob, 'two')
      await post(f.store, 'team', alice, 'mine, @alice', [alice])
      expect(await countsOf(f.store, 'team', alice)).toEqual({ lastReadId: 0, unread: 2, mentions: 0 })
      expect(await countsOf(f.store, 'team', bob)).toEqual({ lastReadId: 0, unread: 1, mentions: 0 })
      // carol is not in the room: she is dropped from the message and counts nothing.
      const both = await post(f.store, 'team', bob, '@alice @carol', [alice, carol])
      expect(both.mentions).toEqual([alice])
      expect((await f.store.listMessages('team', { limit: 1 }))[0]).toEqual(both)
      expect(await countsOf(f.store, 'team', alice)).toEqual({ lastReadId: 0, unread: 3, mentions: 1 })
      expect(await f.store.listMentionsOf(carol.id, 0, 10)).toEqual([])
      expect(await f.store.unreadOf('team', [carol.id])).toEqual([])
      const none = await post(f.store, 'team', bob, '@carol', [carol])
      expect(none).not.toHaveProperty('mentions')

      // In a public room anyone can read, so anyone named is mentioned; only members have counters.
      await f.store.addMember('lobby', alice, T0)
      const heard = await post(f.store, 'lobby', bob, '@alice @carol', [alice, carol])
      expect(heard.mentions).toEqual([alice, carol])
      expect(await countsOf(f.store, 'lobby', alice)).toEqual({ lastReadId: 0, unread: 1, mentions: 1 })
      expect(await f.store.listMentionsOf(carol.id, 0, 10)).toEqual([{ room: 'lobby', message: heard }])
      for (const u of [alice, bob]) expect(await countsOf(f.store, 'team', u)).toEqual(await recounted(f.store, 'team', u))
    })

    test('a deletion lowers unread and mentions of those who had not read it, and nobody else', async () => {
      await using f = await open()
      const [alice, bob, carol] = await users(f.store, 'alice', 'bob', 'carol')
      await f.store.createRoom({ name: 'team', visibility: 'private', topic: null, owner: alice, at: T0 })
      await f.store.addMember('team', bob, T0)
      await f.store.addMember('team', carol, T0)
      const m1 = await post(f.store, 'team', bob, '@alice @carol', [alice, carol])
      const m2 = await post(f.store, 'team', bob, 'two')
      expect(await f.store.markRead('team', carol.id, m1.id)).toEqual({ lastReadId: m1.id, moved: true })
      expect(await countsOf(f.store, 'team', alice)).toEqual({ lastReadId: 0, unread: 2, mentions: 1 })
      expect(await countsOf(f.store, 'team', carol)).toEqual({ lastReadId: m1.id, unread: 1, mentions: 0 })
      await change(f.store, remove('team', m1.id, bob))
      expect(await countsOf(f.store, 'team', alice)).toEqual({ lastReadId: 0, unread: 1, mentions: 0 })
      expect(await countsOf(f.store, 'team', carol)).toEqual({ lastReadId: m1.id, unread: 1, mentions: 0 })
      expect(await countsOf(f.store, 'team', bob)).toEqual({ lastReadId: 0, unread: 0, mentions: 0 })
      expect(await f.store.listMentionsOf(alice.id, 0, 10)).toEqual([])
      // The author's own deleted message was never unread to them.
      const own = await post(f.store, 'team', alice, 'mine')
      await change(f.store, remove('team', own.id, alice))
      expect(await countsOf(f.store, 'team', alice)).toEqual({ lastReadId: 0, unread: 1, mentions: 0 })
      expect(await countsOf(f.store, 'team', bob)).toEqual({ lastReadId: 0, unread: 0, mentions: 0 })
      // Reading past a deleted message recounts without it.
      expect(await f.store.markRead('team', alice.id, m1.id)).toEqual({ lastReadId: m1.id, moved: true })
      expect(await countsOf(f.store, 'team', alice)).toEqual({ lastReadId: m1.id, unread: 1, mentions: 0 })
      expect(await f.store.markRead('team', alice.id, m2.id)).toEqual({ lastReadId: m2.id, moved: true })
      for (const u of [alice, bob, carol]) expect(await countsOf(f.store, 'team', u)).toEqual(await recounted(f.store, 'team', u))
    })

    test('an edit that adds or drops a mention moves the count of those who had not read it, and says who it newly mentions', async () => {
      await using f = await open()
      const [alice, bob, carol] = await users(f.store, 'alice', 'bob', 'carol')
      await f.store.createRoom({ name: 'team', visibility: 'private', topic: null, owner: alice, at: T0 })
      await f.store.addMember('team', bob, T0)
      const old = await post(f.store, 'team', bob, 'old')
      const m = await post(f.store, 'team', bob, 'hello')
      await f.store.markRead('team', alice.id, old.id)

      const added = await change(f.store, edit('team', m.id, bob, 'hello @alice @carol', [alice, carol]))
      expect(added.mentioned).toEqual([alice])
      expect(added.committed.event).toMatchObject({ type: 'edited', data: { messageId: m.id, mentions: [alice] } })
      expect((await f.store.listMessages('team', { limit: 1 }))[0]).toMatchObject({ id: m.id, text: 'hello @alice @carol', mentions: [alice] })
      expect(await countsOf(f.store, 'team', alice)).toEqual({ lastReadId: old.id, unread: 1, mentions: 1 })
      expect((await f.store.listMentionsOf(alice.id, 0, 10)).map((x) => x.message.id)).toEqual([m.id])

      expect((await change(f.store, edit('team', m.id, bob, 'hi @alice', [alice]))).mentioned).toEqual([])
      expect(await countsOf(f.store, 'team', alice)).toEqual({ lastReadId: old.id, unread: 1, mentions: 1 })
      const dropped = await change(f.store, edit('team', m.id, bob, 'hi all'))
      expect(dropped.mentioned).toEqual([])
      expect(dropped.committed.event.data).not.toHaveProperty('mentions')
      expect((await f.store.listMessages('team', { limit: 1 }))[0]).not.toHaveProperty('mentions')
      expect(await countsOf(f.store, 'team', alice)).toEqual({ lastReadId: old.id, unread: 1, mentions: 0 })
      expect(await f.store.listMentionsOf(alice.id, 0, 10)).toEqual([])

      // A message she had read: she is mentioned now (and told), but nothing unread is added.
      expect((await change(f.store, edit('team', old.id, bob, 'old @alice', [alice]))).mentioned).toEqual([alice])
      expect(await countsOf(f.store, 'team', alice)).toEqual({ lastReadId: old.id, unread: 1, mentions: 0 })
      // An author mentioning themselves is not told.
      expect((await change(f.store, edit('team', m.id, bob, 'me @bob', [bob]))).mentioned).toEqual([])
      expect(await countsOf(f.store, 'team', bob)).toEqual({ lastReadId: 0, unread: 0, mentions: 0 })
    })

    test('markRead only moves forward, stops at the newest message, recounts what follows, and ignores non-members', async () => {
      await using f = await open()
      const [alice, bob, carol] = await users(f.store, 'alice', 'bob', 'carol')
      await f.store.addMember('lobby', alice, T0)
      const ms: TextMessage[] = []
      for (let i = 0; i < 5; i++) ms.push(await post(f.store, 'lobby', i === 2 ? alice : bob, `m${i}`, i === 3 ? [alice] : []))
      expect(await countsOf(f.store, 'lobby', alice)).toEqual({ lastReadId: 0, unread: 4, mentions: 1 })
      expect(await f.store.markRead('lobby', alice.id, ms[1]!.id)).toEqual({ lastReadId: ms[1]!.id, moved: true })
      expect(await countsOf(f.store, 'lobby', alice)).toEqual({ lastReadId: ms[1]!.id, unread: 2, mentions: 1 })
      expect(await f.store.markRead('lobby', alice.id, ms[0]!.id)).toEqual({ lastReadId: ms[1]!.id, moved: false })
      expect(await f.store.markRead('lobby', alice.id, ms[1]!.id)).toEqual({ lastReadId: ms[1]!.id, moved: false })
      expect(await countsOf(f.store, 'lobby', alice)).toEqual({ lastReadId: ms[1]!.id, unread: 2, mentions: 1 })
      // An edit's id is past the newest message: the marker stops at the message.
      const edited = await change(f.store, edit('lobby', ms[4]!.id, bob, 'm4 again'))
      expect(await f.store.markRead('lobby', alice.id, edited.committed.event.data.id + 1000)).toEqual({ lastReadId: ms[4]!.id, moved: true })
      expect(await countsOf(f.store, 'lobby', alice)).toEqual({ lastReadId: ms[4]!.id, unread: 0, mentions: 0 })
      const next = await post(f.store, 'lobby', bob, 'later @alice', [alice])
      expect(await countsOf(f.store, 'lobby', alice)).toEqual({ lastReadId: ms[4]!.id, unread: 1, mentions: 1 })
      expect(await f.store.markRead('lobby', alice.id, next.id)).toEqual({ lastReadId: next.id, moved: true })
      expect(await f.store.markRead('lobby', carol.id, next.id)).toBeUndefined()
      expect(await f.store.markRead('nothing', alice.id, 1)).toBeUndefined()
      // Joining a room with messages: everything so far is read.
      await f.store.addMember('lobby', carol, T0)
      expect(await countsOf(f.store, 'lobby', carol)).toEqual({ lastReadId: next.id, unread: 0, mentions: 0 })
    })

    test('the counters are stored: a restarted store shows the same rooms and counts', async () => {
      await using f = await open()
      const [alice, bob] = await users(f.store, 'alice', 'bob')
      await f.store.openDm('dm:ab', alice.id, bob.id, T0)
      const first = await post(f.store, 'dm:ab', bob, 'one @alice', [alice])
      await post(f.store, 'dm:ab', bob, 'two')
      await post(f.store, 'dm:ab', bob, 'three @alice', [alice])
      await f.store.markRead('dm:ab', alice.id, first.id)
      const rooms = await f.store.listMyRooms(alice.id)
      expect(rooms).toEqual([expect.objectContaining({ name: 'dm:ab', lastReadId: first.id, unread: 2, mentions: 1 })])
      await f.restart()
      expect(await f.store.listMyRooms(alice.id)).toEqual(rooms)
      const four = await post(f.store, 'dm:ab', bob, 'four')
      expect(await countsOf(f.store, 'dm:ab', alice)).toEqual({ lastReadId: first.id, unread: 3, mentions: 1 })
      expect(await f.store.markRead('dm:ab', alice.id, four.id)).toEqual({ lastReadId: four.id, moved: true })
    })

    test('listMentionsOf: the newest, oldest first, after an id, not deleted, not in private rooms the user left', async () => {
      await using f = await open()
      const [alice, bob] = await users(f.store, 'alice', 'bob')
      await f.store.createRoom({ name: 'team', visibility: 'private', topic: null, owner: bob, at: T0 })
      await f.store.addMember('team', alice, T0)
      const a = await post(f.store, 'lobby', bob, '@alice a', [alice])
      const b = await post(f.store, 'team', bob, '@alice b', [alice])
      const c = await post(f.store, 'lobby', bob, '@alice c', [alice])
      const d = await post(f.store, 'lobby', bob, '@alice d', [alice])
      await post(f.store, 'lobby', bob, 'no one')
      const ids = async (after: number, limit: number) => (await f.store.listMentionsOf(alice.id, after, limit)).map((x) => [x.room, x.message.id])
      expect(await ids(0, 10)).toEqual([
        ['lobby', a.id],
        ['team', b.id],
        ['lobby', c.id],
        ['lobby', d.id],
      ])
      expect(await f.store.listMentionsOf(alice.id, 0, 1)).toEqual([{ room: 'lobby', message: d }])
      expect(await ids(b.id, 10)).toEqual([
        ['lobby', c.id],
        ['lobby', d.id],
      ])
      await change(f.store, remove('lobby', c.id, bob))
      expect(await ids(b.id, 10)).toEqual([['lobby', d.id]])
      await f.store.removeMember('team', alice, T0)
      expect(await ids(0, 10)).toEqual([
        ['lobby', a.id],
        ['lobby', d.id],
      ])
    })

    test('findUsersByKeys and findUsersByIds find those that exist', async () => {
      await using f = await open()
      const alice = await addUser(f.store, 'Alice', 'alice')
      const bob = await addUser(f.store, 'Bob', 'bob')
      const byKey = await f.store.findUsersByKeys(['bob', 'nobody', 'alice'])
      expect(byKey.sort((x, y) => x.id - y.id)).toEqual([
        { id: alice.id, username: 'Alice', usernameKey: 'alice' },
        { id: bob.id, username: 'Bob', usernameKey: 'bob' },
      ])
      expect(await f.store.findUsersByKeys([])).toEqual([])
      expect(await f.store.findUsersByKeys(['Alice'])).toEqual([])
      expect((await f.store.findUsersByIds([bob.id, alice.id + 1000, alice.id])).sort((x, y) => x.id - y.id)).toEqual([user(alice), user(bob)])
      expect(await f.store.findUsersByIds([])).toEqual([])
    })

    test('messages, deletions and read markers at once, from two instances, leave every count exact', async () => {
      await using f = await open()
      await using g = await f.another()
      const [alice, bob, carol] = await users(f.store, 'alice', 'bob', 'carol')
      await f.store.createRoom({ name: 'busy', visibility: 'private', topic: null, owner: alice, at: T0 })
      for (const u of [bob, carol]) await f.store.addMember('busy', u, T0)
      const stores = [f.store, g.store]
      const work: Promise<unknown>[] = []
      for (let i = 0; i < 120; i++) {
        const store = stores[i % 2]!
        const by = i % 3 === 0 ? alice : bob
        work.push(
          post(store, 'busy', by, `m${i}`, i % 4 === 0 ? [carol] : []).then(async (m) => {
            // carol reads as messages arrive (markers race each other and the writers); some are deleted at once.
            if (i % 5 === 0) await stores[(i + 1) % 2]!.markRead('busy', carol.id, m.id)
            if (i % 7 === 0) await change(store, remove('busy', m.id, by))
          }),
        )
      }
      await Promise.all(work)
      for (const u of [alice, bob, carol]) expect(await countsOf(f.store, 'busy', u)).toEqual(await recounted(f.store, 'busy', u))
      const newest = (await f.store.findRoom('busy'))!.lastMessageId
      await Promise.all([f.store.markRead('busy', carol.id, newest), g.store.markRead('busy', carol.id, newest - 1)])
      expect(await countsOf(g.store, 'busy', carol)).toEqual({ lastReadId: newest, unread: 0, mentions: 0 })
    })
  })
}
