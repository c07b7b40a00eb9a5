/**
 * The PostgreSQL store's accounts and moderation (spec §5). Instances write at once, so whatever can
 * change the number of admins (a sign-up on a server without one, a demotion, a ban, a deletion) takes
 * one transaction-scoped advisory lock first: the check and the change it guards are never interleaved
 * with another's, and two admins demoting each other at once leave one. An invite's use is taken by one
 * conditional UPDATE (the row lock makes concurrent sign-ups take turns).
 */
import { and, count, desc, eq, gt, inArray, isNull, lt, max, ne, or, sql } from 'drizzle-orm'
import type { BunSQLDatabase } from 'drizzle-orm/bun-sql'
import * as schema from '../../db/schema.pg.ts'
import type { AuditAction } from '../protocol.ts'
import {
  CHANGE_ACTION,
  changedFields,
  INVITES_LISTED,
  removesAdmin,
  userTarget,
  type AccountStore,
  type Actor,
  type Asker,
  type AskerRefusal,
  type Standing,
  toAuditRecord,
  toStanding,
  toSummary,
} from './accounts.ts'
import { guard, LOCK_CLASS } from './postgres-connection.ts'
import { postgresInvites, usable } from './postgres-invites.ts'

const { users, userChanges, invites, audit, settings, messages, roomMembers } = schema

/** The advisory lock (with LOCK_CLASS) held while the number of admins may change. */
const ADMINS_LOCK = 2

type Db = BunSQLDatabase<typeof schema>
type Tx = Parameters<Parameters<Db['transaction']>[0]>[0]

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

/** Thrown inside a transaction to roll it back: the name was taken meanwhile. */
class NameTaken extends Error {}

