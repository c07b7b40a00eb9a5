/**
 * Start-up failures told in one line that names the setting behind them (main prints it and exits 1),
 * and start-up's bounded wait for the backing services (STARTUP_TIMEOUT).
 */
import { SETTINGS, type Config } from './config.ts'
import { redactUrl } from './redact.ts'

/** A start-up failure already told as one line naming its setting. */
export class StartupError extends Error {
  override name = 'StartupError'
}

/** Between attempts to reach a service that refused the connection (it may still be starting). */
const RETRY_MS = 250

/** An error's message, led by its code when the message does not say it (Bun's client errors are terse). */
function describeCause(err: unknown): string {
  if (!(err instanceof Error)) return String(err)
  const code = (err as { code?: unknown }).code
  return typeof code === 'string' && !err.message.includes(code) ? `${code}: ${err.message}` : err.message
}

/**
 * `cannot open DATABASE "/sys/chat.db": unable to open database file (expected …)`: what failed, the
 * setting and its value (passwords in URLs masked), the cause, and, when the value itself is at fault
 * rather than the service it names, what the setting accepts.
 */
export function settingFailure(action: string, key: keyof Config, value: unknown, cause: unknown, { valueAtFault = true } = {}): StartupError {
  const setting = SETTINGS.find((s) => s.key === key)!
  const expected = valueAtFault ? ` (expected ${setting.accepts})` : ''
  return new StartupError(redactUrl(`${action} ${setting.env} ${JSON.stringify(redactUrl(String(value)))}: ${describeCause(cause)}${expected}`))
}

/**
 * The one line main prints when start-up fails. Bun.serve's own errors are told as the PORT or HOST
 * they concern: Bun's `Failed to start server. Is port 3000 in use?` names neither the setting nor
 * the way to share a port.
 */
export function describeStartupFailure(err: unknown, config: Config): string {
  if (err instanceof StartupError) return err.message
  const { code, syscall } = (err ?? {}) as { code?: unknown; syscall?: unknown }
  if (code === 'EADDRINUSE')
    return `PORT ${config.port} is in use on ${config.host}: another process listens there (stop it or pick another PORT; processes share a port only with REUSE_PORT and REDIS_URL)`
  if (syscall === 'listen' && code === 'EACCES') return settingFailure('cannot listen on', 'port', config.port, err).message
  if (syscall === 'getaddrinfo' || code === 'EADDRNOTAVAIL') return settingFailure('cannot listen on', 'host', config.host, err).message
  // A database file (not its folder) the server's user may only read: the first write is after it opened.
  if (typeof code === 'string' && code.startsWith('SQLITE_READONLY'))
    return settingFailure('cannot write to', 'database', config.database, err, { valueAtFault: false }).message
  return redactUrl(`could not start: ${describeCause(err)}`)
}

/**
 * Fails as Bun.serve would (EADDRINUSE, told by describeStartupFailure) when PORT is taken, before the
 * database is opened: a start refused for its port must not have created or migrated a database, which
 * an older release may still be running on. Not for port 0, nor with REUSE_PORT, where sharing is the point.
 */
export function checkPortFree(config: Pick<Config, 'port' | 'host' | 'reusePort'>): void {
  if (config.port === 0 || config.reusePort) return
  Bun.listen({ hostname: config.host, port: config.port, socket: { data() {} } }).stop(true)
}

/**
 * Start-up's wait for a backing service: `attempt` is repeated while it fails in a way `retryable`
 * says may pass (the service is still coming up), and abandoned, even mid-attempt, once `timeoutMs`
 * have passed, with the last cause. Without `timeoutMs`: one attempt, unbounded.
 */
export async function waitForService<T>(
  timeoutMs: number | undefined,
  attempt: () => Promise<T>,
  retryable: (err: unknown) => boolean = () => false,
): Promise<T> {
  if (timeoutMs === undefined) return attempt()
  let last: unknown
  let gaveUp: Error | undefined
  const expired = Promise.withResolvers<never>()
  const timer = setTimeout(() => {
    const lastCause = last === undefined ? '' : `; last error: ${describeCause(last)}`
    expired.reject((gaveUp = new Error(`no answer within ${timeoutMs / 1000} s (STARTUP_TIMEOUT)${lastCause}`)))
  }, timeoutMs)
  try {
    for (;;) {
      try {
        return await Promise.race([attempt(), expired.promise])
      } catch (err) {
        if (err === gaveUp || !retryable(err)) throw err
        last = err
        await Promise.race([Bun.sleep(RETRY_MS), expired.promise])
      }
    }
  } finally {
    clearTimeout(timer)
  }
}
