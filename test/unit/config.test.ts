/**
 * loadConfig (spec §4, STYLE Config): settings come from environment variables and the same-named
 * CLI flags, a flag wins over its variable, and a bad value stops startup with one line naming the
 * setting and what it accepts.
 */
import { describe, expect, test } from 'bun:test'
import { ConfigError, defineConfig, loadConfig, renderHelp, SETTINGS, type Config } from '../../src/config.ts'
import { redactUrl } from '../../src/redact.ts'

function configOf(argv: string[], env: Record<string, string | undefined> = {}): Config {
  const request = loadConfig(argv, env)
  if (request.kind !== 'run') throw new Error(`expected a run request, got ${request.kind}`)
  return request.config
}

/** The ConfigError message for these inputs; fails the test if they load. */
function configErrorOf(argv: string[], env: Record<string, string | undefined> = {}): string {
  try {
    loadConfig(argv, env)
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError)
    const message = (err as ConfigError).message
    expect(message).not.toContain('\n')
    return message
  }
  throw new Error(`expected a ConfigError for ${JSON.stringify({ argv, env })}`)
}

describe('defaults', () => {
  test('with no flags and no environment the defaults are the spec numbers', () => {
    expect(configOf([])).toMatchObject({
      port: 3000,
      database: './data/chat.db',
      jwtSecret: undefined,
      tokenTtlSeconds: 86_400,
      hideUserNotFound: false,
      trustProxy: false,
      loginLimitPerUser: 10,
      loginLimitPerAddress: 30,
      historySize: 50,
      resumeMax: 500,
      maxTextLength: 4000,
      messageRate: 10,
      messageBurst: 20,
      maxConnections: 20_000,
      maxConnectionsPerAddress: 256,
      slowConsumerBytes: 1024 * 1024,
    })
  })

  test('the default argon2id cost is OWASP (19456 KiB, 2 iterations)', () => {
    expect(configOf([])).toMatchObject({ argon2MemoryKib: 19456, argon2Iterations: 2 })
  })

  test('the returned config is frozen', () => {
    const config = configOf([])
    expect(Object.isFrozen(config)).toBe(true)
    expect(() => {
      ;(config as { port: number }).port = 1
    }).toThrow()
  })

  test('every setting has a distinct env name and flag', () => {
    expect(new Set(SETTINGS.map((s) => s.env)).size).toBe(SETTINGS.length)
    expect(new Set(SETTINGS.map((s) => s.flag)).size).toBe(SETTINGS.length)
    for (const s of SETTINGS) {
      expect(s.env).toMatch(/^[A-Z][A-Z0-9_]*$/)
      expect(s.flag).toMatch(/^--[a-z][a-z0-9-]*$/)
    }
  })

  test('defineConfig overrides only what it is given', () => {
    const config = defineConfig({ port: 0, hideUserNotFound: true })
    expect(config).toEqual({ ...configOf([]), port: 0, hideUserNotFound: true })
    expect(Object.isFrozen(config)).toBe(true)
  })
})

describe('sources', () => {
  test('an environment variable overrides the default', () => {
    expect(configOf([], { PORT: '8080' }).port).toBe(8080)
    expect(configOf([], { DATABASE: '/var/lib/chat.db' }).database).toBe('/var/lib/chat.db')
  })

  test('a flag overrides the environment variable', () => {
    expect(configOf(['--port', '9000'], { PORT: '8080' }).port).toBe(9000)
    expect(configOf(['--db', 'flag.db'], { DATABASE: 'env.db' }).database).toBe('flag.db')
  })

  test('a valid flag wins even when the environment value is invalid', () => {
    expect(configOf(['--port', '9000'], { PORT: 'abc' }).port).toBe(9000)
  })

  test('flags take both --name value and --name=value', () => {
    expect(configOf(['--port', '4000']).port).toBe(4000)
    expect(configOf(['--port=4000']).port).toBe(4000)
    expect(configOf(['--db=a=b.db']).database).toBe('a=b.db')
  })

  test('the last of a repeated flag wins', () => {
    expect(configOf(['--port', '1', '--port=2']).port).toBe(2)
  })

  test('a flag value may start with a dash when it is not a flag', () => {
    expect(configOf(['--db', '-odd.db']).database).toBe('-odd.db')
  })

  test('environment variables the server does not know are ignored', () => {
    expect(configOf([], { HOME: '/root', PATH: '/bin', NODE_ENV: 'production' })).toEqual(configOf([]))
  })

  test('an unset (undefined) variable falls back to the default', () => {
    expect(configOf([], { PORT: undefined }).port).toBe(3000)
  })
})

