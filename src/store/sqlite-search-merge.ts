/**
 * What SQLite's store does in a quiet moment, on a thread of its own: files the messages posted since
 * the last time into the room-ordered copy history pages read (sqlite-history.ts), then keeps the search
 * indexes (sqlite-search.ts) merged.
 *
 * FTS5 writes each indexer step (sqlite-search-indexer.ts) as a segment and merges segments four at
 * a time as they pile up, so an index holds a few segments for each fourfold of its size: 6 on 100 000
 * messages, 13 on 10 M. A search looks each of its trigrams up in every segment, and that look-up is
 * most of a search's cost: a rare word on 10 M messages read the public index in 0.18 ms with 13
 * segments and 0.03 ms with one (docs/PERFORMANCE.md, "Search").
 *
 * So once no message has been written for `quietMs` and the index has grown by a sixteenth (at least
 * MIN_GROWTH entries) since it was last merged whole, a worker (sqlite-search-merge-worker.ts, its own
 * connection) merges each index into one segment with FTS5's incremental 'merge' command, a few
 * pages per transaction. A message written meanwhile stops it after its current step, and it goes on
 * from there after the next quiet spell (a 'merge' begun again continues the one in progress). Every
 * step is a transaction of its own, so a crash or a stop anywhere leaves a whole index.
 *
 * The price: the merge rewrites the index (35–90 s of one core for 10 M messages, the index's size
 * again on disk until it ends), at most once for each sixteenth it grows; a write waits for the
 * step in progress (~10 ms, a few hundred for a step through a very common trigram).
 */
import type { Database } from 'bun:sqlite'
import { filingDue } from './sqlite-history.ts'
import { sqliteMark } from './sqlite-marks.ts'
import { INDEXED_THROUGH } from './sqlite-search-indexer.ts'

/** The `settings` key of the last stream id indexed when the indexes were last merged whole. */
export const MERGED_THROUGH = 'search_merged_through'
/** The FTS5 tables merged, each into one segment. */
const INDEXES = ['messages_public_fts', 'messages_private_fts'] as const
/** Pages a step writes, about: ~10 ms a step (a term is never split, so a very common trigram takes longer). */
const STEP_PAGES = 64
/** The least growth, in stream entries, that a merge waits for. */
export const MIN_GROWTH = 1024
/** The share of the index that must be new since the last merge: each entry is rewritten ~16 times over as the index doubles. */
const GROWTH_SHARE = 16
/** How long a merge waits for a stopped worker to let go of the database when the store closes. */
const CLOSE_WAIT_MS = 5000

/** Whether the indexes grew enough since they were last merged whole for a merge to pay. */
export function mergeDue(client: Database): boolean {
  const merged = sqliteMark(client, MERGED_THROUGH).read()
  return sqliteMark(client, INDEXED_THROUGH).read() - merged >= Math.max(MIN_GROWTH, merged / GROWTH_SHARE)
}

/**
 * Merges each index into one segment, a step of STEP_PAGES per transaction, until done (true) or until
 * `stop()` says so between two steps (false). Also what a tool runs to merge a database it wrote.
 */
export function mergeSearchIndexes(client: Database, stop: () => boolean = () => false): boolean {
  const through = sqliteMark(client, INDEXED_THROUGH).read()
  const changes = client.query<{ n: number }, []>('SELECT total_changes() AS n')
  for (const table of INDEXES) {
    const step = client.query<unknown, [number]>(`INSERT INTO ${table} (${table}, rank) VALUES ('merge', ?)`)
    // A negative count begins a merge of every segment (or continues the one in progress); a positive one continues it.
    for (let pages = -STEP_PAGES; ; pages = STEP_PAGES) {
      if (stop()) return false
      const before = changes.get()!.n
      step.run(pages)
      // FTS5's own measure: a step that did any work changed at least two rows.
      if (changes.get()!.n - before < 2) break
    }
  }
  sqliteMark(client, MERGED_THROUGH).write(through)
  return true
}

/** What the worker is told: the database file and the flag that stops it. */
export interface MergeOrder {
  path: string
  stop: SharedArrayBuffer
}
/** What the worker says first, once it listens: the order is sent then. */
export const READY = 'ready'
/**
 * What the worker answers: done (`filed`: the messages it filed; `merged`: whether it merged the search
 * indexes, which it does only when they grew enough), stopped by a write, or failed (with why).
 */
