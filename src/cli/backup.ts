/**
 * `chat-server backup FILE` and `chat-server restore FILE` (docs/OPERATIONS.md). They work on the
 * SQLite file itself, without opening the store: a restore must neither create nor migrate the
 * database it replaces. PostgreSQL has its own tools, which the refusal names.
 */
import { isPostgresUrl, type Config } from '../config.ts'
import { backupAttachmentFolder, backupSqlite, Refused } from '../store/sqlite-backup.ts'
import { restoreSqlite } from '../store/sqlite-restore.ts'
import type { ParsedCommand } from './args.ts'

const POSTGRES_TOOL = { backup: 'pg_dump', restore: 'pg_restore' } as const

export async function runFileCommand(command: ParsedCommand, config: Config, out: (line: string) => void): Promise<void> {
  const name = command.spec.name as keyof typeof POSTGRES_TOOL
  if (isPostgresUrl(config.database))
    throw new Refused(`${name} works on a SQLite DATABASE; with PostgreSQL, which holds the attachments too, use ${POSTGRES_TOOL[name]} (docs/OPERATIONS.md)`)
  const file = command.args.FILE!
  if (name === 'backup') {
    const done = await backupSqlite(config.database, file, { force: command.options['--force'] === true })
    out(`backed up ${config.database} to ${file} (${done.attachments} attachment file(s) in ${backupAttachmentFolder(file)})`)
    if (done.missing > 0) out(`${done.missing} attachment file(s) were deleted, with their message or upload, after the snapshot and are not in the backup`)
    return
  }
  const done = await restoreSqlite(config.database, file)
  out(`restored ${file} to ${config.database} (${done.attachments} attachment file(s)); migrations run when the server next starts`)
  if (done.missing > 0)
    out(`${done.missing} attachment file(s) named by the backup are not in ${backupAttachmentFolder(file)}: their downloads will answer 404`)
}
