/**
 * The client SDK (packages/client) against a real server: the session and its refresh, the REST
 * calls, errors typed from the envelope, and the sockets' close-code policy (docs/PROTOCOL.md "Close
 * codes"): back off and resume with `?since=` after a drop, delivering every message once and in
 * order; never retry a refused token (4001), a ban (4003) or a room that is not there (4004); back
 * off longer on 4029. A bot's API token is used as is, never refreshed; bots and webhooks go through
 * the admin API. A recording WebSocket, passed through the SDK's `WebSocket` option, shows the URLs
 * it dialled, the subprotocols it offered and the frames it sent; while "blocked" it dials a closed
 * port, as a network would.
 */
import { expect, test } from 'bun:test'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  backoffDelay,
  ChatClient,
  ChatError,
  type Message,
  type MessageSource,
  readTokenTimes,
  type RoomSocket,
  type SocketState,
  verifyWebhook,
  type WebhookPayload,
  type WebSocketConstructor,
} from '../../packages/client/src/index.ts'
import type { Emitter, EventMap } from '../../packages/client/src/emitter.ts'
import { request } from '../support/http.ts'
import { startTestServer, type TestServer } from '../support/server.ts'
import { until, withTimeout } from '../support/wait.ts'

/** Short back-offs so that reconnects happen within a test; 4029's stays far longer than the others. */
const FAST = { baseMs: 20, maxMs: 200, busyBaseMs: 2_000, busyMaxMs: 4_000, pingEveryMs: 25_000, pongTimeoutMs: 5_000 }
const SECRET = 'correct horse battery staple'
const WAIT_MS = 5_000

function recordingWebSocket() {
  const log = {
    urls: [] as string[],
    protocols: [] as (string | string[] | undefined)[],
    sent: [] as string[],
    received: [] as string[],
    closes: [] as number[],
    blocked: false,
  }
  class Recording extends WebSocket {
    constructor(url: string, protocols?: string | string[]) {
      log.urls.push(url)
      log.protocols.push(protocols)
      super(log.blocked ? 'ws://127.0.0.1:1/' : url, protocols)
      this.addEventListener('message', (e) => log.received.push(String(e.data)))
      this.addEventListener('close', (e) => log.closes.push(e.code))
    }
    override send(data: Parameters<WebSocket['send']>[0]): void {
      log.sent.push(String(data))
      super.send(data)
    }
  }
  return { log, WebSocket: Recording as unknown as WebSocketConstructor }
}

/** The next emission of `event` that satisfies `predicate` (every one by default), bounded by `ms`. */
function nextEvent<E extends EventMap, K extends keyof E & string>(
  emitter: Emitter<E>,
  event: K,
  predicate: (...args: E[K]) => boolean = () => true,
  ms = WAIT_MS,
): Promise<E[K]> {
  let off = () => {}
  const found = new Promise<E[K]>((resolve) => {
    off = emitter.on(event, (...args) => {
      if (predicate(...args)) resolve(args)
    })
  })
  return withTimeout(found, ms, `the event ${event}`).finally(off)
}

function nextState(socket: RoomSocket, kind: SocketState['kind']): Promise<SocketState> {
  return nextEvent(socket, 'state', (s) => s.kind === kind).then(([s]) => s)
}

/** Every message a room socket delivers, with where it came from. */
function collect(room: RoomSocket): { message: Message; source: MessageSource }[] {
  const seen: { message: Message; source: MessageSource }[] = []
  room.on('message', (message, { source }) => seen.push({ message, source }))
  return seen
}

async function loggedIn(server: TestServer, username: string, opts: ConstructorParameters<typeof ChatClient>[0] = {}): Promise<ChatClient> {
  const client = new ChatClient({ url: server.url, reconnect: FAST, ...opts })
  await client.signUp(username, SECRET)
  await client.login(username, SECRET)
  return client
}

const failure = (promise: Promise<unknown>) =>
  promise.then(
    () => {
      throw new Error('expected a rejection')
    },
    (err: unknown) => err,
  )

test('login keeps a session that the REST calls use; refresh trades it for a fresh one; logout revokes it', async () => {
  await using server = await startTestServer()
  const client = new ChatClient({ url: server.url })
  expect(await client.signUp('alice', SECRET)).toEqual({ id: expect.any(Number), username: 'alice' })
  const changes: string[] = []
  client.on('session', (_, why) => changes.push(why))
  const session = await client.login('alice', SECRET)
  expect(client.user).toEqual(session.user)
  expect(await client.me()).toEqual({ ...session.user, role: 'admin' })
  const fresh = await client.refresh()
  expect(client.token).toBe(fresh.token)
  expect(await client.me()).toMatchObject({ username: 'alice' })
  const kept = client.session!
  await client.logout()
  expect(client.session).toBeUndefined()
  expect(changes).toEqual(['login', 'refresh', 'logout'])
  expect(await failure(client.me())).toMatchObject({ type: 'TOKEN_INVALID', status: 401 })
  const stale = new ChatClient({ url: server.url, session: kept })
  expect(await failure(stale.me())).toMatchObject({ type: 'TOKEN_INVALID', status: 401 })
  stale.close()
  client.close()
})

