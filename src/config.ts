/** Settings: one table drives environment variables, CLI flags, --help and the README's settings table. */
import { CONVERSATION_LIMITS } from './protocol-conversation.ts'
import { LIMITS, type RegistrationMode } from './protocol.ts'
import { redactUrl } from './redact.ts'

export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent'
export type LogFormat = 'text' | 'json'

type Parser<T> = (raw: string) => T

interface Setting<K extends keyof Config = keyof Config> {
  key: K
  env: string
  flag: string
  default: Config[K]
  parse: Parser<Config[K]>
  /** What the setting accepts, used in --help and in the one-line startup error. */
  accepts: string
  help: string
  /** Never printed back (e.g. in --help defaults). */
  secret?: boolean
}

export interface Config {
  port: number
  host: string
  reusePort: boolean
  database: string
  redisUrl: string | undefined
  instanceTtlSeconds: number
  startupTimeoutSeconds: number
  searchMergeQuietSeconds: number
  jwtSecret: string | undefined
  tokenTtlSeconds: number
  hideUserNotFound: boolean
  logLevel: LogLevel
  logFormat: LogFormat
  trustProxy: boolean
  loginLimitPerUser: number
  loginLimitPerAddress: number
  signupLimitPerAddress: number
  searchLimitPerMinute: number
  webhookLimitPerMinute: number
  registration: RegistrationMode
  argon2MemoryKib: number
  argon2Iterations: number
  historySize: number
  resumeMax: number
  maxTextLength: number
  messageRate: number
  messageBurst: number
  maxConnections: number
  maxConnectionsPerAddress: number
  slowConsumerBytes: number
  wsIdleTimeoutSeconds: number
  attachmentMaxBytes: number
  attachmentQuotaBytes: number
}

/** A refused value; its message, if any, says why beyond what the setting accepts. */
class SettingError extends Error {}

const toInt =
  (min: number, max: number): Parser<number> =>
  (raw) => {
    if (!/^\d+$/.test(raw.trim())) throw new SettingError()
    const n = Number(raw.trim())
    if (!Number.isSafeInteger(n) || n < min || n > max) throw new SettingError()
    return n
  }

const toBool: Parser<boolean> = (raw) => {
  const v = raw.trim().toLowerCase()
  if (['1', 'true', 'yes', 'on'].includes(v)) return true
  if (['0', 'false', 'no', 'off', ''].includes(v)) return false
  throw new SettingError()
}

const oneOf =
  <T extends string>(...values: T[]): Parser<T> =>
  (raw) => {
    const v = raw.trim().toLowerCase() as T
    if (!values.includes(v)) throw new SettingError()
    return v
  }

const DURATION_UNITS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400 }

/** "3600", "90s", "15m", "24h", "7d" → seconds, from 1 s to a year; undefined for anything else. */
export function parseDuration(raw: string): number | undefined {
  const m = /^(\d+)\s*([smhd]?)$/.exec(raw.trim())
  const seconds = m ? Number(m[1]) * DURATION_UNITS[m[2] || 's']! : NaN
  return seconds >= 1 && seconds <= 365 * 86400 ? seconds : undefined
}

const toDuration: Parser<number> = (raw) => {
  const seconds = parseDuration(raw)
  if (seconds === undefined) throw new SettingError()
  return seconds
}

const toNonEmpty: Parser<string> = (raw) => {
  if (raw.trim() === '') throw new SettingError()
  return raw
}

const toUrl =
  (...protocols: string[]): Parser<string | undefined> =>
  (raw) => {
    let url: URL
    try {
      url = new URL(raw.trim())
    } catch {
      throw new SettingError()
    }
    if (!protocols.includes(url.protocol)) throw new SettingError()
    return raw.trim()
  }

/** True for a DATABASE that names PostgreSQL rather than a SQLite file. */
export function isPostgresUrl(database: string): boolean {
  return /^postgres(ql)?:\/\//i.test(database)
}

/** A SQLite file path, or a postgres:// URL (several instances share one PostgreSQL). */
const toDatabase: Parser<string> = (raw) => {
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(raw.trim())) return toUrl('postgres:', 'postgresql:')(raw)!
  return toNonEmpty(raw)
}

