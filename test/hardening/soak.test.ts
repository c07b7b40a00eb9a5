/**
 * The soak script (scripts/soak.ts, `bun run soak`) in a CI-sized run: 5 seconds of waves of 200
 * clients. It exits non-zero on a lost message, a failed connection, connections or rooms the server
 * still counts after every client left, memory that does not come back near its baseline, or an
 * unclean stop; its last stdout line is the result as JSON.
 */
import { expect, test } from 'bun:test'
import { join } from 'node:path'
import { REPO_ROOT } from '../support/child-server.ts'

test('a short soak (5 s, 200 clients a wave) loses nothing, leaks nothing and exits 0', async () => {
  const proc = Bun.spawn([process.execPath, join(REPO_ROOT, 'scripts', 'soak.ts')], {
    cwd: REPO_ROOT,
    env: { ...process.env, SOAK_SECONDS: '5', SOAK_CLIENTS: '200', SOAK_SETTLE_SECONDS: '3' },
    stdout: 'pipe',
    stderr: 'pipe',
  })
  const timer = setTimeout(() => proc.kill('SIGKILL'), 50_000)
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited])
  clearTimeout(timer)
  const report = stdout.trim().split('\n')
  const result = JSON.parse(report.at(-1) ?? '{}')
  expect({ code, failures: result.failures, stderr: stderr.trim() === '' ? '' : stderr }).toEqual({ code: 0, failures: [], stderr: '' })
  expect(result).toMatchObject({ ok: true, lost: 0, connectFailures: 0, leftover: { connections: 0, rooms: 0 }, serverExit: 0 })
  expect(result.posted).toBeGreaterThan(0)
  expect(result.echoed).toBe(result.posted)
}, 60_000)
