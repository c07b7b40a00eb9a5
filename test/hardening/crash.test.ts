/**
 * Crash safety (spec §3 "stored, then broadcast"; docs/PROTOCOL.md: the sender's copy is the
 * acknowledgement, from then on the message survives a restart or crash). The server runs as a child
 * process (`bun src/main.ts`) on a SQLite file; a few clients post continuously, each keeping several
 * messages in flight, and the process is killed with SIGKILL mid-burst, twice, restarting on the
 * same file each time. Then:
 *
 * - every acknowledged message (its copy came back to its sender) is in history, as sent;
 * - no message is stored twice: ids and nonces are unique, and every stored nonce was sent;
 * - REST history (paged with `before`) and a WebSocket resume from `?since=0` agree;
 * - after a clean stop, `PRAGMA integrity_check` on the file answers `ok`.
 */
import { afterAll, expect, test } from 'bun:test'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startChildServer, type ChildServer } from '../support/child-server.ts'
import { openDbReader } from '../support/db-snapshot.ts'
import { register, request, type Account } from '../support/http.ts'
import { openSocket } from '../support/socket.ts'
import { withTimeout } from '../support/wait.ts'

const CLIENTS = 3
/** Messages each client keeps in flight (sent, not yet acknowledged). */
const WINDOW = 8
/** Acknowledgements (all clients) in a life before the kill. */
const ACKS_BEFORE_KILL = 400
const LIVES = 2
const ROOM = 'crash'
const ENV = { MESSAGE_RATE: '1000000', MESSAGE_BURST: '1000000', RESUME_MAX: '10000' }

const dir = mkdtempSync(join(tmpdir(), 'chat-crash-'))
const database = join(dir, 'chat.db')
afterAll(() => rmSync(dir, { recursive: true, force: true }))

interface Sent {
  text: string
  acked: boolean
}

/**
 * Each client posts continuously (WINDOW in flight) until the server dies; resolves when ACKS_BEFORE_KILL
 * acknowledgements have come in over all clients, having sent SIGKILL at that moment.
 */
async function postUntilKilled(server: ChildServer, accounts: Account[], sent: Map<string, Sent>, life: number): Promise<{ inFlight: number }> {
  let acks = 0
  const enough = Promise.withResolvers<void>()
  const sockets = await Promise.all(accounts.map((a) => openSocket(`${server.wsUrl}/api/v1/rooms/${ROOM}/messages/ws`, [a.token])))
  await Promise.all(sockets.map((s) => s.next('welcome')))
  sockets.forEach((socket, client) => {
    let seq = 0
    const post = () => {
      if (socket.ws.readyState !== WebSocket.OPEN) return
      const nonce = `l${life}-c${client}-${seq++}`
      const text = `message ${nonce}`
      sent.set(nonce, { text, acked: false })
      socket.send({ type: 'message', text, nonce })
    }
    socket.ws.addEventListener('message', (e) => {
      const frame = JSON.parse(String(e.data))
      if (frame.type !== 'message' || frame.data.user.id !== accounts[client]!.user.id) return
      const mine = sent.get(frame.data.nonce)
      // The copy must be the message as sent: same text, same nonce.
      if (!mine || mine.text !== frame.data.text) throw new Error(`unexpected copy ${JSON.stringify(frame.data)}`)
      mine.acked = true
      if (++acks === ACKS_BEFORE_KILL) enough.resolve()
      post()
    })
    for (let i = 0; i < WINDOW; i++) post()
  })
  await withTimeout(enough.promise, 20_000, `${ACKS_BEFORE_KILL} acknowledgements`)
  server.proc.kill('SIGKILL')
  const inFlight = [...sent.values()].filter((m) => !m.acked).length
  expect(await withTimeout(server.exited, 10_000, 'the killed server to exit')).toBe(128 + 9)
  await Promise.all(sockets.map((s) => withTimeout(s.closed, 10_000, 'the sockets to see the crash')))
  return { inFlight }
}

/** Every message of the room through REST history, newest page first, bounded in pages. */
async function readAllHistory(url: string): Promise<{ id: number; text: string; nonce?: string }[]> {
  const all: { id: number; text: string; nonce?: string }[] = []
  let before: number | undefined
  for (let page = 0; page < 1000; page++) {
    const res = await request(`${url}/api/v1/rooms/${ROOM}/messages?limit=200${before === undefined ? '' : `&before=${before}`}`, {
      signal: AbortSignal.timeout(10_000),
    })
    expect(res.status).toBe(200)
    all.unshift(...res.body.data.messages)
    if (!res.body.data.hasMore) return all
    before = res.body.data.messages[0].id
  }
  throw new Error('history did not end within 1000 pages')
}

test('SIGKILL mid-burst loses no acknowledged message, duplicates none, and leaves a sound database', async () => {
  const sent = new Map<string, Sent>()
  let server = await startChildServer({ database, env: ENV })
  let accounts: Account[] = []
  try {
    accounts = await Promise.all(Array.from({ length: CLIENTS }, (_, i) => register(server.url, `poster${i}`)))
    for (let life = 0; life < LIVES; life++) {
      const { inFlight } = await postUntilKilled(server, accounts, sent, life)
      // Mid-burst: messages were on their way when the process died.
      expect(inFlight).toBeGreaterThan(0)
      // Same file, same generated JWT secret: the tokens still work after the restart.
      server = await startChildServer({ database, env: ENV })
    }

    const history = await readAllHistory(server.url)
    const ids = history.map((m) => m.id)
    const nonces = history.map((m) => m.nonce)
    expect(new Set(ids).size).toBe(ids.length)
    expect(new Set(nonces).size).toBe(nonces.length)
    expect(ids).toEqual([...ids].sort((a, b) => a - b))
    for (const m of history) expect(sent.get(m.nonce!)?.text).toBe(m.text)
    const stored = new Set(nonces)
    const lost = [...sent].filter(([nonce, m]) => m.acked && !stored.has(nonce)).map(([nonce]) => nonce)
    expect(lost).toEqual([])
    const acked = [...sent.values()].filter((m) => m.acked).length
    console.info(`crash: ${sent.size} sent, ${acked} acknowledged, ${history.length} stored over ${LIVES} SIGKILLs`)

    // A resume from 0 sees exactly the same messages.
    const resumed = await openSocket(`${server.wsUrl}/api/v1/rooms/${ROOM}/messages/ws?since=0`)
    const welcome = await resumed.next('welcome')
    resumed.close()
    expect({ ids: welcome.data.history.map((m: { id: number }) => m.id), truncated: welcome.data.truncated }).toEqual({ ids, truncated: false })
  } finally {
    expect(await server.stop()).toBe(0)
  }
  using db = openDbReader(database)
  expect(db.integrityCheck()).toEqual(['ok'])
}, 60_000)