/** Text from a sample config rather than a generator: whoever read the same page could sign tokens. */
const PLACEHOLDER = /change[-_ .]?me|replace[-_ .]?me|your[-_ .]?secret|example|placeholder/i

const toSecret: Parser<string | undefined> = (raw) => {
  // HS256 wants at least 256 bits of key; a shorter secret is a footgun, so refuse it.
  if (Buffer.byteLength(raw, 'utf8') < 32) throw new SettingError()
  if (PLACEHOLDER.test(raw) || /^(.)\1*$/su.test(raw)) throw new SettingError('that is a placeholder, not a secret')
  return raw
}

const MiB = 1024 * 1024

export const SETTINGS: readonly Setting[] = [
  {
    key: 'port',
    env: 'PORT',
    flag: '--port',
    default: 3000,
    parse: toInt(0, 65535),
    accepts: 'a port number 0-65535',
    help: 'TCP port to listen on (0 picks a free one)',
  },
  {
    key: 'host',
    env: 'HOST',
    flag: '--host',
    default: '0.0.0.0',
    parse: toNonEmpty,
    accepts: 'an IP address or host name of this machine',
    help: 'address to listen on',
  },
  {
    key: 'reusePort',
    env: 'REUSE_PORT',
    flag: '--reuse-port',
    default: false,
    parse: toBool,
    accepts: '1/0, true/false, yes/no, on/off',
    help: 'let several processes share PORT (one per core; needs REDIS_URL and a postgres:// DATABASE); off, a PORT in use stops start-up',
  },
  {
    key: 'database',
    env: 'DATABASE',
    flag: '--db',
    default: './data/chat.db',
    parse: toDatabase,
    accepts: 'a writable SQLite file path or a postgres:// URL',
    help: 'SQLite database file (created with its folder on first start), or PostgreSQL shared by several instances',
  },
  {
    key: 'redisUrl',
    env: 'REDIS_URL',
    flag: '--redis',
    default: undefined,
    parse: toUrl('redis:', 'rediss:'),
    accepts: 'a redis:// or rediss:// URL',
    help: 'Redis carrying room frames, presence and rate limits between instances; unset for a single instance',
  },
  {
    key: 'instanceTtlSeconds',
    env: 'INSTANCE_TTL',
    flag: '--instance-ttl',
    default: 10,
    parse: toInt(2, 300),
    accepts: 'seconds, 2-300',
    help: 'with Redis: an instance silent this long is taken for dead and its users stop counting',
  },
  {
    key: 'startupTimeoutSeconds',
    env: 'STARTUP_TIMEOUT',
    flag: '--startup-timeout',
    default: 10,
    parse: toDuration,
    accepts: 'seconds, or a duration such as 30s or 2m',
    help: 'how long start-up waits for PostgreSQL and Redis to answer before it gives up (exit 1)',
  },
  {
    key: 'searchMergeQuietSeconds',
    env: 'SEARCH_MERGE_QUIET',
    flag: '--search-merge-quiet',
    default: 30,
    parse: (raw) => (raw.trim() === '0' ? 0 : toDuration(raw)),
    accepts: 'seconds, or a duration such as 30s or 5m; 0 turns filing and merging off',
    help: 'SQLite: after this long without a new message, a worker thread files the messages posted since into the room-ordered copy history pages read, and merges the search index when it has grown by a sixteenth since it last was (docs/OPERATIONS.md)',
  },
  {
    key: 'jwtSecret',
    env: 'JWT_SECRET',
    flag: '--jwt-secret',
    default: undefined,
    parse: toSecret,
    accepts: 'a random secret of at least 32 bytes (openssl rand -hex 32 makes one)',
    help: 'HS256 signing secret; if unset, one is generated on first start and kept in the database',
    secret: true,
  },
  {
    key: 'tokenTtlSeconds',
    env: 'TOKEN_TTL',
    flag: '--token-ttl',
    default: 86400,
    parse: toDuration,
    accepts: 'seconds, or a duration such as 90m, 24h or 7d (at most 365d)',
    help: 'lifetime of issued tokens',
  },
  {
    key: 'hideUserNotFound',
    env: 'HIDE_USER_NOT_FOUND',
    flag: '--hide-user-not-found',
    default: false,
    parse: toBool,
    accepts: '1/0, true/false, yes/no, on/off',
    help: 'answer an unknown username like a wrong password (401 PASSWORD_MATCH_FAILED, same time)',
  },
  {
    key: 'logLevel',
    env: 'LOG_LEVEL',
    flag: '--log-level',
    default: 'info',
    parse: oneOf('debug', 'info', 'warn', 'error', 'silent'),
    accepts: 'debug, info, warn, error or silent',
    help: 'least severe log level written',
  },
  {
    key: 'logFormat',
    env: 'LOG_FORMAT',
    flag: '--log-format',
    default: 'text',
    parse: oneOf('text', 'json'),
    accepts: 'text or json',
    help: 'log line format',
  },
  {
    key: 'trustProxy',
    env: 'TRUST_PROXY',
    flag: '--trust-proxy',
    default: false,
    parse: toBool,
    accepts: '1/0, true/false, yes/no, on/off',
    help: 'take the client address from the first X-Forwarded-For entry (only behind a reverse proxy)',
  },
  {
    key: 'loginLimitPerUser',
    env: 'LOGIN_LIMIT_PER_USER',
    flag: '--login-limit-per-user',
    default: 10,
    parse: toInt(1, 1_000_000),
    accepts: 'a whole number ≥ 1',
    help: 'failed logins a minute allowed per username',
  },
  {
    key: 'loginLimitPerAddress',
    env: 'LOGIN_LIMIT_PER_ADDRESS',
    flag: '--login-limit-per-address',
    default: 30,
    parse: toInt(1, 1_000_000),
    accepts: 'a whole number ≥ 1',
    help: 'failed logins a minute allowed per client address',
  },
  {
    key: 'signupLimitPerAddress',
    env: 'SIGNUP_LIMIT_PER_ADDRESS',
    flag: '--signup-limit-per-address',
    default: 10,
    parse: toInt(1, 1_000_000),
    accepts: 'a whole number ≥ 1',
    help: 'sign-ups an hour allowed per client address (a taken name counts, a malformed name or secret does not)',
  },
  {
    key: 'searchLimitPerMinute',
    env: 'SEARCH_LIMIT_PER_MINUTE',
    flag: '--search-limit-per-minute',
    default: 60,
    parse: toInt(1, 1_000_000),
    accepts: 'a whole number ≥ 1',
    help: 'searches a minute allowed per user (per client address for anonymous searches)',
  },
  {
    key: 'webhookLimitPerMinute',
    env: 'WEBHOOK_LIMIT_PER_MINUTE',
    flag: '--webhook-limit-per-minute',
    default: 60,
    parse: toInt(1, 1_000_000),
    accepts: 'a whole number ≥ 1',
    help: 'posts a minute allowed through each incoming webhook (and requests for unknown webhooks per client address)',
  },
  {
    key: 'registration',
    env: 'REGISTRATION',
    flag: '--registration',
    default: 'open',
    parse: oneOf('open', 'invite', 'closed'),
    accepts: 'open, invite or closed',
    help: 'who may sign up: anyone, holders of an invitation code, or nobody (admins add people with the CLI); a mode an admin sets at run time is kept in the database and wins over this',
  },
  {
    key: 'argon2MemoryKib',
    env: 'ARGON2_MEMORY_KIB',
    flag: '--argon2-memory-kib',
    default: 19456,
    parse: toInt(8, 4 * 1024 * 1024),
    accepts: 'KiB, 8 or more',
    help: 'argon2id memory cost (OWASP: 19456); a hash made with other settings is redone at its next login; weaker than every OWASP configuration, start-up warns',
  },
  {
    key: 'argon2Iterations',
    env: 'ARGON2_ITERATIONS',
    flag: '--argon2-iterations',
    default: 2,
    parse: toInt(1, 100),
    accepts: 'a whole number 1-100',
    help: 'argon2id time cost (OWASP: 2); a hash made with other settings is redone at its next login',
  },
  {
    key: 'historySize',
    env: 'HISTORY_SIZE',
    flag: '--history-size',
    default: LIMITS.HISTORY_SIZE,
    parse: toInt(0, 1000),
    accepts: 'a whole number 0-1000',
    help: 'messages in welcome.history without ?since=',
  },
  {
    key: 'resumeMax',
    env: 'RESUME_MAX',
    flag: '--resume-max',
    default: LIMITS.RESUME_MAX,
    parse: toInt(1, 10_000),
    accepts: 'a whole number 1-10000',
    help: 'most messages in welcome.history with ?since=',
  },
  {
    key: 'maxTextLength',
    env: 'MAX_TEXT_LENGTH',
    flag: '--max-text-length',
    default: LIMITS.TEXT_MAX_LENGTH,
    parse: toInt(1, 16_000),
    accepts: 'a whole number 1-16000',
    help: 'longest message text, in Unicode code points',
  },
  {
    key: 'messageRate',
    env: 'MESSAGE_RATE',
    flag: '--message-rate',
    default: 10,
    parse: toInt(1, 1_000_000),
    accepts: 'a whole number ≥ 1',
    help: 'messages a second one user may post, sustained',
  },
  {
    key: 'messageBurst',
    env: 'MESSAGE_BURST',
    flag: '--message-burst',
    default: 20,
    parse: toInt(1, 1_000_000),
    accepts: 'a whole number ≥ 1',
    help: 'messages one user may post in a burst',
  },
  {
    key: 'maxConnections',
    env: 'MAX_CONNECTIONS',
    flag: '--max-connections',
    default: 20_000,
    parse: toInt(1, 10_000_000),
    accepts: 'a whole number ≥ 1',
    help: 'open WebSocket connections allowed in total',
  },
  {
    key: 'maxConnectionsPerAddress',
    env: 'MAX_CONNECTIONS_PER_ADDRESS',
    flag: '--max-connections-per-address',
    default: 256,
    parse: toInt(1, 10_000_000),
    accepts: 'a whole number ≥ 1',
    help: 'open WebSocket connections allowed per client address',
  },
  {
    key: 'slowConsumerBytes',
    env: 'SLOW_CONSUMER_BYTES',
    flag: '--slow-consumer-bytes',
    default: MiB,
    parse: toInt(1024, 1024 * MiB),
    accepts: 'bytes, 1024 or more',
    help: 'a socket with more than this waiting to be sent is closed with 1013',
  },
  {
    key: 'wsIdleTimeoutSeconds',
    env: 'WS_IDLE_TIMEOUT',
    flag: '--ws-idle-timeout',
    default: 120,
    parse: toInt(8, 960),
    accepts: 'seconds, 8-960',
    help: 'an idle socket is pinged, and dropped if it stays silent this long',
  },
  {
    key: 'attachmentMaxBytes',
    env: 'ATTACHMENT_MAX_BYTES',
    flag: '--attachment-max-bytes',
    default: CONVERSATION_LIMITS.ATTACHMENT_MAX_BYTES,
    parse: toInt(1, 1024 * MiB),
    accepts: 'bytes, 1 to 1073741824',
    help: 'largest upload (spec §7); a bigger one is refused with 413 as soon as it passes this',
  },
  {
    key: 'attachmentQuotaBytes',
    env: 'ATTACHMENT_QUOTA_BYTES',
    flag: '--attachment-quota-bytes',
    default: 100 * MiB,
    parse: toInt(0, Number.MAX_SAFE_INTEGER),
    accepts: 'bytes, 0 or more',
    help: "what one user's uploads may total (used or not; a deleted message's and unused ones removed after 24 h stop counting)",
  },
]

