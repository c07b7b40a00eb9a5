/**
 * The owner's subcommands (spec §5), run against the configured database, also while the server
 * runs: they call the same domain functions as the admin API, as actor null (the CLI, in the audit
 * log), and every running instance applies their effect within a second or two (the change feed).
 */
import { createPasswordHasher } from '../auth/passwords.ts'
import { createInvite, listInvites, revokeInvite } from '../chat/invites.ts'
import { addUser, banUser, listUsers, resetPassword, setRole, unbanUser } from '../chat/moderation.ts'
import { usernameKey } from '../chat/usernames.ts'
import { parseDuration, type Config } from '../config.ts'
import { AppError } from '../errors.ts'
import type { Store } from '../store/store.ts'
import type { ParsedCommand } from './args.ts'
import { UsageError } from './args.ts'
import type { SecretSource } from './secret.ts'
import { readNewSecret } from './secret.ts'

export interface CommandIo {
  /** One line of the command's result (stdout). */
  out(line: string): void
  secrets: SecretSource
  now: () => number
}

function wholeNumber(value: string | true | undefined, name: string): number | undefined {
  if (value === undefined) return undefined
  if (typeof value !== 'string' || !/^\d{1,9}$/.test(value)) throw new UsageError(`${name} must be a whole number`)
  return Number(value)
}

function duration(value: string | true | undefined): number | undefined {
  if (value === undefined) return undefined
  const seconds = typeof value === 'string' ? parseDuration(value) : undefined
  if (seconds === undefined) throw new UsageError('--expires-in must be a duration such as 3600, 90m, 24h or 7d (at most 365d)')
  return seconds
}

/** The id of the account called `name` (compared as names are: ignoring case). */
async function idOf(store: Store, name: string): Promise<number> {
  const user = await store.findUserByKey(usernameKey(name.toWellFormed().normalize('NFC')))
  if (!user) throw new AppError('USER_NOT_FOUND', `no user is called ${JSON.stringify(name)}`)
  return user.id
}

export async function runCommand(command: ParsedCommand, store: Store, config: Config, io: CommandIo): Promise<void> {
  const passwords = createPasswordHasher({ memoryKib: config.argon2MemoryKib, iterations: config.argon2Iterations })
  const deps = { store, passwords, now: io.now }
  const { args, options } = command
  switch (command.spec.name) {
    case 'users add': {
      const user = await addUser(deps, { username: args.NAME!, secret: await readNewSecret(io.secrets), admin: options['--admin'] === true })
      return io.out(`created ${user.username} (id ${user.id}, ${user.role})`)
    }
    case 'users list': {
      const query = typeof options['--query'] === 'string' ? options['--query'] : ''
      for (let after = 0; ;) {
        const page = await listUsers(store, { q: query, after, limit: 200 })
        for (const u of page.users) io.out([u.id, u.username, u.role, u.banned ? 'banned' : '-', u.createdAt].join('\t'))
        if (!page.hasMore) return
        after = page.users.at(-1)!.id
      }
    }
    case 'users set-role': {
      const user = await setRole(deps, null, await idOf(store, args.NAME!), args.ROLE)
      return io.out(`${user.username} is now ${user.role}`)
    }
    case 'users reset-password': {
      const id = await idOf(store, args.NAME!)
      await resetPassword(deps, null, id, await readNewSecret(io.secrets))
      return io.out(`password of ${args.NAME} reset; their sessions have ended`)
    }
    case 'users ban': {
      const reason = typeof options['--reason'] === 'string' ? options['--reason'] : undefined
      await banUser(deps, null, await idOf(store, args.NAME!), reason)
      return io.out(`${args.NAME} is banned`)
    }
    case 'users unban':
      await unbanUser(deps, null, await idOf(store, args.NAME!))
      return io.out(`${args.NAME} is no longer banned`)
    case 'invites create': {
      const invite = await createInvite(deps, null, { uses: wholeNumber(options['--uses'], '--uses') ?? 1, expiresIn: duration(options['--expires-in']) })
      return io.out(`${invite.code}\t${invite.uses} use(s)\texpires ${invite.expiresAt ?? 'never'}`)
    }
    case 'invites list':
      for (const i of await listInvites(store)) io.out([i.code, `${i.used}/${i.uses}`, i.expiresAt ?? 'never'].join('\t'))
      return
    case 'invites revoke':
      await revokeInvite(deps, null, args.CODE!)
      return io.out(`revoked ${args.CODE}`)
  }
  throw new UsageError(`unknown command ${command.spec.name}`)
}
