/**
 * SQLite's search indexes are merged into one segment each after a quiet spell, on a worker (src/store/
 * sqlite-search-merge.ts): every search answers as before, a merge goes step by step and on from where
 * it stopped, it waits while messages keep coming and for enough new ones, a failed one is not retried
 * in a loop, and closing the store in the middle of one leaves whole indexes.
 */
import { Database } from 'bun:sqlite'
import { expect, test } from 'bun:test'
import { copyFileSync } from 'node:fs'
import type { Message, User } from '../../src/protocol.ts'
import { MERGED_THROUGH, MIN_GROWTH, mergeSearchIndexes, type MergeOutcome } from '../../src/store/sqlite-search-merge.ts'
import { openSqliteStore, type SqliteOptions } from '../../src/store/sqlite.ts'
import type { Store } from '../../src/store/store.ts'
import { startChildServer } from '../support/child-server.ts'
import { addUser } from './contract.ts'
import { withDatabaseFile } from '../support/temp-file.ts'

const T0 = Date.UTC(2026, 11, 1, 12, 0, 0, 0)
const INDEXES = ['messages_public_fts', 'messages_private_fts'] as const

const withDir = (run: (file: string) => Promise<void>) => withDatabaseFile('chat-search-merge-', run)

/** Each index's segments, read beside the store as another program would. */
function segments(file: string): number[] {
  const db = new Database(file, { readonly: true })
  try {
    return INDEXES.map((t) => db.query<{ n: number }, []>(`SELECT count(DISTINCT segid) AS n FROM ${t}_idx`).get()!.n)
  } finally {
    db.close()
  }
}

function mergedThrough(file: string): number | undefined {
  const db = new Database(file, { readonly: true })
  try {
    const row = db.query<{ value: string }, [string]>('SELECT value FROM settings WHERE key = ?').get(MERGED_THROUGH)
    return row ? Number(row.value) : undefined
  } finally {
    db.close()
  }
}

const post = async (store: Store, room: string, by: User, text: string): Promise<Message> =>
  (await store.insertMessage({ room, user: by, text, nonce: undefined, mentions: [], createdAt: T0 })).message

/**
 * `count` messages in `chunks` commits, each indexed (by a search) before the next is posted, so each
 * index holds a segment or more per chunk: every third one in the private room `team`, the rest in `lobby`.
 */
async function fill(store: Store, by: User, count: number, chunks: number): Promise<Message[]> {
  const posted: Message[] = []
  const per = Math.ceil(count / chunks)
  for (let start = 0; start < count; start += per) {
    const texts = Array.from({ length: Math.min(per, count - start) }, (_, k) => start + k).map(
      (i) => `word${i % 7} message number ${i} ${'tale of the lake '.repeat(1 + (i % 3))}`,
    )
    posted.push(...(await Promise.all(texts.map((text, k) => post(store, (start + k) % 3 === 0 ? 'team' : 'lobby', by, text)))))
    await store.searchMessages({ q: 'nothing here', userId: null, limit: 1 })
  }
  return posted
}

/** Every answer a few searches give, as a member of `team` and anonymously, each a page of 100. */
async function answers(store: Store, userId: number): Promise<number[][]> {
  const out: number[][] = []
  for (const q of ['word3', 'number 1234', 'message', 'lake', 'number 7'])
    for (const who of [userId, null]) out.push((await store.searchMessages({ q, userId: who, limit: 100 })).map((m) => m.id))
  return out
}

/** How a quiet spell's run ended: 'merged' (history filed, indexes merged), 'filed' (no merge due), 'stopped' or 'failed'. */
type Ended = 'merged' | 'filed' | Exclude<MergeOutcome['outcome'], 'done'>
const ended = (o: MergeOutcome): Ended => (o.outcome === 'done' ? (o.merged ? 'merged' : 'filed') : o.outcome)

/** A store on `file` with a merge after `quietMs`, and the outcomes of its merges as they come. */
function openWatched(file: string, quietMs: number, extra: SqliteOptions = {}) {
  const outcomes: Ended[] = []
  const store = openSqliteStore(file, { searchMergeQuietMs: quietMs, onSearchMerge: (o) => outcomes.push(ended(o)), ...extra })
  const until = async (outcome: Ended, withinMs = 20_000) => {
    const deadline = performance.now() + withinMs
    while (!outcomes.includes(outcome) && performance.now() < deadline) await Bun.sleep(20)
    expect(outcomes).toContain(outcome)
  }
  return { store, outcomes, until }
}

