/** Room helpers for WebSocket and room REST tests: URLs, posting with acknowledgement, whole-history reads. */
import { expect } from 'bun:test'
import { PATHS, type ClientFrame, type ErrorType, type Message, type TextMessage } from '../../packages/client/src/index.ts'
import { TestClient } from './client.ts'
import type { TestServer } from './server.ts'
import type { TestSocket } from './socket.ts'

/** ws://…/api/v1/rooms/{room}/messages/ws, the room percent-encoded, with an optional query. */
export function roomWs(server: TestServer, room: string, query = ''): string {
  return `${server.wsUrl}${PATHS.roomSocket(room)}${query}`
}

/** http://…/api/v1/rooms/{room}/messages, the room percent-encoded, with an optional query. */
export function roomMessages(server: TestServer, room: string, query = ''): string {
  return `${server.url}${PATHS.roomMessages(room)}${query}`
}

let nonces = 0

/** Sends a message and resolves with its copy coming back to the sender (matched by nonce): the acknowledgement. */
export async function post(socket: TestSocket, text: string, nonce = `n${++nonces}`): Promise<TextMessage> {
  socket.send({ type: 'message', text, nonce } satisfies ClientFrame)
  for (;;) {
    const frame = await socket.next()
    if (frame.type === 'error') throw new Error(`posting failed: ${JSON.stringify(frame.error)}`)
    if (frame.type === 'message' && frame.data.nonce === nonce) return frame.data
  }
}

/** Sends `count` messages at once ("<prefix> 1" …) and resolves with their acknowledgements, in id order. */
export async function postMany(socket: TestSocket, count: number, prefix = 'message'): Promise<TextMessage[]> {
  const batch = `b${++nonces}-`
  for (let i = 1; i <= count; i++) socket.send({ type: 'message', text: `${prefix} ${i}`, nonce: `${batch}${i}` } satisfies ClientFrame)
  const acked: TextMessage[] = []
  while (acked.length < count) {
    const frame = await socket.next()
    if (frame.type === 'error') throw new Error(`posting failed: ${JSON.stringify(frame.error)}`)
    if (frame.type === 'message' && String(frame.data.nonce).startsWith(batch)) acked.push(frame.data)
  }
  return acked
}

/** Every stored message of a room, oldest first, read anonymously through the REST pages (`before` cursor) with the client SDK. */
export async function storedMessages(server: TestServer, room: string): Promise<Message[]> {
  const client = new TestClient(server.url)
  const all: Message[] = []
  let before: number | undefined
  for (;;) {
    const page = await client.must(200, 'history read failed', (c) => c.history(room, { limit: 200, before }))
    all.unshift(...page.messages)
    if (!page.hasMore) return all
    before = page.messages[0]!.id
  }
}

/** The frame an `error` of `type` looks like on the wire (spec §1, §3). */
export function errorFrame(type: ErrorType) {
  return { type: 'error' as const, error: { type, message: expect.any(String) }, data: null }
}

/** A message without its nonce: others' copies may or may not carry the sender's nonce (spec §3). */
export function sansNonce(message: Message): Omit<Message, 'nonce'> {
  const { nonce: _, ...rest } = message
  return rest
}
