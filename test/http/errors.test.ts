/**
 * The envelope and the catch-all rows of spec §2: GET /healthz, 404 NOT_FOUND, 405
 * METHOD_NOT_ALLOWED with an Allow header (RFC 9110 §15.5.6), 413 PAYLOAD_TOO_LARGE for a body over
 * 16 KiB whether it is announced by Content-Length or streamed chunked (the server reads no further
 * than the limit), and 500 INTERNAL with a fixed sentence that never carries a stack or SQL.
 */
import { Database } from 'bun:sqlite'
import { expect, test } from 'bun:test'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { LIMITS } from '../../src/protocol.ts'
import { register, request, type ApiResponse } from '../support/http.ts'
import { rawRequest } from '../support/raw-http.ts'
import { startTestServer } from '../support/server.ts'

const JSON_TYPE = 'application/json; charset=utf-8'
const { BODY_MAX_BYTES } = LIMITS

function expectError(res: ApiResponse, status: number, type: string): void {
  expect({ status: res.status, contentType: res.headers.get('content-type'), body: res.body }).toEqual({
    status,
    contentType: JSON_TYPE,
    body: { error: { type, message: expect.any(String) }, data: null },
  })
}

/** A JSON sign-up body of exactly `size` bytes. */
function credentialsOfSize(size: number, username = 'alice'): string {
  const base = JSON.stringify({ username, secret: 'pw', pad: '' })
  return JSON.stringify({ username, secret: 'pw', pad: 'p'.repeat(size - base.length) })
}

test('GET /healthz answers 200 {"status":"ok"}', async () => {
  await using server = await startTestServer()
  const res = await request(`${server.url}/healthz`)
  expect({ status: res.status, contentType: res.headers.get('content-type'), body: res.body }).toEqual({
    status: 200,
    contentType: JSON_TYPE,
    body: { error: null, data: { status: 'ok' } },
  })
})

test('every envelope, success or error, is served with nosniff (an error can echo what the client sent)', async () => {
  await using server = await startTestServer()
  for (const [path, status] of [
    ['/healthz', 200],
    ['/%3Cscript%3Ealert(1)%3C%2Fscript%3E', 404],
    ['/api/v1/users/me', 401],
  ] as const) {
    const res = await request(`${server.url}${path}`)
    expect({ path, status: res.status, nosniff: res.headers.get('x-content-type-options') }).toEqual({ path, status, nosniff: 'nosniff' })
  }
})

test('GET /healthz answers 503 UNAVAILABLE when the database does not answer', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'chat-health-'))
  const server = await startTestServer({ dir })
  try {
    // Close the database under the running server: the real failure, no stub.
    await server.app.store.close()
    expectError(await request(`${server.url}/healthz`), 503, 'UNAVAILABLE')
  } finally {
    await server.stop().catch(() => {})
    rmSync(dir, { recursive: true, force: true })
  }
})

test('an unknown path is 404 NOT_FOUND in the envelope', async () => {
  await using server = await startTestServer()
  for (const path of [
    '/nope',
    '/api',
    '/api/v1',
    '/api/v2/users',
    '/api/v1/users/',
    '/api/v1/users/me/',
    '/api/v1/users/1',
    '/API/V1/USERS',
    '/healthz/x',
    '/%ff',
  ]) {
    expectError(await request(`${server.url}${path}`), 404, 'NOT_FOUND')
    expectError(await request(`${server.url}${path}`, { method: 'POST', body: '{}' }), 404, 'NOT_FOUND')
  }
})

test('a query string does not change which route matches', async () => {
  await using server = await startTestServer()
  expect((await request(`${server.url}/healthz?probe=1`)).body).toEqual({ error: null, data: { status: 'ok' } })
  expectError(await request(`${server.url}/nope?x=/healthz`), 404, 'NOT_FOUND')
})

test('a 404 message does not echo a huge path back in full', async () => {
  await using server = await startTestServer()
  const res = await request(`${server.url}/${'a'.repeat(4000)}`)
  expectError(res, 404, 'NOT_FOUND')
  expect(res.body.error.message.length).toBeLessThan(400)
})

test('a known path with the wrong method is 405 METHOD_NOT_ALLOWED with Allow', async () => {
  await using server = await startTestServer()
  const cases: [string, string, string][] = [
    ['GET', '/api/v1/users', 'POST'],
    ['PUT', '/api/v1/users', 'POST'],
    ['DELETE', '/api/v1/users', 'POST'],
    ['GET', '/api/v1/login', 'POST'],
    ['PATCH', '/api/v1/login', 'POST'],
    ['POST', '/api/v1/users/me', 'GET, DELETE'],
    ['PATCH', '/api/v1/users/me', 'GET, DELETE'],
    ['GET', '/api/v1/users/me/password', 'PUT'],
    ['GET', '/api/v1/logout', 'POST'],
    ['POST', '/api/v1/admin/users', 'GET'],
    ['POST', '/api/v1/admin/users/1/ban', 'PUT, DELETE'],
    ['DELETE', '/api/v1/admin/settings', 'GET, PUT'],
    ['GET', '/api/v1/token', 'POST'],
    ['POST', '/healthz', 'GET'],
    ['PUT', '/healthz', 'GET'],
  ]
  for (const [method, path, allow] of cases) {
    const res = await request(`${server.url}${path}`, { method })
    expectError(res, 405, 'METHOD_NOT_ALLOWED')
    expect(`${method} ${path}: ${res.headers.get('allow')}`).toBe(`${method} ${path}: ${allow}`)
  }
})

