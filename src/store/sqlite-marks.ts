/**
 * The marks the SQLite store's background work keeps in `settings`: the last id it has done (indexed
 * for search, merged, filed in room order), read and written on the connection doing the work, inside
 * the work's own transaction, so that a mark never runs ahead of what it marks.
 */
import type { Database } from 'bun:sqlite'

export interface SqliteMark {
  /** The id marked, 0 before any. */
  read(): number
  write(id: number): void
}

export function sqliteMark(client: Database, key: string): SqliteMark {
  const get = client.query<{ value: string }, [string]>('SELECT value FROM settings WHERE key = ?')
  const set = client.query<unknown, [string, string]>('INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value')
  return {
    read: () => Number(get.get(key)?.value ?? 0),
    write: (id) => void set.run(key, String(id)),
  }
}
