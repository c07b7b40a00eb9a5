/** A SQLite file path in a temp folder of its own, removed with everything in it once `run` ends. */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

export async function withDatabaseFile(prefix: string, run: (file: string) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  try {
    await run(join(dir, 'chat.db'))
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}
