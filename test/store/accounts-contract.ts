/**
 * The accounts-and-moderation half of the store contract (spec §5), run against SQLite and
 * PostgreSQL: the first-admin and last-admin rules decided race-free, an invitation's uses taken
 * atomically with the account, every standing change raising the token version with a row in the
 * change feed, and the audit log written with the change it records.
 */
import { describe, expect, test } from 'bun:test'
import type { Standing, Store } from '../../src/store/store.ts'
import { addUser, type StoreFixture } from './contract.ts'

const T0 = Date.UTC(2026, 10, 28, 23, 0, 0, 0)
const CLI = { actor: null }

async function invite(store: Store, code: string, uses = 1, expiresAt: number | null = null) {
  return store.createInvite({ code, uses, expiresAt, at: T0, audit: CLI })
}

const standingOf = (s: Standing) => s

export function describeAccountContract(name: string, open: () => Promise<StoreFixture>): void {
  describe(`${name} store: accounts and moderation`, () => {
    test('the first account is admin, later ones members, unless created as admin; countAdmins counts unbanned admins', async () => {
      await using f = await open()
      expect(await f.store.countAdmins()).toBe(0)
      const first = await addUser(f.store, 'first')
      const second = await addUser(f.store, 'second')
      const forced = await f.store.createUser({ username: 'forced', usernameKey: 'forced', passwordHash: 'h', role: 'admin' })
      expect([first.role, second.role, (forced as Standing).role]).toEqual(['admin', 'member', 'admin'])
      expect(await f.store.countAdmins()).toBe(2)
      expect(await f.store.changeUser(first.id, { kind: 'ban', reason: null }, { at: T0 })).toMatchObject({ banned: true })
      expect(await f.store.countAdmins()).toBe(1)
    })

    test('sign-ups at once on a server without an admin make exactly one admin', async () => {
      await using f = await open()
      const created = await Promise.all(Array.from({ length: 12 }, (_, i) => addUser(f.store, `u${i}`)))
      expect(created.filter((u) => u.role === 'admin')).toHaveLength(1)
      expect(await f.store.countAdmins()).toBe(1)
    })

    test('an invitation: each account takes one use; used up, unknown, expired or revoked codes create nothing', async () => {
      await using f = await open()
      expect(await invite(f.store, 'two', 2)).toEqual({ code: 'two', uses: 2, used: 0, expiresAt: null, createdAt: T0 })
      await invite(f.store, 'late', 5, T0 + 1000)
      await invite(f.store, 'gone', 5)
      const signUp = (username: string, code: string, at = T0) => f.store.createUser({ username, usernameKey: username, passwordHash: 'h', invite: code, at })
      expect(await f.store.isInviteUsable('two', T0)).toBe(true)
      expect(await signUp('a', 'two')).toMatchObject({ username: 'a' })
      // A taken name gives the use back (nothing is written).
      expect(await signUp('a', 'two')).toBe('USER_EXISTS')
      expect(await signUp('b', 'two')).toMatchObject({ username: 'b' })
      expect(await signUp('c', 'two')).toBe('INVITE_INVALID')
      expect(await f.store.isInviteUsable('two', T0)).toBe(false)
      expect(await signUp('c', 'nope')).toBe('INVITE_INVALID')
      expect(await f.store.isInviteUsable('late', T0 + 999)).toBe(true)
      expect(await signUp('c', 'late', T0 + 1000)).toBe('INVITE_INVALID')
      expect(await f.store.isInviteUsable('late', T0 + 1000)).toBe(false)
      expect(await f.store.revokeInvite('gone', { at: T0, audit: CLI })).toBe(true)
      expect(await f.store.revokeInvite('gone', { at: T0, audit: CLI })).toBe(false)
      expect(await f.store.revokeInvite('nope', { at: T0, audit: CLI })).toBe(false)
      expect(await signUp('c', 'gone')).toBe('INVITE_INVALID')
      expect(await f.store.findUserByKey('c')).toBeUndefined()
      expect((await f.store.listInvites()).map((i) => [i.code, i.used])).toEqual([
        ['late', 0],
        ['two', 2],
      ])
    })

    test('sign-ups at once with a one-use invitation make exactly one account', async () => {
      await using f = await open()
      await invite(f.store, 'once')
      const results = await Promise.all(
        Array.from({ length: 10 }, (_, i) => f.store.createUser({ username: `n${i}`, usernameKey: `n${i}`, passwordHash: 'h', invite: 'once', at: T0 })),
      )
      expect(results.filter((r) => typeof r === 'object')).toHaveLength(1)
      expect(results.filter((r) => r === 'INVITE_INVALID')).toHaveLength(9)
      expect((await f.store.listInvites())[0]).toMatchObject({ code: 'once', used: 1 })
    })

    test('each change raises the token version and adds a feed row; a no-op changes nothing; audited only when asked', async () => {
      await using f = await open()
      const admin = await addUser(f.store, 'admin')
      const bob = await addUser(f.store, 'bob', 'bob', 'old')
      const start = await f.store.lastUserChangeId()
      const by = { audit: { actor: { id: admin.id, username: 'admin' } } }
      // Asked with bob's token at version 0: made, and a second asked with the same token is stale.
      const asker = { id: bob.id, tokenVersion: 0 }
      expect(await f.store.changeUser(bob.id, { kind: 'password', hash: 'new' }, { at: T0, asker })).toEqual({ ...bob, tokenVersion: 1 })
      expect(await f.store.findPasswordHash(bob.id)).toBe('new')
      expect(await f.store.changeUser(bob.id, { kind: 'password', hash: 'newer' }, { at: T0, asker })).toBe('STALE')
      expect(await f.store.findPasswordHash(bob.id)).toBe('new')
      expect(await f.store.changeUser(bob.id, { kind: 'revoke' }, { at: T0 })).toMatchObject({ tokenVersion: 2 })
      expect(await f.store.changeUser(bob.id, { kind: 'role', role: 'member' }, { at: T0, ...by })).toMatchObject({ tokenVersion: 2 })
      expect(await f.store.changeUser(bob.id, { kind: 'unban' }, { at: T0, ...by })).toMatchObject({ tokenVersion: 2, banned: false })
      expect(await f.store.changeUser(bob.id, { kind: 'role', role: 'admin' }, { at: T0, ...by })).toMatchObject({ role: 'admin', tokenVersion: 3 })
      expect(await f.store.changeUser(bob.id, { kind: 'ban', reason: 'spam' }, { at: T0, ...by })).toMatchObject({ banned: true, tokenVersion: 4 })
      expect(await f.store.changeUser(bob.id, { kind: 'ban', reason: 'again' }, { at: T0, ...by })).toMatchObject({ banned: true, tokenVersion: 4 })
      expect(await f.store.changeUser(bob.id, { kind: 'unban' }, { at: T0, ...by })).toMatchObject({ banned: false, tokenVersion: 5 })
      expect(await f.store.changeUser(bob.id, { kind: 'password', hash: 'reset' }, { at: T0, ...by })).toMatchObject({ tokenVersion: 6 })
      expect(await f.store.changeUser(bob.id + 1000, { kind: 'revoke' }, { at: T0 })).toBeUndefined()
      const changes = await f.store.listUserChanges(start, 100)
      expect(changes.map((c) => c.userId)).toEqual(Array(6).fill(bob.id))
      expect(changes.map((c) => c.id)).toEqual([...changes.map((c) => c.id)].sort((a, b) => a - b))
      expect(await f.store.lastUserChangeId()).toBe(changes.at(-1)!.id)
      expect(await f.store.listUserChanges(changes[3]!.id, 2)).toEqual(changes.slice(4, 6))
      const target = { id: bob.id, username: 'bob' }
      expect((await f.store.listAudit({ limit: 10 })).map((e) => [e.action, e.actor, e.target])).toEqual([
        ['user.password', by.audit.actor, target],
        ['user.unban', by.audit.actor, target],
        ['user.ban', by.audit.actor, target],
        ['user.role', by.audit.actor, target],
      ])
      expect(await f.store.findStandings([bob.id, admin.id, bob.id + 1000]).then((s) => s.sort((a, b) => a.id - b.id))).toEqual([
        { id: admin.id, username: 'admin', role: 'admin', tokenVersion: 0, banned: false, apiTokenHash: null },
        { id: bob.id, username: 'bob', role: 'admin', tokenVersion: 6, banned: false, apiTokenHash: null },
      ])
      expect(await f.store.findStandings([])).toEqual([])
    })

    test('a change asked with a token is made only while that token holds: a ban, demotion or log-out meanwhile stops it (STALE, BANNED)', async () => {
      await using f = await open()
      const admin = await addUser(f.store, 'admin')
      const other = await addUser(f.store, 'other')
      const bob = await addUser(f.store, 'bob', 'bob', 'old')
      await f.store.changeUser(other.id, { kind: 'role', role: 'admin' }, { at: T0 })
      const asBob = { id: bob.id, tokenVersion: 0 }
      const asOther = { id: other.id, tokenVersion: 1 }
      // bob is banned while his password change or account deletion is under way: neither is made.
      await f.store.changeUser(bob.id, { kind: 'ban', reason: null }, { at: T0 })
      expect(await f.store.changeUser(bob.id, { kind: 'password', hash: 'mine' }, { at: T0, asker: asBob })).toBe('BANNED')
      expect(await f.store.deleteUser(bob.id, { at: T0, placeholder: '[deleted]', asker: asBob })).toBe('BANNED')
      expect(await f.store.findPasswordHash(bob.id)).toBe('old')
      // Unbanned, his old token is still revoked.
      await f.store.changeUser(bob.id, { kind: 'unban' }, { at: T0 })
      expect(await f.store.deleteUser(bob.id, { at: T0, placeholder: '[deleted]', asker: asBob })).toBe('STALE')
      expect(await f.store.findStandings([bob.id])).toHaveLength(1)
      // An admin demoted while their change to someone else was under way: not made, nor audited.
      expect(await f.store.changeUser(bob.id, { kind: 'role', role: 'admin' }, { at: T0, asker: asOther })).toMatchObject({ role: 'admin' })
      await f.store.changeUser(other.id, { kind: 'role', role: 'member' }, { at: T0 })
      const audited = (await f.store.listAudit({ limit: 10 })).length
      expect(await f.store.changeUser(bob.id, { kind: 'ban', reason: null }, { at: T0, asker: asOther, audit: { actor: other } })).toBe('STALE')
      expect(await f.store.changeUser(bob.id, { kind: 'password', hash: 'x' }, { at: T0, asker: asOther })).toBe('STALE')
      expect(await f.store.findStandings([bob.id])).toMatchObject([{ banned: false }])
      expect(await f.store.listAudit({ limit: 10 })).toHaveLength(audited)
      // An asker who no longer exists asks nothing; one whose token holds is obeyed, on themselves too.
      expect(await f.store.changeUser(bob.id, { kind: 'revoke' }, { at: T0, asker: { id: bob.id + 1000, tokenVersion: 0 } })).toBe('STALE')
      const now = (await f.store.findStandings([admin.id]))[0]!
      expect(
        await f.store.changeUser(bob.id, { kind: 'ban', reason: null }, { at: T0, asker: { id: admin.id, tokenVersion: now.tokenVersion } }),
      ).toMatchObject({ banned: true })
    })

    test('the last unbanned admin can be neither demoted, banned nor deleted', async () => {
      await using f = await open()
      const admin = await addUser(f.store, 'admin')
      const other = await addUser(f.store, 'other')
      expect(await f.store.changeUser(admin.id, { kind: 'role', role: 'member' }, { at: T0 })).toBe('LAST_ADMIN')
      expect(await f.store.changeUser(admin.id, { kind: 'ban', reason: null }, { at: T0 })).toBe('LAST_ADMIN')
      expect(await f.store.deleteUser(admin.id, { at: T0, placeholder: '[deleted]' })).toBe('LAST_ADMIN')
      // Other changes to the last admin are fine.
      expect(await f.store.changeUser(admin.id, { kind: 'revoke' }, { at: T0 })).toMatchObject({ role: 'admin', tokenVersion: 1 })
      await f.store.changeUser(other.id, { kind: 'role', role: 'admin' }, { at: T0 })
      await f.store.changeUser(other.id, { kind: 'ban', reason: null }, { at: T0 })
      // A banned admin does not count.
      expect(await f.store.changeUser(admin.id, { kind: 'role', role: 'member' }, { at: T0 })).toBe('LAST_ADMIN')
      expect(await f.store.findStandings([admin.id]).then((s) => s.map(standingOf))).toEqual([{ ...admin, tokenVersion: 1 }])
    })

    test('two admins demoting each other at once leave one admin', async () => {
      await using f = await open()
      for (let round = 0; round < 5; round++) {
        const a = await f.store.createUser({ username: `a${round}`, usernameKey: `a${round}`, passwordHash: 'h', role: 'admin' })
        const b = await f.store.createUser({ username: `b${round}`, usernameKey: `b${round}`, passwordHash: 'h', role: 'admin' })
        // Everyone else loses admin first, so these two are the only ones.
        for (const u of await f.store.listUsers({ after: 0, prefix: '', limit: 100 }))
          if (u.role === 'admin' && u.id !== (a as Standing).id && u.id !== (b as Standing).id)
            await f.store.changeUser(u.id, { kind: 'role', role: 'member' }, { at: T0 })
        const results = await Promise.all([
          f.store.changeUser((a as Standing).id, { kind: 'role', role: 'member' }, { at: T0 }),
          f.store.changeUser((b as Standing).id, { kind: 'ban', reason: null }, { at: T0 }),
        ])
        expect(results.filter((r) => r === 'LAST_ADMIN')).toHaveLength(1)
        expect(await f.store.countAdmins()).toBe(1)
      }
    })

    test('deleting a user frees the name, shows their messages under the placeholder, and is in the feed and the audit', async () => {
      await using f = await open()
      const admin = await addUser(f.store, 'admin')
      const bob = await addUser(f.store, 'bob')
      await f.store.insertMessage({ room: 'r', user: bob, text: 'hi', nonce: undefined, mentions: [], createdAt: T0 })
      await f.store.insertMessage({ room: 'r', user: admin, text: 'yo', nonce: undefined, mentions: [], createdAt: T0 })
      expect(await f.store.addMember('r', bob, T0)).toBe(true)
      const start = await f.store.lastUserChangeId()
      expect(await f.store.deleteUser(bob.id, { at: T0, placeholder: '[deleted]', audit: { actor: null } })).toBe(true)
      expect(await f.store.deleteUser(bob.id, { at: T0, placeholder: '[deleted]' })).toBe(false)
      expect((await f.store.listMessages('r', { limit: 10 })).map((m) => [m.user, m.text])).toEqual([
        [{ id: bob.id, username: '[deleted]' }, 'hi'],
        [{ id: admin.id, username: 'admin' }, 'yo'],
      ])
      expect(await f.store.findStandings([bob.id])).toEqual([])
      // spec §6: a deleted account is in no room any more.
      expect(await f.store.isMember('r', bob.id)).toBe(false)
      expect(await f.store.listMyRooms(bob.id)).toEqual([])
      expect((await f.store.listUserChanges(start, 10)).map((c) => c.userId)).toEqual([bob.id])
      expect((await f.store.listAudit({ limit: 1 }))[0]).toMatchObject({ actor: null, action: 'user.delete', target: { id: bob.id, username: 'bob' } })
      const again = await addUser(f.store, 'bob')
      expect(again.id).toBeGreaterThan(bob.id)
    })

    test('a deleted user is the placeholder in every mention of them: messages, edits, their own; others keep theirs', async () => {
      await using f = await open()
      const admin = await addUser(f.store, 'admin')
      const bob = await addUser(f.store, 'bob')
      const carol = await addUser(f.store, 'carol')
      const gone = { id: bob.id, username: '[deleted]' }
      const asUser = (u: Standing) => ({ id: u.id, username: u.username })
      const both = await f.store.insertMessage({
        room: 'r',
        user: admin,
        text: 'hi @bob @carol',
        nonce: undefined,
        mentions: [asUser(bob), asUser(carol)],
        createdAt: T0,
      })
      await f.store.insertMessage({ room: 'r', user: bob, text: 'me @bob', nonce: undefined, mentions: [asUser(bob)], createdAt: T0 })
      const later = await f.store.insertMessage({ room: 'r', user: carol, text: 'plain', nonce: undefined, mentions: [], createdAt: T0 })
      const edit = {
        type: 'edited' as const,
        room: 'r',
        messageId: later.message.id,
        user: asUser(carol),
        text: 'now @bob',
        mentions: [asUser(bob)],
        at: T0 + 1,
      }
      expect((await f.store.changeMessage(edit)).ok).toBe(true)
      expect(await f.store.deleteUser(bob.id, { at: T0 + 2, placeholder: '[deleted]' })).toBe(true)
      expect((await f.store.listMessages('r', { limit: 10 })).map((m) => [m.user.username, m.text, m.mentions])).toEqual([
        ['admin', 'hi @bob @carol', [gone, asUser(carol)]],
        ['[deleted]', 'me @bob', [gone]],
        ['carol', 'now @bob', [gone]],
      ])
      const changes = await f.store.listStream('r', { after: both.message.id, changesUpTo: Number.MAX_SAFE_INTEGER, limit: 10 })
      expect(changes.flatMap((e) => (e.type === 'edited' ? [e.data.mentions] : []))).toEqual([[gone]])
    })

    test('listUsers pages by id, filters by key prefix, and shows role, ban and creation time', async () => {
      await using f = await open()
      const names = ['anna', 'anton', 'bert', 'ＡＮＤＹ', 'ánne']
      const users: Standing[] = []
      for (const n of names)
        users.push(
          (await f.store.createUser({ username: n, usernameKey: n.normalize('NFKC').toLowerCase(), passwordHash: 'h', at: T0 + users.length })) as Standing,
        )
      await f.store.changeUser(users[2]!.id, { kind: 'ban', reason: 'x' }, { at: T0 })
      const all = await f.store.listUsers({ after: 0, prefix: '', limit: 10 })
      expect(all).toEqual(users.map((u, i) => ({ id: u.id, username: names[i]!, role: i === 0 ? 'admin' : 'member', banned: i === 2, createdAt: T0 + i })))
      expect((await f.store.listUsers({ after: 0, prefix: 'an', limit: 10 })).map((u) => u.username)).toEqual(['anna', 'anton', 'ＡＮＤＹ'])
      expect((await f.store.listUsers({ after: users[0]!.id, prefix: 'an', limit: 1 })).map((u) => u.username)).toEqual(['anton'])
      expect((await f.store.listUsers({ after: 0, prefix: 'á', limit: 10 })).map((u) => u.username)).toEqual(['ánne'])
      expect(await f.store.listUsers({ after: 0, prefix: '%', limit: 10 })).toEqual([])
      expect(await f.store.listUsers({ after: users[4]!.id, prefix: '', limit: 10 })).toEqual([])
    })

    test('pruneUserChanges removes changes older than the given time', async () => {
      await using f = await open()
      const bob = await addUser(f.store, 'bob')
      await f.store.changeUser(bob.id, { kind: 'revoke' }, { at: T0 })
      await f.store.changeUser(bob.id, { kind: 'revoke' }, { at: T0 + 10 })
      await f.store.pruneUserChanges(T0 + 10)
      const left = await f.store.listUserChanges(0, 10)
      expect(left).toHaveLength(1)
      expect(await f.store.lastUserChangeId()).toBe(left[0]!.id)
    })

    test('settings are set and read back, audited when asked and when they change; the audit pages newest first', async () => {
      await using f = await open()
      expect(await f.store.getSetting('registration')).toBeUndefined()
      const actor = { id: 7, username: 'root' }
      // The second 'closed' and 'open' change nothing: no entry (docs/API.md).
      for (const mode of ['invite', 'closed', 'closed', 'open', 'open'])
        await f.store.setSetting('registration', mode, { at: T0, audit: { actor, action: 'registration.set', target: { registration: mode } } })
      await f.store.setSetting('quiet', 'x', { at: T0 })
      expect(await f.store.getSetting('registration')).toBe('open')
      const entries = await f.store.listAudit({ limit: 10 })
      expect(entries).toEqual(
        ['open', 'closed', 'invite'].map((mode, i) => ({ id: entries[i]!.id, at: T0, actor, action: 'registration.set', target: { registration: mode } })),
      )
      expect(await f.store.listAudit({ before: entries[0]!.id, limit: 1 })).toEqual([entries[1]!])
      expect(await f.store.listAudit({ before: entries[2]!.id, limit: 5 })).toEqual([])
    })
  })
}
