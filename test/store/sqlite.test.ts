import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { openSqliteStore } from '../../src/store/sqlite.ts'
import { describeStoreContract } from './contract.ts'

describeStoreContract('SQLite', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'chat-store-'))
  const store = openSqliteStore(join(dir, 'chat.db'))
  return {
    store,
    async [Symbol.asyncDispose]() {
      await store.close()
      rmSync(dir, { recursive: true, force: true })
    },
  }
})
