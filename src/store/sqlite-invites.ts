/**
 * The SQLite store's invitations (spec §5): an admin makes and revokes them, on the record; a sign-up
 * takes a use of one in its own transaction (sqlite-accounts.ts, with `usable`).
 */
import type { Database } from 'bun:sqlite'
import { and, desc, eq, gt, isNull, lt, or } from 'drizzle-orm'
import type { BunSQLiteDatabase } from 'drizzle-orm/bun-sqlite'
import * as schema from '../../db/schema.ts'
import type { AuditAction } from '../protocol.ts'
import { INVITES_LISTED, type AccountStore, type Actor } from './accounts.ts'
import { whenFree } from './sqlite-file.ts'

const { invites } = schema

/** An invitation with a use left at `at`: not revoked, not expired. */
export const usable = (code: string, at: number) =>
  and(eq(invites.code, code), lt(invites.used, invites.uses), isNull(invites.revokedAt), or(isNull(invites.expiresAt), gt(invites.expiresAt, at)))

type WriteAudit = (at: number, actor: Actor, action: AuditAction, target: Record<string, unknown>) => void

export function sqliteInvites(
  db: BunSQLiteDatabase<typeof schema>,
  client: Database,
  writeAudit: WriteAudit,
): Pick<AccountStore, 'createInvite' | 'listInvites' | 'isInviteUsable' | 'revokeInvite'> {
  const inviteColumns = { code: invites.code, uses: invites.uses, used: invites.used, expiresAt: invites.expiresAt, createdAt: invites.createdAt }
  return {
    async createInvite({ code, uses, expiresAt, at, audit: note }) {
      const invite = { code, uses, used: 0, expiresAt, createdAt: at }
      await whenFree(() =>
        client
          .transaction(() => {
            db.insert(invites)
              .values({ ...invite, createdBy: note.actor?.id ?? null })
              .run()
            writeAudit(at, note.actor, 'invite.create', { code })
          })
          .immediate(),
      )
      return invite
    },
    async listInvites() {
      return db.select(inviteColumns).from(invites).where(isNull(invites.revokedAt)).orderBy(desc(invites.createdAt), invites.code).limit(INVITES_LISTED).all()
    },
    async isInviteUsable(code, at) {
      return db.select({ code: invites.code }).from(invites).where(usable(code, at)).get() !== undefined
    },
    async revokeInvite(code, { at, audit: note }) {
      return whenFree(() =>
        client
          .transaction(() => {
            const rows = db
              .update(invites)
              .set({ revokedAt: at })
              .where(and(eq(invites.code, code), isNull(invites.revokedAt)))
              .returning({ code: invites.code })
              .all()
            if (rows.length > 0) writeAudit(at, note.actor, 'invite.revoke', { code })
            return rows.length > 0
          })
          .immediate(),
      )
    },
  }
}