test("errors carry the envelope's error.type as a ChatError, with the status and Retry-After", async () => {
  await using server = await startTestServer({ config: { loginLimitPerUser: 3 } })
  const client = new ChatClient({ url: server.url })
  await client.signUp('alice', SECRET)
  const wrong = await failure(client.login('alice', 'wrong'))
  expect(wrong).toBeInstanceOf(ChatError)
  expect(wrong).toMatchObject({ name: 'ChatError', type: 'PASSWORD_MATCH_FAILED', status: 401, retryAfter: undefined })
  expect(await failure(client.login('nobody', SECRET))).toMatchObject({ type: 'USER_NOT_FOUND', status: 400 })
  expect(await failure(client.signUp('ALICE', SECRET))).toMatchObject({ type: 'USER_EXISTS', status: 409 })
  expect(await failure(client.signUp(' bob', SECRET))).toMatchObject({ type: 'BAD_USERNAME', status: 400 })
  expect(await failure(client.history('bad name'))).toMatchObject({ type: 'ROOM_INVALID', status: 400 })
  await failure(client.login('alice', 'wrong'))
  await failure(client.login('alice', 'wrong'))
  const limited = (await failure(client.login('alice', 'wrong'))) as ChatError
  expect(limited).toMatchObject({ type: 'RATE_LIMITED', status: 429 })
  expect(limited.retryAfter).toBeGreaterThan(0)
  const unreachable = new ChatClient({ url: 'http://127.0.0.1:1' })
  expect(await failure(unreachable.health())).toMatchObject({ type: 'NETWORK', status: 0 })
  client.close()
})

test('the REST calls: rooms, history, members, DMs, my rooms, read markers, search, attachments, account', async () => {
  await using server = await startTestServer()
  const alice = await loggedIn(server, 'alice')
  const bob = await loggedIn(server, 'bob')
  const carol = await loggedIn(server, 'carol')

  expect(await alice.createRoom('team', { visibility: 'private', topic: 'plans' })).toEqual({
    name: 'team',
    visibility: 'private',
    topic: 'plans',
    owner: alice.user!,
  })
  await alice.addMember('team', 'bob')
  expect(await bob.members('team')).toEqual([alice.user!, bob.user!])
  expect(await failure(carol.getRoom('team'))).toMatchObject({ type: 'ROOM_NOT_FOUND', status: 404 })

  const team = alice.room('team')
  await team.ready()
  const hello = await team.post('hello trigram world')
  expect(hello).toMatchObject({ room: 'team', user: alice.user!, text: 'hello trigram world' })
  expect((await bob.history('team')).messages.map((m) => m.id)).toEqual([hello.id])
  expect((await bob.search('trigram')).messages.map((m) => [m.id, m.excerpt.text])).toEqual([[hello.id, 'hello trigram world']])
  expect((await carol.search('trigram')).messages).toEqual([])

  expect((await bob.myRooms()).find((r) => r.name === 'team')).toMatchObject({ unread: 1, lastMessageId: hello.id })
  await bob.markRead('team', hello.id)
  expect((await bob.myRooms()).find((r) => r.name === 'team')).toMatchObject({ unread: 0, lastReadId: hello.id })

  const dm = await bob.openDm('alice')
  expect(await alice.openDm('bob')).toBe(dm)
  expect((await bob.myRooms()).find((r) => r.name === dm)).toMatchObject({ visibility: 'private', peer: alice.user! })
  await carol.joinRoom('lobby')
  expect((await carol.myRooms()).map((r) => r.name)).toEqual(['lobby'])
  await carol.leaveRoom('lobby')
  expect(await carol.myRooms()).toEqual([])

  const file = await alice.upload('team', new Blob(['file body']), 'notes.txt')
  expect(file).toMatchObject({ name: 'notes.txt', type: 'application/octet-stream', size: 9 })
  const withFile = await team.post('see attached', { attachments: [file.id] })
  expect(withFile).toMatchObject({ attachments: [{ id: file.id, name: 'notes.txt' }] })
  expect(await (await bob.download(file)).text()).toBe('file body')
  expect(await failure(carol.download(file.id))).toMatchObject({ type: 'NOT_FOUND', status: 404 })

  await alice.deleteMessage('team', hello.id)
  expect((await bob.history('team')).messages[0]).toMatchObject({ id: hello.id, deleted: true })
  expect(await failure(bob.deleteMessage('team', withFile.id))).toMatchObject({ type: 'FORBIDDEN', status: 403 })

  const lobby = carol.room('lobby')
  const posted = await lobby.post('in public')
  expect((await bob.listRooms({ limit: 10 })).rooms.find((r) => r.name === 'lobby')).toMatchObject({ lastMessageId: posted.id })

  const before = carol.session!
  await carol.changePassword(SECRET, 'a new secret')
  expect(carol.token).not.toBe(before.token)
  expect(await carol.me()).toMatchObject({ username: 'carol' })
  await carol.deleteAccount('a new secret')
  expect(carol.session).toBeUndefined()
  expect(await failure(bob.openDm('carol'))).toMatchObject({ type: 'USER_NOT_FOUND', status: 404 })
  for (const c of [alice, bob, carol]) c.close()
})

