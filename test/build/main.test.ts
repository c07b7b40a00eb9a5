/**
 * `bun src/main.ts` as a child process (spec §3, §4): SIGINT and SIGTERM stop accepting, close every
 * socket with 1001 SHUTDOWN, close the database, and end the process with status 0.
 */
import { afterAll, afterEach, expect, test } from 'bun:test'
import type { Subprocess } from 'bun'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { register, request } from '../support/http.ts'
import { openSocket } from '../support/socket.ts'

const MAIN = resolve(import.meta.dir, '../../src/main.ts')
const folders: string[] = []
const children: Subprocess[] = []

afterEach(() => {
  for (const child of children.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
})

afterAll(() => {
  for (const dir of folders.splice(0)) rmSync(dir, { recursive: true, force: true })
})

/** Starts `bun src/main.ts` in an empty folder on a free port and waits for its `listening` line. */
async function startMain() {
  const dir = mkdtempSync(join(tmpdir(), 'chat-main-'))
  folders.push(dir)
  const proc = Bun.spawn([process.execPath, MAIN], {
    cwd: dir,
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: tmpdir(),
      PORT: '0',
      HOST: '127.0.0.1',
      LOG_LEVEL: 'info',
      ARGON2_MEMORY_KIB: '1024',
      ARGON2_ITERATIONS: '1',
    },
    stdout: 'pipe',
    stderr: 'pipe',
  })
  children.push(proc)
  let text = ''
  const decoder = new TextDecoder()
  const reader = proc.stderr.getReader()
  for (;;) {
    const m = /listening url=(http:\/\/\S+)/.exec(text)
    if (m) {
      // Keep draining stderr so the child never blocks on a full pipe.
      void (async () => {
        for (;;) if ((await reader.read()).done) break
      })()
      return { dir, proc, url: m[1]! }
    }
    const { done, value } = await reader.read()
    if (done) throw new Error(`bun src/main.ts exited before listening:\n${text}`)
    text += decoder.decode(value, { stream: true })
  }
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  test(`${signal} closes open sockets with 1001 SHUTDOWN and exits with status 0`, async () => {
    const { dir, proc, url } = await startMain()
    expect(existsSync(join(dir, 'data', 'chat.db'))).toBe(true)
    const alice = await register(url, 'alice')
    const socket = await openSocket(`${url.replace('http', 'ws')}/api/v1/rooms/lobby/messages/ws`, [alice.token])
    await socket.next('welcome')
    proc.kill(signal)
    expect(await socket.closed).toEqual({ code: 1001, reason: 'SHUTDOWN' })
    expect(await proc.exited).toBe(0)
    expect(proc.signalCode).toBeNull()
    // Stopped listening: a new connection is refused.
    await expect(request(`${url}/healthz`)).rejects.toThrow()
  })
}

test('SIGINT with no clients exits with status 0', async () => {
  const { proc, url } = await startMain()
  expect((await request(`${url}/healthz`)).status).toBe(200)
  proc.kill('SIGINT')
  expect(await proc.exited).toBe(0)
})
