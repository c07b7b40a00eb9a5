import { expect, test } from 'bun:test'
import { register } from '../support/http.ts'
import { startTestServer } from '../support/server.ts'
import { openSocket } from '../support/socket.ts'

test('a posted message reaches the sender with its nonce', async () => {
  await using server = await startTestServer()
  const alice = await register(server.url, 'alice')
  using socket = await openSocket(`${server.wsUrl}/api/v1/rooms/lobby/messages/ws`, [alice.token])
  expect(socket.ws.protocol).toBe(alice.token)
  expect((await socket.next('welcome')).data.readOnly).toBe(false)
  socket.send({ type: 'message', text: 'hi', nonce: 'n1' })
  const frame = await socket.next('message')
  expect(frame.data).toMatchObject({ text: 'hi', nonce: 'n1', user: alice.user, room: 'lobby' })
})