describe('booleans', () => {
  test('a boolean flag alone means true', () => {
    expect(configOf(['--hide-user-not-found']).hideUserNotFound).toBe(true)
    expect(configOf(['--trust-proxy']).trustProxy).toBe(true)
  })

  test('a boolean flag followed by another flag is still true', () => {
    expect(configOf(['--trust-proxy', '--port', '5'])).toMatchObject({ trustProxy: true, port: 5 })
  })

  test('a boolean flag takes an explicit value', () => {
    expect(configOf(['--hide-user-not-found=false'], { HIDE_USER_NOT_FOUND: '1' }).hideUserNotFound).toBe(false)
    expect(configOf(['--hide-user-not-found', 'no'], { HIDE_USER_NOT_FOUND: '1' }).hideUserNotFound).toBe(false)
    expect(configOf(['--trust-proxy=1']).trustProxy).toBe(true)
  })

  test('HIDE_USER_NOT_FOUND=1 turns the setting on', () => {
    expect(configOf([], { HIDE_USER_NOT_FOUND: '1' }).hideUserNotFound).toBe(true)
  })

  test('boolean variables accept 1/0, true/false, yes/no, on/off in any case', () => {
    for (const v of ['1', 'true', 'TRUE', 'yes', 'On']) expect(configOf([], { TRUST_PROXY: v }).trustProxy).toBe(true)
    for (const v of ['0', 'false', 'False', 'no', 'OFF', '']) expect(configOf([], { TRUST_PROXY: v }).trustProxy).toBe(false)
  })

  test('any other boolean value is refused naming the variable', () => {
    expect(configErrorOf([], { HIDE_USER_NOT_FOUND: 'maybe' })).toContain('HIDE_USER_NOT_FOUND')
    expect(configErrorOf(['--trust-proxy=2'])).toContain('--trust-proxy')
  })
})

describe('durations', () => {
  test('TOKEN_TTL takes seconds or a duration with s, m, h or d', () => {
    const ttl = (raw: string) => configOf([], { TOKEN_TTL: raw }).tokenTtlSeconds
    expect(ttl('3600')).toBe(3600)
    expect(ttl('90s')).toBe(90)
    expect(ttl('90m')).toBe(5400)
    expect(ttl('24h')).toBe(86_400)
    expect(ttl('7d')).toBe(604_800)
    expect(ttl('365d')).toBe(365 * 86_400)
    expect(configOf(['--token-ttl', '15m']).tokenTtlSeconds).toBe(900)
  })

  test('a zero, negative, fractional, unknown-unit or over-a-year duration is refused', () => {
    for (const raw of ['0', '0m', '-5', '1.5h', '1w', '24 hours', 'h', '', '366d', '9999999999']) {
      expect(configErrorOf([], { TOKEN_TTL: raw })).toContain('TOKEN_TTL')
    }
  })
})