export type CliRequest = { kind: 'help' } | { kind: 'version' } | { kind: 'run'; config: Config }

/** A bad setting: main prints `message` as one line and exits non-zero. */
export class ConfigError extends Error {
  override name = 'ConfigError'
}

/**
 * Pure: reads settings from argv (flags win) and env, validates each, returns a frozen Config.
 * Flags take `--name value` or `--name=value`; a boolean flag alone means true.
 */
export function loadConfig(argv: readonly string[], env: Record<string, string | undefined>): CliRequest {
  const raw = new Map<Setting, { value: string; from: string }>()
  for (const s of SETTINGS) {
    const v = env[s.env]
    if (v !== undefined) raw.set(s, { value: v, from: s.env })
  }
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!
    if (arg === '--help' || arg === '-h') return { kind: 'help' }
    if (arg === '--version' || arg === '-v') return { kind: 'version' }
    const eq = arg.indexOf('=')
    const name = eq === -1 ? arg : arg.slice(0, eq)
    const s = SETTINGS.find((x) => x.flag === name)
    if (!s) throw new ConfigError(`unknown option ${JSON.stringify(redactUrl(name))} (see --help)`)
    let value: string
    if (eq !== -1) value = arg.slice(eq + 1)
    else if (typeof s.default === 'boolean' && (argv[i + 1] === undefined || argv[i + 1]!.startsWith('--'))) value = 'true'
    else if (argv[i + 1] === undefined) throw new ConfigError(`${s.flag} needs a value: ${s.accepts}`)
    else value = argv[++i]!
    raw.set(s, { value, from: s.flag })
  }
  const config: Record<string, unknown> = {}
  for (const s of SETTINGS) {
    const given = raw.get(s)
    if (!given) {
      config[s.key] = s.default
      continue
    }
    try {
      config[s.key] = s.parse(given.value)
    } catch (err) {
      if (!(err instanceof SettingError)) throw err
      const shown = s.secret ? '' : ` (got ${JSON.stringify(redactUrl(given.value))})`
      const why = err.message ? `${err.message}; ` : ''
      throw new ConfigError(`invalid ${given.from}${shown}: ${why}expected ${s.accepts}`)
    }
  }
  // Each process sharing a port holds some of a room's sockets: only Redis joins them into one room.
  if (config.reusePort && !config.redisUrl) {
    const from = raw.get(SETTINGS.find((s) => s.key === 'reusePort')!)!.from
    throw new ConfigError(`${from} needs REDIS_URL (--redis): processes sharing a port must share their rooms through Redis`)
  }
  // The SQLite store orders a room's messages inside one process; several processes need PostgreSQL.
  if (config.reusePort && !isPostgresUrl(String(config.database))) {
    const from = raw.get(SETTINGS.find((s) => s.key === 'reusePort')!)!.from
    throw new ConfigError(`${from} needs a postgres:// DATABASE: processes sharing a port must share one database`)
  }
  return { kind: 'run', config: Object.freeze(config as unknown as Config) }
}

