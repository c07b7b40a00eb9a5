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

export interface DbReader {
  /** Every row of `users` and `messages`, by id. */
  snapshot(): Snapshot
  /** `PRAGMA integrity_check`: ['ok'] for a sound file. */
  integrityCheck(): string[]
  close(): void
  [Symbol.dispose](): void
}

export function openDbReader(path: string): DbReader {
  const db = new Database(path, { readonly: true })
  const users = db.query<UserRow, []>('SELECT id, username, username_key, password_hash, created_at FROM users ORDER BY id')
  const messages = db.query<MessageRow, []>('SELECT id, room, user_id, username, text, nonce, created_at FROM messages ORDER BY id')
  const close = () => db.close()
  return {
    snapshot: () => ({ users: users.all(), messages: messages.all() }),
    integrityCheck: () =>
      db
        .query<{ integrity_check: string }, []>('PRAGMA integrity_check')
        .all()
        .map((r) => r.integrity_check),
    close,
    [Symbol.dispose]: close,
  }
}
