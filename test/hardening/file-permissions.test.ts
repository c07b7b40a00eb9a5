/**
 * The SQLite database holds password hashes and (without JWT_SECRET) the signing secret: whoever can
 * read it can mint tokens. Its folder is created 0700 and its files 0600 whatever the umask, and the
 * server warns at start about an existing database that other local users can read.
 */
import { afterEach, beforeEach, expect, test } from 'bun:test'
import { chmodSync, closeSync, mkdtempSync, openSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { register } from '../support/http.ts'
import { startChildServer } from '../support/child-server.ts'
import { startTestServer } from '../support/server.ts'

let root: string
let umask: number
beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'chat-perms-'))
  // The usual default: without care, new folders are 0755 and files 0644 (world-readable).
  umask = process.umask(0o022)
})
afterEach(() => {
  process.umask(umask)
  rmSync(root, { recursive: true, force: true })
})

const modeOf = (path: string) => statSync(path).mode & 0o777

test('under umask 022 the data folder is created 0700 and the database, -wal and -shm 0600', async () => {
  const database = join(root, 'data', 'chat.db')
  await using server = await startTestServer({ dir: root, config: { database } })
  await register(server.url, 'alice')
  expect({
    folder: modeOf(join(root, 'data')).toString(8),
    db: modeOf(database).toString(8),
    wal: modeOf(`${database}-wal`).toString(8),
    shm: modeOf(`${database}-shm`).toString(8),
  }).toEqual({ folder: '700', db: '600', wal: '600', shm: '600' })
})

test('start-up warns, in one line, when an existing database file is readable by others', async () => {
  const database = join(root, 'chat.db')
  closeSync(openSync(database, 'w'))
  chmodSync(database, 0o644)
  await using server = await startChildServer({ database })
  expect(server.logs.some((l) => l.includes('WARN') && l.includes(database) && l.includes('readable by other users'))).toBe(true)
})

test('no warning for a database the server created itself', async () => {
  const database = join(root, 'data', 'chat.db')
  await using server = await startChildServer({ database })
  expect(server.logs.filter((l) => l.includes('readable by other users'))).toEqual([])
})