test('HEAD is GET without the body wherever GET is, but not on the WebSocket paths', async () => {
  await using server = await startTestServer()
  // Straight to the server: HEAD comes with GET (RFC 9110), so the OpenAPI document has no HEAD of
  // the API's paths for the checking proxy of CI's OpenAPI step to find.
  const head = async (path: string, headers: Record<string, string> = {}) => {
    const res = await fetch(`${server.directUrl}${path}`, { method: 'HEAD', headers })
    return { status: res.status, type: res.headers.get('content-type'), allow: res.headers.get('allow'), body: await res.text() }
  }
  expect(await head('/healthz')).toEqual({ status: 200, type: JSON_TYPE, allow: null, body: '' })
  expect(await head('/api/v1/rooms')).toEqual({ status: 200, type: JSON_TYPE, allow: null, body: '' })
  // The GET's own checks still run: no token is 401, as GET's would be.
  expect((await head('/api/v1/users/me')).status).toBe(401)
  expect((await head('/api/v1/users/me', { Authorization: 'Bearer nope' })).status).toBe(401)
  // A path without GET, and the upgrades, keep their 405.
  expect(await head('/api/v1/login')).toEqual({ status: 405, type: JSON_TYPE, allow: 'POST', body: '' })
  expect(await head('/api/v1/rooms/lobby/messages/ws')).toEqual({ status: 405, type: JSON_TYPE, allow: 'GET', body: '' })
  expect(await head('/api/v1/users/me/ws')).toEqual({ status: 405, type: JSON_TYPE, allow: 'GET', body: '' })
})

test('a wrong method is refused before the body is looked at', async () => {
  await using server = await startTestServer()
  const res = await request(`${server.url}/api/v1/users`, { method: 'PUT', body: 'x'.repeat(BODY_MAX_BYTES + 1) })
  expectError(res, 405, 'METHOD_NOT_ALLOWED')
  expect(res.headers.get('allow')).toBe('POST')
})

test('a 405 on a protected route does not need a token', async () => {
  await using server = await startTestServer()
  const res = await request(`${server.url}/api/v1/users/me`, { method: 'POST', headers: { Authorization: 'Bearer nope' } })
  expectError(res, 405, 'METHOD_NOT_ALLOWED')
})

// spec §2: a route's own checks come before the method check.
test('an invalid room name is 400 ROOM_INVALID on any method, before 405', async () => {
  await using server = await startTestServer()
  for (const method of ['GET', 'POST', 'DELETE']) {
    expectError(await request(`${server.url}/api/v1/rooms/bad!room/messages`, { method }), 400, 'ROOM_INVALID')
  }
  const res = await request(`${server.url}/api/v1/rooms/lobby/messages`, { method: 'POST' })
  expectError(res, 405, 'METHOD_NOT_ALLOWED')
  expect(res.headers.get('allow')).toBe('GET')
})

// spec §2: request bodies over 16 KiB are refused with 413 and read no further.
test('a body of exactly 16 KiB is accepted', async () => {
  await using server = await startTestServer()
  const body = credentialsOfSize(BODY_MAX_BYTES)
  expect(Buffer.byteLength(body)).toBe(BODY_MAX_BYTES)
  const res = await request(`${server.url}/api/v1/users`, { method: 'POST', body })
  expect(res.status).toBe(201)
})

test('a Content-Length over 16 KiB is 413 PAYLOAD_TOO_LARGE', async () => {
  await using server = await startTestServer()
  const body = credentialsOfSize(BODY_MAX_BYTES + 1)
  expect(Buffer.byteLength(body)).toBe(BODY_MAX_BYTES + 1)
  for (const path of ['/api/v1/users', '/api/v1/login']) {
    expectError(await request(`${server.url}${path}`, { method: 'POST', body }), 413, 'PAYLOAD_TOO_LARGE')
  }
  expectError(await request(`${server.url}/api/v1/users`, { method: 'POST', body: new Uint8Array(1024 * 1024) }), 413, 'PAYLOAD_TOO_LARGE')
  // Routes that read no body refuse one declared too long all the same, before anything else: nothing is done.
  const { token } = await register(server.url, 'alice')
  const auth = { Authorization: `Bearer ${token}` }
  expectError(await request(`${server.url}/api/v1/token`, { method: 'POST', body, headers: auth }), 413, 'PAYLOAD_TOO_LARGE')
  expectError(await request(`${server.url}/api/v1/users/me/rooms/lobby`, { method: 'PUT', body, headers: auth }), 413, 'PAYLOAD_TOO_LARGE')
  expect((await request(`${server.url}/api/v1/users/me/rooms`, { headers: auth })).body.data).toEqual({ rooms: [] })
})

