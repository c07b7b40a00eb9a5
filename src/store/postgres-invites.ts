/**
 * The PostgreSQL store's invitations (spec §5): an admin makes and revokes them, on the record; a
 * sign-up takes a use of one by one conditional UPDATE in its own transaction (postgres-accounts.ts,
 * with `usable`).
 */
import { and, desc, eq, gt, isNull, lt, or } from 'drizzle-orm'
import type { BunSQLDatabase } from 'drizzle-orm/bun-sql'
import * as schema from '../../db/schema.pg.ts'
import type { AuditAction } from '../protocol.ts'
import { INVITES_LISTED, type AccountStore, type Actor } from './accounts.ts'
import { guard } from './postgres-connection.ts'

const { invites } = schema

type Db = BunSQLDatabase<typeof schema>
type Tx = Parameters<Parameters<Db['transaction']>[0]>[0]

/** An invitation with a use left at `at`: not revoked, not expired. */
export const usable = (code: string, at: number) =>
  and(eq(invites.code, code), lt(invites.used, invites.uses), isNull(invites.revokedAt), or(isNull(invites.expiresAt), gt(invites.expiresAt, at)))

type WriteAudit = (tx: Tx, at: number, actor: Actor, action: AuditAction, target: Record<string, unknown>) => Promise<unknown>

const inviteColumns = { code: invites.code, uses: invites.uses, used: invites.used, expiresAt: invites.expiresAt, createdAt: invites.createdAt }

/** The driver may hand bigints over as strings. */
const toInvite = (row: { code: string; uses: number; used: number; expiresAt: number | null; createdAt: number }) => ({
  code: row.code,
  uses: Number(row.uses),
  used: Number(row.used),
  expiresAt: row.expiresAt === null ? null : Number(row.expiresAt),
  createdAt: Number(row.createdAt),
})

export function postgresInvites(db: Db, writeAudit: WriteAudit): Pick<AccountStore, 'createInvite' | 'listInvites' | 'isInviteUsable' | 'revokeInvite'> {
  return {
    createInvite: ({ code, uses, expiresAt, at, audit: note }) =>
      guard(async () => {
        const invite = { code, uses, used: 0, expiresAt, createdAt: at }
        await db.transaction(async (tx) => {
          await tx.insert(invites).values({ ...invite, createdBy: note.actor?.id ?? null })
          await writeAudit(tx, at, note.actor, 'invite.create', { code })
        })
        return invite
      }),
    listInvites: () =>
      guard(async () =>
        (
          await db.select(inviteColumns).from(invites).where(isNull(invites.revokedAt)).orderBy(desc(invites.createdAt), invites.code).limit(INVITES_LISTED)
        ).map(toInvite),
      ),
    isInviteUsable: (code, at) => guard(async () => (await db.select({ code: invites.code }).from(invites).where(usable(code, at))).length > 0),
    revokeInvite: (code, { at, audit: note }) =>
      guard(() =>
        db.transaction(async (tx) => {
          const rows = await tx
            .update(invites)
            .set({ revokedAt: at })
            .where(and(eq(invites.code, code), isNull(invites.revokedAt)))
            .returning({ code: invites.code })
          if (rows.length > 0) await writeAudit(tx, at, note.actor, 'invite.revoke', { code })
          return rows.length > 0
        }),
      ),
  }
}
