/**
 * Idle memory with everything a logged-in client holds (issue 16, item 5): each client is a member of
 * its room (so the server keeps its unread state and presence) and has two sockets open, the room's
 * and its user stream, as the web client does. The baseline (bench/baseline.ts) has no user stream,
 * so each of its clients opens two room sockets instead: the figure compared is the server's resident
 * memory per open socket once idle, product ÷ baseline (target ≤ 1.3).
 */
import type { Generators } from './generators.ts'
import type { SocketSpec } from './protocol.ts'
import { open, type IdleStreamsSizes, type Outcome } from './scenarios.ts'
import { CHEAP_ARGON2_ENV, clientOf, pool, startServer, step, type Account, type Kind, type ServerUnderTest } from './servers.ts'

const roomOf = (i: number, size: IdleStreamsSizes) => `idle-${Math.floor(i / size.roomSize)}`

/** Every client joins its room, so the server keeps unread counters and sends `unread` for it. */
async function enrol(server: ServerUnderTest, accounts: Account[], size: IdleStreamsSizes): Promise<void> {
  await pool(accounts.length, 8, (i) => step(`${accounts[i]!.username} joining`, clientOf(server.url, accounts[i]!).joinRoom(roomOf(i, size))))
}

function socketsOf(kind: Kind, accounts: Account[], size: IdleStreamsSizes): SocketSpec[] {
  return accounts.flatMap((a, i) => {
    const room: SocketSpec = { room: roomOf(i, size), token: a.token, publisher: false, track: false }
    return [room, kind === 'product' ? { ...room, stream: 'user' as const } : room]
  })
}

export async function idleStreams(kind: Kind, gens: Generators, size: IdleStreamsSizes): Promise<Outcome> {
  const server = await startServer(kind, { env: CHEAP_ARGON2_ENV })
  try {
    const accounts = await server.accounts(size.clients)
    if (kind === 'product') await enrol(server, accounts, size)
    const sockets = socketsOf(kind, accounts, size)
    // A few sockets first so that lazily built code paths are not counted as per-socket memory.
    const warm = await open(server, gens, sockets.slice(0, 50), 16)
    await gens.closeAll()
    await Bun.sleep(size.settleMs)
    const rss0 = server.rssBytes()
    const result = await open(server, gens, sockets, size.concurrency, (i) => Math.floor(i / (2 * size.roomSize)))
    await Bun.sleep(size.idleMs)
    const rss1 = server.rssBytes()
    const totals = await gens.check({})
    return {
      metrics: { rssBytesPerSocket: (rss1 - rss0) / result.opened, sockets: result.opened, rssMiB: rss1 / 1024 / 1024 },
      integrity: {
        sent: 0,
        expected: 0,
        delivered: 0,
        rejected: 0,
        errors: totals.errors,
        unexpectedCloses: totals.unexpectedCloses,
        failedConnects: result.failed + warm.failed,
        closeCodes: totals.closeCodes,
      },
    }
  } finally {
    await gens.closeAll()
    await server.stop()
  }
}
