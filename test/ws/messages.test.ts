/**
 * Posting and receiving (spec §3, "Message" and the client frame rules). A message is stored, then
 * broadcast to the whole room, the sender included; the sender's copy carries its nonce. Text length
 * is counted in Unicode code points, not UTF-16 units, so astral characters (e.g. emoji, two units
 * each) sit on both sides of the 4000 boundary here.
 *
 * "Nothing else arrived" is checked without waiting for time: a later marker message must be the
 * very next frame, since a room's frames reach each socket in order.
 */
import { expect, test } from 'bun:test'
import { CLOSE } from '../../src/protocol.ts'
import { register, request } from '../support/http.ts'
import { OPCODE, rawUpgrade, readJson } from '../support/raw-ws.ts'
import { errorFrame, post, roomMessages, roomWs, sansNonce, storedMessages } from '../support/rooms.ts'
import { startTestServer } from '../support/server.ts'
import { openSocket } from '../support/socket.ts'

const ISO_MS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/

test('a message frame has exactly id, room, user, text, ts (toISOString form) and nonce', async () => {
  const at = Date.parse('2026-11-28T23:00:00.000Z')
  await using server = await startTestServer({ now: () => at })
  const alice = await register(server.url, 'alice')
  using socket = await openSocket(roomWs(server, 'lobby'), [alice.token])
  await socket.next('welcome')
  socket.send({ type: 'message', text: 'hello', nonce: 'n-1' })
  expect(await socket.next()).toEqual({
    type: 'message',
    error: null,
    data: { id: 1, room: 'lobby', user: alice.user, text: 'hello', ts: '2026-11-28T23:00:00.000Z', nonce: 'n-1' },
  })
})

test('ts is the real UTC time of storing, with milliseconds', async () => {
  await using server = await startTestServer()
  const alice = await register(server.url, 'alice')
  using socket = await openSocket(roomWs(server, 'lobby'), [alice.token])
  await socket.next('welcome')
  const before = Date.now()
  const message = await post(socket, 'hello')
  expect(message.ts).toMatch(ISO_MS)
  expect(new Date(message.ts).toISOString()).toBe(message.ts)
  expect(Date.parse(message.ts)).toBeGreaterThanOrEqual(before)
  expect(Date.parse(message.ts)).toBeLessThanOrEqual(Date.now())
})

test('a message without a nonce has no nonce field', async () => {
  await using server = await startTestServer()
  const alice = await register(server.url, 'alice')
  using socket = await openSocket(roomWs(server, 'lobby'), [alice.token])
  await socket.next('welcome')
  socket.send({ type: 'message', text: 'no nonce' })
  const frame = await socket.next()
  expect(frame.type).toBe('message')
  expect(Object.keys(frame.data).sort()).toEqual(['id', 'room', 'text', 'ts', 'user'])
})

test('a message reaches every socket in its room, the sender included, and the sender copy carries its nonce', async () => {
  await using server = await startTestServer()
  const alice = await register(server.url, 'alice')
  const bob = await register(server.url, 'bob')
  using sender = await openSocket(roomWs(server, 'lobby'), [alice.token])
  using member = await openSocket(roomWs(server, 'lobby'), [bob.token])
  using reader = await openSocket(roomWs(server, 'lobby'))
  for (const s of [sender, member, reader]) await s.next('welcome')
  sender.send({ type: 'message', text: 'to all', nonce: 'mine' })
  const own = await sender.next('message')
  expect(own.data).toMatchObject({ text: 'to all', nonce: 'mine', user: alice.user, room: 'lobby' })
  for (const s of [member, reader]) expect(sansNonce((await s.next()).data)).toEqual(sansNonce(own.data))
})

test('a message reaches no socket of another room (names are case-sensitive)', async () => {
  await using server = await startTestServer()
  const alice = await register(server.url, 'alice')
  using lobby = await openSocket(roomWs(server, 'lobby'), [alice.token])
  using other = await openSocket(roomWs(server, 'Lobby'))
  await lobby.next('welcome')
  await other.next('welcome')
  await post(lobby, 'lobby only')
  using poster = await openSocket(roomWs(server, 'Lobby'), [alice.token])
  await poster.next('welcome')
  const marker = await post(poster, 'marker')
  // The other room sees only its own traffic: alice joining it, then her marker; nothing from "lobby".
  expect(await other.next()).toEqual({ type: 'join', error: null, data: { user: alice.user } })
  const next = await other.next()
  expect(next.type).toBe('message')
  expect(sansNonce(next.data)).toEqual(sansNonce(marker))
})

