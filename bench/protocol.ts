/** The messages bench/run.ts and its generator workers exchange over IPC, and the latency histogram they share. */

/** One socket a worker should open. A publisher posts; a tracked socket measures latency. */
export interface SocketSpec {
  room: string
  /** JWT offered as the subprotocol; null opens a read-only socket. */
  token: string | null
  publisher: boolean
  track: boolean
  /**
   * Which server the socket is on, when a run spans several (the cluster scenario). A tracked socket
   * also counts latency of messages from a publisher of another group in `remoteLatency`.
   */
  group?: number
  /**
   * `user`: the user stream (GET /api/v1/users/me/ws) instead of `room`'s socket. It carries no
   * messages and is left out of delivered/expected; its `unread` frames are counted instead.
   */
  stream?: 'user'
  /**
   * Resume (the reconnect scenario): connect with `?since=` this id; the socket counts as opened only
   * if its `welcome` holds exactly the messages `expectHistory` lists (their ids, comma-separated, in
   * order) and nothing was truncated: a missed, repeated or reordered message fails the connect.
   */
  since?: number
  expectHistory?: string
  /** Batched delivery: connect with `?batch=` this many ms, and read each WebSocket message as one frame per line. */
  batch?: number
}

export type RunMode =
  /** Each publisher keeps `window` messages in flight: it sends the next when its own copy comes back. */
  | { mode: 'window'; window: number; durationMs: number }
  /** Open loop: the worker's publishers together send `perSecond` messages a second, spread evenly. */
  | { mode: 'rate'; perSecond: number; durationMs: number }

export type Command =
  | { op: 'connect'; host: string; port: number; sockets: SocketSpec[]; concurrency: number; timeoutMs: number }
  | ({ op: 'run'; drainMs: number } & RunMode)
  | { op: 'check'; roomSent: Record<string, number> }
  | { op: 'reset' }
  | { op: 'close' }
  | { op: 'exit' }

export interface ConnectReply {
  op: 'connect'
  opened: number
  failed: number
  /** From the command's arrival to the last welcome, ms. */
  elapsedMs: number
  firstError: string | undefined
}

export interface RunReply {
  op: 'run'
  sent: number
  acked: number
  /** Messages answered with an `error` frame instead of being stored. */
  rejected: number
  /** Messages sent per room, so run.ts can work out what every socket should receive. */
  roomSent: Record<string, number>
}

export interface CheckReply {
  op: 'check'
  /** `message` frames received since the last reset, over all sockets. */
  delivered: number
  expected: number
  /** Sockets whose count differs from what their room was sent. */
  mismatched: number
  /** Wall-clock ms (epoch) of the last `message` frame. */
  lastAt: number
  errors: number
  /** Sockets that closed without being asked to, with the close codes seen. */
  unexpectedCloses: number
  closeCodes: number[]
  /** Latency histogram of tracked sockets (see LATENCY_BUCKETS). */
  latency: number[]
  /** The part of `latency` whose publisher was in another `group` (another server) than the receiver. */
  remoteLatency: number[]
  /** `unread` frames received on user streams since the last reset. */
  unread: number
  /** User streams that received no `unread` frame since the last reset: their counters are not being pushed. */
  silentStreams: number
  /** `message` frames whose id was not above the previous one on the same socket (repeated or reordered) since the last reset. */
  outOfOrder: number
}

export type Reply = ConnectReply | RunReply | CheckReply | { op: 'reset' } | { op: 'close' }

/** Latency buckets: bucket i holds [GROWTH^i, GROWTH^(i+1)) microseconds; 1 % resolution up to ~10 min. */
export const LATENCY_GROWTH = 1.01
export const LATENCY_BUCKETS = 2100
const LOG_GROWTH = Math.log(LATENCY_GROWTH)

export function latencyBucket(micros: number): number {
  if (micros < 1) return 0
  return Math.min(LATENCY_BUCKETS - 1, Math.floor(Math.log(micros) / LOG_GROWTH))
}

/** The `q`-quantile (0-1) of a histogram, in milliseconds (bucket midpoint); NaN when empty. */
export function latencyQuantile(hist: readonly number[], q: number): number {
  let total = 0
  for (const n of hist) total += n
  if (total === 0) return NaN
  const rank = Math.ceil(q * total)
  let seen = 0
  for (let i = 0; i < hist.length; i++) {
    seen += hist[i]!
    if (seen >= rank) return Math.pow(LATENCY_GROWTH, i + 0.5) / 1000
  }
  return NaN
}

export function mergeHistograms(hists: readonly (readonly number[])[]): number[] {
  const out = new Array<number>(LATENCY_BUCKETS).fill(0)
  for (const h of hists) for (let i = 0; i < h.length; i++) out[i]! += h[i]!
  return out
}
