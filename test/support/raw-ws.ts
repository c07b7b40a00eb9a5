/**
 * A WebSocket client on a bare TCP socket (node:net): the RFC 6455 handshake and framing done by
 * hand, so a test can see the upgrade answer as bytes (status, headers, body of a refused upgrade)
 * and can stop reading, the way Bun's own backpressure tests build a slow reader.
 */
import { createHash, randomBytes } from 'node:crypto'
import { connect, type Socket } from 'node:net'

const WS_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11'

export const OPCODE = { TEXT: 1, BINARY: 2, CLOSE: 8, PING: 9, PONG: 10 } as const

export interface RawFrame {
  opcode: number
  payload: Buffer
}

export interface RawResponse {
  status: number
  /** Header names lower-cased. */
  headers: Record<string, string>
  /** The body parsed as JSON (or the text when it is not JSON); null for a 101. */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  body: any
}

export interface RawSocket {
  response: RawResponse
  /** Frames parsed so far, in order (only while reading). */
  frames: RawFrame[]
  /** The next unread frame; rejects if the connection ends first. */
  next(): Promise<RawFrame>
  /** Stops reading from the kernel: the server's send buffer fills up. */
  pause(): void
  resume(): void
  /** Sends one masked text frame, as a client must. */
  sendText(text: string): void
  /** Sends one masked frame with this opcode (FIN set). */
  sendFrame(opcode: number, payload: Buffer): void
  /** Resolves when the server has closed the TCP connection, with every frame it sent. */
  ended: Promise<RawFrame[]>
  destroy(): void
}

export interface RawUpgradeOptions {
  protocols?: string[]
  headers?: Record<string, string>
}

/** Sends a WebSocket upgrade for `url` (ws://…) and waits for the answer's head (and body when it is not 101). */
export async function rawUpgrade(url: string, opts: RawUpgradeOptions = {}): Promise<RawSocket> {
  const target = new URL(url)
  const key = randomBytes(16).toString('base64')
  const lines = [
    `GET ${target.pathname}${target.search} HTTP/1.1`,
    `Host: ${target.host}`,
    'Upgrade: websocket',
    'Connection: Upgrade',
    `Sec-WebSocket-Key: ${key}`,
    'Sec-WebSocket-Version: 13',
  ]
  if (opts.protocols) lines.push(`Sec-WebSocket-Protocol: ${opts.protocols.join(', ')}`)
  for (const [name, value] of Object.entries(opts.headers ?? {})) lines.push(`${name}: ${value}`)

  const socket: Socket = connect({ host: target.hostname, port: Number(target.port) })
  const frames: RawFrame[] = []
  const head = Promise.withResolvers<RawResponse>()
  const ended = Promise.withResolvers<RawFrame[]>()
  let buffer = Buffer.alloc(0)
  let response: RawResponse | undefined
  let cursor = 0
  let isEnded = false
  const waiters: (() => void)[] = []
  const wake = () => {
    for (const w of waiters.splice(0)) w()
  }

  const parseFrames = () => {
    for (;;) {
      if (buffer.length < 2) return
      const opcode = buffer[0]! & 0x0f
      const masked = (buffer[1]! & 0x80) !== 0
      let length = buffer[1]! & 0x7f
      let offset = 2
      if (length === 126) {
        if (buffer.length < 4) return
        length = buffer.readUInt16BE(2)
        offset = 4
      } else if (length === 127) {
        if (buffer.length < 10) return
        length = Number(buffer.readBigUInt64BE(2))
        offset = 10
      }
      if (masked) throw new Error('a server must not mask its frames (RFC 6455 §5.1)')
      if (buffer.length < offset + length) return
      frames.push({ opcode, payload: Buffer.from(buffer.subarray(offset, offset + length)) })
      buffer = buffer.subarray(offset + length)
      wake()
    }
  }

  socket.on('data', (chunk: Buffer) => {
    buffer = Buffer.concat([buffer, chunk])
    if (!response) {
      const end = buffer.indexOf('\r\n\r\n')
      if (end === -1) return
      const [statusLine, ...headerLines] = buffer.subarray(0, end).toString('latin1').split('\r\n')
      const status = Number(statusLine!.split(' ')[1])
      const headers: Record<string, string> = {}
      for (const line of headerLines) {
        const colon = line.indexOf(':')
        headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim()
      }
      if (status !== 101) {
        const length = Number(headers['content-length'] ?? 0)
        if (buffer.length < end + 4 + length) return
        const text = buffer.subarray(end + 4, end + 4 + length).toString('utf8')
        let body: unknown = text
        try {
          body = JSON.parse(text)
        } catch {
          // not JSON: the assertion shows the text
        }
        response = { status, headers, body }
        head.resolve(response)
        socket.destroy()
        return
      }
      const accept = createHash('sha1')
        .update(key + WS_GUID)
        .digest('base64')
      if (headers['sec-websocket-accept'] !== accept) head.reject(new Error(`bad Sec-WebSocket-Accept: ${headers['sec-websocket-accept']}`))
      response = { status, headers, body: null }
      buffer = buffer.subarray(end + 4)
      head.resolve(response)
    }
    parseFrames()
  })
  socket.on('error', (err) => head.reject(err))
  socket.on('close', () => {
    head.reject(new Error('connection closed before the upgrade answer'))
    isEnded = true
    ended.resolve(frames)
    wake()
  })
  socket.write(lines.join('\r\n') + '\r\n\r\n')

  const sendFrame = (opcode: number, payload: Buffer) => {
    const first = 0x80 | opcode
    const header =
      payload.length < 126
        ? Buffer.from([first, 0x80 | payload.length])
        : payload.length < 65536
          ? Buffer.from([first, 0x80 | 126, payload.length >> 8, payload.length & 0xff])
          : Buffer.concat([Buffer.from([first, 0x80 | 127]), bigEndian64(payload.length)])
    const mask = randomBytes(4)
    const body = Buffer.alloc(payload.length)
    for (let i = 0; i < payload.length; i++) body[i] = payload[i]! ^ mask[i % 4]!
    socket.write(Buffer.concat([header, mask, body]))
  }

  return {
    response: await head.promise,
    frames,
    async next() {
      for (;;) {
        if (cursor < frames.length) return frames[cursor++]!
        if (isEnded) throw new Error('connection ended while waiting for a frame')
        await new Promise<void>((r) => waiters.push(r))
      }
    },
    pause: () => socket.pause(),
    resume: () => socket.resume(),
    sendText: (text) => sendFrame(OPCODE.TEXT, Buffer.from(text, 'utf8')),
    sendFrame,
    ended: ended.promise,
    destroy: () => socket.destroy(),
  }
}

function bigEndian64(n: number): Buffer {
  const b = Buffer.alloc(8)
  b.writeBigUInt64BE(BigInt(n))
  return b
}

/** A close frame's payload: the status code and the UTF-8 reason (RFC 6455 §5.5.1). */
export function readClose(frame: RawFrame): { code: number; reason: string } {
  return { code: frame.payload.readUInt16BE(0), reason: frame.payload.subarray(2).toString('utf8') }
}

/** A text frame's JSON. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function readJson(frame: RawFrame): any {
  return JSON.parse(frame.payload.toString('utf8'))
}
