/**
 * SQLite's room-ordered copy of history (src/store/sqlite-history.ts): a page answers the same whether
 * its messages are filed, unfiled or some of each, follows every change to a filed message, filing goes
 * step by step and on from where it stopped, the store's worker files after a quiet spell, and a filed
 * message's deleted text is gone from the file as an unfiled one's is.
 */
import { Database } from 'bun:sqlite'
import { expect, test } from 'bun:test'
import { readFileSync } from 'node:fs'
import type { Message, User } from '../../src/protocol.ts'
import { FILED_THROUGH, fileHistory, filingDue } from '../../src/store/sqlite-history.ts'
import type { MergeOutcome } from '../../src/store/sqlite-search-merge.ts'
import { openSqliteStore } from '../../src/store/sqlite.ts'
import type { Store } from '../../src/store/store.ts'
import { addUser } from './contract.ts'
import { withDatabaseFile } from '../support/temp-file.ts'

const T0 = Date.UTC(2026, 11, 1, 12, 0, 0, 0)
const ROOMS = ['lobby', 'cellar', 'attic'] as const

const withDir = (run: (file: string) => Promise<void>) => withDatabaseFile('chat-history-', run)

const post = async (store: Store, room: string, by: User, text: string, replyTo?: number): Promise<Message> =>
  (await store.insertMessage({ room, user: by, text, nonce: `n-${text}`, mentions: [], createdAt: T0, replyTo })).message

/** Every page of every room, newest first, as a client walking back through history reads them; and some windows by `after`. */
async function pages(store: Store, limit: number): Promise<Message[][]> {
  const out: Message[][] = []
  for (const room of ROOMS) {
    for (let before: number | undefined; ;) {
      const page = await store.listMessages(room, { before, limit })
      out.push(page)
      if (page.length < limit) break
      before = page[0]!.id
    }
    out.push(await store.listMessages(room, { after: 5, before: 40, limit }))
  }
  return out
}

/** Files with a connection of its own, as the worker does, stopping after `steps` steps (all when undefined). */
function fileSteps(file: string, steps?: number): { done: boolean; filed: number } {
  const db = new Database(file, { strict: true })
  try {
    db.exec('PRAGMA secure_delete = ON')
    let taken = 0
    return fileHistory(db, () => steps !== undefined && taken++ >= steps)
  } finally {
    db.close()
  }
}

function settings(file: string): { through: number; due: boolean; unfiled: number } {
  const db = new Database(file, { readonly: true })
  try {
    const through = Number(db.query<{ value: string }, [string]>('SELECT value FROM settings WHERE key = ?').get(FILED_THROUGH)?.value ?? 0)
    const unfiled = db.query<{ n: number }, []>(`SELECT count(*) AS n FROM messages WHERE kind = 'message' AND NOT filed`).get()!.n
    return { through, due: filingDue(db), unfiled }
  } finally {
    db.close()
  }
}