test('a chunked body over 16 KiB without Content-Length is 413 PAYLOAD_TOO_LARGE', async () => {
  await using server = await startTestServer()
  const piece = new TextEncoder().encode(' '.repeat(1024))
  let sent = 0
  const body = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (sent === 0) controller.enqueue(new TextEncoder().encode('{"username":"alice","secret":"pw","pad":"'))
      if (sent >= 20) return controller.close()
      sent++
      controller.enqueue(piece)
    },
  })
  const res = await request(`${server.directUrl}/api/v1/users`, { method: 'POST', body, headers: { 'Content-Type': 'application/json' } })
  expectError(res, 413, 'PAYLOAD_TOO_LARGE')
  expect((await request(`${server.url}/api/v1/login`, { json: { username: 'alice', secret: 'pw' } })).status).toBe(400)
})

test('a chunked body of 16 KiB or less is read as usual', async () => {
  await using server = await startTestServer()
  const bytes = new TextEncoder().encode(credentialsOfSize(BODY_MAX_BYTES))
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      for (let i = 0; i < bytes.length; i += 1000) controller.enqueue(bytes.subarray(i, i + 1000))
      controller.close()
    },
  })
  const res = await request(`${server.url}/api/v1/users`, { method: 'POST', body })
  expect(res.status).toBe(201)
})

test('a huge Content-Length is refused at once, without waiting for the body', async () => {
  await using server = await startTestServer()
  const res = await rawRequest(server.running.server.port!, 'POST /api/v1/users HTTP/1.1\r\nHost: test\r\nContent-Length: 1000000000\r\n\r\n', ['{"user'])
  expect({ status: res.status, contentType: res.headers.get('content-type'), body: JSON.parse(res.body) }).toEqual({
    status: 413,
    contentType: JSON_TYPE,
    body: { error: { type: 'PAYLOAD_TOO_LARGE', message: expect.any(String) }, data: null },
  })
})

test('a chunked body that never ends is refused once 16 KiB have arrived', async () => {
  await using server = await startTestServer()
  const chunk = `400\r\n${'x'.repeat(0x400)}\r\n`
  // 17 KiB of chunks and no terminating 0-chunk: the server must answer without the rest.
  const res = await rawRequest(
    server.running.server.port!,
    'POST /api/v1/login HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n',
    Array(17).fill(chunk),
  )
  expect({ status: res.status, contentType: res.headers.get('content-type'), body: JSON.parse(res.body) }).toEqual({
    status: 413,
    contentType: JSON_TYPE,
    body: { error: { type: 'PAYLOAD_TOO_LARGE', message: expect.any(String) }, data: null },
  })
})

// spec §1: never a stack trace, never SQL; the real error goes to the log.
test('an unexpected failure is 500 INTERNAL with a fixed message and no SQL or stack', async () => {
  await using server = await startTestServer()
  await request(`${server.url}/api/v1/users`, { json: { username: 'alice', secret: 'pw' } })
  // Break the schema under the running server from a second connection: the store's queries now fail.
  const db = new Database(server.config.database)
  db.exec('PRAGMA busy_timeout = 5000')
  db.exec('DROP TABLE users')
  db.close()
  const responses = [
    await request(`${server.url}/api/v1/users`, { json: { username: 'bob', secret: 'pw' } }),
    await request(`${server.url}/api/v1/login`, { json: { username: 'alice', secret: 'pw' } }),
  ]
  for (const res of responses) {
    expectError(res, 500, 'INTERNAL')
    const message: string = res.body.error.message
    expect(message).not.toMatch(/sql|table|users|select|insert|no such|\bat\b|\.ts|\n/i)
  }
  expect(responses[0]!.body).toEqual(responses[1]!.body)
  // The server keeps serving.
  expect((await request(`${server.url}/healthz`)).status).toBe(200)
})

test('every error response is a JSON envelope with the charset in Content-Type', async () => {
  await using server = await startTestServer()
  const responses = [
    await request(`${server.url}/nope`),
    await request(`${server.url}/healthz`, { method: 'DELETE' }),
    await request(`${server.url}/api/v1/users`, { method: 'POST', body: '[' }),
    await request(`${server.url}/api/v1/users/me`),
  ]
  for (const res of responses) {
    expect(res.headers.get('content-type')).toBe(JSON_TYPE)
    expect(Object.keys(res.body).sort()).toEqual(['data', 'error'])
    expect(res.body.data).toBeNull()
    expect(res.body.error.type).toMatch(/^[A-Z]+(_[A-Z]+)*$/)
    expect(typeof res.body.error.message).toBe('string')
    expect(res.body.error.message.length).toBeGreaterThan(0)
  }
})