/** A database of `count` messages indexed in `chunks` steps, never merged; its owner alice (a member of private `team`). */
async function filled(file: string, count: number, chunks: number): Promise<{ alice: User; posted: Message[]; before: number[][] }> {
  const store = openSqliteStore(file, { searchMergeQuietMs: 0 })
  try {
    const alice = await addUser(store, 'alice')
    expect(await store.createRoom({ name: 'team', visibility: 'private', topic: null, owner: alice, at: T0 })).toBe(true)
    const posted = await fill(store, alice, count, chunks)
    return { alice, posted, before: await answers(store, alice.id) }
  } finally {
    await store.close()
  }
}

test('after a quiet spell each index is merged into one segment, and every search, edit and deletion answers as before', async () => {
  await withDir(async (file) => {
    const { alice, posted, before } = await filled(file, 1500, 6)
    for (const n of segments(file)) expect(n).toBeGreaterThan(1)
    expect(before.every((a) => a.length > 0)).toBe(true)

    const { store, outcomes, until } = openWatched(file, 150)
    try {
      await until('merged')
      expect(outcomes).toEqual(['merged'])
      expect(segments(file)).toEqual([1, 1])
      expect(mergedThrough(file)).toBe(Math.max(...posted.map((m) => m.id)))
      expect(await answers(store, alice.id)).toEqual(before)
      // The merged index takes changes as before: a new message, an edit, a deletion.
      const fresh = await post(store, 'team', alice, 'number 7 written after the merge')
      const [edited, gone] = [posted.find((m) => m.text!.includes('number 7 '))!, posted.find((m) => m.text!.includes('number 1234 '))!]
      expect(
        (await store.changeMessage({ type: 'edited', room: edited.room, messageId: edited.id, user: alice, text: 'renamed', mentions: [], at: T0 })).ok,
      ).toBe(true)
      expect((await store.changeMessage({ type: 'deleted', room: gone.room, messageId: gone.id, user: alice, byAdmin: false, at: T0 })).ok).toBe(true)
      const search = async (q: string) => (await store.searchMessages({ q, userId: alice.id, limit: 100 })).map((m) => m.id)
      expect(await search('number 7')).toEqual([fresh.id, ...before[8]!.filter((id) => id !== edited.id)].slice(0, 100))
      expect(await search('number 1234')).toEqual([])
      expect(await search('renamed')).toEqual([edited.id])
    } finally {
      await store.close()
    }
  })
})

test('a merge goes a step per transaction: stopped between steps, it leaves whole indexes and goes on from where it stopped', async () => {
  await withDir(async (file) => {
    const { alice, before } = await filled(file, 6000, 8)
    const copy = `${file}.copy`
    copyFileSync(file, copy)
    const stepsOf = (path: string, stopAfter = Infinity) => {
      const db = new Database(path)
      let steps = 0
      try {
        return { done: mergeSearchIndexes(db, () => ++steps > stopAfter), steps: Math.min(steps, stopAfter) }
      } finally {
        db.close()
      }
    }
    const whole = stepsOf(copy)
    expect(whole.done).toBe(true)
    expect(whole.steps).toBeGreaterThan(4)

    const first = stepsOf(file, 2)
    expect(first).toEqual({ done: false, steps: 2 })
    expect(mergedThrough(file)).toBeUndefined()
    const between = openSqliteStore(file, { searchMergeQuietMs: 0 })
    try {
      expect(await answers(between, alice.id)).toEqual(before)
    } finally {
      await between.close()
    }
    const rest = stepsOf(file)
    expect(rest.done).toBe(true)
    // Going on, not starting again: the two parts take the steps the whole merge took.
    expect(first.steps + rest.steps).toBeLessThanOrEqual(whole.steps + 1)
    expect(segments(file)).toEqual([1, 1])
    const after = openSqliteStore(file, { searchMergeQuietMs: 0 })
    try {
      expect(await answers(after, alice.id)).toEqual(before)
    } finally {
      await after.close()
    }
  })
})

