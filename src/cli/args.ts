/**
 * The owner's subcommands (spec §5: `chat-server users …`, `chat-server invites …`; `backup` and
 * `restore`, docs/OPERATIONS.md), parsed apart
 * from the server's settings: their own options are taken out, and what is left (`--db`, …) goes to
 * loadConfig as for the server, so the CLI works on the same database the server uses.
 */
import { SETTINGS } from '../config.ts'

export interface CommandSpec {
  /** e.g. `users add` */
  name: string
  /** Positional arguments, by name, in order. */
  args: string[]
  /** The command's own options: a flag (no value) or a valued option. */
  options: Record<string, 'flag' | 'value'>
  help: string
}

export const COMMANDS: readonly CommandSpec[] = [
  {
    name: 'users add',
    args: ['NAME'],
    options: { '--admin': 'flag' },
    help: 'create an account (the password from standard input, or asked twice at a terminal)',
  },
  {
    name: 'users list',
    args: [],
    options: { '--query': 'value' },
    help: 'list accounts (id, name, role, banned, created), optionally those whose name starts with --query',
  },
  { name: 'users set-role', args: ['NAME', 'ROLE'], options: {}, help: 'make an account admin or member (never the last admin a member)' },
  { name: 'users reset-password', args: ['NAME'], options: {}, help: "set an account's password (read as for users add); its sessions end" },
  { name: 'users ban', args: ['NAME'], options: { '--reason': 'value' }, help: 'ban an account: its sessions end and it can no longer log in' },
  { name: 'users unban', args: ['NAME'], options: {}, help: 'lift a ban (the user logs in again)' },
  {
    name: 'invites create',
    args: [],
    options: { '--uses': 'value', '--expires-in': 'value' },
    help: 'make an invitation code (--uses N, default 1; --expires-in 7d)',
  },
  { name: 'invites list', args: [], options: {}, help: 'list invitation codes with their uses and expiry' },
  { name: 'invites revoke', args: ['CODE'], options: {}, help: 'revoke an invitation code' },
  {
    name: 'backup',
    args: ['FILE'],
    options: { '--force': 'flag' },
    help: 'copy the SQLite database, also while the server runs, to FILE and its attachment files to FILE.attachments/ (--force replaces an existing backup); PostgreSQL: pg_dump',
  },
  {
    name: 'restore',
    args: ['FILE'],
    options: {},
    help: 'put a backup in place as the SQLite database (the server stopped); migrations run when it next starts; PostgreSQL: pg_restore',
  },
]

/** The commands that work on the database file itself rather than through the store. */
export const FILE_COMMANDS: ReadonlySet<string> = new Set(['backup', 'restore'])

export interface ParsedCommand {
  spec: CommandSpec
  args: Record<string, string>
  options: Record<string, string | true>
  /** Everything else: the server's settings, for loadConfig. */
  settings: string[]
}

/** The server's setting flags, and whether each is a boolean (which takes no separate value). */
const SETTING_FLAGS = new Map(SETTINGS.map((s) => [s.flag, typeof s.default === 'boolean']))

export class UsageError extends Error {
  override name = 'UsageError'
}

/** True when argv asks for an owner subcommand rather than for the server. */
export function isCommand(argv: readonly string[]): boolean {
  return argv[0] === 'users' || argv[0] === 'invites' || FILE_COMMANDS.has(argv[0] ?? '')
}

export function parseCommand(argv: readonly string[]): ParsedCommand {
  const oneWord = FILE_COMMANDS.has(argv[0] ?? '')
  const name = oneWord ? argv[0]! : `${argv[0]} ${argv[1] ?? ''}`.trim()
  const spec = COMMANDS.find((c) => c.name === name)
  if (!spec) throw new UsageError(`unknown command "${name}" (see chat-server --help)`)
  const positionals: string[] = []
  const options: Record<string, string | true> = {}
  const settings: string[] = []
  for (let i = oneWord ? 1 : 2; i < argv.length; i++) {
    const arg = argv[i]!
    const eq = arg.indexOf('=')
    const key = arg.startsWith('--') && eq !== -1 ? arg.slice(0, eq) : arg
    const kind = spec.options[key]
    if (kind === 'flag') options[key] = true
    else if (kind === 'value') {
      const value = eq !== -1 ? arg.slice(eq + 1) : argv[++i]
      if (value === undefined) throw new UsageError(`${key} needs a value`)
      options[key] = value
    } else if (SETTING_FLAGS.has(key)) {
      // A server setting: its value travels with it unless given with '='. Anything else is an
      // argument, even if it starts with '-' (invitation codes are base64url and may).
      settings.push(arg)
      if (eq === -1 && !SETTING_FLAGS.get(key) && argv[i + 1] !== undefined) settings.push(argv[++i]!)
    } else positionals.push(arg)
  }
  if (positionals.length !== spec.args.length) throw new UsageError(`usage: chat-server ${spec.name}${spec.args.map((a) => ` ${a}`).join('')}`)
  return { spec, args: Object.fromEntries(spec.args.map((a, i) => [a, positionals[i]!])), options, settings }
}

/** The commands' part of --help. */
export function renderCommandsHelp(): string {
  const lines = ['Owner commands (on the configured database, also while the server runs, restore excepted; it applies them within 5 s):', '']
  for (const c of COMMANDS) {
    const usage = [c.name, ...c.args, ...Object.entries(c.options).map(([o, k]) => `[${o}${k === 'value' ? ' …' : ''}]`)].join(' ')
    lines.push(`  chat-server ${usage}`, `      ${c.help}`)
  }
  return lines.join('\n')
}
