/**
 * Load generator process: raw WebSocket clients on Bun.connect TCP sockets, driven by bench/run.ts
 * over IPC. Frames are parsed in place from each TCP chunk (no per-frame event, no JSON.parse), so
 * one process reads far more frames a second than a server can send them.
 *
 * Message text is `worker:publisher:seq:sentMicros`; latency is only taken for messages sent by this
 * same process, so send and receive times come from one clock.
 */
import type { Socket, SocketHandler } from 'bun'
import { BATCH } from '../src/protocol-batch.ts'
import { PATHS, type ServerFrameType } from '../src/protocol.ts'
import { ROOM_PATHS, type UserStreamFrame } from '../src/protocol-rooms.ts'
import { latencyBucket, LATENCY_BUCKETS, type Command, type Reply, type RunMode, type SocketSpec } from './protocol.ts'

const WORKER = Number(process.env.BENCH_WORKER ?? 0)

const enum State {
  Handshake,
  Open,
  Closed,
}

interface Conn {
  spec: SocketSpec
  /** Publisher number inside this worker, or -1. */
  pub: number
  socket: Socket<Conn> | undefined
  state: State
  /** Bytes of an incomplete frame (or handshake) waiting for the next chunk. */
  rest: Buffer | undefined
  /** Bytes the kernel did not take yet. */
  unsent: Buffer | undefined
  received: number
  /** The id of the last `message` frame received: each must be above the one before. */
  lastId: number
  /** `unread` frames (user streams only). */
  unread: number
  inFlight: number
  seq: number
  closing: boolean
  settle: ((ok: boolean, error?: string) => void) | undefined
}

const conns: Conn[] = []
const publishers: Conn[] = []
const latency = new Array<number>(LATENCY_BUCKETS).fill(0)
const remoteLatency = new Array<number>(LATENCY_BUCKETS).fill(0)
let errors = 0
/** `message` frames whose id was not above the previous one on their socket: repeated or reordered. */
let outOfOrder = 0
let unexpectedCloses = 0
const closeCodes: number[] = []
let lastAt = 0

const TEXT_MARK = Buffer.from('"text":"')
/** The first byte of a server frame's type (the protocol's names), which is all a frame is told apart by. */
const firstByte = (type: ServerFrameType | UserStreamFrame['type']) => type.charCodeAt(0)
const CHAR_M = firstByte('message') // {"type":"m… — a `message` frame
const CHAR_E = firstByte('error') // {"type":"e… — an `error` frame (the bench never edits: no `edited`)
const CHAR_W = firstByte('welcome') // {"type":"w… — the `welcome`
const CHAR_U = firstByte('unread') // {"type":"u… — an `unread` frame (user stream)
/** Where a `message` frame's id starts: the envelope, then the message, whose first field is its id (product and baseline alike). */
const ID_AT = '{"type":"message","error":null,"data":{"id":'.length
const NEWLINE = BATCH.SEPARATOR.charCodeAt(0)

/** Wall clock with sub-millisecond resolution, for times compared with run.ts (reading timeOrigin is slow: once). */
const ORIGIN = performance.timeOrigin
const wallNow = () => ORIGIN + performance.now()
/** Set by a `message` frame; the chunk's parser stamps `lastAt` once per chunk rather than per frame. */
let sawMessage = false

