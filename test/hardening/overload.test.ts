/**
 * Overload (spec §3): connections are capped in total and per client address; past a cap the
 * upgrade is accepted and closed at once with 4029 CONNECTION_LIMIT (no welcome), so a browser can
 * tell "back off" from a network failure, and the sockets already open are unaffected. With
 * TRUST_PROXY the per-address cap counts the first X-Forwarded-For entry, as the login limits do.
 *
 * And the HTTP API keeps answering while more than 1000 WebSocket clients are connected: 1100
 * read-only sockets are opened from this process in batches while healthz, login and REST history
 * are called, then one message is posted and must reach all 1100. Each socket costs two file
 * descriptors here (client and server end), so the count is kept within `ulimit -n`.
 */
import { describe, expect, test } from 'bun:test'
import { readFileSync } from 'node:fs'
import { CLOSE } from '../../src/protocol.ts'
import { register, request } from '../support/http.ts'
import { rawUpgrade, readClose, readJson, type RawSocket } from '../support/raw-ws.ts'
import { startTestServer, type TestServer } from '../support/server.ts'
import { openSocket, type TestSocket } from '../support/socket.ts'
import { frameWhere, until, withTimeout } from '../support/wait.ts'

/** Sockets the server holds open, as its own count says (the same one /metrics reports). */
function openSockets(server: TestServer): number {
  const { authenticated, readOnly } = server.app.hub.counts()
  return authenticated + readOnly
}

const WAIT_MS = 5_000

const roomUrl = (server: TestServer, room = 'lobby') => `${server.wsUrl}/api/v1/rooms/${room}/messages/ws`

/** Opens a socket past a cap: it is upgraded, gets no frame, and is closed with 4029 CONNECTION_LIMIT. */
async function expectRefused(url: string, protocols?: string[]): Promise<void> {
  const socket = await openSocket(url, protocols)
  expect(await withTimeout(socket.closed, WAIT_MS, 'close 4029')).toEqual(CLOSE.CONNECTION_LIMIT)
  expect(socket.frames).toEqual([])
}

/** Posts from `poster` and checks the message reaches every socket in `readers` (and the poster). */
async function expectDelivered(poster: TestSocket, readers: TestSocket[], nonce: string): Promise<void> {
  poster.send({ type: 'message', text: `delivery check ${nonce}`, nonce })
  const isIt = (f: { type: string; data: { nonce?: string } }) => f.type === 'message' && f.data.nonce === nonce
  await Promise.all([poster, ...readers].map((s, i) => frameWhere(s, isIt, WAIT_MS, `message ${nonce} at socket ${i}`)))
}

describe('connection caps', () => {
  test('past the per-address cap a new socket is closed with 4029 and the open ones keep receiving', async () => {
    await using server = await startTestServer({ config: { maxConnectionsPerAddress: 3 } })
    const alice = await register(server.url, 'alice')
    using poster = await openSocket(roomUrl(server), [alice.token])
    using reader1 = await openSocket(roomUrl(server))
    using reader2 = await openSocket(roomUrl(server, 'other'))
    await Promise.all([poster.next('welcome'), reader1.next('welcome'), reader2.next('welcome')])

    await expectRefused(roomUrl(server))
    await expectRefused(roomUrl(server), [alice.token])
    await expectDelivered(poster, [reader1], 'after-refusal')
    expect(openSockets(server)).toBe(3)

    // A slot given back is usable again.
    reader2.close()
    await until(() => openSockets(server) === 2, WAIT_MS, 'the server to see the close')
    using reader3 = await openSocket(roomUrl(server))
    await reader3.next('welcome')
    await expectDelivered(poster, [reader1, reader3], 'after-reopen')
  })

  test('past the total cap a new socket is closed with 4029 and the open ones keep receiving', async () => {
    await using server = await startTestServer({ config: { maxConnections: 3 } })
    const alice = await register(server.url, 'alice')
    using poster = await openSocket(roomUrl(server), [alice.token])
    using reader1 = await openSocket(roomUrl(server))
    using reader2 = await openSocket(roomUrl(server))
    await Promise.all([poster.next('welcome'), reader1.next('welcome'), reader2.next('welcome')])
    await expectRefused(roomUrl(server))
    await expectRefused(roomUrl(server, 'elsewhere'))
    await expectDelivered(poster, [reader1, reader2], 'at-total-cap')
  })

  test('with TRUST_PROXY the per-address cap counts the first X-Forwarded-For entry', async () => {
    await using server = await startTestServer({ config: { trustProxy: true, maxConnectionsPerAddress: 2 } })
    const opened: RawSocket[] = []
    const connect = async (xff: string) => {
      const socket = await withTimeout(rawUpgrade(roomUrl(server), { headers: { 'X-Forwarded-For': xff } }), WAIT_MS, `upgrade from ${xff}`)
      opened.push(socket)
      expect(socket.response.status).toBe(101)
      await until(() => socket.frames.length > 0, WAIT_MS, `the first frame for ${xff}`)
      return socket.frames[0]!
    }
    try {
      expect(readJson(await connect('203.0.113.7')).type).toBe('welcome')
      expect(readJson(await connect('203.0.113.7, 198.51.100.1')).type).toBe('welcome')
      expect(readClose(await connect('203.0.113.7'))).toEqual(CLOSE.CONNECTION_LIMIT)
      expect(readJson(await connect('203.0.113.8, 203.0.113.7')).type).toBe('welcome')
    } finally {
      for (const socket of opened) socket.destroy()
    }
  })
})