test('a room socket: history, live messages, changes, presence and error frames as typed events; post resolves with the stored copy', async () => {
  await using server = await startTestServer()
  const alice = await loggedIn(server, 'alice')
  const bob = await loggedIn(server, 'bob')
  const writer = alice.room('lobby')
  const first = await writer.post('one')
  const second = await writer.post('two')

  const joined = nextEvent(writer, 'join', (u) => u.username === 'bob')
  const reader = bob.room('lobby')
  const seen = collect(reader)
  const changes: unknown[] = []
  reader.on('change', (change, { source }) => changes.push({ type: change.type, source }))
  const [welcome] = await nextEvent(reader, 'welcome')
  expect(welcome).toMatchObject({ room: 'lobby', user: bob.user!, readOnly: false })
  await joined

  const third = await writer.post('three')
  await until(() => seen.length === 3, WAIT_MS, 'the live message')
  expect(seen.map(({ message, source }) => [message.id, source])).toEqual([
    [first.id, 'history'],
    [second.id, 'history'],
    [third.id, 'live'],
  ])
  expect(writer.edit(third.id, 'three!')).toBe(true)
  await until(() => changes.length === 1, WAIT_MS, 'the edit')
  expect(changes).toEqual([{ type: 'edited', source: 'live' }])

  const [error] = await Promise.all([nextEvent(writer, 'error'), writer.send({ type: 'message', text: '   ' })])
  expect(error[0]).toMatchObject({ type: 'MESSAGE_INVALID' })
  // A refused post has no stored copy to resolve with; its error frame carries no nonce.
  const refused = writer.post('\u200b', { timeoutMs: 300 })
  const [invalid] = await nextEvent(writer, 'error')
  expect(invalid).toMatchObject({ type: 'MESSAGE_INVALID', status: 0 })
  expect(await failure(refused)).toMatchObject({ type: 'TIMEOUT' })

  // A read-only socket that posts is closed with 1008: final until there is a token to connect with.
  const anonymous = new ChatClient({ url: server.url, reconnect: FAST })
  const readOnly = anonymous.room('lobby')
  await readOnly.ready()
  const closed = nextState(readOnly, 'closed')
  readOnly.send({ type: 'message', text: 'let me in' })
  expect(await closed).toMatchObject({ kind: 'closed', why: 'read-only', code: 1008, reason: 'READ_ONLY' })
  for (const c of [alice, bob, anonymous]) c.close()
})