function handshake(host: string, port: number, spec: SocketSpec): string {
  const protocol = spec.token === null ? '' : `Sec-WebSocket-Protocol: ${spec.token}\r\n`
  const path = (spec.stream === 'user' ? ROOM_PATHS.userStream : PATHS.roomSocket(spec.room)) + (spec.since === undefined ? '' : `?since=${spec.since}`)
  return (
    `GET ${path}${batchQuery(spec)} HTTP/1.1\r\nHost: ${host}:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
    `Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n${protocol}\r\n`
  )
}

/** A masked client frame; the mask key is zero, which RFC 6455 allows and makes masking a copy. */
function encodeClientFrame(opcode: number, payload: Buffer): Buffer {
  const n = payload.length
  const head = n < 126 ? 6 : n < 65536 ? 8 : 14
  const out = Buffer.allocUnsafe(head + n)
  out[0] = 0x80 | opcode
  if (n < 126) out[1] = 0x80 | n
  else if (n < 65536) {
    out[1] = 0x80 | 126
    out.writeUInt16BE(n, 2)
  } else {
    out[1] = 0x80 | 127
    out.writeUInt32BE(0, 2)
    out.writeUInt32BE(n, 6)
  }
  out.fill(0, head - 4, head)
  payload.copy(out, head)
  return out
}

function write(c: Conn, bytes: Buffer): void {
  if (!c.socket || c.state === State.Closed) return
  if (c.unsent) {
    c.unsent = Buffer.concat([c.unsent, bytes])
    return
  }
  const n = c.socket.write(bytes)
  if (n < bytes.length) c.unsent = Buffer.from(bytes.subarray(Math.max(0, n)))
}

function flush(c: Conn): void {
  const pending = c.unsent
  if (!pending) return
  c.unsent = undefined
  write(c, pending)
}

// --- publishing ---

let running: { mode: RunMode; deadline: number } | undefined
let sent = 0
let acked = 0
let rejected = 0
let roomSent: Record<string, number> = {}

function post(c: Conn): void {
  const text = `${WORKER}:${c.pub}:${c.seq++}:${Math.round(performance.now() * 1000)}`
  write(c, encodeClientFrame(1, Buffer.from(`{"type":"message","text":"${text}"}`)))
  c.inFlight++
  sent++
  roomSent[c.spec.room] = (roomSent[c.spec.room] ?? 0) + 1
}

/** Reads `a:b:c:d` (decimal integers) starting at `i`; returns [a, b, d] through `parsed`. */
const parsed = [0, 0, 0]
function parseText(buf: Buffer, i: number): boolean {
  let field = 0
  let value = 0
  for (; i < buf.length; i++) {
    const ch = buf[i]!
    if (ch >= 0x30 && ch <= 0x39) value = value * 10 + (ch - 0x30)
    else if (ch === 0x3a) {
      if (field === 0) parsed[0] = value
      else if (field === 1) parsed[1] = value
      field++
      value = 0
    } else break
  }
  if (field !== 3) return false
  parsed[2] = value
  return true
}

/** `?batch=` (or `&batch=` after `?since=`) for a batched socket, else nothing. */
function batchQuery(spec: SocketSpec): string {
  return spec.batch ? `${spec.since === undefined ? '?' : '&'}${BATCH.PARAM}=${spec.batch}` : ''
}

function onMessageFrame(c: Conn, buf: Buffer, p: number): void {
  c.received++
  // A room's messages come in id order (a user stream's `mention` frames, also "m…", are not room messages).
  if (c.spec.stream === undefined) {
    let id = 0
    for (let i = p + ID_AT, ch = buf[i]!; ch >= 0x30 && ch <= 0x39; ch = buf[++i]!) id = id * 10 + (ch - 0x30)
    if (id <= c.lastId) outOfOrder++
    c.lastId = id
  }
  if (!c.spec.track && c.pub < 0) return
  const at = buf.indexOf(TEXT_MARK, p)
  if (at < 0 || !parseText(buf, at + TEXT_MARK.length) || parsed[0] !== WORKER) return
  const micros = performance.now() * 1000 - parsed[2]!
  if (c.spec.track) {
    const bucket = latencyBucket(micros)
    latency[bucket]!++
    // Sent through another server (cluster scenario); without groups both sides are undefined.
    if (publishers[parsed[1]!]?.spec.group !== c.spec.group) remoteLatency[bucket]!++
  }
  if (c.pub >= 0 && parsed[1] === c.pub) {
    c.inFlight--
    acked++
    if (running && running.mode.mode === 'window' && performance.now() < running.deadline) post(c)
  }
}

/** A resumed socket's welcome (`spec.since`) must hold exactly the messages expected, in order, none truncated. */
function resumeProblem(c: Conn, buf: Buffer, p: number, len: number): string | undefined {
  if (c.spec.since === undefined) return undefined
  const { data } = JSON.parse(buf.toString('utf8', p, p + len)) as { data: { history: { id: number; room: string }[]; truncated: boolean } }
  const ids = data.history.map((m) => m.id).join(',')
  if (ids === c.spec.expectHistory && !data.truncated && data.history.every((m) => m.room === c.spec.room)) return undefined
  return `welcome of ${c.spec.room}?since=${c.spec.since} held [${ids}]${data.truncated ? ' (truncated)' : ''}, expected [${c.spec.expectHistory}]`
}

/** A batched socket's text message: one frame per line (docs/PROTOCOL.md "Batched delivery"), each read as a message of its own. */
function onLines(c: Conn, buf: Buffer, p: number, len: number): void {
  const end = p + len
  while (p < end) {
    let nl = buf.indexOf(NEWLINE, p)
    if (nl === -1 || nl > end) nl = end
    onFrame(c, 1, buf, p, nl - p, true)
    p = nl + 1
  }
}

function onFrame(c: Conn, opcode: number, buf: Buffer, p: number, len: number, line = false): void {
  if (opcode === 1 && c.spec.batch && !line) return onLines(c, buf, p, len)
  if (opcode === 1) {
    const kind = buf[p + 9]
    if (kind === CHAR_M) {
      onMessageFrame(c, buf, p)
      sawMessage = true
    } else if (kind === CHAR_U) {
      c.unread++
    } else if (kind === CHAR_W) {
      const wrong = resumeProblem(c, buf, p, len)
      if (wrong) return fail(c, wrong)
      if (c.state === State.Open && c.settle) {
        const settle = c.settle
        c.settle = undefined
        settle(true)
      }
    } else if (kind === CHAR_E) {
      errors++
      if (c.pub >= 0 && c.inFlight > 0) {
        // An error answers one of our sends: that message was not stored.
        c.inFlight--
        rejected++
      }
      if (errors <= 3) console.error(`bench worker ${WORKER}: error frame ${buf.toString('utf8', p, p + Math.min(len, 200))}`)
    }
  } else if (opcode === 8) {
    if (!c.closing) {
      unexpectedCloses++
      const code = len >= 2 ? buf.readUInt16BE(p) : 1005
      if (closeCodes.length < 20) closeCodes.push(code)
    }
    c.closing = true
    c.socket?.end()
  } else if (opcode === 9) {
    write(c, encodeClientFrame(10, Buffer.from(buf.subarray(p, p + len))))
  }
}

function onData(c: Conn, chunk: Buffer): void {
  let buf = chunk
  if (c.rest) {
    buf = Buffer.concat([c.rest, chunk])
    c.rest = undefined
  }
  let off = 0
  if (c.state === State.Handshake) {
    const end = buf.indexOf('\r\n\r\n')
    if (end < 0) {
      c.rest = Buffer.from(buf)
      return
    }
    const status = buf.toString('latin1', 0, 12)
    if (status !== 'HTTP/1.1 101') {
      fail(c, `upgrade answered ${JSON.stringify(buf.toString('utf8', 0, Math.min(buf.length, 300)))}`)
      return
    }
    c.state = State.Open
    off = end + 4
  }
  const n = buf.length
  while (n - off >= 2) {
    const b1 = buf[off + 1]!
    let len = b1 & 127
    let head = 2
    if (len === 126) {
      if (n - off < 4) break
      len = buf.readUInt16BE(off + 2)
      head = 4
    } else if (len === 127) {
      if (n - off < 10) break
      len = buf.readUInt32BE(off + 6)
      head = 10
    }
    if (n - off < head + len) break
    onFrame(c, buf[off]! & 15, buf, off + head, len)
    off += head + len
  }
  if (off < n) c.rest = Buffer.from(buf.subarray(off))
  if (sawMessage) {
    sawMessage = false
    lastAt = wallNow()
  }
}

function fail(c: Conn, error: string): void {
  if (c.state === State.Closed) return
  c.state = State.Closed
  c.socket?.terminate()
  const settle = c.settle
  c.settle = undefined
  if (settle) settle(false, error)
  else if (!c.closing) unexpectedCloses++
}

const handlers: SocketHandler<Conn> = {
  open(socket) {
    const c = socket.data
    c.socket = socket
    // Publishers send small frames back to back: Nagle plus delayed ACKs would hold them for 40 ms.
    socket.setNoDelay(true)
  },
  data(socket, chunk) {
    onData(socket.data, chunk)
  },
  drain(socket) {
    flush(socket.data)
  },
  close(socket) {
    fail(socket.data, 'closed before its welcome')
  },
  error(socket, err) {
    fail(socket.data, err.message)
  },
  connectError(socket, err) {
    fail(socket.data, err.message)
  },
}

async function connectAll(cmd: Extract<Command, { op: 'connect' }>): Promise<Reply> {
  const started = performance.now()
  const total = cmd.sockets.length
  let next = 0
  let opened = 0
  let failed = 0
  let firstError: string | undefined
  const done = Promise.withResolvers<void>()
  if (total === 0) done.resolve()
  const startOne = (): void => {
    if (next >= total) return
    const spec = cmd.sockets[next++]!
    const c: Conn = {
      spec,
      pub: -1,
      socket: undefined,
      state: State.Handshake,
      rest: undefined,
      unsent: undefined,
      received: 0,
      lastId: 0,
      unread: 0,
      inFlight: 0,
      seq: 0,
      closing: false,
      settle: undefined,
    }
    c.settle = (ok, error) => {
      if (ok) {
        opened++
        conns.push(c)
        if (spec.publisher) c.pub = publishers.push(c) - 1
      } else {
        failed++
        firstError ??= error
      }
      if (opened + failed === total) done.resolve()
      else startOne()
    }
    Bun.connect<Conn>({ hostname: cmd.host, port: cmd.port, socket: handlers, data: c }).then(
      (socket) => {
        c.socket = socket
        write(c, Buffer.from(handshake(cmd.host, cmd.port, spec)))
      },
      (err: unknown) => fail(c, err instanceof Error ? err.message : String(err)),
    )
  }
  for (let i = 0; i < Math.min(cmd.concurrency, total); i++) startOne()
  const timer = setTimeout(() => done.resolve(), cmd.timeoutMs)
  await done.promise
  clearTimeout(timer)
  return { op: 'connect', opened, failed: total - opened, elapsedMs: performance.now() - started, firstError }
}

async function run(cmd: Extract<Command, { op: 'run' }>): Promise<Reply> {
  sent = 0
  acked = 0
  rejected = 0
  roomSent = {}
  const start = performance.now()
  const deadline = start + cmd.durationMs
  running = { mode: cmd, deadline }
  if (cmd.mode === 'window') {
    for (let k = 0; k < cmd.window; k++) for (const c of publishers) post(c)
    await Bun.sleep(cmd.durationMs)
  } else if (publishers.length > 0) {
    // Open loop: what should have been sent by now is sent now, round-robin over publishers.
    let turn = 0
    let due = 0
    while (performance.now() < deadline) {
      const target = Math.floor(((performance.now() - start) / 1000) * cmd.perSecond)
      for (; due < target; due++) post(publishers[turn++ % publishers.length]!)
      await Bun.sleep(1)
    }
  }
  running = undefined
  const drainUntil = performance.now() + cmd.drainMs
  while (acked + rejected < sent && performance.now() < drainUntil) await Bun.sleep(5)
  return { op: 'run', sent, acked, rejected, roomSent }
}

function check(expectedPerRoom: Record<string, number>): Reply {
  let delivered = 0
  let expected = 0
  let mismatched = 0
  let unread = 0
  let silentStreams = 0
  for (const c of conns) {
    if (c.state === State.Closed) continue
    if (c.spec.stream === 'user') {
      unread += c.unread
      if (c.unread === 0) silentStreams++
      continue
    }
    const want = expectedPerRoom[c.spec.room] ?? 0
    delivered += c.received
    expected += want
    if (c.received !== want) mismatched++
  }
  return {
    op: 'check',
    delivered,
    expected,
    mismatched,
    lastAt,
    errors,
    unexpectedCloses,
    closeCodes,
    latency,
    remoteLatency,
    unread,
    silentStreams,
    outOfOrder,
  }
}

function reset(): Reply {
  for (const c of conns) {
    c.received = 0
    c.unread = 0
  }
  latency.fill(0)
  remoteLatency.fill(0)
  errors = 0
  outOfOrder = 0
  lastAt = 0
  return { op: 'reset' }
}

async function closeAll(): Promise<Reply> {
  for (const c of conns) {
    c.closing = true
    c.socket?.terminate()
  }
  const until = performance.now() + 10_000
  while (conns.some((c) => c.state !== State.Closed) && performance.now() < until) await Bun.sleep(10)
  conns.length = 0
  publishers.length = 0
  unexpectedCloses = 0
  closeCodes.length = 0
  reset()
  return { op: 'close' }
}

async function handle(cmd: Command): Promise<Reply | undefined> {
  switch (cmd.op) {
    case 'connect':
      return connectAll(cmd)
    case 'run':
      return run(cmd)
    case 'check':
      return check(cmd.roomSent)
    case 'reset':
      return reset()
    case 'close':
      return closeAll()
    case 'exit':
      process.exit(0)
  }
}

process.on('message', (cmd: Command) => {
  handle(cmd).then(
    (reply) => reply && process.send!(reply),
    (err: unknown) => {
      console.error(`bench worker ${WORKER}:`, err)
      process.exit(1)
    },
  )
})
// The parent going away ends the worker too.
process.on('disconnect', () => process.exit(0))
