import { expect, test } from 'bun:test'
import { register, request } from '../support/http.ts'
import { startTestServer } from '../support/server.ts'
import { openSocket } from '../support/socket.ts'

/** The value of one sample line, e.g. metric(text, 'chat_connections{kind="read_only"}'). */
function metric(text: string, sample: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(sample + ' '))
  return line === undefined ? undefined : Number(line.slice(sample.length + 1))
}

// spec §2: GET /metrics speaks the Prometheus text format, not the envelope.
test('GET /metrics is Prometheus text with connection, message, rejection, HTTP and login metrics', async () => {
  await using server = await startTestServer()
  const alice = await register(server.url, 'alice')
  await request(`${server.url}/api/v1/login`, { json: { username: 'alice', secret: 'wrong' } })
  using writer = await openSocket(`${server.wsUrl}/api/v1/rooms/lobby/messages/ws`, [alice.token])
  using reader = await openSocket(`${server.wsUrl}/api/v1/rooms/lobby/messages/ws`)
  await writer.next('welcome')
  await reader.next('welcome')
  writer.send({ type: 'message', text: '' })
  await writer.next('error')
  writer.send({ type: 'message', text: 'hello' })
  await writer.next('message')
  await reader.next('message')

  const res = await fetch(`${server.url}/metrics`)
  expect(res.status).toBe(200)
  expect(res.headers.get('content-type')).toStartWith('text/plain; version=0.0.4')
  const text = await res.text()
  expect(metric(text, 'chat_connections{kind="authenticated"}')).toBe(1)
  expect(metric(text, 'chat_connections{kind="read_only"}')).toBe(1)
  expect(metric(text, 'chat_rooms')).toBe(1)
  expect(metric(text, 'chat_messages_received_total')).toBe(1)
  expect(metric(text, 'chat_messages_delivered_total')).toBe(2)
  expect(metric(text, 'chat_frames_rejected_total{reason="MESSAGE_INVALID"}')).toBe(1)
  expect(metric(text, 'chat_logins_total{result="success"}')).toBe(1)
  expect(metric(text, 'chat_logins_total{result="failure"}')).toBe(1)
  expect(metric(text, 'http_requests_total{route="/api/v1/users",method="POST",status="201"}')).toBe(1)
  expect(metric(text, 'http_requests_total{route="/api/v1/rooms/:room/messages/ws",method="GET",status="101"}')).toBe(2)
  expect(metric(text, 'http_request_duration_seconds_count{route="/api/v1/login",method="POST"}')).toBe(2)
  expect(text).toContain('process_cpu_seconds_total')
})

test('unknown paths are counted under one route label, so metrics cardinality stays bounded', async () => {
  await using server = await startTestServer()
  for (const path of ['/a', '/b', '/c/d']) await fetch(`${server.url}${path}`)
  const text = await (await fetch(`${server.url}/metrics`)).text()
  expect(metric(text, 'http_requests_total{route="unmatched",method="GET",status="404"}')).toBe(3)
  expect(text).not.toContain('route="/a"')
})