/** Fills in defaults for tests and embedders: `defineConfig({ port: 0 })`. */
export function defineConfig(overrides: Partial<Config> = {}): Config {
  const base = loadConfig([], {})
  if (base.kind !== 'run') throw new Error('unreachable')
  return Object.freeze({ ...base.config, ...overrides })
}

/** The --help text, generated from SETTINGS. */
export function renderHelp(version: string): string {
  const lines = [
    `chat-server ${version}: self-hosted chat server (HTTP API + WebSocket rooms)`,
    '',
    'Usage: chat-server [options]',
    '',
    'Every option can also be set by the environment variable named beside it; a flag wins over the variable.',
    'Exit status: 0 after a clean shutdown (SIGINT, SIGTERM), 2 for an invalid setting, 1 when start-up or shutdown fails.',
    '',
  ]
  for (const s of SETTINGS) {
    const def = s.secret || s.default === undefined ? '' : ` (default: ${redactUrl(String(s.default))})`
    lines.push(`  ${s.flag.padEnd(32)} ${s.env}`)
    lines.push(`      ${s.help}${def}`)
    lines.push(`      accepts ${s.accepts}`)
  }
  lines.push('  --help, -h                       print this help')
  lines.push('  --version, -v                    print the version')
  return lines.join('\n')
}

/** The README's settings table, generated from SETTINGS (a test keeps the README in step). */
export function renderSettingsTable(): string {
  const rows = SETTINGS.map((s) => {
    const def = s.default === undefined ? (s.secret ? '(generated, kept in the database)' : '(unset)') : `\`${s.default}\``
    return `| \`${s.env}\` | \`${s.flag}\` | ${def} | ${s.help}; ${s.accepts} |`
  })
  return ['| Variable | Flag | Default | Meaning |', '|---|---|---|---|', ...rows].join('\n')
}
