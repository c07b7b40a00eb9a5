/** The audit log (spec §5): every admin and CLI action, newest first. Entries are written by the store with the change they record. */
import { LIMITS, type AuditPage } from '../protocol.ts'
import type { Store } from '../store/store.ts'

/** `GET /api/v1/admin/audit`: the newest `limit` entries with an id below `before`. */
export async function listAudit(
  store: Pick<Store, 'listAudit'>,
  { before, limit = LIMITS.PAGE_DEFAULT }: { before?: number; limit?: number },
): Promise<AuditPage> {
  const rows = await store.listAudit({ before, limit: limit + 1 })
  const entries = rows.slice(0, limit).map((r) => ({ id: r.id, at: new Date(r.at).toISOString(), actor: r.actor, action: r.action, target: r.target }))
  return { entries, hasMore: rows.length > limit }
}
