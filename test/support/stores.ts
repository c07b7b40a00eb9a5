/**
 * Running one suite on both stores (spec §4: an embedded SQLite file, or PostgreSQL): the real server
 * in-process on port 0, on a fresh SQLite file in a temp dir or on a fresh database of a throwaway
 * PostgreSQL cluster (started once per test file, on first use). Where PostgreSQL is not installed
 * its suites are skipped with one line saying so (REQUIRE_SERVICES=1 makes that a failure), as
 * requireServices does for every other file that needs it.
 *
 *   for (const store of STORES()) store.describe(`on ${store.name}`, () => { ... store.start() ... })
 */
import { SQL } from 'bun'
import { describe, test } from 'bun:test'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { requireServices } from './require-services.ts'
import { startTestServer, type TestServer, type TestServerOptions } from './server.ts'
import { startPostgres, type Service } from './services.ts'

export type StoreName = 'SQLite' | 'PostgreSQL'

/** An empty database of one store kind; every server started on it shares its data (restart tests). */
export interface TestDatabase {
  start(opts?: TestServerOptions): Promise<TestServer>
  [Symbol.asyncDispose](): Promise<void>
}

export interface StoreKind {
  name: StoreName
  /** bun's `describe`, or `describe.skip` where the store is not installed. */
  describe: typeof describe
  /** bun's `test` (skipped where the store is not installed), with TEST_TIMEOUT_MS unless given. */
  test: (name: string, fn: () => Promise<void>, timeoutMs?: number) => void
  /** A fresh, empty database. */
  database(): Promise<TestDatabase>
  /** A server on a fresh database of its own; stopping it also drops the database. */
  start(opts?: TestServerOptions): Promise<TestServer>
}

function sqliteDatabase(): TestDatabase {
  const dir = mkdtempSync(join(tmpdir(), 'chat-test-'))
  return {
    start: (opts = {}) => startTestServer({ ...opts, dir }),
    async [Symbol.asyncDispose]() {
      rmSync(dir, { recursive: true, force: true })
    },
  }
}

let cluster: Promise<Service> | undefined
let databases = 0

async function postgresDatabase(): Promise<TestDatabase> {
  cluster ??= startPostgres()
  const pg = await cluster
  const name = `chat_test_${process.pid}_${++databases}`
  const admin = new SQL(pg.url)
  try {
    await admin.unsafe(`CREATE DATABASE ${name}`)
  } finally {
    await admin.close()
  }
  const url = pg.url.replace(/\/postgres$/, `/${name}`)
  return {
    start: (opts = {}) => startTestServer({ ...opts, config: { ...opts.config, database: url } }),
    async [Symbol.asyncDispose]() {
      const again = new SQL(pg.url)
      try {
        await again.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)
      } finally {
        await again.close()
      }
    },
  }
}

/** A server on its own database that drops the database when it stops. */
async function startOwned(database: TestDatabase, opts?: TestServerOptions): Promise<TestServer> {
  const server = await database.start(opts).catch(async (err) => {
    await database[Symbol.asyncDispose]()
    throw err
  })
  const stopServer = server.stop
  const stop = async () => {
    await stopServer()
    await database[Symbol.asyncDispose]()
  }
  return Object.assign(server, { stop, [Symbol.asyncDispose]: stop })
}

/** A test's time: the first PostgreSQL test of a file also starts the cluster (initdb, a few seconds). */
export const TEST_TIMEOUT_MS = 30_000

function withTimeout(base: typeof test): StoreKind['test'] {
  return (name, fn, timeoutMs = TEST_TIMEOUT_MS) => base(name, fn, timeoutMs)
}

/**
 * The store kinds to run a suite on: SQLite always, PostgreSQL where it is installed. Call it once,
 * at a test file's top level: it registers the hook that stops the file's PostgreSQL cluster (one
 * `bun test` process runs many files on one module instance, so each file starts and stops its own).
 */
export function STORES(): StoreKind[] {
  const gate = requireServices('postgresql')
  gate.afterAll(async () => {
    const started = cluster
    cluster = undefined
    if (started) await (await started)[Symbol.asyncDispose]()
  })
  const sqlite: StoreKind = {
    name: 'SQLite',
    describe,
    test: withTimeout(test),
    database: async () => sqliteDatabase(),
    start: (opts) => startOwned(sqliteDatabase(), opts),
  }
  const postgres: StoreKind = {
    name: 'PostgreSQL',
    describe: gate.describe,
    test: withTimeout(gate.test),
    database: postgresDatabase,
    start: async (opts) => startOwned(await postgresDatabase(), opts),
  }
  // TEST_STORE=SQLite (or PostgreSQL) runs one store's suites only, for a quicker loop.
  const only = process.env.TEST_STORE
  return [sqlite, postgres].filter((kind) => only === undefined || kind.name.toLowerCase() === only.toLowerCase())
}
