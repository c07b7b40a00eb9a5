/**
 * The logger masks URL passwords in whatever it is given (issue 10, item 3): the start-up line's
 * DATABASE, and errors from the PostgreSQL or Redis clients that may quote the URL they were given.
 */
import { expect, test } from 'bun:test'
import { createLogger } from '../../src/log.ts'

function linesOf(format: 'text' | 'json', emit: (log: ReturnType<typeof createLogger>) => void): string[] {
  const lines: string[] = []
  emit(createLogger('debug', format, (line) => lines.push(line)))
  return lines
}

for (const format of ['text', 'json'] as const) {
  test(`${format} lines never carry a URL password, in a field, an error or the message`, () => {
    const lines = linesOf(format, (log) => {
      log.info('listening', { database: 'postgres://chat:s3cret@db.internal:5432/chat' })
      log.warn('heartbeat failed', { err: new Error('cannot reach redis://default:s3cret@redis.internal:6379') })
      log.error('could not reach postgres://chat:s3cret@db.internal/chat')
      log.info('odd password', { database: 'postgres://chat:s3 "cret@db.internal/chat' })
    })
    expect(lines).toHaveLength(4)
    for (const line of lines) expect(line).not.toContain('cret')
    expect(lines[0]).toContain('postgres://chat:***@db.internal:5432/chat')
    expect(lines[1]).toContain('redis://default:***@redis.internal:6379')
    // Still the whole stack, not just the message.
    expect(lines[1]).toContain('log.test.ts')
    expect(lines[2]).toContain('postgres://chat:***@db.internal/chat')
  })
}

test('enabled tells which levels are written, so a caller can skip building what would not be', () => {
  const lines: string[] = []
  const log = createLogger('warn', 'text', (line) => lines.push(line))
  const levels = ['debug', 'info', 'warn', 'error'] as const
  expect(levels.map((level) => log.enabled(level))).toEqual([false, false, true, true])
  for (const level of levels) log[level](level)
  expect(lines.map((line) => line.split(' ')[1])).toEqual(['WARN', 'ERROR'])
  expect(createLogger('silent', 'json', () => {}).enabled('error')).toBe(false)
})