test('message ids increase across the whole server', async () => {
  await using server = await startTestServer()
  const alice = await register(server.url, 'alice')
  using a = await openSocket(roomWs(server, 'a'), [alice.token])
  using b = await openSocket(roomWs(server, 'b'), [alice.token])
  await a.next('welcome')
  await b.next('welcome')
  const ids: number[] = []
  for (const socket of [a, b, a, a, b]) ids.push((await post(socket, 'x')).id)
  for (let i = 1; i < ids.length; i++) expect(ids[i]!).toBeGreaterThan(ids[i - 1]!)
})

test('the text is stored and broadcast as sent, not trimmed', async () => {
  await using server = await startTestServer()
  const alice = await register(server.url, 'alice')
  using socket = await openSocket(roomWs(server, 'lobby'), [alice.token])
  await socket.next('welcome')
  const text = '  two spaces, a tab\t and a newline\n'
  expect((await post(socket, text)).text).toBe(text)
  expect((await storedMessages(server, 'lobby')).map((m) => m.text)).toEqual([text])
})

test('ping is answered with pong', async () => {
  await using server = await startTestServer()
  const alice = await register(server.url, 'alice')
  using socket = await openSocket(roomWs(server, 'lobby'), [alice.token])
  await socket.next('welcome')
  socket.send({ type: 'ping' })
  expect(await socket.next()).toEqual({ type: 'pong', error: null, data: null })
})

test('a WebSocket-level ping control frame is answered with a pong carrying its payload (RFC 6455 §5.5.2)', async () => {
  await using server = await startTestServer()
  const raw = await rawUpgrade(roomWs(server, 'lobby'))
  expect(readJson(await raw.next()).type).toBe('welcome')
  raw.sendFrame(OPCODE.PING, Buffer.from('are you there'))
  const pong = await raw.next()
  expect(pong.opcode).toBe(OPCODE.PONG)
  expect(pong.payload.toString()).toBe('are you there')
  raw.sendText(JSON.stringify({ type: 'ping' }))
  expect(readJson(await raw.next())).toEqual({ type: 'pong', error: null, data: null })
  raw.destroy()
})

test('a read-only socket gets pong for ping and stays open', async () => {
  await using server = await startTestServer()
  using socket = await openSocket(roomWs(server, 'lobby'))
  await socket.next('welcome')
  socket.send({ type: 'ping' })
  expect(await socket.next()).toEqual({ type: 'pong', error: null, data: null })
  socket.send({ type: 'ping' })
  expect(await socket.next()).toEqual({ type: 'pong', error: null, data: null })
})

test.each([
  ['a valid message', JSON.stringify({ type: 'message', text: 'let me in', nonce: 'ro' })],
  ['invalid JSON', '{"type":"message",'],
  ['an unknown type', JSON.stringify({ type: 'shout' })],
])('a read-only socket that sends %s is closed 1008 READ_ONLY and nothing is stored', async (_, raw) => {
  await using server = await startTestServer()
  const alice = await register(server.url, 'alice')
  using member = await openSocket(roomWs(server, 'lobby'), [alice.token])
  await member.next('welcome')
  using reader = await openSocket(roomWs(server, 'lobby'))
  await reader.next('welcome')
  reader.sendRaw(raw)
  expect(await reader.closed).toEqual(CLOSE.READ_ONLY)
  expect(reader.frames.map((f) => f.type)).toEqual(['welcome'])
  expect((await request(roomMessages(server, 'lobby'))).body).toEqual({ error: null, data: { messages: [], hasMore: false } })
  const marker = await post(member, 'marker')
  expect(member.frames.slice(1)).toEqual([{ type: 'message', error: null, data: marker }])
  expect(await storedMessages(server, 'lobby')).toEqual([marker])
})

