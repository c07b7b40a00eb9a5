/**
 * Private-room scenario (spec §6, issue 13): does being private, with members and unread counters,
 * slow delivery? One room of `members` logged-in users posting at a fixed rate, as the fixed-rate
 * scenario does, in three setups started fresh each time:
 *
 * - `private`: a room registered private whose owner added every other user as a member;
 * - `public`:  the same room registered public, every other user joined with PUT /users/me/rooms;
 * - `baseline`: the bare baseline (bench/baseline.ts) with the same logged-in room sockets.
 *
 * In both product setups every member also has a user stream open, so every message moves every
 * member's counters and the server pushes `unread` frames to all of them (at most one per room per
 * 100 ms each). The baseline has no user streams nor counters: private ÷ baseline is the whole price
 * of §6 plus the product's usual work, private ÷ public the part that visibility and membership
 * checks add (expected: within noise of 1.0).
 */
import type { Generators } from './generators.ts'
import type { SocketSpec } from './protocol.ts'
import { deliveryMetrics, isLossless, latencyMetrics, measure, open, warmUp, type Outcome } from './scenarios.ts'
import { CHEAP_ARGON2_ENV, clientOf, pool, startServer, step, type Account, type ServerUnderTest } from './servers.ts'
import { median } from './report.ts'

export interface PrivateRoomSizes {
  members: number
  perSecond: number
  durationMs: number
  warmupMs: number
}

/** The fixed-rate scenario's rate and duration, so its numbers can be read beside these. */
export const PRIVATE_ROOM_FULL: PrivateRoomSizes = { members: 1000, perSecond: 50, durationMs: 10_000, warmupMs: 1500 }
/** 100 members: 200 sockets and 100 sign-ups, a few seconds a setup. */
export const PRIVATE_ROOM_SMOKE: PrivateRoomSizes = { members: 100, perSecond: 50, durationMs: 1500, warmupMs: 300 }

export type Variant = 'private' | 'public' | 'baseline'
export const VARIANTS: Variant[] = ['private', 'public', 'baseline']

/** The same name in every setup, so that every frame has the same size. */
const ROOM = 'members'

export interface PrivateRoomRecord {
  variant: Variant
  round: number
  outcome: Outcome | undefined
  error: string | undefined
}

/**
 * Registers the room with the first account as its owner (its first member), then puts everyone else
 * in it the way the visibility allows: the owner adds them to a private room, they join a public one.
 * Both rooms are registered so that visibility is the only difference between the two setups.
 */
async function enrol(server: ServerUnderTest, accounts: Account[], visibility: 'private' | 'public'): Promise<void> {
  const owner = clientOf(server.url, accounts[0]!)
  await step(`registering ${ROOM}`, owner.createRoom(ROOM, { visibility }))
  await pool(accounts.length - 1, 8, (i) => {
    const a = accounts[i + 1]!
    return visibility === 'private'
      ? step(`adding ${a.username} to ${ROOM}`, owner.addMember(ROOM, a.username))
      : step(`${a.username} joining ${ROOM}`, clientOf(server.url, a).joinRoom(ROOM))
  })
}

/**
 * The counters must have followed every message: a member who never posted nor read has every message
 * unread, and with one room on the server its newest id is the number of messages posted.
 */
async function checkCounters(server: ServerUnderTest, reader: Account): Promise<void> {
  const rooms = await step(`${reader.username}'s rooms`, clientOf(server.url, reader).myRooms())
  const room = rooms.find((r) => r.name === ROOM)
  if (!room) throw new Error(`${reader.username} is not in ${ROOM}: ${JSON.stringify(rooms).slice(0, 200)}`)
  if (room.unread !== room.lastMessageId) throw new Error(`${reader.username} has ${room.unread} unread in ${ROOM}, expected ${room.lastMessageId}`)
}