describe('bad values', () => {
  test('a non-numeric port is refused with one line naming the flag and what it accepts', () => {
    const message = configErrorOf(['--port', 'abc'])
    expect(message).toContain('--port')
    expect(message).toContain('abc')
    expect(message).toContain('0-65535')
  })

  test('a bad environment value is refused naming the variable', () => {
    expect(configErrorOf([], { PORT: 'abc' })).toContain('PORT')
    expect(configErrorOf([], { LOGIN_LIMIT_PER_USER: '0' })).toContain('LOGIN_LIMIT_PER_USER')
  })

  test('out-of-range and malformed numbers are refused', () => {
    for (const port of ['65536', '-1', '1e3', '80.5', '0x50', ' ']) {
      expect(configErrorOf(['--port', port])).toContain('--port')
    }
    expect(configErrorOf(['--login-limit-per-address=0'])).toContain('--login-limit-per-address')
    expect(configErrorOf(['--argon2-memory-kib', '7'])).toContain('--argon2-memory-kib')
  })

  test('port 0 (pick a free one) and 65535 are accepted', () => {
    expect(configOf(['--port', '0']).port).toBe(0)
    expect(configOf(['--port', '65535']).port).toBe(65535)
  })

  test('an unknown option is refused', () => {
    expect(configErrorOf(['--prot', '80'])).toContain('--prot')
    expect(configErrorOf(['serve'])).toContain('serve')
  })

  test('a flag without its value is refused', () => {
    expect(configErrorOf(['--port'])).toContain('--port')
    expect(configErrorOf(['--db'])).toContain('--db')
  })

  test('an empty database path is refused', () => {
    expect(configErrorOf([], { DATABASE: '' })).toContain('DATABASE')
  })

  test('log level and format accept only their listed values', () => {
    expect(configOf(['--log-level', 'DEBUG']).logLevel).toBe('debug')
    expect(configOf([], { LOG_FORMAT: 'json' }).logFormat).toBe('json')
    expect(configErrorOf(['--log-level', 'verbose'])).toContain('--log-level')
    expect(configErrorOf([], { LOG_FORMAT: 'xml' })).toContain('LOG_FORMAT')
  })
})

describe('JWT_SECRET', () => {
  // As `openssl rand -hex 32` would print it.
  const RANDOM = '3f9c1e7a5b2d8c4f6a0e9b1d7c3a5f2e8b4d6c0a9e1f3b7d5c2a8e6f0b4d9c1a'

  test('a secret of 32 bytes or more is accepted', () => {
    expect(configOf([], { JWT_SECRET: RANDOM.slice(0, 32) }).jwtSecret).toBe(RANDOM.slice(0, 32))
    expect(configOf(['--jwt-secret', RANDOM]).jwtSecret).toBe(RANDOM)
  })

  test('a secret shorter than 32 bytes is refused', () => {
    expect(configErrorOf([], { JWT_SECRET: RANDOM.slice(0, 31) })).toContain('JWT_SECRET')
    expect(configErrorOf([], { JWT_SECRET: '' })).toContain('JWT_SECRET')
    expect(configErrorOf(['--jwt-secret=short'])).toContain('--jwt-secret')
  })

  test('the length is counted in UTF-8 bytes, not characters', () => {
    expect(configOf([], { JWT_SECRET: 'é'.repeat(15) + 'ab' }).jwtSecret).toBe('é'.repeat(15) + 'ab')
    expect(configErrorOf([], { JWT_SECRET: 'é'.repeat(15) + 'a' })).toContain('JWT_SECRET')
  })

  // Whoever pastes a sample secret shares it with everyone who read the same page: they can sign tokens.
  test('a placeholder secret is refused, naming JWT_SECRET and never echoing it', () => {
    for (const secret of [
      'change-me-to-32-or-more-random-bytes',
      'CHANGEME-CHANGEME-CHANGEME-CHANGEME',
      'please_change_me_before_production_use',
      'replace-me-with-a-long-random-string!!',
      'your-secret-key-goes-here-0123456789',
      'an-EXAMPLE-secret-of-thirty-two-bytes',
      'placeholder-placeholder-placeholder',
      'k'.repeat(32),
      'é'.repeat(16),
    ]) {
      const message = configErrorOf([], { JWT_SECRET: secret })
      expect(message).toContain('JWT_SECRET')
      expect(message).toContain('placeholder')
      expect(message).toContain('openssl rand -hex 32')
      expect(message).not.toContain(secret)
    }
    expect(configErrorOf(['--jwt-secret', 'x'.repeat(40)])).toContain('--jwt-secret')
  })

  test('a refused secret is not echoed in the error', () => {
    const secret = 'hunter2-but-too-short'
    expect(configErrorOf([], { JWT_SECRET: secret })).not.toContain(secret)
    expect(configErrorOf(['--jwt-secret', secret])).not.toContain(secret)
  })
})

