/**
 * Odd requests (issue: defects found by attacking it): routing follows the request target whatever
 * the Host header says, a client that hangs up mid-body is not a server error, and log lines quote
 * only a bounded part of a path.
 */
import { expect, test } from 'bun:test'
import { register } from '../support/http.ts'
import { rawRequest } from '../support/raw-http.ts'
import { startTestServer } from '../support/server.ts'
import { until } from '../support/wait.ts'

function bodyOf(raw: { body: string }): any {
  return JSON.parse(raw.body)
}

test('GET /healthz over HTTP/1.0 without a Host header is routed by its path', async () => {
  await using server = await startTestServer()
  const res = await rawRequest(server.running.server.port!, 'GET /healthz HTTP/1.0\r\n\r\n')
  expect({ status: res.status, body: bodyOf(res) }).toEqual({ status: 200, body: { error: null, data: { status: 'ok' } } })
})

test('a Host that is not a valid authority ([::1, "a b", empty) does not change the route or the query', async () => {
  await using server = await startTestServer()
  const port = server.running.server.port!
  const alice = await register(server.url, 'alice')
  await using socket = await (await import('../support/socket.ts')).openSocket(`${server.wsUrl}/api/v1/rooms/lobby/messages/ws`, [alice.token])
  await socket.next()
  socket.send({ type: 'message', text: 'hello' })
  await socket.next()
  for (const host of ['[::1', 'a b', '', 'x/y', 'x@y']) {
    const res = await rawRequest(port, `GET /api/v1/rooms/lobby/messages?limit=1 HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`)
    expect({ host, status: res.status, texts: bodyOf(res).data?.messages?.map((m: { text: string }) => m.text) }).toEqual({
      host,
      status: 200,
      texts: ['hello'],
    })
    const bad = await rawRequest(port, `GET /api/v1/rooms/lobby/messages?limit=0 HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`)
    expect({ host, status: bad.status, type: bodyOf(bad).error?.type }).toEqual({ host, status: 400, type: 'BAD_QUERY' })
  }
})

test('a missing Host never yields a 500, whatever the path', async () => {
  const lines: string[] = []
  await using server = await startTestServer({ onLog: (l) => lines.push(l) })
  const port = server.running.server.port!
  for (const path of ['/', '/api/v1/rooms', '/api/v1/rooms/lobby/messages', '/api/v1/users/me', '/nope', '/api/v1/rooms/bad%ZZ/messages']) {
    const res = await rawRequest(port, `GET ${path} HTTP/1.0\r\n\r\n`)
    expect({ path, status: res.status < 500 }).toEqual({ path, status: true })
  }
  expect(lines.filter((l) => l.includes('ERROR'))).toEqual([])
})

test('a client that hangs up mid-body is logged at debug and counted apart, not as a 500', async () => {
  const lines: string[] = []
  await using server = await startTestServer({ onLog: (l) => lines.push(l) })
  const port = server.running.server.port!
  for (let i = 0; i < 5; i++) {
    const socket = await Bun.connect({ hostname: '127.0.0.1', port, socket: { data() {} } })
    socket.write('POST /api/v1/users HTTP/1.1\r\nHost: x\r\nContent-Length: 500\r\n\r\n{"username":"al')
    await Bun.sleep(20)
    socket.terminate()
  }
  const metrics = async () => (await fetch(`${server.url}/metrics`)).text()
  await until(() => lines.filter((l) => l.includes('client went away')).length === 5, 5000, 'five aborted requests logged')
  const text = await metrics()
  expect(text).toContain('http_requests_aborted_total{route="/api/v1/users"} 5')
  expect(text).not.toMatch(/http_requests_total\{[^}]*status="500"/)
  expect(lines.filter((l) => /ERROR|unhandled/.test(l))).toEqual([])
  expect(lines.filter((l) => l.includes('client went away')).every((l) => l.includes('DEBUG'))).toBe(true)
})

test('log lines quote at most a few hundred characters of a path', async () => {
  const lines: string[] = []
  await using server = await startTestServer({ onLog: (l) => lines.push(l) })
  const long = '/' + 'a'.repeat(8000)
  const res = await fetch(server.url + long)
  const body = (await res.json()) as { error: { type: string; message: string } }
  expect(res.status).toBe(404)
  expect(body.error.message.length).toBeLessThan(400)
  await until(() => lines.some((l) => l.includes(' http ')), 2000, 'the request log line')
  const line = lines.find((l) => l.includes(' http '))!
  expect(line.length).toBeLessThan(500)
  expect(line).toContain('(8001 chars)')
})
