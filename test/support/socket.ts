/** A WebSocket test client: buffers every frame so tests await conditions, never time. */
import { splitFrames, type ServerFrameType, type WireError } from '../../packages/client/src/index.ts'

/**
 * A server frame (spec §3) as a test reads it: the protocol's `type` and `error`, with `data` left
 * open so a test can look into a frame before it has checked which one it is.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Frame = { type: ServerFrameType; error: WireError | null; data: any }

export interface TestSocket {
  ws: WebSocket
  /** Every frame received so far, in order. */
  frames: Frame[]
  /** Every WebSocket message received so far, as sent: one frame each, or several (`?batch=`) one per line. */
  messages: string[]
  /** The next unread frame (of `type`, skipping others when given). */
  next(type?: ServerFrameType): Promise<Frame>
  send(frame: unknown): void
  sendRaw(data: string | Uint8Array): void
  closed: Promise<{ code: number; reason: string }>
  close(): void
  [Symbol.dispose](): void
}

export async function openSocket(url: string, protocols?: string[]): Promise<TestSocket> {
  const ws = protocols ? new WebSocket(url, protocols) : new WebSocket(url)
  const frames: Frame[] = []
  const messages: string[] = []
  let cursor = 0
  const waiters: (() => void)[] = []
  const closed = Promise.withResolvers<{ code: number; reason: string }>()
  ws.onmessage = (e) => {
    messages.push(String(e.data))
    for (const text of splitFrames(String(e.data))) frames.push(JSON.parse(text))
    for (const w of waiters.splice(0)) w()
  }
  ws.onclose = (e) => {
    closed.resolve({ code: e.code, reason: e.reason })
    for (const w of waiters.splice(0)) w()
  }
  const opened = Promise.withResolvers<void>()
  ws.onopen = () => opened.resolve()
  ws.onerror = () => opened.reject(new Error(`WebSocket to ${url} failed`))
  await opened.promise

  let isClosed = false
  void closed.promise.then(() => (isClosed = true))
  const socket: TestSocket = {
    ws,
    frames,
    messages,
    async next(type) {
      for (;;) {
        while (cursor < frames.length) {
          const frame = frames[cursor++]!
          if (type === undefined || frame.type === type) return frame
        }
        if (isClosed) throw new Error(`socket closed while waiting for ${type ?? 'a frame'}`)
        await new Promise<void>((r) => waiters.push(r))
      }
    },
    send: (frame) => ws.send(JSON.stringify(frame)),
    sendRaw: (data) => ws.send(data),
    closed: closed.promise,
    close: () => ws.close(),
    [Symbol.dispose]: () => ws.close(),
  }
  return socket
}
