/** Starts the real server in-process on port 0 with a fresh SQLite file in a temp dir. */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createApp, type App } from '../../src/app.ts'
import { defineConfig, type Config } from '../../src/config.ts'
import { createLogger } from '../../src/log.ts'
import { startServer, type RunningServer } from '../../src/server.ts'
import { openStore } from '../../src/store/open.ts'
import page from '../../src/web/index.html'
import { loadWebClient } from '../../src/web/serve.ts'
import { PROXY_ENABLED, startProxyFront } from './openapi-proxy.ts'

export interface TestServer {
  app: App
  running: RunningServer
  /** http://127.0.0.1:port; with OPENAPI_PROXY=1, a front of the Prism proxy (support/openapi-proxy.ts) */
  url: string
  /** http://127.0.0.1:port always: for tests of the connection itself (framing, hang-ups), which no proxy passes on as sent. */
  directUrl: string
  /** ws://127.0.0.1:port */
  wsUrl: string
  dir: string
  config: Config
  stop(): Promise<void>
  [Symbol.asyncDispose](): Promise<void>
}

export interface TestServerOptions {
  config?: Partial<Config>
  /** Reuse a data dir (for restart tests); it is then not deleted on stop. */
  dir?: string
  now?: () => number
  /** Receives every log line (at config.logLevel, which then defaults to debug). */
  onLog?: (line: string) => void
  /** Waits between a webhook delivery's attempts. */
  retryDelaysMs?: number[]
}

/** Cheap argon2 for tests: same algorithm and code path, lower cost (never a stub). */
export const TEST_ARGON2 = { argon2MemoryKib: 64, argon2Iterations: 1 }

/** Tests sign up many users from 127.0.0.1; those about the sign-up limit set their own. */
export const TEST_SIGNUP_LIMIT = { signupLimitPerAddress: 1_000_000 }

export async function startTestServer(opts: TestServerOptions = {}): Promise<TestServer> {
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'chat-test-'))
  const logLevel = opts.onLog ? 'debug' : 'silent'
  const config = defineConfig({ port: 0, host: '127.0.0.1', database: join(dir, 'chat.db'), logLevel, ...TEST_ARGON2, ...TEST_SIGNUP_LIMIT, ...opts.config })
  const store = await openStore(config.database, { searchMergeQuietMs: config.searchMergeQuietSeconds * 1000, serving: true })
  const app = await createApp(config, store, createLogger(config.logLevel, config.logFormat, opts.onLog), {
    web: await loadWebClient(page),
    now: opts.now,
    retryDelaysMs: opts.retryDelaysMs,
  })
  const running = startServer(app)
  const port = running.server.port!
  const proxy = PROXY_ENABLED ? await startProxyFront(port) : undefined
  let stopped = false
  const stop = async () => {
    if (stopped) return
    stopped = true
    await running.stop()
    if (!opts.dir) rmSync(dir, { recursive: true, force: true })
    await proxy?.stop()
  }
  return {
    app,
    running,
    url: proxy?.url ?? `http://127.0.0.1:${port}`,
    directUrl: `http://127.0.0.1:${port}`,
    wsUrl: `ws://127.0.0.1:${port}`,
    dir,
    config,
    stop,
    [Symbol.asyncDispose]: stop,
  }
}
