/**
 * Helpers for the tests of spec §7 replies and reactions: replying with an acknowledgement, reacting
 * and reading the answer (the sender's own `reaction` event or an `error`), history as a reader sees
 * it (REST page with or without a token, a fresh socket's welcome).
 */
import type { ClientFrame, Message, ReactionEvent, TextMessage } from '../../packages/client/src/index.ts'
import { TestClient } from './client.ts'
import type { Account } from './http.ts'
import { roomWs } from './rooms.ts'
import type { TestServer } from './server.ts'
import { openSocket, type Frame, type TestSocket } from './socket.ts'
import { frameWhere, withTimeout } from './wait.ts'

export const WAIT_MS = 5_000

let nonces = 0

/** Posts `text` as a reply to `replyTo` and resolves with the sender's copy; throws when refused. */
export async function reply(socket: TestSocket, text: string, replyTo: number): Promise<TextMessage> {
  const before = socket.frames.length
  const nonce = `r${++nonces}`
  socket.send({ type: 'message', text, nonce, replyTo } satisfies ClientFrame)
  const answer = await frameWhere(
    socket,
    (f) => socket.frames.indexOf(f) >= before && (f.type === 'error' || (f.type === 'message' && f.data.nonce === nonce)),
    WAIT_MS,
    `the reply ${nonce}`,
  )
  if (answer.type === 'error') throw new Error(`reply refused: ${JSON.stringify(answer.error)}`)
  return answer.data
}

/**
 * Sends a `message` frame (any fields; a fresh nonce is added unless given) and resolves with the
 * first answer that came after it: an `error` frame, or the sender's copy.
 */
export async function answerToMessage(socket: TestSocket, fields: Record<string, unknown>): Promise<Frame> {
  const before = socket.frames.length
  const nonce = typeof fields.nonce === 'string' ? fields.nonce : `m${++nonces}`
  socket.send({ type: 'message', nonce, ...fields })
  return frameWhere(
    socket,
    (f) => socket.frames.indexOf(f) >= before && (f.type === 'error' || (f.type === 'message' && f.data.nonce === nonce)),
    WAIT_MS,
    `the answer to message ${nonce}`,
  )
}

/**
 * Sends a `react` frame and resolves with the first answer after it on this socket: a `reaction`
 * event by `user` about that message and emoji, or an `error` frame.
 */
export async function sendReact(socket: TestSocket, user: Account, frame: Record<string, unknown>): Promise<Frame> {
  const before = socket.frames.length
  socket.send({ type: 'react', ...frame })
  return frameWhere(
    socket,
    (f) =>
      socket.frames.indexOf(f) >= before &&
      (f.type === 'error' ||
        ((f.type as string) === 'reaction' && f.data.messageId === frame.id && f.data.emoji === frame.emoji && f.data.user.id === user.user.id)),
    WAIT_MS,
    `the answer to react ${JSON.stringify(frame)}`,
  )
}

/** A react that must be accepted: resolves with its `reaction` event data. */
export async function react(socket: TestSocket, user: Account, id: number, emoji: string, on = true): Promise<ReactionEvent> {
  const answer = await sendReact(socket, user, { id, emoji, on })
  if (answer.type === 'error') throw new Error(`react ${emoji} on ${id} refused: ${JSON.stringify(answer.error)}`)
  return answer.data
}

/** The error type a refused react gets. */
export async function reactRefusal(socket: TestSocket, user: Account, frame: Record<string, unknown>): Promise<string> {
  const answer = await sendReact(socket, user, frame)
  if (answer.type !== 'error') throw new Error(`react was not refused: ${JSON.stringify(answer)}`)
  return answer.error!.type
}

/** Every message of a room's newest REST page (up to 200) as `reader` sees it (anonymous without one), read with the client SDK. */
export async function restHistory(server: TestServer, room: string, reader?: Account): Promise<Message[]> {
  const page = await new TestClient(server.url, reader).must(200, 'history read failed', (c) => c.history(room, { limit: 200 }))
  return page.messages
}

/** The welcome a new socket gets (as `reader`, anonymous without one), with an optional query (`?since=`). */
export async function welcomeOf(server: TestServer, room: string, reader?: Account, query = ''): Promise<Frame['data']> {
  using socket = await openSocket(roomWs(server, room, query), reader ? [reader.token] : undefined)
  const welcome = await withTimeout(socket.next(), WAIT_MS, `the welcome of ${room}`)
  if (welcome.type !== 'welcome') throw new Error(`first frame is not welcome: ${JSON.stringify(welcome)}`)
  return welcome.data
}

/** The message `id` of a list, or undefined. */
export const byId = (messages: Message[], id: number) => messages.find((m) => m.id === id)

/** `count` different recommended emoji, none of them 👍. */
export const MANY_EMOJI = ['😀', '😁', '😂', '🤣', '😃', '😄', '😅', '😆', '😉', '😊', '😋', '😎', '😍', '😘', '🥰', '😗', '😙', '🥲', '😚', '🙂', '🤗', '🤩']
