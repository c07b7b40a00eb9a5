/**
 * The quiet spell's thread (sqlite-search-merge.ts): its own connection to the database file, so a step
 * that takes a while holds the write lock, never the event loop. It files the history posted since the
 * last time, then merges the search indexes when they grew enough. One run per worker; it
 * answers with its outcome and the store ends it. The server's worker runs main.ts, which imports
 * this on a worker thread (so any build of the binary holds it); tests and tools run it directly.
 */
import { Database } from 'bun:sqlite'
import { isBusy } from './sqlite-file.ts'
import { fileHistory } from './sqlite-history.ts'
import { mergeDue, mergeSearchIndexes, READY, type MergeOrder, type MergeOutcome } from './sqlite-search-merge.ts'

/** A step waits this long for a write lock held by the server's writer before the merge stops until the next quiet spell. */
const LOCK_WAIT_MS = 1000

declare const self: Worker

self.onmessage = (event: MessageEvent<MergeOrder>) => {
  const stop = new Int32Array(event.data.stop)
  let answer: MergeOutcome
  let client: Database | undefined
  try {
    // Never creates the file: one removed meanwhile makes the merge fail, not an empty database appear.
    client = new Database(event.data.path, { strict: true, readwrite: true, create: false })
    client.exec(`PRAGMA busy_timeout = ${LOCK_WAIT_MS}`)
    client.exec('PRAGMA synchronous = NORMAL')
    // Filing and merging move rows and index entries: what they free must be zeroed, as the store's own
    // connection does, or a message deleted later would leave its text in an old copy (spec §5).
    client.exec('PRAGMA secure_delete = ON')
    const stopped = () => Atomics.load(stop, 0) === 1
    const { done, filed } = fileHistory(client, stopped)
    const merging = done && mergeDue(client)
    answer = !done || (merging && !mergeSearchIndexes(client, stopped)) ? { outcome: 'stopped' } : { outcome: 'done', filed, merged: merging }
  } catch (err) {
    answer = isBusy(err) ? { outcome: 'stopped' } : { outcome: 'failed', error: err instanceof Error ? err.message : String(err) }
  } finally {
    client?.close()
  }
  postMessage(answer)
}
// The order comes once the handler is there: imported from main.ts, this module may load after the worker began.
postMessage(READY)