export type MergeOutcome = { outcome: 'done'; filed: number; merged: boolean } | { outcome: 'stopped' } | { outcome: 'failed'; error: string }

/** The worker's module, run from source (tests, tools). The server passes its entry module instead, which becomes the worker on a worker thread (main.ts). */
export const MERGE_WORKER_FROM_SOURCE = new URL('./sqlite-search-merge-worker.ts', import.meta.url)

export interface MergerOptions {
  /** Time without a write before the worker runs; 0 turns it off, filing and merging (so does an in-memory database). */
  quietMs: number
  /** The worker's module: MERGE_WORKER_FROM_SOURCE, or an entry module that runs it on a worker thread. */
  worker: URL
  /** Told how each merge ended. */
  onOutcome: (outcome: MergeOutcome, ms: number) => void
}

/** The store's side: watches for a quiet spell after the last write (`wrote`), then runs the worker when filing or a merge is due. */
export function sqliteSearchMerger(client: Database, path: string, { quietMs, worker: workerUrl, onOutcome }: MergerOptions) {
  const enabled = quietMs > 0 && path !== ':memory:'
  const stopFlag = new Int32Array(new SharedArrayBuffer(4))
  let lastWrite = performance.now()
  let timer: ReturnType<typeof setTimeout> | undefined
  let running: Promise<void> | undefined
  let closed = false

  function schedule(ms: number): void {
    if (!enabled || closed || timer !== undefined || running !== undefined) return
    timer = setTimeout(check, ms)
    timer.unref?.()
  }

  function check(): void {
    timer = undefined
    const quietFor = performance.now() - lastWrite
    if (quietFor < quietMs) return schedule(quietMs - quietFor)
    // Nothing new to merge (or the database cannot say): nothing happens until the next write.
    if (closed || !dueNow()) return
    Atomics.store(stopFlag, 0, 0)
    running = merge().then((outcome) => {
      running = undefined
      // Stopped by a write: on after the next quiet spell. Failed: after the next write and quiet spell, not in a loop.
      if (outcome === 'stopped') schedule(quietMs)
    })
  }

  /** Filing or a merge due, never throwing out of a timer: a database that fails to answer is asked again after the next write. */
  function dueNow(): boolean {
    try {
      return filingDue(client) || mergeDue(client)
    } catch (err) {
      onOutcome({ outcome: 'failed', error: err instanceof Error ? err.message : String(err) }, 0)
      return false
    }
  }

  function merge(): Promise<MergeOutcome['outcome']> {
    const started = performance.now()
    return new Promise((resolve) => {
      let worker: Worker | undefined
      let ended = false
      // Once: an error after the answer (or a second one) changes nothing.
      const end = (outcome: MergeOutcome) => {
        if (ended) return
        ended = true
        worker?.terminate()
        onOutcome(outcome, performance.now() - started)
        resolve(outcome.outcome)
      }
      try {
        // Small heap (it runs SQL, little JavaScript); never what keeps the process alive.
        worker = new Worker(workerUrl, { smol: true, ref: false })
      } catch (err) {
        return end({ outcome: 'failed', error: err instanceof Error ? err.message : String(err) })
      }
      const thread = worker
      thread.onmessage = (event: MessageEvent<MergeOutcome | typeof READY>) =>
        event.data === READY ? thread.postMessage({ path, stop: stopFlag.buffer } satisfies MergeOrder) : end(event.data)
      thread.onerror = (event) => end({ outcome: 'failed', error: event.message })
    })
  }

  schedule(quietMs)
  return {
    /** A write was committed: a merge under way stops after its step, and the quiet spell begins again. */
    wrote(): void {
      lastWrite = performance.now()
      if (running !== undefined) Atomics.store(stopFlag, 0, 1)
      else schedule(quietMs)
    },
    /** Stops a merge under way (after its step) and schedules nothing more. */
    async close(): Promise<void> {
      closed = true
      clearTimeout(timer)
      timer = undefined
      Atomics.store(stopFlag, 0, 1)
      if (running !== undefined) await Promise.race([running, Bun.sleep(CLOSE_WAIT_MS)])
    },
  }
}

export type SqliteSearchMerger = ReturnType<typeof sqliteSearchMerger>
