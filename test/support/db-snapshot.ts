/**
 * Read-only views of a server's SQLite file, opened beside the running server (WAL lets a reader
 * see every committed write), so a test can prove what rejected input did not change.
 */
import { Database } from 'bun:sqlite'

export interface UserRow {
  id: number
  username: string
  username_key: string
  password_hash: string
  created_at: number
}

export interface MessageRow {
  id: number
  room: string
  user_id: number
  username: string
  text: string
  nonce: string | null
  created_at: number
}

export interface Snapshot {
  users: UserRow[]
  messages: MessageRow[]
}

export interface Counts {
  users: number
  messages: number
  lastMessageId: number
}

export interface DbReader {
  /** Every row of `users` and `messages`, by id. */
  snapshot(): Snapshot
  /**
   * A hash of every row of `users` and of the `messages` with an id up to `upToMessageId` (all when
   * omitted): equal digests, equal rows. Cheaper than comparing snapshots when the tables are large.
   */
  digest(upToMessageId?: number): string
  /** The `messages` rows with an id above `id`, by id. */
  messagesAfter(id: number): MessageRow[]
  /** Row counts and the highest message id (0 when there is none): cheap, for a check after every input. */
  counts(): Counts
  /** `PRAGMA integrity_check`: ['ok'] for a sound file. */
  integrityCheck(): string[]
  close(): void
  [Symbol.dispose](): void
}

export function openDbReader(path: string): DbReader {
  const db = new Database(path, { readonly: true })
  const users = db.query<UserRow, []>('SELECT id, username, username_key, password_hash, created_at FROM users ORDER BY id')
  const messages = db.query<MessageRow, []>('SELECT id, room, user_id, username, text, nonce, created_at FROM messages ORDER BY id')
  const userValues = db.query<unknown[], []>('SELECT id, username, username_key, password_hash, created_at FROM users ORDER BY id')
  const messageValuesUpTo = db.query<unknown[], [number]>('SELECT id, room, user_id, username, text, nonce, created_at FROM messages WHERE id <= ? ORDER BY id')
  const after = db.query<MessageRow, [number]>('SELECT id, room, user_id, username, text, nonce, created_at FROM messages WHERE id > ? ORDER BY id')
  const counts = db.query<Counts, []>(
    'SELECT (SELECT count(*) FROM users) AS users, (SELECT count(*) FROM messages) AS messages, (SELECT coalesce(max(id), 0) FROM messages) AS lastMessageId',
  )
  const close = () => db.close()
  return {
    snapshot: () => ({ users: users.all(), messages: messages.all() }),
    digest: (upTo = Number.MAX_SAFE_INTEGER) => Bun.hash(JSON.stringify([userValues.values(), messageValuesUpTo.values(upTo)])).toString(16),
    messagesAfter: (id) => after.all(id),
    counts: () => ({ ...counts.get()! }),
    integrityCheck: () =>
      db
        .query<{ integrity_check: string }, []>('PRAGMA integrity_check')
        .all()
        .map((r) => r.integrity_check),
    close,
    [Symbol.dispose]: close,
  }
}
