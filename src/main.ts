/**
 * Entry point, wiring only: an owner command (cli/), or config → store → app → server → signal
 * handlers; on a worker thread, the search index merge (the binary holds no other entry).
 */
import { isMainThread } from 'node:worker_threads'
import pkg from '../package.json' with { type: 'json' }
import { createApp } from './app.ts'
import { isCommand, renderCommandsHelp } from './cli/args.ts'
import { runCli } from './cli/main.ts'
import { ConfigError, loadConfig, renderHelp } from './config.ts'
import { createLogger } from './log.ts'
import { belowOwasp } from './auth/passwords.ts'
import { startServer } from './server.ts'
import { checkPortFree, describeStartupFailure } from './startup.ts'
import { describeExposure, openStore } from './store/open.ts'
import page from './web/index.html'
import { loadWebClient } from './web/serve.ts'

async function main(): Promise<void> {
  const argv = process.argv.slice(2)
  if (isCommand(argv)) process.exit(await runCli(argv, process.env))
  let request
  try {
    request = loadConfig(argv, process.env)
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err
    console.error(`chat-server: ${err.message}`)
    process.exit(2)
  }
  if (request.kind === 'help') return console.log(`${renderHelp(pkg.version)}\n\n${renderCommandsHelp()}`)
  if (request.kind === 'version') return console.log(pkg.version)
  const { config } = request
  const log = createLogger(config.logLevel, config.logFormat)

  let running
  try {
    checkPortFree(config)
    // The web client (spec §2 `GET /`): embedded in a compiled binary, bundled in memory from source,
    // which takes a few hundred ms: bundled while the store opens (migrations checked, caches filled).
    const web = loadWebClient(page)
    web.catch(() => {}) // a store that fails to open is the error reported; the bundle's own is awaited below
    const store = await openStore(config.database, {
      serving: true,
      startupTimeoutMs: config.startupTimeoutSeconds * 1000,
      searchMergeQuietMs: config.searchMergeQuietSeconds * 1000,
      // This very module, run again as the merge's thread (below): whatever built the binary, its entry is inside it.
      searchMergeWorker: new URL(import.meta.url),
      onSearchMerge: (outcome, ms) => {
        const took = { ms: Math.round(ms) }
        if (outcome.outcome === 'failed')
          log.warn('history filing or search index merge failed; tried again after the next quiet spell', { ...took, err: outcome.error })
        else if (outcome.outcome === 'stopped') log.info('history filing and search index merge paused for new messages', took)
        else log.info(outcome.merged ? 'history filed and search index merged' : 'history filed', { ...took, filed: outcome.filed })
      },
    })
    const exposure = describeExposure(config.database)
    if (exposure) log.warn(exposure)
    running = startServer(await createApp(config, store, log, { web: await web }))
  } catch (err) {
    // Like a bad setting, a plain line on stderr: it must be seen whatever LOG_LEVEL says.
    console.error(`chat-server: ${describeStartupFailure(err, config)}`)
    process.exit(1)
  }
  log.info('listening', { url: running.url, database: config.database, version: pkg.version })
  // Once started (a start that fails says only why): spec §2 asks for OWASP's parameters or stronger.
  if (belowOwasp({ memoryKib: config.argon2MemoryKib, iterations: config.argon2Iterations }))
    log.warn('ARGON2_MEMORY_KIB and ARGON2_ITERATIONS are below every OWASP argon2id configuration (e.g. 19456 KiB with 2 iterations): fit for tests only', {
      memoryKib: config.argon2MemoryKib,
      iterations: config.argon2Iterations,
    })

  const shutdown = (signal: string) => {
    log.info('shutting down', { signal })
    running.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        log.error('unclean shutdown', { err })
        process.exit(1)
      },
    )
  }
  process.once('SIGINT', () => shutdown('SIGINT'))
  process.once('SIGTERM', () => shutdown('SIGTERM'))
}

// The search index merge's worker thread starts this module too (store/sqlite-search-merge.ts): there it is that worker.
if (isMainThread) await main()
else await import('./store/sqlite-search-merge-worker.ts')
