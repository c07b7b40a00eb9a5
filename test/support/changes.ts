/** Helpers for edit and delete tests (spec §5): acknowledged edits and deletions, and an admin account. */
import type { ClientFrame, ErrorType } from '../../packages/client/src/index.ts'
import { TestClient } from './client.ts'
import { register, type Account } from './http.ts'
import type { TestServer } from './server.ts'
import type { Frame, TestSocket } from './socket.ts'

/**
 * Signs up the server's first account, which becomes its admin (spec §5), and checks it did. Call it
 * before anyone else signs up.
 */
export async function registerAdmin(server: TestServer, name = 'root'): Promise<Account> {
  const admin = await register(server.url, name)
  const me = await new TestClient(server.url, admin).must(200, `reading ${name}'s account`, (c) => c.me())
  if (me.role !== 'admin') throw new Error(`the first account is not admin: ${JSON.stringify(me)}`)
  return admin
}

/** The client frames that change a message (spec §5). */
export type ChangeFrame = Extract<ClientFrame, { type: 'edit' | 'delete' }>

/**
 * Sends a change frame and resolves with the answer it gets on this socket: the `edited` / `deleted`
 * frame about that message (every socket of the room gets it, the sender too), or an `error`.
 */
export async function sendChange(socket: TestSocket, frame: ChangeFrame): Promise<Frame> {
  socket.send(frame)
  const answer = frame.type === 'edit' ? 'edited' : 'deleted'
  for (;;) {
    const next = await socket.next()
    if (next.type === 'error' || (next.type === answer && next.data.messageId === frame.id)) return next
  }
}

/** The change frame a successful edit or deletion is answered with. */
export async function change(socket: TestSocket, frame: ChangeFrame): Promise<Frame> {
  const answer = await sendChange(socket, frame)
  if (answer.type === 'error') throw new Error(`${frame.type} refused: ${JSON.stringify(answer.error)}`)
  return answer
}

/** The error type a refused change is answered with. */
export async function refusal(socket: TestSocket, frame: ChangeFrame): Promise<ErrorType> {
  const answer = await sendChange(socket, frame)
  if (answer.type !== 'error') throw new Error(`${frame.type} was not refused: ${JSON.stringify(answer)}`)
  return answer.error!.type
}