test('no merge begins while messages keep coming, nor until the index has grown enough since the last one', async () => {
  await withDir(async (file) => {
    const { alice } = await filled(file, 1500, 4)
    const unmerged = segments(file)
    const { store, outcomes, until } = openWatched(file, 1000)
    try {
      // A message every 100 ms for 1.5 s: never a second without one, however slow the machine.
      for (let i = 0; i < 15; i++) {
        await post(store, 'lobby', alice, `steady ${i}`)
        await Bun.sleep(100)
      }
      expect(outcomes).toEqual([])
      expect(segments(file)).toEqual(unmerged)
      await until('merged')
      // Fewer than MIN_GROWTH new entries since: quiet spells go by with no merge, the messages only filed.
      const few = await Promise.all(Array.from({ length: 20 }, (_, i) => post(store, 'lobby', alice, `a few more ${i}`)))
      expect(few.length).toBeLessThan(MIN_GROWTH)
      await Bun.sleep(2500)
      expect(outcomes).toEqual(['merged', 'filed'])
      expect(await store.searchMessages({ q: 'a few more', userId: null, limit: 100 })).toHaveLength(20)
    } finally {
      await store.close()
    }
  })
  // ~4 s of it is waiting on purpose (the steady messages, then a quiet spell that must pass with no merge).
}, 15_000)

test('a merge that fails is reported once, and tried again only after new messages and another quiet spell', async () => {
  await withDir(async (file) => {
    const { alice } = await filled(file, 1200, 3)
    const { store, outcomes, until } = openWatched(file, 100, { searchMergeWorker: new URL('file:///nonexistent/merge-worker.ts') })
    try {
      await until('failed')
      await Bun.sleep(600)
      expect(outcomes).toEqual(['failed'])
      await post(store, 'lobby', alice, 'one more')
      const deadline = performance.now() + 5000
      while (outcomes.length < 2 && performance.now() < deadline) await Bun.sleep(20)
      expect(outcomes).toEqual(['failed', 'failed'])
    } finally {
      await store.close()
    }
  })
})

test('closing the store in the middle of a merge leaves whole indexes, and the merge ends after the next start', async () => {
  await withDir(async (file) => {
    const { alice, before } = await filled(file, 6000, 8)
    const first = openWatched(file, 30)
    // ~30 ms of quiet, the worker's start, then some of the ~200 ms its merge takes: most likely in the middle.
    await Bun.sleep(90)
    await first.store.close()
    expect(first.outcomes.filter((o) => o !== 'stopped' && o !== 'merged')).toEqual([])
    const again = openWatched(file, 30)
    try {
      expect(await answers(again.store, alice.id)).toEqual(before)
      if (!first.outcomes.includes('merged')) await again.until('merged')
      expect(segments(file)).toEqual([1, 1])
      expect(await answers(again.store, alice.id)).toEqual(before)
    } finally {
      await again.store.close()
    }
  })
})

test('messages posted at any point of merges begun and stopped between bursts are all found, in order', async () => {
  await withDir(async (file) => {
    const { alice } = await filled(file, 1200, 2)
    const { store, outcomes, until } = openWatched(file, 30)
    const during: Message[] = []
    try {
      // Bursts 0-60 ms apart for ~1.5 s: some gaps are quiet spells, so merges begin and the next burst stops them.
      for (let i = 0; i < 40; i++) {
        const burst = Array.from({ length: 40 }, (_, k) => post(store, k % 2 ? 'team' : 'lobby', alice, `interleaved note ${i * 40 + k}`))
        during.push(...(await Promise.all(burst)))
        await Bun.sleep((i * 37) % 61)
      }
      await until('merged')
      expect(outcomes.filter((o) => o === 'failed')).toEqual([])
      const found: number[] = []
      for (let before: number | undefined; ;) {
        const page = await store.searchMessages({ q: 'interleaved note', userId: alice.id, limit: 100, before })
        if (page.length === 0) break
        found.push(...page.map((m) => m.id))
        before = page.at(-1)!.id
      }
      expect(found).toEqual(during.map((m) => m.id).sort((a, b) => b - a))
    } finally {
      await store.close()
    }
  })
})

test('the server (`bun src/main.ts`) runs its merge on a worker thread of its own entry module, and searches find the same', async () => {
  await withDir(async (file) => {
    await filled(file, 1200, 3)
    await using server = await startChildServer({ database: file, env: { SEARCH_MERGE_QUIET: '1' } })
    const deadline = performance.now() + 20_000
    while (!server.logs.some((l) => l.includes('search index merged')) && performance.now() < deadline) await Bun.sleep(50)
    expect(server.logs.filter((l) => /search index merge(d| failed| paused)/.test(l))).toEqual([expect.stringContaining('search index merged ms=')])
    expect(segments(file)).toEqual([1, 1])
    const found = await (await fetch(`${server.url}/api/v1/search?q=${encodeURIComponent('number 1111')}&limit=10`)).json()
    expect(found.data.messages.map((m: { text: string }) => m.text)).toEqual([expect.stringContaining('number 1111 ')])
  })
})