export function postgresAccounts(db: Db): AccountStore {
  // spec §5: a deleted account is shown under the placeholder wherever it was named, the mentions of
  // others' messages and edits included (see sqlite-accounts.ts).
  const renameMentions = (tx: Tx, id: number, placeholder: string) =>
    tx.execute(sql`UPDATE messages SET mentions = (
        SELECT json_agg(CASE WHEN (t.m ->> 'id')::bigint = ${id} THEN json_build_object('id', ${id}::bigint, 'username', ${placeholder}::text) ELSE t.m END ORDER BY t.n)::text
        FROM json_array_elements(messages.mentions::json) WITH ORDINALITY AS t(m, n))
      WHERE id IN (SELECT message_id FROM mentions WHERE user_id = ${id}
        UNION SELECT id FROM messages WHERE target_id = ANY (ARRAY(SELECT message_id FROM mentions WHERE user_id = ${id})) AND kind = 'edited'
        UNION SELECT id FROM messages WHERE user_id = ${id})
        AND mentions IS NOT NULL`)
  const lockAdmins = (tx: Tx) => tx.execute(sql`SELECT pg_advisory_xact_lock(${LOCK_CLASS}, ${ADMINS_LOCK})`)
  const hasAdmin = async (tx: Tx) => (await tx.select({ id: users.id }).from(users).where(unbannedAdmin).limit(1)).length > 0
  const otherAdmins = async (tx: Tx, id: number) =>
    (
      await tx
        .select({ n: count() })
        .from(users)
        .where(and(unbannedAdmin, ne(users.id, id)))
    )[0]!.n
  const writeAudit = (tx: Tx, at: number, actor: Actor, action: AuditAction, target: Record<string, unknown>) =>
    tx.insert(audit).values({ at, actorId: actor?.id ?? null, actorName: actor?.username ?? null, action, target: JSON.stringify(target) })
  const readForUpdate = async (tx: Tx, id: number) =>
    (
      await tx
        .select({ ...standingColumns, passwordHash: users.passwordHash })
        .from(users)
        .where(eq(users.id, id))
        .for('update')
    )[0]
  /**
   * Why `asker`'s request about user `id` no longer stands (see Asker). Both rows are locked, in id
   * order, so that two admins acting on each other at once wait rather than deadlock, and a ban of
   * the asker committed first is seen.
   */
  const refusal = async (tx: Tx, id: number, asker: Asker | undefined): Promise<AskerRefusal | undefined> => {
    if (!asker) return undefined
    const rows = await tx
      .select({ id: users.id, tokenVersion: users.tokenVersion, bannedAt: users.bannedAt })
      .from(users)
      .where(inArray(users.id, [id, asker.id]))
      .orderBy(users.id)
      .for('update')
    const row = rows.find((r) => Number(r.id) === asker.id)
    if (row?.bannedAt != null) return 'BANNED'
    return row !== undefined && Number(row.tokenVersion) === asker.tokenVersion ? undefined : 'STALE'
  }

  return {
    createUser: (u) =>
      guard(async () => {
        const at = u.at ?? Date.now()
        try {
          return await db.transaction(async (tx): Promise<Standing | 'USER_EXISTS' | 'INVITE_INVALID'> => {
            // Cheap pre-check; the unique index decides a race (NameTaken below).
            if ((await tx.select({ id: users.id }).from(users).where(eq(users.usernameKey, u.usernameKey))).length > 0) return 'USER_EXISTS'
            if (u.invite !== undefined) {
              const taken = await tx
                .update(invites)
                .set({ used: sql`${invites.used} + 1` })
                .where(usable(u.invite, at))
                .returning({ code: invites.code })
              if (taken.length === 0) return 'INVITE_INVALID'
            }
            let role = u.role
            // Once there is an admin there always is one (removing the last is refused), so only a
            // server without one needs the lock; re-read under it, after any other first sign-up committed.
            if (role === undefined && (await hasAdmin(tx))) role = 'member'
            if (role === undefined) {
              await lockAdmins(tx)
              role = (await hasAdmin(tx)) ? 'member' : 'admin'
            }
            const [row] = await tx
              .insert(users)
              .values({ username: u.username, usernameKey: u.usernameKey, passwordHash: u.passwordHash, createdAt: at, role, bot: u.bot ?? false })
              .onConflictDoNothing()
              .returning(standingColumns)
            if (!row) throw new NameTaken()
            if (u.bot && u.audit) await writeAudit(tx, at, u.audit.actor, 'bot.create', userTarget(toStanding(row)))
            return toStanding(row)
          })
        } catch (err) {
          if (err instanceof NameTaken) return 'USER_EXISTS'
          throw err
        }
      }),
    findUserByKey: (key) =>
      guard(async () => {
        const [row] = await db
          .select({ ...standingColumns, passwordHash: users.passwordHash })
          .from(users)
          .where(eq(users.usernameKey, key))
        return row && { ...toStanding(row), passwordHash: row.passwordHash }
      }),
    findStandings: (ids) =>
      guard(async () => (ids.length === 0 ? [] : (await db.select(standingColumns).from(users).where(inArray(users.id, ids))).map(toStanding))),
    findPasswordHash: (id) => guard(async () => (await db.select({ hash: users.passwordHash }).from(users).where(eq(users.id, id)))[0]?.hash),
    countAdmins: () => guard(async () => Number((await db.select({ n: count() }).from(users).where(unbannedAdmin))[0]!.n)),
    listUsers: ({ after, prefix, limit }) =>
      guard(async () => {
        const rows = await db
          .select({ ...standingColumns, createdAt: users.createdAt })
          .from(users)
          .where(and(gt(users.id, after), prefix === '' ? undefined : sql`starts_with(${users.usernameKey}, ${prefix})`))
          .orderBy(users.id)
          .limit(limit)
        return rows.map(toSummary)
      }),
    listBots: () =>
      guard(async () =>
        (await db.select(botColumns).from(users).where(eq(users.bot, true)).orderBy(users.id)).map((b) => ({
          id: Number(b.id),
          username: b.username,
          createdAt: Number(b.createdAt),
          hasToken: Boolean(b.hasToken),
        })),
      ),
    changeUser: (id, c, { at, audit: note, asker }) =>
      guard(() =>
        db.transaction(async (tx) => {
          if (c.kind === 'role' || c.kind === 'ban') await lockAdmins(tx)
          const refused = await refusal(tx, id, asker)
          if (refused) return refused
          const before = await readForUpdate(tx, id)
          if (!before) return undefined
          const standing = toStanding(before)
          if (removesAdmin(c, standing) && Number(await otherAdmins(tx, id)) === 0) return 'LAST_ADMIN' as const
          const fields = changedFields(c, standing, at)
          if (!fields) return standing
          const [row] = await tx
            .update(users)
            .set({ ...fields, tokenVersion: sql`${users.tokenVersion} + 1` })
            .where(eq(users.id, id))
            .returning(standingColumns)
          await tx.insert(userChanges).values({ userId: id, at })
          const action = CHANGE_ACTION[c.kind]
          if (note && action) await writeAudit(tx, at, note.actor, action, userTarget(standing))
          return toStanding(row!)
        }),
      ),
    deleteUser: (id, { at, placeholder, audit: note, asker }) =>
      guard(() =>
        db.transaction(async (tx) => {
          await lockAdmins(tx)
          const refused = await refusal(tx, id, asker)
          if (refused) return refused
          const before = await readForUpdate(tx, id)
          if (!before) return false
          const standing = toStanding(before)
          if (standing.role === 'admin' && !standing.banned && Number(await otherAdmins(tx, id)) === 0) return 'LAST_ADMIN' as const
          await tx.update(messages).set({ username: placeholder }).where(eq(messages.userId, id))
          await renameMentions(tx, id, placeholder)
          await tx.delete(users).where(eq(users.id, id))
          await tx.delete(roomMembers).where(eq(roomMembers.userId, id))
          await tx.insert(userChanges).values({ userId: id, at })
          if (note) await writeAudit(tx, at, note.actor, 'user.delete', userTarget(standing))
          return true
        }),
      ),
    lastUserChangeId: () => guard(async () => Number((await db.select({ id: max(userChanges.id) }).from(userChanges))[0]?.id ?? 0)),
    listUserChanges: (after, limit) =>
      guard(async () => {
        const rows = await db
          .select({ id: userChanges.id, userId: userChanges.userId })
          .from(userChanges)
          .where(gt(userChanges.id, after))
          .orderBy(userChanges.id)
          .limit(limit)
        return rows.map((r) => ({ id: Number(r.id), userId: Number(r.userId) }))
      }),
    pruneUserChanges: (before) =>
      guard(async () => {
        await db.delete(userChanges).where(lt(userChanges.at, before))
      }),
    ...postgresInvites(db, writeAudit),
    getSetting: (key) => guard(async () => (await db.select({ value: settings.value }).from(settings).where(eq(settings.key, key)))[0]?.value),
    setSetting: (key, value, { at, audit: note }) =>
      guard(() =>
        db.transaction(async (tx) => {
          // A value set again changes nothing and is not audited (docs/API.md).
          const set = { target: settings.key, set: { value }, setWhere: ne(settings.value, value) }
          const changed = await tx.insert(settings).values({ key, value }).onConflictDoUpdate(set).returning({ key: settings.key })
          if (note && changed.length > 0) await writeAudit(tx, at, note.actor, note.action, note.target)
        }),
      ),
    listAudit: ({ before, limit }) =>
      guard(async () =>
        (
          await db
            .select()
            .from(audit)
            .where(before === undefined ? undefined : lt(audit.id, before))
            .orderBy(desc(audit.id))
            .limit(limit)
        ).map(toAuditRecord),
      ),
  }
}
