/**
 * Programs some suites need beside Bun (Chromium, PostgreSQL, redis-server), found synchronously so
 * a test file can decide at load whether to run: `bun run test` passes on a machine with only
 * Node.js and npm, and REQUIRE_SERVICES=1 (set by .ci/run) turns a missing program into a failure.
 */
import { afterAll, beforeAll, describe, test } from 'bun:test'
import { existsSync, readdirSync } from 'node:fs'
import { join, relative } from 'node:path'

export type ServiceName = 'chromium' | 'postgresql' | 'redis-server'

const REPO_ROOT = join(import.meta.dir, '..', '..')

/** Where system programs live; root's PATH is not always given the sbin ones (runuser is in /usr/sbin). */
const SYSTEM_DIRS = ['/usr/sbin', '/usr/bin', '/sbin', '/bin']

/** `name` on PATH or in the system directories; undefined if it is nowhere. */
export function findProgram(name: string): string | undefined {
  return Bun.which(name, { PATH: [process.env.PATH ?? '', ...SYSTEM_DIRS].join(':') }) ?? undefined
}

/** Like findProgram, but a missing program is an error naming the package that has it. */
export function requireProgram(name: string, aptPackage: string): string {
  const path = findProgram(name)
  if (!path) throw new Error(`${name} not found on PATH or in ${SYSTEM_DIRS.join(', ')} (apt-get install ${aptPackage})`)
  return path
}

/** Debian's `chromium` package, or CHROMIUM_PATH (playwright's own download is not used). */
export function chromiumPath(): string {
  return process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
}

/** The folder holding Debian's PostgreSQL versions, one `<version>/bin` each; POSTGRES_BIN_ROOT overrides it. */
function postgresRoot(): string {
  return process.env.POSTGRES_BIN_ROOT ?? '/usr/lib/postgresql'
}

/** The newest installed PostgreSQL's bin folder (the one with initdb), or undefined. */
export function findPostgresBin(): string | undefined {
  const root = postgresRoot()
  const versions = existsSync(root) ? readdirSync(root).filter((v) => existsSync(join(root, v, 'bin', 'initdb'))) : []
  const newest = versions.sort((a, b) => a.localeCompare(b, 'en', { numeric: true })).at(-1)
  return newest === undefined ? undefined : join(root, newest, 'bin')
}

/** redis-server: REDIS_SERVER_PATH if set, else on PATH or in the system directories. */
export function findRedisServer(): string | undefined {
  const override = process.env.REDIS_SERVER_PATH
  if (override !== undefined) return existsSync(override) ? override : undefined
  return findProgram('redis-server')
}

/** Why `name` cannot run here, naming the package to install; undefined when it is installed. */
export function missingReason(name: ServiceName): string | undefined {
  switch (name) {
    case 'chromium':
      return existsSync(chromiumPath()) ? undefined : `chromium not found at ${chromiumPath()} (apt-get install chromium, or set CHROMIUM_PATH)`
    case 'postgresql':
      return findPostgresBin() ? undefined : `PostgreSQL not found: no ${postgresRoot()}/*/bin/initdb (apt-get install postgresql)`
    case 'redis-server': {
      if (findRedisServer()) return undefined
      const override = process.env.REDIS_SERVER_PATH
      const where = override === undefined ? `on PATH or in ${SYSTEM_DIRS.join(', ')}` : `at ${override}`
      return `redis-server not found ${where} (apt-get install redis-server)`
    }
  }
}

export interface ServiceGate {
  /** Every service is installed: the file's tests run. */
  ready: boolean
  /** bun's `test`, or `test.skip` when a service is missing. */
  test: typeof test
  /** bun's `describe`, or `describe.skip` when a service is missing. */
  describe: typeof describe
  /** bun's hooks, or hooks that do nothing when a service is missing (bun runs top-level hooks even when every test is skipped). */
  beforeAll: typeof beforeAll
  afterAll: typeof afterAll
}

/**
 * For a test file that needs `names`; call it once, at the file's top level, and use the returned
 * `test`, `describe` and hooks. Each missing service prints one line,
 * `skip: test/cluster/cluster.test.ts — redis-server not found … (apt-get install redis-server)`,
 * and the file's tests are skipped; with REQUIRE_SERVICES=1 each missing one is a failing test instead.
 */
/** `file service` pairs already told: a file with several gates names each missing service once. */
const told = new Set<string>()

export function requireServices(...names: ServiceName[]): ServiceGate {
  // Under `bun test`, Bun.main is the test file being loaded.
  const file = relative(REPO_ROOT, Bun.main)
  const missing = names.flatMap((name) => {
    const reason = missingReason(name)
    return reason === undefined ? [] : [{ name, reason }]
  })
  for (const { name, reason } of missing) {
    if (told.has(`${file} ${name}`)) continue
    told.add(`${file} ${name}`)
    if (process.env.REQUIRE_SERVICES === '1') {
      test(`${name} is installed (REQUIRE_SERVICES=1)`, () => {
        throw new Error(`${file} cannot run: ${reason}; REQUIRE_SERVICES=1 makes that a failure (unset, the file is skipped)`)
      })
    } else {
      console.error(`skip: ${file} — ${reason}`)
    }
  }
  const ready = missing.length === 0
  const skipHook = () => {}
  return {
    ready,
    test: test.skipIf(!ready),
    describe: describe.skipIf(!ready),
    beforeAll: ready ? beforeAll : skipHook,
    afterAll: ready ? afterAll : skipHook,
  }
}