describe('REUSE_PORT', () => {
  test('is off unless asked for, and takes a boolean', () => {
    expect(configOf([]).reusePort).toBe(false)
    const pg = ['--db', 'postgres://chat@127.0.0.1/chat']
    expect(configOf(['--reuse-port', '--redis', 'redis://127.0.0.1:6379', ...pg]).reusePort).toBe(true)
    expect(configOf(pg, { REUSE_PORT: '1', REDIS_URL: 'redis://127.0.0.1:6379' }).reusePort).toBe(true)
    expect(configErrorOf([], { REUSE_PORT: 'maybe', REDIS_URL: 'redis://127.0.0.1:6379' })).toContain('REUSE_PORT')
  })

  // Processes sharing a port each hold part of a room's sockets; without Redis they would be separate rooms.
  test('without REDIS_URL it is refused with one line naming both settings', () => {
    const message = configErrorOf(['--reuse-port'])
    expect(message).toContain('--reuse-port')
    expect(message).toContain('REDIS_URL')
    expect(configErrorOf([], { REUSE_PORT: 'yes' })).toContain('REUSE_PORT')
    expect(configOf([], { REUSE_PORT: 'off' }).reusePort).toBe(false)
  })
})

describe('STARTUP_TIMEOUT', () => {
  test('defaults to 10 s and takes seconds or a duration', () => {
    expect(configOf([]).startupTimeoutSeconds).toBe(10)
    expect(configOf(['--startup-timeout', '1']).startupTimeoutSeconds).toBe(1)
    expect(configOf([], { STARTUP_TIMEOUT: '30s' }).startupTimeoutSeconds).toBe(30)
    expect(configOf([], { STARTUP_TIMEOUT: '2m' }).startupTimeoutSeconds).toBe(120)
  })

  test('zero and non-durations are refused', () => {
    for (const raw of ['0', '-1', '1.5', 'soon', '']) expect(configErrorOf([], { STARTUP_TIMEOUT: raw })).toContain('STARTUP_TIMEOUT')
  })
})

describe('SEARCH_MERGE_QUIET', () => {
  test('defaults to 30 s, takes seconds or a duration, and 0 turns merging off', () => {
    expect(configOf([]).searchMergeQuietSeconds).toBe(30)
    expect(configOf(['--search-merge-quiet', '5m']).searchMergeQuietSeconds).toBe(300)
    expect(configOf([], { SEARCH_MERGE_QUIET: '2' }).searchMergeQuietSeconds).toBe(2)
    expect(configOf([], { SEARCH_MERGE_QUIET: ' 0 ' }).searchMergeQuietSeconds).toBe(0)
  })

  test('what is not a duration is refused', () => {
    for (const raw of ['-1', '1.5', 'off', '', '00x']) expect(configErrorOf([], { SEARCH_MERGE_QUIET: raw })).toContain('SEARCH_MERGE_QUIET')
  })
})

