/**
 * The PostgreSQL writer's hot path (postgres-stream.ts): statements whose text never changes, built
 * without a query builder, run under the room's lock.
 */
import type { SQL } from 'bun'
import { sql as dsql } from 'drizzle-orm'
import type { Tx } from './postgres-conversation.ts'
import type { MessageRow } from './rows.ts'
import { toMessage, type Committed, type NewMessage } from './stream.ts'

export type NewRow = Omit<MessageRow, 'id'> & { private: boolean }

/**
 * Inserts a run of messages with one statement whose text never changes (so it is parsed and planned
 * once per connection, and built here without a query builder: the writer's hot path); their ids,
 * in the order given. The rows come as one JSON parameter, read back in array order, so identity
 * values are drawn in that order as they are for a multi-row VALUES. Texts reach here validated
 * (well-formed, no NUL: ws/frames.ts), which JSON to PostgreSQL's text needs as a parameter does.
 */
export async function insertMessages(tx: Tx, rows: NewRow[]): Promise<number[]> {
  const json = JSON.stringify(
    rows.map((r) => ({
      room: r.room,
      user_id: r.userId,
      username: r.username,
      text: r.text,
      nonce: r.nonce,
      created_at: r.createdAt,
      mentions: r.mentions ?? null,
      reply_to: r.replyTo ?? null,
      attachments: r.attachments ?? null,
      private: r.private,
    })),
  )
  const ids = (await tx.execute(dsql`INSERT INTO messages (room, user_id, username, text, nonce, created_at, mentions, reply_to, attachments, private)
    SELECT v.room, v.user_id, v.username, v.text, v.nonce, v.created_at, v.mentions, v.reply_to, v.attachments, v.private
    FROM json_to_recordset(${json}::text::json) AS v(room text, user_id bigint, username text, text text, nonce text, created_at bigint,
      mentions text, reply_to bigint, attachments text, private boolean)
    RETURNING id`)) as unknown as { id: string | number }[]
  return ids.map((r) => Number(r.id)).sort((a, b) => a - b)
}

/** A message with nothing to look up or count beside itself: no reply, no attachments, no mentions (most messages). */
export const isPlain = (m: NewMessage) => m.replyTo === undefined && !m.attachments?.length && m.mentions.length === 0

/**
 * A batch of plain messages in one call of `chat_write_plain` (migration 0018): the room's lock, then one
 * statement that does what the general path does in four (read the rooms row; insert the run; count
 * each sender's own messages read; move the rooms row), with the same effects, all in the call's own
 * transaction. One round trip where BEGIN, the lock, the statement and COMMIT took four: the writer's
 * hot path, on the driver itself, without Drizzle. Its ids come back in the run's order. Undefined, nothing
 * written, when the room is private and a sender is not its member (migration 0019): the caller writes
 * the run in its general path, which refuses those messages alone.
 */
export async function writePlain(sql: SQL, lockClass: number, room: string, run: NewMessage[]): Promise<Committed[] | undefined> {
  const json = JSON.stringify(
    run.map((m) => ({ user_id: m.user.id, username: m.user.username, text: m.text, nonce: m.nonce ?? null, created_at: m.createdAt })),
  )
  const [row] = (await sql`SELECT before, ids FROM chat_write_plain(${lockClass}::integer, ${room}, ${json}::text::json)`) as {
    before: string | number | null
    ids: string | null
  }[]
  // A private room and a sender who is not its member (migration 0019): nothing written.
  if (row!.ids === null) return undefined
  const ids = row!.ids.split(',').map(Number)
  let after = Number(row!.before ?? 0)
  return run.map((m, k) => {
    const id = ids[k]!
    const stored: MessageRow = { id, room, userId: m.user.id, username: m.user.username, text: m.text, nonce: m.nonce ?? null, createdAt: m.createdAt }
    const committed = { message: toMessage(stored), after }
    after = id
    return committed
  })
}
