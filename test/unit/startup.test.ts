/** What main prints when start-up fails (README: one line on stderr naming the setting at fault). */
import { Database } from 'bun:sqlite'
import { expect, test } from 'bun:test'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { defineConfig } from '../../src/config.ts'
import { describeStartupFailure } from '../../src/startup.ts'

// A database file only readable by the server's user opens, and fails at its first write: that is
// DATABASE's fault, and the line says so (root can write any file, so the refusal is SQLite's own here).
test('a database the server may only read is told as DATABASE', () => {
  const dir = mkdtempSync(join(tmpdir(), 'chat-startup-'))
  try {
    const database = join(dir, 'chat.db')
    new Database(database).close()
    const readOnly = new Database(database, { readonly: true })
    let failure: unknown
    try {
      readOnly.exec('CREATE TABLE t (x)')
    } catch (err) {
      failure = err
    } finally {
      readOnly.close()
    }
    expect(describeStartupFailure(failure, defineConfig({ database }))).toBe(
      `cannot write to DATABASE ${JSON.stringify(database)}: SQLITE_READONLY: attempt to write a readonly database`,
    )
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})