/** One setup: a fresh server, `members` accounts in the room, warm-up, then the measured fixed-rate run. */
export async function privateRoom(variant: Variant, gens: Generators, size: PrivateRoomSizes): Promise<Outcome> {
  const server = await startServer(variant === 'baseline' ? 'baseline' : 'product', { env: CHEAP_ARGON2_ENV })
  try {
    const accounts = await server.accounts(size.members)
    if (variant !== 'baseline') await enrol(server, accounts, variant)
    // One publisher per generator, as in the fixed-rate scenario: latency is only measured within one
    // process's clock. Socket i goes to generator i % size, so accounts 0..size-1 publish, one each.
    const sockets: SocketSpec[] = accounts.map((a, i) => ({ room: ROOM, token: a.token, publisher: i < gens.size, track: true }))
    if (variant !== 'baseline') for (const a of accounts) sockets.push({ room: ROOM, token: a.token, publisher: false, track: false, stream: 'user' })
    const { failed } = await open(server, gens, sockets, 256)
    const perWorker = size.perSecond / gens.size
    await warmUp(server, gens, () => ({ mode: 'rate', perSecond: perWorker, durationMs: size.warmupMs }))
    const m = await measure(server, gens, () => ({ mode: 'rate', perSecond: perWorker, durationMs: size.durationMs }), failed)
    // The last account never posts (there are more members than generators).
    if (variant !== 'baseline' && isLossless(m.integrity)) await checkCounters(server, accounts.at(-1)!)
    return {
      metrics: {
        ...latencyMetrics(m.totals.latency),
        ...deliveryMetrics(m),
        deliveriesPerSec: m.totals.delivered / m.seconds,
        // The baseline has no user streams: no figure rather than a zero.
        ...(variant === 'baseline' ? {} : { unreadFramesPerSec: m.totals.unread / m.seconds }),
        members: size.members,
      },
      integrity: m.integrity,
    }
  } finally {
    await gens.closeAll()
    await server.stop()
  }
}

/**
 * Every round runs the three setups back to back, private and public always next to each other
 * (private, public, baseline; then baseline, public, private; …), so drift on a shared machine lands
 * on the pair that matters most.
 */
export async function runPrivateRoom(
  gens: Generators,
  size: PrivateRoomSizes,
  rounds: number,
  onRecord: (r: PrivateRoomRecord, seconds: number) => void,
): Promise<PrivateRoomRecord[]> {
  const records: PrivateRoomRecord[] = []
  for (let round = 0; round < rounds; round++) {
    const order = round % 2 === 0 ? VARIANTS : [...VARIANTS].reverse()
    for (const variant of order) {
      const started = performance.now()
      let record: PrivateRoomRecord
      try {
        record = { variant, round, outcome: await privateRoom(variant, gens, size), error: undefined }
      } catch (err) {
        record = { variant, round, outcome: undefined, error: err instanceof Error ? (err.stack ?? err.message) : String(err) }
        await gens.closeAll().catch(() => {})
      }
      records.push(record)
      onRecord(record, (performance.now() - started) / 1000)
    }
  }
  return records
}

export interface PrivateRoomRow {
  figure: string
  private: number
  public: number
  baseline: number
  /** Medians over rounds of the per-round ratios, with those ratios for the spread. */
  privateToPublic: number
  privateToPublicRatios: number[]
  privateToBaseline: number
  publicToBaseline: number
}

interface RowSpec {
  figure: (s: PrivateRoomSizes) => string
  metric: string
}

const ROW_SPECS: RowSpec[] = [
  { figure: (s) => `p99 ms (${s.members} members, ${s.perSecond} msg/s)`, metric: 'p99Ms' },
  { figure: () => 'p50 ms', metric: 'p50Ms' },
  { figure: () => 'server CPU µs/delivered message', metric: 'cpuUsPerDelivery' },
  // At a fixed rate these two only show that the load was the same (every message to every member).
  { figure: () => 'delivered messages/s', metric: 'deliveriesPerSec' },
  { figure: () => '`unread` frames/s pushed on user streams', metric: 'unreadFramesPerSec' },
]

export function privateRoomRows(records: PrivateRoomRecord[], size: PrivateRoomSizes, rounds: number): PrivateRoomRow[] {
  const value = (variant: Variant, metric: string, round?: number) =>
    records.filter((r) => r.variant === variant && (round === undefined || r.round === round)).map((r) => r.outcome?.metrics[metric] ?? NaN)
  const ratios = (a: Variant, b: Variant, metric: string) => {
    const out: number[] = []
    for (let round = 0; round < rounds; round++) out.push(value(a, metric, round)[0]! / value(b, metric, round)[0]!)
    return out.filter(Number.isFinite)
  }
  return ROW_SPECS.map((spec) => {
    const pp = ratios('private', 'public', spec.metric)
    return {
      figure: spec.figure(size),
      private: median(value('private', spec.metric)),
      public: median(value('public', spec.metric)),
      baseline: median(value('baseline', spec.metric)),
      privateToPublic: median(pp),
      privateToPublicRatios: pp,
      privateToBaseline: median(ratios('private', 'baseline', spec.metric)),
      publicToBaseline: median(ratios('public', 'baseline', spec.metric)),
    }
  })
}
