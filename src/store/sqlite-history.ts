/**
 * A room's history in room order, for SQLite: filing messages into `messages_room_filed`, and reading a
 * page of history (REST) or a stretch of the stream (a welcome, a resume) with it.
 *
 * Messages are stored in id order, that is by time, so on a server with many rooms a room's messages
 * lie spread over the whole table: a page of 50 read from the table is 50 pages of the file, each read
 * from the OS (~7 µs apiece on the VM measured) once the database outgrows SQLite's cache. A covering
 * index of the whole message by `(room, id)` puts a room's messages on a few neighbouring pages, but
 * written with each message it cost ~30 % more CPU a message posted across many rooms (every fat index
 * entry lands in the middle of the index, which splits a page every ~15 of them). So the copy is written
 * later: a new message is posted unfiled (`filed` 0, outside the partial index), and after a quiet spell
 * the store's worker files every message posted since (sqlite-search-merge.ts), a step of FILE_STEP ids a
 * transaction, each step setting `filed` and FILED_THROUGH together. A page reads its ids from the room's
 * index of messages, then the filed ones whole from the copy, and only the others (posted since the last
 * quiet spell, near the end of the table where SQLite's cache has them) row by row. SQLite keeps the
 * copy in step with every edit, deletion and rename, as it does any index; a deletion's text goes from
 * both (PRAGMA secure_delete, on every connection that writes).
 *
 * The price is the copy on disk, ~175 bytes a message on the 10 M-message bench database (4.5 → 6.2 GB),
 * and the filing, ~100–180 µs of the worker's time a message (docs/PERFORMANCE.md, "Cost as data grows").
 */
import type { Database } from 'bun:sqlite'
import type { MessageRow, StreamRow } from './rows.ts'
import { sqliteMark } from './sqlite-marks.ts'
import { EVENT_PAGE_SQL, FILED_PAGE_SQL, PAGE_IDS_SQL, PAGE_ROWS_SQL } from './sqlite-queries.ts'

/** The `settings` key of the highest message id filed: filing goes on from there. */
export const FILED_THROUGH = 'history_filed_through'
/** Ids a filing step covers: a transaction of ~25–45 ms on a 2-core VM, which a post waits for at most. */
const FILE_STEP = 256

export type PageRow = Omit<MessageRow, 'deleted'> & { deleted: number }
export type PageParams = { room: string; before: number; after: number; limit: number }
export type EntryRow = Omit<StreamRow, 'deleted'> & { deleted: number }

/** The newest id of the stream (messages and events share it): what filing catches up to. */
const newestId = (client: Database): number => client.query<{ id: number | null }, []>('SELECT max(id) AS id FROM messages').get()?.id ?? 0

/** Whether messages were posted since the last filing. */
export function filingDue(client: Database): boolean {
  return newestId(client) > sqliteMark(client, FILED_THROUGH).read()
}

/**
 * Files every message posted since the last filing, FILE_STEP ids a transaction, until done (true) or
 * until `stop()` says so between two steps (false). Returns how many messages it filed in `filed`.
 */
export function fileHistory(client: Database, stop: () => boolean = () => false): { done: boolean; filed: number } {
  const file = client.query<unknown, { from: number; to: number }>(
    `UPDATE messages SET filed = 1 WHERE id > $from AND id <= $to AND kind = 'message' AND NOT filed`,
  )
  const through = sqliteMark(client, FILED_THROUGH)
  const step = client.transaction((from: number, to: number) => {
    const { changes } = file.run({ from, to })
    through.write(to)
    return changes
  })
  let filed = 0
  const newest = newestId(client)
  for (let from = through.read(); from < newest;) {
    if (stop()) return { done: false, filed }
    const to = Math.min(from + FILE_STEP, newest)
    filed += step(from, to)
    from = to
  }
  return { done: true, filed }
}

/**
 * Reads a stretch of a room's stream, newest first: its page of messages (above) and its events (edits,
 * deletions, reactions: few, read from their own index and the table), merged by id. Each side holds the
 * stretch's newest `limit` of its kind, so the merge's first `limit` are the stretch's.
 */
export function sqliteStreamPages(client: Database): (params: PageParams & { upTo: number }) => EntryRow[] {
  const messages = sqliteHistoryPages(client)
  const events = client.query<EntryRow, PageParams & { upTo: number }>(EVENT_PAGE_SQL)
  return (params) => {
    const { room, before, after, limit } = params
    const found = messages({ room, before, after, limit })
    const changes = events.all(params)
    const out: EntryRow[] = []
    for (let m = 0, e = 0; out.length < limit && (m < found.length || e < changes.length);) {
      const message = found[m]
      const change = changes[e]
      if (change === undefined || (message !== undefined && message.id > change.id)) {
        out.push({ ...message!, editedAt: message!.editedAt ?? null, kind: 'message', targetId: null })
        m++
      } else {
        out.push(change)
        e++
      }
    }
    return out
  }
}

/** Reads a page of a room's history, newest first (see above). */
export function sqliteHistoryPages(client: Database): (params: PageParams) => PageRow[] {
  const ids = client.query<{ id: number }, PageParams>(PAGE_IDS_SQL)
  const filed = client.query<PageRow, { room: string; first: number; last: number }>(FILED_PAGE_SQL)
  const rows = client.query<PageRow, { ids: string }>(PAGE_ROWS_SQL)
  return (params) => {
    const page = ids.all(params)
    if (page.length === 0) return []
    const found = filed.all({ room: params.room, first: page.at(-1)!.id, last: page[0]!.id })
    if (found.length === page.length) return found
    const have = new Set(found.map((r) => r.id))
    const rest = rows.all({ ids: JSON.stringify(page.filter((p) => !have.has(p.id)).map((p) => p.id)) })
    return found.length === 0 ? rest : [...found, ...rest].sort((a, b) => b.id - a.id)
  }
}