test('after the server restarts, the socket backs off, reconnects with ?since= the last id, and delivers every message once, in order', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'chat-sdk-'))
  try {
    let server = await startTestServer({ dir })
    const port = Number(new URL(server.url).port)
    const alice = await loggedIn(server, 'alice')
    const recording = recordingWebSocket()
    const bob = await loggedIn(server, 'bob', { WebSocket: recording.WebSocket })
    const writer = alice.room('lobby')
    const reader = bob.room('lobby')
    const seen = collect(reader)
    await reader.ready()
    const m1 = await writer.post('before 1')
    const m2 = await writer.post('before 2')
    await until(() => seen.length === 2, WAIT_MS, 'the first two messages')

    recording.log.blocked = true
    const dropped = nextState(reader, 'waiting')
    await server.stop()
    expect(await dropped).toMatchObject({ kind: 'waiting', code: 1001, reason: 'SHUTDOWN' })
    server = await startTestServer({ dir, config: { port } })
    await writer.ready()
    const m3 = await writer.post('while away 1')
    const m4 = await writer.post('while away 2')
    const failedAttempts = recording.log.urls.length - 1
    expect(failedAttempts).toBeGreaterThan(0)

    recording.log.blocked = false
    await until(() => seen.length >= 4, WAIT_MS, 'the missed messages')
    const m5 = await writer.post('after')
    await until(() => seen.length >= 5, WAIT_MS, 'the live message after the resume')
    expect(seen.map(({ message, source }) => [message.id, source])).toEqual([
      [m1.id, 'live'],
      [m2.id, 'live'],
      [m3.id, 'resume'],
      [m4.id, 'resume'],
      [m5.id, 'live'],
    ])
    // Every attempt after the drop asked for what came after the last message seen.
    expect(recording.log.urls.slice(1).every((url) => url.endsWith(`/api/v1/rooms/lobby/messages/ws?since=${m2.id}`))).toBe(true)
    alice.close()
    bob.close()
    await server.stop()
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

test('batchMs: a room socket asks for ?batch=, also when it resumes, and delivers each event of a batch once, in order, as a plain socket does', async () => {
  await using server = await startTestServer({ config: { messageBurst: 100_000, messageRate: 100_000 } })
  const alice = await loggedIn(server, 'alice')
  const recording = recordingWebSocket()
  const bob = await loggedIn(server, 'bob', { WebSocket: recording.WebSocket })
  const writer = alice.room('lobby')
  await writer.ready()
  const batched = bob.room('lobby', { batchMs: 20 })
  const plain = bob.room('lobby')
  const [seen, seenPlain] = [collect(batched), collect(plain)]
  await Promise.all([batched.ready(), plain.ready()])
  expect(recording.log.urls[0]).toEndWith('/api/v1/rooms/lobby/messages/ws?batch=20')

  const posted = await Promise.all(Array.from({ length: 100 }, (_, i) => writer.post(`burst ${i}`)))
  await until(() => seen.length === 100 && seenPlain.length === 100, WAIT_MS, 'the burst on both sockets')
  expect(seen.map(({ message }) => message.id)).toEqual(posted.map((m) => m.id).sort((a, b) => a - b))
  expect(seen).toEqual(seenPlain)
  // Some WebSocket messages carried several frames, one per line.
  expect(recording.log.received.some((data) => data.includes('\n'))).toBe(true)

  batched.connect()
  await batched.ready()
  expect(recording.log.urls.at(-1)).toEndWith(`/api/v1/rooms/lobby/messages/ws?since=${batched.lastId}&batch=20`)
  const after = await writer.post('after the reconnect')
  await until(() => seen.length === 101, WAIT_MS, 'the live message after the reconnect')
  expect(seen.at(-1)).toEqual({ message: after, source: 'live' })

  for (const batchMs of [-1, 1.5, 51]) expect(() => bob.room('lobby', { batchMs })).toThrow(RangeError)
  alice.close()
  bob.close()
})

test('4001 is never retried with the same token (invalid, then revoked); a new session reconnects the socket', async () => {
  await using server = await startTestServer()
  await new ChatClient({ url: server.url }).signUp('alice', SECRET)
  const recording = recordingWebSocket()
  const client = new ChatClient({
    url: server.url,
    WebSocket: recording.WebSocket,
    reconnect: FAST,
    session: { token: 'not-a-token', user: { id: 1, username: 'alice' } },
  })
  const room = client.room('lobby')
  const errors: string[] = []
  room.on('error', (e) => errors.push(e.type))
  expect(await nextState(room, 'closed')).toEqual({ kind: 'closed', why: 'token', code: 4001, reason: 'TOKEN_INVALID' })
  expect(errors).toEqual(['TOKEN_INVALID'])
  expect(recording.log.urls).toHaveLength(1)
  expect(await failure(room.ready())).toMatchObject({ type: 'CLOSED' })

  // Logging in reconnects the socket that stopped for want of a token.
  const reopened = nextState(room, 'open')
  await client.login('alice', SECRET)
  await reopened
  expect(recording.log.urls).toHaveLength(2)

  const revoked = nextState(room, 'closed')
  await new ChatClient({ url: server.url, session: client.session }).logout()
  expect(await revoked).toEqual({ kind: 'closed', why: 'token', code: 4001, reason: 'TOKEN_REVOKED' })
  expect(recording.log.urls).toHaveLength(2)
  client.close()
})

test('a password change whose answer arrives after the server closed the sockets with 4001 moves them to the new token', async () => {
  await using server = await startTestServer()
  // The password change's answer is held until the server has closed the old token's sockets, as a
  // slow network may deliver it.
  let revokedSeen: () => void = () => {}
  const closedFirst = new Promise<void>((resolve) => (revokedSeen = resolve))
  const holding = async (input: string, init?: RequestInit) => {
    const response = await fetch(input, init)
    if (input.endsWith('/password')) await closedFirst
    return response
  }
  const recording = recordingWebSocket()
  const alice = await loggedIn(server, 'alice', { fetch: holding, WebSocket: recording.WebSocket })
  const room = alice.room('lobby')
  await nextState(room, 'open')
  const states: SocketState[] = []
  room.on('state', (s) => states.push(s))
  const changed = alice.changePassword(SECRET, 'a new secret')
  // The server closes the old token's socket with 4001 within 2 s (spec §5), the answer still held.
  await until(() => recording.log.closes.includes(4001), WAIT_MS, 'the old token’s socket closed with 4001')
  await Bun.sleep(100)
  expect(recording.log.urls).toHaveLength(1)
  const reopened = nextState(room, 'open')
  revokedSeen()
  await changed
  await withTimeout(reopened, WAIT_MS, 'the socket on the new token')
  expect(states.filter((s) => s.kind === 'closed')).toEqual([])
  expect(recording.log.protocols.at(-1)).toEqual([alice.token!])
  alice.close()
}, 15_000)

test('4004 and 4003 are final; 4029 backs off far longer than a dropped connection', async () => {
  await using server = await startTestServer({ config: { maxConnectionsPerAddress: 2 } })
  const alice = await loggedIn(server, 'alice')
  const recording = recordingWebSocket()
  const bob = await loggedIn(server, 'bob', { WebSocket: recording.WebSocket })
  await alice.createRoom('secret', { visibility: 'private' })

  const hidden = bob.room('secret')
  expect(await nextState(hidden, 'closed')).toEqual({ kind: 'closed', why: 'not-found', code: 4004, reason: 'ROOM_NOT_FOUND' })

  const lobby = bob.room('lobby')
  await lobby.ready()
  const third = alice.room('lobby')
  await third.ready()
  const busy = (await nextState(alice.room('elsewhere'), 'waiting')) as Extract<SocketState, { kind: 'waiting' }>
  expect(busy).toMatchObject({ code: 4029, reason: 'CONNECTION_LIMIT' })
  expect(busy.delayMs).toBeGreaterThanOrEqual(FAST.busyBaseMs / 2)
  third.close()

  const banned = nextState(lobby, 'closed')
  const ban = await request(`${server.url}/api/v1/admin/users/${bob.user!.id}/ban`, { method: 'PUT', headers: { Authorization: `Bearer ${alice.token}` } })
  expect(ban.status).toBe(204)
  expect(await banned).toEqual({ kind: 'closed', why: 'banned', code: 4003, reason: 'BANNED' })
  expect(recording.log.urls).toHaveLength(2)

  for (let attempt = 0; attempt < 12; attempt++) {
    const delay = backoffDelay(attempt, FAST.baseMs, FAST.maxMs)
    const ceiling = Math.min(FAST.maxMs, FAST.baseMs * 2 ** attempt)
    expect(delay).toBeGreaterThanOrEqual(ceiling / 2)
    expect(delay).toBeLessThanOrEqual(ceiling)
  }
  alice.close()
  bob.close()
})

test('keep-alive: an open socket pings on its own and stays the same connection', async () => {
  await using server = await startTestServer()
  const recording = recordingWebSocket()
  const client = new ChatClient({ url: server.url, WebSocket: recording.WebSocket, reconnect: { ...FAST, pingEveryMs: 30 } })
  const room = client.room('lobby')
  await room.ready()
  await until(() => recording.log.sent.filter((f) => f === '{"type":"ping"}').length >= 3, WAIT_MS, 'three pings')
  expect(room.state).toEqual({ kind: 'open' })
  expect(recording.log.urls).toHaveLength(1)
  client.close()
  expect(room.state).toMatchObject({ kind: 'closed', why: 'client' })
})

test('the token is refreshed before it expires, and a socket closed as the old one expires resumes with the new one', async () => {
  await using server = await startTestServer({ config: { tokenTtlSeconds: 3 } })
  const alice = await loggedIn(server, 'alice')
  const recording = recordingWebSocket()
  const bob = new ChatClient({ url: server.url, WebSocket: recording.WebSocket, reconnect: FAST })
  await bob.signUp('bob', SECRET)
  const firstToken = (await bob.login('bob', SECRET)).token
  const refreshed = nextEvent(bob, 'session', (_, why) => why === 'refresh')
  const room = bob.room('lobby')
  const seen = collect(room)
  await room.ready()
  const writer = alice.room('lobby')
  const m1 = await writer.post('before the expiry')
  await until(() => seen.length === 1, WAIT_MS, 'the first message')

  await refreshed
  expect(bob.token).not.toBe(firstToken)
  const resumed = nextEvent(room, 'welcome', (_, { resumed }) => resumed)
  await resumed
  expect(recording.log.urls).toHaveLength(2)
  expect(recording.log.urls[1]).toEndWith(`?since=${m1.id}`)
  const m2 = await writer.post('after the expiry')
  await until(() => seen.length === 2, WAIT_MS, 'the message after the resume')
  expect(seen.map(({ message }) => message.id)).toEqual([m1.id, m2.id])
  expect(await bob.me()).toMatchObject({ username: 'bob' })
  alice.close()
  bob.close()
}, 15_000)

test('the user stream: welcome, live mentions; without a session it does not connect', async () => {
  await using server = await startTestServer()
  const alice = await loggedIn(server, 'alice')
  const bob = await loggedIn(server, 'bob')
  const stream = alice.userStream()
  const [welcome] = await nextEvent(stream, 'welcome')
  expect(welcome).toMatchObject({ user: alice.user!, mentions: [] })
  const mentioned = nextEvent(stream, 'mention')
  const posted = await bob.room('lobby').post('hey @alice')
  const [event, info] = await mentioned
  expect(event).toMatchObject({ room: 'lobby', message: { id: posted.id, text: 'hey @alice' } })
  expect(info).toEqual({ replayed: false })
  expect(stream.lastMentionId).toBe(posted.id)

  const anonymous = new ChatClient({ url: server.url })
  expect(anonymous.userStream().state).toMatchObject({ kind: 'closed', why: 'token' })
  for (const c of [alice, bob, anonymous]) c.close()
})

test('the admin API: registration mode, invites, users, roles, bans, password resets and the audit log; a member is refused', async () => {
  await using server = await startTestServer()
  const root = await loggedIn(server, 'root') // the first account is the admin
  const bob = await loggedIn(server, 'bob')
  expect(await root.admin.registration()).toBe('open')
  expect(await root.admin.setRegistration('invite')).toBe('invite')
  const { code, ...invite } = await root.admin.createInvite({ uses: 2, expiresIn: 3600 })
  expect(code).toHaveLength(22)
  expect(invite).toEqual({ uses: 2, used: 0, expiresAt: expect.any(String) })
  expect((await root.admin.createInvite({ uses: 1 })).expiresAt).toBeNull()
  expect((await root.admin.invites()).map((i) => i.code)).toContain(code)
  await root.admin.revokeInvite(code)
  expect((await root.admin.invites()).map((i) => i.code)).not.toContain(code)

  const page = await root.admin.users({ q: 'bo', limit: 10 })
  expect(page).toEqual({ users: [expect.objectContaining({ username: 'bob', role: 'member', banned: false })], hasMore: false })
  const bobId = page.users[0]!.id
  expect(await root.admin.setRole(bobId, 'admin')).toEqual({ id: bobId, username: 'bob', role: 'admin' })
  await root.admin.setRole(bobId, 'member')
  await root.admin.ban(bobId, 'spam')
  expect((await root.admin.users({ q: 'bob' })).users[0]).toMatchObject({ banned: true })
  await root.admin.unban(bobId)
  await root.admin.resetPassword(bobId, 'another long secret')
  await bob.login('bob', 'another long secret')
  const audit = await root.admin.audit({ limit: 50 })
  expect(audit.entries.map((e) => e.action)).toEqual(expect.arrayContaining(['invite.create', 'user.ban', 'user.unban', 'user.role']))
  expect(await failure(bob.admin.invites())).toMatchObject({ type: 'FORBIDDEN', status: 403 })
  const nobody = new ChatClient({ url: server.url })
  expect(await failure(nobody.admin.audit())).toMatchObject({ type: 'TOKEN_INVALID', status: 401 })
  for (const c of [root, bob, nobody]) c.close()
})

test('checkAlive pings at once; refreshIfDue refreshes only once the refresh is due', async () => {
  await using server = await startTestServer({ config: { tokenTtlSeconds: 5 } })
  const recording = recordingWebSocket()
  const client = new ChatClient({ url: server.url, WebSocket: recording.WebSocket, autoRefresh: false, reconnect: FAST })
  await client.signUp('alice', SECRET)
  const first = (await client.login('alice', SECRET)).token
  const room = client.room('lobby')
  await room.ready()
  room.checkAlive()
  expect(recording.log.sent).toEqual(['{"type":"ping"}'])
  await Bun.sleep(100)
  expect(room.state).toEqual({ kind: 'open' })

  const changes: string[] = []
  client.on('session', (_, why) => changes.push(why))
  client.refreshIfDue()
  await Bun.sleep(100)
  expect(changes).toEqual([])
  // The refresh is due a fifth of the token's 5 s lifetime before it expires.
  await Bun.sleep(readTokenTimes(first)!.exp * 1000 - 1000 + 50 - Date.now())
  const refreshed = nextEvent(client, 'session')
  client.refreshIfDue()
  expect(await refreshed).toEqual([client.session, 'refresh'])
  expect(client.token).not.toBe(first)
  client.close()
}, 10_000)

test('an API token is used as is by every call and socket, never refreshed whatever its form; a login replaces it', async () => {
  await using server = await startTestServer({ config: { tokenTtlSeconds: 2 } })
  const owner = await loggedIn(server, 'alice')
  owner.close()
  // A login token, with its `exp`, stands in for an API token: the client must not look at it.
  const token = owner.token!
  const requests: string[] = []
  const recording = recordingWebSocket()
  const client = new ChatClient({
    url: server.url,
    apiToken: token,
    WebSocket: recording.WebSocket,
    reconnect: FAST,
    fetch: (input, init) => {
      requests.push(`${init?.method} ${new URL(input).pathname} ${new Headers(init?.headers).get('Authorization')}`)
      return fetch(input, init)
    },
  })
  const changes: string[] = []
  client.on('session', (_, why) => changes.push(why))
  expect(client.token).toBe(token)
  expect(client.session).toBeUndefined()
  expect(client.user).toBeUndefined()
  expect(await client.me()).toMatchObject({ username: 'alice' })
  const room = client.room('lobby')
  await room.ready()
  expect(recording.log.protocols).toEqual([[token]])
  expect(await room.post('as is')).toMatchObject({ user: { username: 'alice' } })
  expect(await failure(client.refresh())).toBeInstanceOf(TypeError)

  // Past the time a session's token would be refreshed: a fifth of its 2 s lifetime before `exp`.
  await Bun.sleep(readTokenTimes(token)!.exp * 1000 - 300 - Date.now())
  client.refreshIfDue()
  await Bun.sleep(50)
  expect(requests).toEqual([`GET /api/v1/users/me Bearer ${token}`])
  expect(changes).toEqual([])

  expect(() => new ChatClient({ url: server.url, apiToken: token, session: owner.session })).toThrow(TypeError)
  await client.login('alice', SECRET)
  expect(client.token).not.toBe(token)
  expect(changes).toEqual(['login'])
  client.close()
})

test('an API token the server refuses: 401 on REST, and a socket that stops at 4001 without retrying', async () => {
  await using server = await startTestServer()
  const recording = recordingWebSocket()
  const client = new ChatClient({ url: server.url, apiToken: `cbt_1_0_${'A'.repeat(43)}`, WebSocket: recording.WebSocket, reconnect: FAST })
  expect(await failure(client.me())).toMatchObject({ type: 'TOKEN_INVALID', status: 401 })
  expect(await nextState(client.room('lobby'), 'closed')).toEqual({ kind: 'closed', why: 'token', code: 4001, reason: 'TOKEN_INVALID' })
  expect(recording.log.urls).toHaveLength(1)
  client.close()
})

test('bots through the admin API: the API token of a new bot posts and reads; a new token revokes the old one (401, 4001); revoke, delete', async () => {
  await using server = await startTestServer()
  const root = await loggedIn(server, 'root') // the first account is the admin
  const bob = await loggedIn(server, 'bob')
  const { bot, token } = await root.admin.createBot('helper')
  expect(bot).toEqual({ id: expect.any(Number), username: 'helper', createdAt: expect.any(String), hasToken: true })
  expect(token).toMatch(new RegExp(`^cbt_${bot.id}_\\d+_[A-Za-z0-9_-]{43}$`))
  expect(await root.admin.bots()).toEqual([bot])

  const helper = new ChatClient({ url: server.url, apiToken: token, reconnect: FAST })
  expect(await helper.me()).toMatchObject({ id: bot.id, username: 'helper' })
  const room = helper.room('lobby')
  await room.ready()
  const posted = await room.post('beep')
  expect(posted.user).toEqual({ id: bot.id, username: 'helper' })
  expect((await bob.history('lobby')).messages.map((m) => m.id)).toEqual([posted.id])

  const closed = nextState(room, 'closed')
  const renewed = await root.admin.issueBotToken(bot.id)
  expect(renewed).toEqual({ bot: { ...bot, hasToken: true }, token: expect.stringMatching(new RegExp(`^cbt_${bot.id}_`)) })
  expect(renewed.token).not.toBe(token)
  expect(await closed).toMatchObject({ kind: 'closed', why: 'token', code: 4001 })
  expect(await failure(helper.me())).toMatchObject({ type: 'TOKEN_INVALID', status: 401 })

  const again = new ChatClient({ url: server.url, apiToken: renewed.token })
  expect(await again.me()).toMatchObject({ id: bot.id })
  await root.admin.revokeBotToken(bot.id)
  expect(await failure(again.me())).toMatchObject({ type: 'TOKEN_INVALID', status: 401 })
  expect(await root.admin.bots()).toEqual([{ ...bot, hasToken: false }])
  await root.admin.deleteBot(bot.id)
  expect(await root.admin.bots()).toEqual([])
  expect(await failure(bob.admin.createBot('nope'))).toMatchObject({ type: 'FORBIDDEN', status: 403 })
  for (const c of [root, bob, helper, again]) c.close()
})

test('webhooks through the admin API: an incoming one posts as its bot; an outgoing one delivers signed messages and lists its deliveries', async () => {
  await using server = await startTestServer()
  const root = await loggedIn(server, 'root')
  const bob = await loggedIn(server, 'bob')
  const { bot } = await root.admin.createBot('hooks')

  const incoming = await root.admin.createIncomingWebhook({ room: 'lobby', botId: bot.id, name: 'ci' })
  expect(incoming.webhook).toEqual({ id: expect.any(Number), name: 'ci', room: 'lobby', bot: { id: bot.id, username: 'hooks' }, createdAt: expect.any(String) })
  expect(incoming.url).toBe(`/api/v1/hooks/${incoming.token}`)
  expect(await root.admin.incomingWebhooks()).toEqual([incoming.webhook])
  const hooked = await request(server.url + incoming.url, { json: { text: 'build passed' } })
  expect(hooked.status).toBe(201)
  expect(hooked.body.data.message).toMatchObject({ room: 'lobby', user: { id: bot.id, username: 'hooks' }, text: 'build passed' })
  await root.admin.deleteIncomingWebhook(incoming.webhook.id)
  expect(await root.admin.incomingWebhooks()).toEqual([])
  expect((await request(server.url + incoming.url, { json: { text: 'again' } })).status).toBeGreaterThanOrEqual(400)

  const received: WebhookPayload[] = []
  const refused: unknown[] = []
  let secret = ''
  const receiver = Bun.serve({
    port: 0,
    hostname: '127.0.0.1',
    fetch: async (req) => {
      try {
        received.push(await verifyWebhook(secret, req.headers, await req.text()))
        return new Response(null, { status: 204 })
      } catch (err) {
        refused.push(err)
        return new Response(null, { status: 400 })
      }
    },
  })
  try {
    const url = `http://127.0.0.1:${receiver.port}/hook`
    const outgoing = await root.admin.createOutgoingWebhook({ url, rooms: ['lobby'], name: 'audit' })
    secret = outgoing.secret
    expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]+=*$/)
    expect(outgoing.webhook).toEqual({ id: expect.any(Number), name: 'audit', url, rooms: ['lobby'], bot: null, createdAt: expect.any(String) })
    expect(await root.admin.outgoingWebhooks()).toEqual([outgoing.webhook])

    const posted = await bob.room('lobby').post('to the outside')
    await until(
      () => {
        expect(refused).toEqual([])
        return received.length === 1
      },
      WAIT_MS,
      'the delivery',
    )
    expect(received[0]).toMatchObject({ type: 'message', data: { room: 'lobby', message: { id: posted.id, text: 'to the outside' } } })
    await until(
      async () => {
        const page = await root.admin.deliveries(outgoing.webhook.id, { limit: 10 })
        expect(page).toEqual({
          deliveries: [
            expect.objectContaining({
              event: 'message',
              room: 'lobby',
              messageId: posted.id,
              status: 'delivered',
              attempts: 1,
              responseStatus: 204,
              error: null,
            }),
          ],
          hasMore: false,
        })
        return true
      },
      WAIT_MS,
      'the delivery listed as delivered',
    )
    await root.admin.deleteOutgoingWebhook(outgoing.webhook.id)
    expect(await root.admin.outgoingWebhooks()).toEqual([])
    expect(await failure(bob.admin.outgoingWebhooks())).toMatchObject({ type: 'FORBIDDEN', status: 403 })
  } finally {
    await receiver.stop(true)
  }
  for (const c of [root, bob]) c.close()
})