test('history pages read the same unfiled, half filed and filed, and follow edits and deletions of filed messages', async () => {
  await withDir(async (file) => {
    let store = openSqliteStore(file, { searchMergeQuietMs: 0 })
    const alice = await addUser(store, 'alice')
    const posted: Message[] = []
    // 700 messages spread over three rooms (ids interleaved, as on a busy server), with replies, edits and a reaction.
    for (let i = 0; i < 700; i++) {
      const room = ROOMS[(i * 7) % 3]!
      const previous = posted.findLast((m) => m.room === room)
      posted.push(await post(store, room, alice, `note ${i} ${'x'.repeat(i % 40)}`, i % 10 === 0 ? previous?.id : undefined))
    }
    for (const m of posted.filter((_, i) => i % 50 === 3))
      expect((await store.changeMessage({ type: 'edited', room: m.room, messageId: m.id, user: alice, text: `edited ${m.id}`, mentions: [], at: T0 })).ok).toBe(
        true,
      )
    const unfiled = await pages(store, 50)
    const unfiledSmall = await pages(store, 7)
    expect(unfiled.flat().length).toBeGreaterThan(700)
    await store.close()
    expect(settings(file)).toMatchObject({ through: 0, due: true, unfiled: 700 })

    // Two steps of 256 ids: part of the history filed, and the pages that cross the line read the same.
    expect(fileSteps(file, 2)).toEqual({ done: false, filed: expect.any(Number) })
    const half = settings(file)
    expect(half.through).toBe(512)
    expect(half.unfiled).toBeGreaterThan(0)
    expect(half.unfiled).toBeLessThan(700)
    store = openSqliteStore(file, { searchMergeQuietMs: 0 })
    expect(await pages(store, 50)).toEqual(unfiled)
    expect(await pages(store, 7)).toEqual(unfiledSmall)
    await store.close()

    // Then the rest, from where it stopped.
    const rest = fileSteps(file)
    expect(rest.done).toBe(true)
    expect(rest.filed).toBe(half.unfiled)
    expect(settings(file)).toMatchObject({ due: false, unfiled: 0 })
    store = openSqliteStore(file, { searchMergeQuietMs: 0 })
    try {
      expect(await pages(store, 50)).toEqual(unfiled)
      expect(await pages(store, 7)).toEqual(unfiledSmall)
      // A filed message edited, one deleted and a new one posted unfiled: the pages show each as it is now.
      const [edited, gone] = [posted[100]!, posted[200]!]
      expect(
        (
          await store.changeMessage({
            type: 'edited',
            room: edited.room,
            messageId: edited.id,
            user: alice,
            text: 'changed after filing',
            mentions: [],
            at: T0 + 1,
          })
        ).ok,
      ).toBe(true)
      expect((await store.changeMessage({ type: 'deleted', room: gone.room, messageId: gone.id, user: alice, byAdmin: false, at: T0 + 1 })).ok).toBe(true)
      const fresh = await post(store, edited.room, alice, 'posted after filing')
      const now = (await pages(store, 1000)).flat()
      expect(now.find((m) => m.id === edited.id)).toMatchObject({ text: 'changed after filing', editedAt: new Date(T0 + 1).toISOString() })
      expect(now.find((m) => m.id === gone.id)).toMatchObject({ deleted: true })
      expect(now.find((m) => m.id === fresh.id)).toMatchObject({ text: 'posted after filing' })
      expect(new Set(now.map((m) => m.id)).size).toBe(701)
    } finally {
      await store.close()
    }
    expect(settings(file)).toMatchObject({ due: true, unfiled: 1 })
  })
})

test("the store's worker files after a quiet spell, stops for a post and goes on later; a filed message's deleted text is gone from the file", async () => {
  await withDir(async (file) => {
    const outcomes: MergeOutcome[] = []
    const store = openSqliteStore(file, { searchMergeQuietMs: 100, onSearchMerge: (o) => outcomes.push(o) })
    const until = async (n: number) => {
      const deadline = performance.now() + 20_000
      while (outcomes.length < n && performance.now() < deadline) await Bun.sleep(20)
      expect(outcomes.length).toBeGreaterThanOrEqual(n)
    }
    try {
      const alice = await addUser(store, 'alice')
      const secrets = ['SECRET-filed-short', `SECRET-filed-long-${'y'.repeat(6000)}`]
      const gone = await Promise.all(secrets.map((s) => post(store, 'lobby', alice, s)))
      const kept = await post(store, 'lobby', alice, 'SECRET-filed-kept')
      await until(1)
      expect(outcomes[0]).toMatchObject({ outcome: 'done', filed: 3 })
      expect(settings(file)).toMatchObject({ through: kept.id, due: false, unfiled: 0 })
      for (const m of gone)
        expect((await store.changeMessage({ type: 'deleted', room: 'lobby', messageId: m.id, user: alice, byAdmin: false, at: T0 })).ok).toBe(true)
      // Steady posts: no quiet spell, nothing filed; then one comes and files them.
      for (let i = 0; i < 8; i++) {
        await post(store, 'lobby', alice, `steady ${i}`)
        await Bun.sleep(40)
      }
      expect(outcomes).toHaveLength(1)
      await until(2)
      expect(outcomes[1]).toMatchObject({ outcome: 'done', filed: 8 })
      expect((await store.listMessages('lobby', { limit: 50 })).map((m) => m.text)).toEqual([
        undefined,
        undefined,
        'SECRET-filed-kept',
        ...Array.from({ length: 8 }, (_, i) => `steady ${i}`),
      ])
    } finally {
      await store.close()
    }
    const bytes = readFileSync(file)
    expect(bytes.includes('SECRET-filed-kept')).toBe(true)
    expect(bytes.includes('SECRET-filed-short')).toBe(false)
    expect(bytes.includes('SECRET-filed-long')).toBe(false)
    expect(bytes.includes('y'.repeat(200))).toBe(false)
  })
})
