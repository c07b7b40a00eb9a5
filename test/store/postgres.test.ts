import { afterAll, beforeAll } from 'bun:test'
import { SQL } from 'bun'
import { openPostgresStore } from '../../src/store/postgres.ts'
import { startPostgres, type Service } from '../support/services.ts'
import { describeStoreContract } from './contract.ts'

let pg: Service
beforeAll(async () => {
  pg = await startPostgres()
})
afterAll(async () => {
  await pg?.[Symbol.asyncDispose]()
})

// One throwaway cluster for the file; each test starts from empty tables.
describeStoreContract('PostgreSQL', async () => {
  const store = await openPostgresStore(pg.url)
  const admin = new SQL(pg.url)
  await admin`TRUNCATE users, messages, settings RESTART IDENTITY`
  await admin.close()
  return {
    store,
    async [Symbol.asyncDispose]() {
      await store.close()
    },
  }
})
