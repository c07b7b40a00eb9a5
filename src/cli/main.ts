/**
 * `chat-server users …` / `chat-server invites …`: parse, open the configured database, run, close;
 * `backup` / `restore`: parse, run on the database file. The exit status says how it went.
 */
import { ConfigError, loadConfig } from '../config.ts'
import { AppError } from '../errors.ts'
import { describeStartupFailure } from '../startup.ts'
import { openStore } from '../store/open.ts'
import { FILE_COMMANDS, parseCommand, UsageError } from './args.ts'
import { runFileCommand } from './backup.ts'
import { runCommand } from './commands.ts'
import { processStdin } from './secret.ts'

/** 0 done; 1 refused or failed (one line on stderr saying why); 2 a usage or settings mistake. */
export async function runCli(argv: readonly string[], env: Record<string, string | undefined>): Promise<number> {
  const fail = (line: string, status: number) => {
    console.error(`chat-server: ${line}`)
    return status
  }
  let command, config
  try {
    command = parseCommand(argv)
    const request = loadConfig(command.settings, env)
    if (request.kind !== 'run') return fail('settings only after a command (--help is for the server)', 2)
    config = request.config
  } catch (err) {
    if (err instanceof UsageError || err instanceof ConfigError) return fail(err.message, 2)
    throw err
  }
  if (FILE_COMMANDS.has(command.spec.name)) {
    try {
      await runFileCommand(command, config, (line) => console.log(line))
      return 0
    } catch (err) {
      return fail(err instanceof Error ? err.message : String(err), 1)
    }
  }
  let store
  try {
    // A command is over in moments: no merge of the search index is started for it.
    store = await openStore(config.database, { startupTimeoutMs: config.startupTimeoutSeconds * 1000, searchMergeQuietMs: 0 })
  } catch (err) {
    return fail(describeStartupFailure(err, config), 1)
  }
  try {
    await runCommand(command, store, config, { out: (line) => console.log(line), secrets: processStdin(), now: Date.now })
    return 0
  } catch (err) {
    if (err instanceof UsageError) return fail(err.message, 2)
    if (err instanceof AppError) return fail(`${err.type}: ${err.message}`, 1)
    return fail(err instanceof Error ? err.message : String(err), 1)
  } finally {
    await store.close()
  }
}
