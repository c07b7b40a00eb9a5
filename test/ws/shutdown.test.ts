/**
 * Clean shutdown (spec §3, last rule): the server stops accepting, closes every socket with 1001
 * SHUTDOWN, finishes its writes and closes the database. A message whose copy came back is
 * acknowledged (docs/PROTOCOL.md): it must survive the restart, exactly once. The server is stopped
 * while clients are still sending, then a new one is started on the same data directory.
 */
import { expect, test } from 'bun:test'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { CLOSE } from '../../src/protocol.ts'
import { register } from '../support/http.ts'
import { roomWs, storedMessages } from '../support/rooms.ts'
import { startTestServer, type TestServer } from '../support/server.ts'
import { openSocket, type Frame, type TestSocket } from '../support/socket.ts'

const FAST = { messageBurst: 100_000, messageRate: 100_000 }

async function connect(server: TestServer, token?: string): Promise<TestSocket> {
  const socket = await openSocket(roomWs(server, 'lobby'), token === undefined ? undefined : [token])
  await socket.next('welcome')
  return socket
}

test('stopping mid-burst closes every socket with 1001 SHUTDOWN and keeps every acknowledged message exactly once', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'chat-shutdown-'))
  try {
    const server = await startTestServer({ dir, config: FAST })
    const accounts = await Promise.all(['alice', 'bob', 'carol'].map((name) => register(server.url, name)))
    const posters = await Promise.all(accounts.map((a) => connect(server, a.token)))
    const reader = await connect(server)
    // Each poster keeps 20 messages outstanding: a new one goes out as each acknowledgement comes back.
    let acks = 0
    const busy = Promise.withResolvers<void>()
    const pump = async (socket: TestSocket, i: number): Promise<number> => {
      let sent = 0
      const send = () => socket.ws.readyState === WebSocket.OPEN && socket.send({ type: 'message', text: `from ${i}: ${sent}`, nonce: `${i}-${sent++}` })
      for (let n = 0; n < 20; n++) send()
      for (;;) {
        const frame = await socket.next().catch(() => undefined)
        if (!frame) return sent
        if (frame.type !== 'message' || !String(frame.data.nonce).startsWith(`${i}-`)) continue
        if (++acks === 300) busy.resolve()
        send()
      }
    }
    const pumps = posters.map(pump)
    await busy.promise
    const stopping = server.stop()
    for (const socket of [...posters, reader]) expect(await socket.closed).toEqual(CLOSE.SHUTDOWN)
    await stopping
    const sent = (await Promise.all(pumps)).reduce((a, b) => a + b)
    await expect(openSocket(roomWs(server, 'lobby'))).rejects.toThrow()

    const acknowledged = posters.flatMap((socket, i) =>
      socket.frames.filter((f): f is Frame => f.type === 'message' && String(f.data.nonce).startsWith(`${i}-`)).map((f) => f.data),
    )
    const broadcast = [...posters, reader].flatMap((socket) => socket.frames.filter((f) => f.type === 'message').map((f) => f.data))
    expect(acknowledged.length).toBeGreaterThan(0)

    await using again = await startTestServer({ dir })
    const stored = await storedMessages(again, 'lobby')
    expect(new Set(stored.map((m) => m.id)).size).toBe(stored.length)
    expect(new Set(stored.map((m) => m.nonce)).size).toBe(stored.length)
    const byId = new Map(stored.map((m) => [m.id, m]))
    for (const message of acknowledged) expect(byId.get(message.id)).toEqual(message)
    // Whatever any socket saw broadcast is stored too (others' copies may lack the nonce).
    for (const message of broadcast) expect(byId.get(message.id)).toMatchObject({ id: message.id, text: message.text, user: message.user })
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

test('an idle socket gets 1001 SHUTDOWN, and its token connects again after a restart on the same data', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'chat-shutdown-'))
  try {
    const server = await startTestServer({ dir })
    const alice = await register(server.url, 'alice')
    const socket = await connect(server, alice.token)
    await server.stop()
    expect(await socket.closed).toEqual(CLOSE.SHUTDOWN)
    // Restarted on the same directory, the account and its token still work.
    await using again = await startTestServer({ dir })
    using back = await connect(again, alice.token)
    expect(back.frames[0]!.data.user).toEqual(alice.user)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})
