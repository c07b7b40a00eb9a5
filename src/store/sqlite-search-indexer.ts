/**
 * SQLite's search index (sqlite-search.ts) written in batches of its own, after the messages' commits.
 *
 * FTS5 costs a message ~150 µs when it is indexed in a transaction of its own and ~35 µs in one of a
 * thousand (each commit flushes a segment and merges older ones), and at a few messages per group
 * commit, which is what a busy server writes, the index was most of a message's cost (docs/
 * PERFORMANCE.md, many rooms). So the writer only stores the message, and this indexes every entry
 * after the last one indexed, a step of at most STEP entries per transaction, at most DELAY_MS after
 * a commit (at once when STEP are waiting). The last id indexed is a row of `settings`, written in the
 * step's own transaction: whatever happens, an id is indexed exactly when it is at or below it, so a
 * crash loses nothing (the next start indexes what was left) and two processes on one file never
 * index an entry twice (each reads it inside its write transaction).
 *
 * Search stays exact: it catches up first, so a message is found as soon as its post is answered.
 * An edit or deletion of a message not indexed yet leaves the index alone (the step reads the
 * message as it is then: its current text, or nothing once deleted); one of an indexed message
 * changes its entry in its own transaction, as before.
 */
import type { Database } from 'bun:sqlite'
import { whenFree } from './sqlite-file.ts'
import { sqliteMark } from './sqlite-marks.ts'
import { INDEX_PRIVATE_SQL, INDEX_PUBLIC_SQL, privateRowid, publicRowid, searchScope } from './sqlite-search.ts'

/** The `settings` key of the last stream id indexed (migration 0014 sets it for a database from before). */
export const INDEXED_THROUGH = 'search_indexed_through'
/** For a tool that wrote the index itself beside the messages (the bench's data generators): everything is indexed. */
export const ALL_INDEXED_SQL = `INSERT INTO settings (key, value) SELECT '${INDEXED_THROUGH}', CAST(coalesce(max(id), 0) AS TEXT) FROM messages WHERE true
  ON CONFLICT (key) DO UPDATE SET value = excluded.value`
/** Entries read per step at most: ~35 µs each, so one step holds the event loop for tens of milliseconds at most. */
const STEP = 1024
/** How long committed messages wait for a step when fewer than STEP are waiting. */
const DELAY_MS = 100

/**
 * Entries to add, each with its rowid in its index, in ascending rowids. FTS5 flushes its pending
 * entries as a new segment whenever a rowid is not above the one before: added in id order (public
 * rowids descending, private ones jumping between rooms' stretches) 1 024 entries cost ~3–4× as much.
 */
export function sortedForIndex<E extends { id: number; room: string; private: number | boolean }>(
  entries: E[],
): { public: (E & { rowid: number })[]; private: (E & { rowid: number })[] } {
  const byRowid = (x: { rowid: number }, y: { rowid: number }) => x.rowid - y.rowid
  return {
    public: entries
      .filter((e) => !e.private)
      .map((e) => ({ ...e, rowid: publicRowid(e.id) }))
      .sort(byRowid),
    private: entries
      .filter((e) => e.private)
      .map((e) => ({ ...e, rowid: privateRowid(e.room, e.id) }))
      .sort(byRowid),
  }
}

type Entry = { id: number; room: string; text: string; kind: string; deleted: number; private: number }

/** `onCommitted` hears of each commit of the writer (the search index merge waits for a quiet spell). */
export function sqliteSearchIndexer(client: Database, onCommitted: () => void = () => {}) {
  const through = sqliteMark(client, INDEXED_THROUGH)
  const after = client.query<Entry, { after: number; limit: number }>(
    `SELECT id, room, text, kind, deleted, private FROM messages WHERE id > $after ORDER BY id LIMIT $limit`,
  )
  const addPublic = client.query(INDEX_PUBLIC_SQL)
  const addPrivate = client.query(INDEX_PRIVATE_SQL)

  /** One step, in a write transaction: the next STEP entries, the messages among them indexed. True when more may follow. */
  const step = client.transaction((): boolean => {
    const entries = after.all({ after: through.read(), limit: STEP })
    const sorted = sortedForIndex(entries.filter((e) => e.kind === 'message' && e.deleted === 0))
    for (const e of sorted.public) addPublic.run({ rowid: e.rowid, text: e.text, scope: searchScope(e.room) })
    for (const e of sorted.private) addPrivate.run({ rowid: e.rowid, text: e.text })
    if (entries.length > 0) through.write(entries.at(-1)!.id)
    return entries.length === STEP
  })

  /** Messages committed since the last step began (an estimate, for scheduling only). */
  let waiting = 0
  let timer: ReturnType<typeof setTimeout> | undefined
  /** Steps run one after another: a catch-up asked for while one runs follows it. */
  let chain: Promise<void> = Promise.resolve()

  /** Set when the store closes: no step runs on a closed database, however one was scheduled. */
  let closed = false

  async function run(): Promise<void> {
    clearTimeout(timer)
    timer = undefined
    waiting = 0
    while (!closed && (await whenFree(() => !closed && step.immediate()))) await new Promise<void>((resolve) => setImmediate(resolve))
  }

  function later(ms: number): void {
    if (closed) return
    timer = setTimeout(() => void catchUp().catch(() => later(DELAY_MS)), ms)
    timer.unref?.()
  }
  function catchUpNow(): void {
    while (step.immediate());
  }
  function catchUp(): Promise<void> {
    chain = chain.catch(() => {}).then(run)
    return chain
  }

  return {
    /** Whether the entry with this id is in the index already (asked inside the writer's transaction, for edits and deletions). */
    covers(id: number): boolean {
      return id <= through.read()
    },
    /** The writer committed `count` messages: a step within DELAY_MS, or at once when STEP are waiting. */
    committed(count: number): void {
      onCommitted()
      waiting += count
      if (waiting >= STEP) {
        clearTimeout(timer)
        later(0)
      } else if (timer === undefined) later(DELAY_MS)
    },
    /** Indexes everything committed before the call; a search awaits it. A step that fails leaves its entries for the next. */
    catchUp,
    /** The same, synchronously, when the store opens: entries a crash left. */
    catchUpNow,
    /** Before the store closes: everything indexed, and nothing scheduled after. */
    close(): void {
      catchUpNow()
      closed = true
      clearTimeout(timer)
      timer = undefined
    },
  }
}

export type SqliteSearchIndexer = ReturnType<typeof sqliteSearchIndexer>
