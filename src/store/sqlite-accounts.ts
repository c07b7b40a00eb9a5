/**
 * The SQLite store's accounts and moderation (spec §5). SQLite has one writer at a time, so a check
 * and the change it guards (first admin, last admin, an invite's last use) are one IMMEDIATE
 * transaction: nobody can write between them.
 */
import type { Database } from 'bun:sqlite'
import { and, count, desc, eq, gt, inArray, isNull, lt, max, ne, or, sql } from 'drizzle-orm'
import type { BunSQLiteDatabase } from 'drizzle-orm/bun-sqlite'
import * as schema from '../../db/schema.ts'
import type { AuditAction } from '../protocol.ts'
import {
  CHANGE_ACTION,
  changedFields,
  removesAdmin,
  userTarget,
  type AccountStore,
  type Actor,
  type Asker,
  type AskerRefusal,
  INVITES_LISTED,
  type NewUser,
  type Standing,
  toAuditRecord,
  toStanding,
  toSummary,
  type UserChange,
} from './accounts.ts'
import { whenFree } from './sqlite-file.ts'
import { sqliteInvites, usable } from './sqlite-invites.ts'

const { users, userChanges, invites, audit, settings, messages, roomMembers } = schema

const standingColumns = {
  id: users.id,
  username: users.username,
  role: users.role,
  tokenVersion: users.tokenVersion,
  bannedAt: users.bannedAt,
  apiTokenHash: users.apiTokenHash,
}

const botColumns = { id: users.id, username: users.username, createdAt: users.createdAt, hasToken: sql<boolean>`${users.apiTokenHash} IS NOT NULL` }

const unbannedAdmin = and(eq(users.role, 'admin'), isNull(users.bannedAt))