/** The soft limit on open files for this process (what `ulimit -n` shows). */
function openFileLimit(): number {
  const m = /^Max open files\s+(\d+|unlimited)/m.exec(readFileSync('/proc/self/limits', 'utf8'))
  return !m || m[1] === 'unlimited' ? Number.POSITIVE_INFINITY : Number(m[1])
}

describe('HTTP under 1000+ WebSocket clients', () => {
  const WANTED = 1100
  const BATCH = 100
  // Two descriptors per socket in this process (both ends), plus room for the runtime, fetches and SQLite.
  const CLIENTS = Math.min(WANTED, Math.floor((openFileLimit() - 512) / 2))

  test(`healthz, login and history answer while ${WANTED} read-only sockets are open, and a message reaches all of them`, async () => {
    // Bun raises its soft limit to the hard one; below 2 × 1100 + 512 the test runs with what fits.
    if (CLIENTS < WANTED) console.warn(`overload: ulimit -n is ${openFileLimit()}, so ${CLIENTS} sockets instead of ${WANTED}`)
    await using server = await startTestServer({ config: { maxConnectionsPerAddress: CLIENTS + 10 } })
    const alice = await register(server.url, 'alice')
    const MARK = 'all-readers-check'
    let delivered = 0
    const allDelivered = Promise.withResolvers<void>()
    const readers: WebSocket[] = []

    /** A bare read-only client: resolves on its welcome, then only counts the one message we look for. */
    const openReader = () => {
      const ws = new WebSocket(roomUrl(server))
      readers.push(ws)
      const welcomed = Promise.withResolvers<void>()
      ws.onmessage = (e) => {
        const text = String(e.data)
        if (text.startsWith('{"type":"welcome"')) welcomed.resolve()
        else if (text.includes(MARK) && ++delivered === CLIENTS) allDelivered.resolve()
      }
      ws.onclose = (e) => welcomed.reject(new Error(`reader closed before its welcome: ${e.code} ${e.reason}`))
      return welcomed.promise
    }

    /** The three HTTP calls a user makes, each bounded; returns the slowest, in ms. */
    const httpRound = async () => {
      const started = performance.now()
      const signal = () => AbortSignal.timeout(WAIT_MS)
      const [health, login, history] = await Promise.all([
        request(`${server.url}/healthz`, { signal: signal() }),
        request(`${server.url}/api/v1/login`, { json: { username: 'alice', secret: 'correct horse battery staple' }, signal: signal() }),
        request(`${server.url}/api/v1/rooms/lobby/messages?limit=10`, { signal: signal() }),
      ])
      expect([health.status, login.status, history.status]).toEqual([200, 200, 200])
      expect(health.body).toEqual({ error: null, data: { status: 'ok' } })
      return performance.now() - started
    }

    try {
      // HTTP rounds run beside the ramp-up, so they are measured while sockets are being accepted.
      let ramping = true
      const during: number[] = []
      const prober = (async () => {
        for (let i = 0; ramping && i < 500; i++) during.push(await httpRound())
      })()
      const rampStarted = performance.now()
      for (let opened = 0; opened < CLIENTS; opened += BATCH) {
        await withTimeout(Promise.all(Array.from({ length: Math.min(BATCH, CLIENTS - opened) }, openReader)), 15_000, `batch at ${opened}`)
      }
      const rampMs = performance.now() - rampStarted
      ramping = false
      await prober
      expect(openSockets(server)).toBe(CLIENTS)

      const after = await httpRound()
      using poster = await openSocket(roomUrl(server), [alice.token])
      await poster.next('welcome')
      const postStarted = performance.now()
      poster.send({ type: 'message', text: MARK, nonce: MARK })
      await withTimeout(allDelivered.promise, 15_000, `the message at all ${CLIENTS} readers (${delivered} so far)`)
      const fanOutMs = performance.now() - postStarted
      console.info(
        `overload: ${CLIENTS} sockets opened in ${rampMs.toFixed(0)} ms; ${during.length} HTTP rounds meanwhile, slowest ${Math.max(...during, 0).toFixed(0)} ms; ` +
          `after: ${after.toFixed(0)} ms; fan-out to all: ${fanOutMs.toFixed(0)} ms`,
      )
      expect(during.length).toBeGreaterThan(0)
    } finally {
      for (const ws of readers) ws.close()
    }
    await until(() => openSockets(server) === 0, 15_000, 'every reader to be gone on the server')
  }, 60_000)
})
