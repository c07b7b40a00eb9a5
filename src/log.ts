/** Logger: leveled, one line per event, text or JSON. Callers pass fields, never secrets. */
import type { LogFormat, LogLevel } from './config.ts'
import { redactUrl } from './redact.ts'

const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 }

export type Fields = Record<string, unknown>

export interface Logger {
  debug(msg: string, fields?: Fields): void
  info(msg: string, fields?: Fields): void
  warn(msg: string, fields?: Fields): void
  error(msg: string, fields?: Fields): void
  /** Whether a line at `level` is written: for a caller whose fields cost something to build on every request. */
  enabled(level: Exclude<LogLevel, 'silent'>): boolean
}

function renderText(level: string, msg: string, fields: Fields | undefined): string {
  let line = `${new Date().toISOString()} ${level.toUpperCase().padEnd(5)} ${msg}`
  if (fields) {
    for (const [k, v] of Object.entries(fields)) {
      if (v === undefined) continue
      line += ` ${k}=${typeof v === 'string' && !/\s/.test(v) ? v : JSON.stringify(v)}`
    }
  }
  return line
}

function renderJson(level: string, msg: string, fields: Fields | undefined): string {
  return JSON.stringify({ time: new Date().toISOString(), level, msg, ...fields })
}

/**
 * Errors as their stacks, and URL passwords masked in every text, whoever logs it: a DATABASE URL,
 * a client error quoting one.
 */
function prepareFields(fields: Fields): Fields {
  const out: Fields = {}
  for (const [k, v] of Object.entries(fields)) out[k] = v instanceof Error ? redactUrl(v.stack ?? String(v)) : typeof v === 'string' ? redactUrl(v) : v
  return out
}

export function createLogger(level: LogLevel, format: LogFormat, write: (line: string) => void = (l) => process.stderr.write(l + '\n')): Logger {
  const min = RANK[level]
  const render = format === 'json' ? renderJson : renderText
  const at = (lvl: Exclude<LogLevel, 'silent'>) => (msg: string, fields?: Fields) => {
    if (RANK[lvl] >= min) write(render(lvl, redactUrl(msg), fields && prepareFields(fields)))
  }
  return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error'), enabled: (lvl) => RANK[lvl] >= min }
}