/** spec §3: each of these gets an `error` frame MESSAGE_INVALID; nothing is stored; the connection stays usable. */
const INVALID_FRAMES: [string, string][] = [
  ['not JSON', '{"type":"message","text":'],
  ['a JSON array', JSON.stringify([{ type: 'message', text: 'hi' }])],
  ['a JSON string', JSON.stringify('hi')],
  ['a JSON number', '42'],
  ['JSON null', 'null'],
  ['an unknown type', JSON.stringify({ type: 'shout', text: 'hi' })],
  ['a type that is not a string', JSON.stringify({ type: 1, text: 'hi' })],
  ['a missing type', JSON.stringify({ text: 'hi' })],
  ['a missing text', JSON.stringify({ type: 'message' })],
  ['a text that is a number', JSON.stringify({ type: 'message', text: 42 })],
  ['a text that is null', JSON.stringify({ type: 'message', text: null })],
  ['a text that is an array', JSON.stringify({ type: 'message', text: ['hi'] })],
  ['an empty text', JSON.stringify({ type: 'message', text: '' })],
  ['a whitespace-only text', JSON.stringify({ type: 'message', text: ' \t\r\n\u00a0\u2003\u3000 ' })],
  // spec §2: a text that shows nothing is as empty as "", whatever invisible characters it is made of.
  ['a text of only U+200B ZERO WIDTH SPACE', JSON.stringify({ type: 'message', text: '\u200b' })],
  ['a text of only a word joiner and a BOM', JSON.stringify({ type: 'message', text: '\u2060\ufeff' })],
  ['a text of only HANGUL FILLER', JSON.stringify({ type: 'message', text: '\u3164\u3164' })],
  ['a text of only variation selectors', JSON.stringify({ type: 'message', text: '\ufe0f\u{e0100}' })],
  ['a text of only bidi controls', JSON.stringify({ type: 'message', text: '\u202e\u2066\u200f' })],
  ['a text of only blank Braille cells', JSON.stringify({ type: 'message', text: '\u2800\u2800' })],
  ['a text of whitespace and invisible characters mixed', JSON.stringify({ type: 'message', text: ' \u200b\n\u200d\u00ad ' })],
  ['a text of 4001 ASCII characters', JSON.stringify({ type: 'message', text: 'a'.repeat(4001) })],
  ['a text of 4001 astral code points', JSON.stringify({ type: 'message', text: '😀'.repeat(4001) })],
  ['a text of 3999 ASCII plus 2 astral code points', JSON.stringify({ type: 'message', text: 'a'.repeat(3999) + '😀🎉' })],
  ['a text with a lone surrogate', '{"type":"message","text":"broken \\ud83d"}'],
  ['a nonce of 65 characters', JSON.stringify({ type: 'message', text: 'hi', nonce: 'n'.repeat(65) })],
  ['a nonce that is a number', JSON.stringify({ type: 'message', text: 'hi', nonce: 7 })],
  ['a nonce that is null', JSON.stringify({ type: 'message', text: 'hi', nonce: null })],
  ['a nonce that is an object', JSON.stringify({ type: 'message', text: 'hi', nonce: { id: 1 } })],
  // spec §7: a message's attachments are uploads; one named twice is not two.
  ['attachments naming one upload twice', JSON.stringify({ type: 'message', text: 'hi', attachments: ['upload-1', 'upload-1'] })],
]

test.each(INVALID_FRAMES)('a frame with %s gets MESSAGE_INVALID, stores nothing, and the socket keeps working', async (_, raw) => {
  await using server = await startTestServer()
  const alice = await register(server.url, 'alice')
  const bob = await register(server.url, 'bob')
  using sender = await openSocket(roomWs(server, 'lobby'), [alice.token])
  using member = await openSocket(roomWs(server, 'lobby'), [bob.token])
  await sender.next('welcome')
  await member.next('welcome')
  await sender.next('join')
  sender.sendRaw(raw)
  expect(await sender.next()).toEqual(errorFrame('MESSAGE_INVALID'))
  const valid = await post(sender, 'valid after invalid')
  const received = await member.next()
  expect(received.type).toBe('message')
  expect(sansNonce(received.data)).toEqual(sansNonce(valid))
  expect(await storedMessages(server, 'lobby')).toEqual([valid])
})

test('a text that shows nothing is refused but one that merely contains invisible characters is stored as sent', async () => {
  await using server = await startTestServer()
  const alice = await register(server.url, 'alice')
  using socket = await openSocket(roomWs(server, 'lobby'), [alice.token])
  await socket.next('welcome')
  socket.send({ type: 'message', text: '\u200b', nonce: 'blank' })
  expect(await socket.next()).toEqual(errorFrame('MESSAGE_INVALID'))
  // A trailing ZWSP, a family emoji (ZWJ sequence), a heart with its variation selector, an RLO inside.
  const texts = ['hi\u200b', '👨‍👩‍👧', '❤️', 'abc \u202edef']
  for (const text of texts) expect((await post(socket, text)).text).toBe(text)
  expect((await storedMessages(server, 'lobby')).map((m) => m.text)).toEqual(texts)
})

test.each([
  ['4000 ASCII characters', 'a'.repeat(4000)],
  ['4000 astral code points (8000 UTF-16 units)', '😀'.repeat(4000)],
  ['3998 ASCII plus 2 astral code points', 'a'.repeat(3998) + '😀🎉'],
])('a text of %s is accepted (4000 code points is the limit)', async (_, text) => {
  await using server = await startTestServer()
  const alice = await register(server.url, 'alice')
  using socket = await openSocket(roomWs(server, 'lobby'), [alice.token])
  await socket.next('welcome')
  expect((await post(socket, text)).text).toBe(text)
  expect((await storedMessages(server, 'lobby')).map((m) => m.text)).toEqual([text])
})

test('a nonce of exactly 64 characters is accepted and echoed', async () => {
  await using server = await startTestServer()
  const alice = await register(server.url, 'alice')
  using socket = await openSocket(roomWs(server, 'lobby'), [alice.token])
  await socket.next('welcome')
  const nonce = 'n'.repeat(64)
  expect((await post(socket, 'hi', nonce)).nonce).toBe(nonce)
})