describe('credentials in URLs', () => {
  test('redactUrl masks the password and keeps the user name', () => {
    expect(redactUrl('postgres://chat:s3cret@db.internal:5432/chat')).toBe('postgres://chat:***@db.internal:5432/chat')
    expect(redactUrl('redis://:s3cret@redis.internal:6379')).toBe('redis://:***@redis.internal:6379')
    expect(redactUrl('rediss://default:s3cret@redis.internal')).toBe('rediss://default:***@redis.internal')
    // PostgreSQL's URLs also take it as a query parameter.
    expect(redactUrl('postgres://db.internal/chat?password=s3cret')).toBe('postgres://db.internal/chat?password=***')
    expect(redactUrl('postgres://chat@db/chat?sslmode=require&PASSWORD=s3cret&x=1')).toBe('postgres://chat@db/chat?sslmode=require&PASSWORD=***&x=1')
    expect(redactUrl('cannot connect to "postgres://db/chat?sslpassword=k3y"')).toBe('cannot connect to "postgres://db/chat?sslpassword=***"')
    expect(redactUrl('postgres://chat:s3cret@db/chat?password=s3cret')).toBe('postgres://chat:***@db/chat?password=***')
  })

  test('redactUrl leaves alone what has no password', () => {
    for (const text of ['postgres://chat@db/chat', 'redis://127.0.0.1:6379', './data/chat.db', 'postgres://chat@db/chat?x=a@b', 'no URL here: a:b@c']) {
      expect(redactUrl(text)).toBe(text)
    }
  })

  test('redactUrl masks passwords with spaces, quotes, @ and /, and in URLs that do not parse', () => {
    for (const url of [
      'postgres://chat:s3 cret@db/chat',
      'postgres://chat:s3"cret@db/chat',
      'postgres://chat:s3@cret@db/chat',
      'postgres://chat:s3/cret@db/chat',
    ]) {
      expect(redactUrl(url)).toBe('postgres://chat:***@db/chat')
    }
    expect(redactUrl('mysql://chat:s3cret@db:notaport/chat')).toBe('mysql://chat:***@db:notaport/chat')
  })

  test('redactUrl masks every URL quoted in a sentence, such as a client error', () => {
    expect(redactUrl('connect to redis://u:p4ss@r:1 failed, then "postgres://chat:s3cret@db/chat" too')).toBe(
      'connect to redis://u:***@r:1 failed, then "postgres://chat:***@db/chat" too',
    )
  })

  test('a refused DATABASE or REDIS_URL is shown with its password masked', () => {
    const database = configErrorOf([], { DATABASE: 'mysql://chat:s3cret@db/chat' })
    expect(database).toContain('DATABASE')
    expect(database).toContain('mysql://chat:***@db/chat')
    expect(database).not.toContain('s3cret')
    const unparsable = configErrorOf(['--db', 'postgres://chat:s3/cret@db:5432/chat'])
    expect(unparsable).toContain('--db')
    expect(unparsable).not.toContain('cret')
    expect(configErrorOf([], { DATABASE: ' mysql://chat:s3 cret@db/chat ' })).not.toContain('cret')
    const redis = configErrorOf([], { REDIS_URL: 'http://:s3cret@redis.internal' })
    expect(redis).toContain('REDIS_URL')
    expect(redis).not.toContain('s3cret')
  })

  test('an unknown argument that is a URL is shown with its password masked', () => {
    expect(configErrorOf(['postgres://chat:s3cret@db/chat'])).not.toContain('s3cret')
  })
})

describe('--help and --version', () => {
  test('--help and -h ask for help', () => {
    expect(loadConfig(['--help'], {})).toEqual({ kind: 'help' })
    expect(loadConfig(['-h'], {})).toEqual({ kind: 'help' })
  })

  test('--version and -v ask for the version', () => {
    expect(loadConfig(['--version'], {})).toEqual({ kind: 'version' })
    expect(loadConfig(['-v'], {})).toEqual({ kind: 'version' })
  })

  test('--help wins over a bad environment value', () => {
    expect(loadConfig(['--help'], { PORT: 'abc' })).toEqual({ kind: 'help' })
  })

  test('the help text names every variable and flag, and never a secret value', () => {
    const help = renderHelp('1.2.3')
    expect(help).toContain('1.2.3')
    for (const s of SETTINGS) {
      expect(help).toContain(s.env)
      expect(help).toContain(s.flag)
    }
    expect(help).toContain('--help')
    expect(help).toContain('--version')
  })

  test('the help text says what each setting accepts, units included', () => {
    const help = renderHelp('1.2.3')
    for (const s of SETTINGS) expect(help).toContain(`accepts ${s.accepts}`)
    const tokenTtl = help.slice(help.indexOf('TOKEN_TTL'))
    expect(tokenTtl.slice(0, tokenTtl.indexOf('\n  --'))).toContain('seconds, or a duration such as 90m, 24h or 7d')
  })

  test('the help text states the exit statuses', () => {
    expect(renderHelp('1.2.3')).toContain('2 for an invalid setting, 1 when start-up or shutdown fails')
  })
})
