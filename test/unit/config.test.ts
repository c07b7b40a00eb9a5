/**
 * loadConfig (spec §4, STYLE Config): settings come from environment variables and the same-named
 * CLI flags, a flag wins over its variable, and a bad value stops startup with one line naming the
 * setting and what it accepts.
 */
import { describe, expect, test } from 'bun:test'
import { ConfigError, defineConfig, loadConfig, renderHelp, SETTINGS, type Config } from '../../src/config.ts'

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
  test('a secret of 32 bytes or more is accepted', () => {
    expect(configOf([], { JWT_SECRET: 'k'.repeat(32) }).jwtSecret).toBe('k'.repeat(32))
    expect(configOf(['--jwt-secret', 'k'.repeat(64)]).jwtSecret).toBe('k'.repeat(64))
  })

  test('a secret shorter than 32 bytes is refused', () => {
    expect(configErrorOf([], { JWT_SECRET: 'k'.repeat(31) })).toContain('JWT_SECRET')
    expect(configErrorOf([], { JWT_SECRET: '' })).toContain('JWT_SECRET')
    expect(configErrorOf(['--jwt-secret=short'])).toContain('--jwt-secret')
  })

  test('the length is counted in UTF-8 bytes, not characters', () => {
    expect(configOf([], { JWT_SECRET: 'é'.repeat(16) }).jwtSecret).toBe('é'.repeat(16))
    expect(configErrorOf([], { JWT_SECRET: 'é'.repeat(15) + 'a' })).toContain('JWT_SECRET')
  })

  test('a refused secret is not echoed in the error', () => {
    const secret = 'hunter2-but-too-short'
    expect(configErrorOf([], { JWT_SECRET: secret })).not.toContain(secret)
    expect(configErrorOf(['--jwt-secret', secret])).not.toContain(secret)
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
})