export function sqliteAccounts(db: BunSQLiteDatabase<typeof schema>, client: Database): AccountStore {
  const writeAudit = (at: number, actor: Actor, action: AuditAction, target: Record<string, unknown>) =>
    db
      .insert(audit)
      .values({ at, actorId: actor?.id ?? null, actorName: actor?.username ?? null, action, target: JSON.stringify(target) })
      .run()
  const otherAdmins = (id: number) =>
    db
      .select({ n: count() })
      .from(users)
      .where(and(unbannedAdmin, ne(users.id, id)))
      .get()!.n
  const readUser = (id: number) =>
    db
      .select({ ...standingColumns, passwordHash: users.passwordHash })
      .from(users)
      .where(eq(users.id, id))
      .get()

  // Every login reads it: prepared once, not built and compiled on each call (~⅕ of a login's main-thread CPU).
  const userByKey = db
    .select({ ...standingColumns, passwordHash: users.passwordHash })
    .from(users)
    .where(eq(users.usernameKey, sql.placeholder('key')))
    .prepare()

  const create = client.transaction((u: NewUser, at: number): Standing | 'USER_EXISTS' | 'INVITE_INVALID' => {
    if (db.select({ id: users.id }).from(users).where(eq(users.usernameKey, u.usernameKey)).get()) return 'USER_EXISTS'
    if (u.invite !== undefined) {
      const taken = db
        .update(invites)
        .set({ used: sql`${invites.used} + 1` })
        .where(usable(u.invite, at))
        .returning({ code: invites.code })
        .all()
      if (taken.length === 0) return 'INVITE_INVALID'
    }
    const role = u.role ?? (db.select({ id: users.id }).from(users).where(unbannedAdmin).limit(1).get() ? 'member' : 'admin')
    const row = db
      .insert(users)
      .values({ username: u.username, usernameKey: u.usernameKey, passwordHash: u.passwordHash, createdAt: at, role, bot: u.bot ?? false })
      .returning(standingColumns)
      .get()
    if (u.bot && u.audit) writeAudit(at, u.audit.actor, 'bot.create', userTarget(row))
    return toStanding(row)
  })

  /** Why `asker`'s request no longer stands (see Asker), read in the change's own transaction. */
  const refusal = (asker: Asker | undefined): AskerRefusal | undefined => {
    if (!asker) return undefined
    const row = readUser(asker.id)
    if (row?.bannedAt != null) return 'BANNED'
    return row?.tokenVersion === asker.tokenVersion ? undefined : 'STALE'
  }

  const change = client.transaction((id: number, c: UserChange, at: number, actor: Actor | undefined, asker: Asker | undefined) => {
    const refused = refusal(asker)
    if (refused) return refused
    const before = readUser(id)
    if (!before) return undefined
    const standing = toStanding(before)
    if (removesAdmin(c, standing) && otherAdmins(id) === 0) return 'LAST_ADMIN' as const
    const fields = changedFields(c, standing, at)
    if (!fields) return standing
    const row = db
      .update(users)
      .set({ ...fields, tokenVersion: sql`${users.tokenVersion} + 1` })
      .where(eq(users.id, id))
      .returning(standingColumns)
      .get()!
    db.insert(userChanges).values({ userId: id, at }).run()
    const action = CHANGE_ACTION[c.kind]
    if (actor !== undefined && action) writeAudit(at, actor, action, userTarget(row))
    return toStanding(row)
  })

  // spec §5: a deleted account is shown under the placeholder wherever it was named, the mentions of
  // others' messages and edits included (each row found by index: the mention rows, the edits' target,
  // the author's own rows).
  const renameMentions = client.query<unknown, { id: number; placeholder: string }>(
    `UPDATE messages SET mentions = (
       SELECT json_group_array(CASE WHEN m.value ->> 'id' = $id THEN json_object('id', $id, 'username', $placeholder) ELSE json(m.value) END)
       FROM json_each(messages.mentions) AS m)
     WHERE id IN (SELECT message_id FROM mentions WHERE user_id = $id
       UNION SELECT e.id FROM mentions n JOIN messages e ON e.target_id = n.message_id WHERE n.user_id = $id AND e.kind = 'edited'
       UNION SELECT id FROM messages WHERE user_id = $id)
       AND mentions IS NOT NULL`,
  )
  const remove = client.transaction((id: number, at: number, placeholder: string, actor: Actor | undefined, asker: Asker | undefined) => {
    const refused = refusal(asker)
    if (refused) return refused
    const before = readUser(id)
    if (!before) return false
    const standing = toStanding(before)
    if (standing.role === 'admin' && !standing.banned && otherAdmins(id) === 0) return 'LAST_ADMIN' as const
    db.update(messages).set({ username: placeholder }).where(eq(messages.userId, id)).run()
    renameMentions.run({ id, placeholder })
    db.delete(users).where(eq(users.id, id)).run()
    db.delete(roomMembers).where(eq(roomMembers.userId, id)).run()
    db.insert(userChanges).values({ userId: id, at }).run()
    if (actor !== undefined) writeAudit(at, actor, 'user.delete', userTarget(standing))
    return true
  })

  return {
    async createUser(u) {
      return whenFree(() => create.immediate(u, u.at ?? Date.now()))
    },
    async findUserByKey(key) {
      const row = userByKey.get({ key })
      return row && { ...toStanding(row), passwordHash: row.passwordHash }
    },
    async findStandings(ids) {
      if (ids.length === 0) return []
      return db.select(standingColumns).from(users).where(inArray(users.id, ids)).all().map(toStanding)
    },
    async findPasswordHash(id) {
      return db.select({ hash: users.passwordHash }).from(users).where(eq(users.id, id)).get()?.hash
    },
    async countAdmins() {
      return db.select({ n: count() }).from(users).where(unbannedAdmin).get()!.n
    },
    async listUsers({ after, prefix, limit }) {
      const matches = prefix === '' ? undefined : sql`substr(${users.usernameKey}, 1, ${[...prefix].length}) = ${prefix}`
      const rows = db
        .select({ ...standingColumns, createdAt: users.createdAt })
        .from(users)
        .where(and(gt(users.id, after), matches))
        .orderBy(users.id)
        .limit(limit)
        .all()
      return rows.map(toSummary)
    },
    async listBots() {
      return db
        .select(botColumns)
        .from(users)
        .where(eq(users.bot, true))
        .orderBy(users.id)
        .all()
        .map((b) => ({ ...b, hasToken: Boolean(b.hasToken) }))
    },
    async changeUser(id, c, { at, audit: note, asker }) {
      return whenFree(() => change.immediate(id, c, at, note?.actor, asker))
    },
    async deleteUser(id, { at, placeholder, audit: note, asker }) {
      return whenFree(() => remove.immediate(id, at, placeholder, note?.actor, asker))
    },
    async lastUserChangeId() {
      return (
        db
          .select({ id: max(userChanges.id) })
          .from(userChanges)
          .get()?.id ?? 0
      )
    },
    async listUserChanges(after, limit) {
      return db
        .select({ id: userChanges.id, userId: userChanges.userId })
        .from(userChanges)
        .where(gt(userChanges.id, after))
        .orderBy(userChanges.id)
        .limit(limit)
        .all()
    },
    async pruneUserChanges(before) {
      await whenFree(() => db.delete(userChanges).where(lt(userChanges.at, before)).run())
    },
    ...sqliteInvites(db, client, writeAudit),
    async getSetting(key) {
      return db.select({ value: settings.value }).from(settings).where(eq(settings.key, key)).get()?.value
    },
    async setSetting(key, value, { at, audit: note }) {
      await whenFree(() =>
        client
          .transaction(() => {
            // A value set again changes nothing and is not audited (docs/API.md).
            const set = { target: settings.key, set: { value }, setWhere: ne(settings.value, value) }
            const changed = db.insert(settings).values({ key, value }).onConflictDoUpdate(set).returning({ key: settings.key }).all()
            if (note && changed.length > 0) writeAudit(at, note.actor, note.action, note.target)
          })
          .immediate(),
      )
    },
    async listAudit({ before, limit }) {
      return db
        .select()
        .from(audit)
        .where(before === undefined ? undefined : lt(audit.id, before))
        .orderBy(desc(audit.id))
        .limit(limit)
        .all()
        .map(toAuditRecord)
    },
  }
}
