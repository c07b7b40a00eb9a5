/**
 * docs/asyncapi.yaml, the machine-readable WebSocket protocol, is written by hand; this test keeps it
 * from drifting. It must be a valid AsyncAPI 3 document (@asyncapi/parser); its frames, error types,
 * close codes, limits and paths must be those the protocol modules declare (src/protocol*.ts, whose
 * frame lists are checked against the TypeScript unions at compile time); and every frame a running
 * server sends, and every frame a client may send, must match the document's schema for it.
 */
import { Parser } from '@asyncapi/parser'
import Ajv, { type ValidateFunction } from 'ajv'
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { join } from 'node:path'
import pkg from '../../package.json'
import { CONVERSATION_LIMITS, CONVERSATION_PATHS } from '../../src/protocol-conversation.ts'
import { ERROR_TYPES, ROOM_CLIENT_FRAMES, ROOM_SERVER_FRAMES, USER_STREAM_CLIENT_FRAMES, USER_STREAM_SERVER_FRAMES } from '../../src/protocol-frames.ts'
import { ROOM_LIMITS, ROOM_PATHS } from '../../src/protocol-rooms.ts'
import { BATCH } from '../../src/protocol-batch.ts'
import { CLOSE, LIMITS, PATHS, ROOM_NAME } from '../../src/protocol.ts'
import { makePng } from '../support/images.ts'
import { cast, createRoom, joinRoom, openUserStream, userStreamUrl, WAIT_MS } from '../support/private-rooms.ts'
import { roomWs } from '../support/rooms.ts'
import { startTestServer, type TestServer } from '../support/server.ts'
import { openSocket, type TestSocket } from '../support/socket.ts'
import { frameWhere, withTimeout } from '../support/wait.ts'

const FILE = join(import.meta.dir, '..', '..', 'docs', 'asyncapi.yaml')
const source = await Bun.file(FILE).text()
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Node = any
const doc: Node = Bun.YAML.parse(source)

/** The object a local `$ref` (`#/a/b`) points at, or `node` itself when it is not a reference. */
function deref(node: Node): Node {
  if (typeof node?.$ref !== 'string') return node
  return deref(
    node.$ref
      .slice(2)
      .split('/')
      .reduce((at: Node, key: string) => at[key], doc),
  )
}

type Channel = 'room' | 'userStream'
type Direction = 'send' | 'receive'

/** A message of a channel's operations: its frame `type` (the message's name), the `type` its payload requires, and its payload's `$ref`. */
type FrameEntry = { channel: Channel; direction: Direction; ref: string; name: string; payloadType: string; payload: string }

/** The frames of a channel's operations and their replies, from the server's side: `send` is a server frame. */
function entriesOf(channel: Channel): FrameEntry[] {
  const entry = (direction: Direction, ref: Node): FrameEntry => {
    const message = deref(ref)
    return { channel, direction, ref: ref.$ref, name: message.name, payloadType: deref(message.payload).properties.type.const, payload: message.payload.$ref }
  }
  return Object.values<Node>(doc.operations)
    .filter((op) => op.channel.$ref === `#/channels/${channel}`)
    .flatMap((op) => [...op.messages.map((ref: Node) => entry(op.action, ref)), ...(op.reply?.messages ?? []).map((ref: Node) => entry('send', ref))])
}

/** Per channel and direction: frame type → its payload schema's `$ref`. */
function framesOf(channel: Channel): Record<Direction, Map<string, string>> {
  const frames: Record<Direction, Map<string, string>> = { send: new Map(), receive: new Map() }
  for (const e of entriesOf(channel)) frames[e.direction].set(e.name, e.payload)
  return frames
}
const FRAMES: Record<Channel, Record<Direction, Map<string, string>>> = { room: framesOf('room'), userStream: framesOf('userStream') }

const sorted = (list: Iterable<string>) => [...list].sort()
const schema = (name: string) => doc.components.schemas[name]

describe('the document', () => {
  test('is valid AsyncAPI 3 (@asyncapi/parser): no error, no warning, and no other note than that 3.1.0 exists', async () => {
    const { document, diagnostics } = await new Parser().parse(source)
    const listed = diagnostics.map((d) => ({ severity: d.severity, code: d.code, message: d.message, path: d.path.join('.') }))
    // Spectral's scale: 0 an error, 1 a warning, 2 information, 3 a hint.
    expect(listed.filter((d) => d.severity <= 1)).toEqual([])
    expect(listed.map((d) => `${d.severity} ${d.code}`)).toEqual(['2 asyncapi-latest-version'])
    expect(document?.version()).toBe('3.0.0')
    // The parser loads its Spectral rulesets first: seconds, more on a busy machine.
  }, 30_000)

  test('describes the version of the server it comes with', () => {
    expect(doc.info.version).toBe(pkg.version)
  })

  test('has the two endpoints at their paths, with the resume cursor, batched delivery (rooms) and the token as the connect rules', () => {
    expect(doc.channels.room.address).toBe(decodeURIComponent(PATHS.roomSocket('{room}')))
    expect(doc.channels.userStream.address).toBe(ROOM_PATHS.userStream)
    expect(Object.keys(doc.channels)).toEqual(['room', 'userStream'])
    expect(doc.channels.room.parameters.room['x-pattern']).toBe(ROOM_NAME.source)
    expect(schema('RoomName').pattern).toBe(ROOM_NAME.source)
    for (const [channel, query] of [
      ['room', ['since', BATCH.PARAM]],
      ['userStream', ['since']],
    ] as const) {
      const ws = doc.channels[channel].bindings.ws
      expect(Object.keys(deref(ws.query).properties)).toEqual([...query])
      expect(Object.keys(deref(ws.headers).properties)).toEqual(['Sec-WebSocket-Protocol'])
    }
    expect(deref(doc.channels.room.bindings.ws.query).properties[BATCH.PARAM]).toMatchObject({ type: 'integer', minimum: 0, maximum: BATCH.MAX_MS })
    expect(doc.components.securitySchemes.token).toMatchObject({ type: 'httpApiKey', in: 'header', name: 'Sec-WebSocket-Protocol' })
  })

  test("names each frame by its `type`, and takes an operation's messages from its own channel", () => {
    for (const e of [...entriesOf('room'), ...entriesOf('userStream')]) {
      expect({ ref: e.ref, type: e.payloadType }).toEqual({ ref: `#/channels/${e.channel}/messages/${e.ref.split('/').at(-1)}`, type: e.name })
    }
  })

  test('has exactly the frames of the protocol modules, each way, on each endpoint', () => {
    const { room, userStream: stream } = FRAMES
    expect(sorted(room.send.keys())).toEqual(sorted(ROOM_SERVER_FRAMES))
    expect(sorted(room.receive.keys())).toEqual(sorted(ROOM_CLIENT_FRAMES))
    expect(sorted(stream.send.keys())).toEqual(sorted(USER_STREAM_SERVER_FRAMES))
    expect(sorted(stream.receive.keys())).toEqual(sorted(USER_STREAM_CLIENT_FRAMES))
    // No message of a channel is left out of its operations.
    expect(Object.keys(doc.channels.room.messages).length).toBe(room.send.size + room.receive.size)
    expect(Object.keys(doc.channels.userStream.messages).length).toBe(stream.send.size + stream.receive.size)
  })

  test('lists every error type, and no other', () => {
    expect(schema('WireError').properties.type.enum).toEqual([...ERROR_TYPES])
  })

  test('documents every close code and reason of the protocol module, with what a client should do', () => {
    const documented = (channel: Channel) => (doc.channels[channel]['x-close-codes'] as Node[]).map(deref)
    const all = [...documented('room'), ...documented('userStream')]
    const key = (c: { code: number; reason: string }) => `${c.code} ${c.reason}`
    expect(sorted(new Set(all.map(key)))).toEqual(sorted(Object.values(CLOSE).map(key)))
    for (const close of all) {
      expect(close.meaning).toEqual(expect.any(String))
      expect(close.client).toEqual(expect.any(String))
      if (close.errorFrame !== undefined) expect(ERROR_TYPES).toContain(close.errorFrame)
    }
    // A room socket may be read-only and may name a room it can't read; the user stream is neither.
    expect(documented('userStream').map(key)).not.toContain(key(CLOSE.READ_ONLY))
    expect(documented('userStream').map(key)).not.toContain(key(CLOSE.ROOM_NOT_FOUND))
  })

  test('states the limits the protocol modules declare', () => {
    expect(doc.channels.room['x-limits']).toEqual({
      frameMaxBytes: LIMITS.FRAME_MAX_BYTES,
      historySize: LIMITS.HISTORY_SIZE,
      resumeMax: LIMITS.RESUME_MAX,
      typingIntervalMs: ROOM_LIMITS.TYPING_INTERVAL_MS,
      batchMaxMs: BATCH.MAX_MS,
    })
    expect(doc.channels.userStream['x-limits']).toEqual({
      frameMaxBytes: LIMITS.FRAME_MAX_BYTES,
      resumeMax: LIMITS.RESUME_MAX,
      unreadCoalesceMs: ROOM_LIMITS.UNREAD_COALESCE_MS,
    })
    expect(schema('Text').maxLength).toBe(LIMITS.TEXT_MAX_LENGTH)
    expect(schema('SendMessageFrame').properties.nonce.maxLength).toBe(LIMITS.NONCE_MAX_LENGTH)
    expect(schema('TextMessage').properties.nonce.maxLength).toBe(LIMITS.NONCE_MAX_LENGTH)
    expect(schema('SendMessageFrame').properties.attachments.maxItems).toBe(CONVERSATION_LIMITS.ATTACHMENTS_PER_MESSAGE)
    expect(schema('TextMessage').properties.attachments.maxItems).toBe(CONVERSATION_LIMITS.ATTACHMENTS_PER_MESSAGE)
    expect(schema('Quote').properties.text.maxLength).toBe(CONVERSATION_LIMITS.QUOTE_MAX_LENGTH)
    expect(schema('User').properties.username.maxLength).toBe(LIMITS.USERNAME_MAX_LENGTH)
    expect(schema('MyRoom').properties.topic.maxLength).toBe(ROOM_LIMITS.TOPIC_MAX_LENGTH)
  })
})

/** The document's JSON Schemas, compiled as they are written, strictly (an unknown keyword or a type Ajv can't check is an error). */
const ajv = new Ajv({ strict: true, allowUnionTypes: true, validateFormats: false, allErrors: true })
// The root holds only the schemas, under the path their `$ref`s name; `components` is a keyword Ajv is told to pass over.
ajv.addKeyword('components')
ajv.addSchema({ components: { schemas: doc.components.schemas } }, 'asyncapi')
const compiled = new Map<string, ValidateFunction>()
function validator(ref: string): ValidateFunction {
  let validate = compiled.get(ref)
  if (!validate) compiled.set(ref, (validate = ajv.getSchema(`asyncapi${ref}`)!))
  return validate
}

/** Why `frame` does not match the schema of its `type` going `direction` on `channel` (an empty list when it does). */
function violations(channel: Channel, direction: Direction, frame: Node): string[] {
  const ref = FRAMES[channel][direction].get(frame?.type)
  if (ref === undefined) return [`no ${direction} frame of type ${JSON.stringify(frame?.type)} on ${channel}`]
  const validate = validator(ref)
  return validate(frame) ? [] : validate.errors!.map((e) => `${e.instancePath} ${e.message} ${JSON.stringify(e.params)}`)
}

test("every message's examples match its payload", () => {
  for (const [name, message] of Object.entries<Node>(doc.components.messages)) {
    const validate = validator(message.payload.$ref)
    for (const example of message.examples ?? [])
      expect({ name, valid: validate(example.payload), errors: validate.errors }).toEqual({ name, valid: true, errors: null })
  }
})

describe('frames a running server exchanges', () => {
  let server: TestServer
  /** Every socket the test opens, with its channel, so each frame it received is checked at the end. */
  const opened: { channel: Channel; socket: TestSocket }[] = []
  const sent: Record<Channel, Set<string>> = { room: new Set(), userStream: new Set() }

  beforeAll(async () => {
    server = await startTestServer()
  })
  afterAll(async () => {
    for (const { socket } of opened) socket.close()
    await server.stop()
  })

  async function open(channel: Channel, url: string, token?: string): Promise<TestSocket> {
    const socket = await openSocket(url, token === undefined ? undefined : [token])
    opened.push({ channel, socket })
    return socket
  }

  /** Sends a client frame the document allows, after checking it against the document. */
  function send(channel: Channel, socket: TestSocket, frame: Node): void {
    expect(violations(channel, 'receive', frame)).toEqual([])
    sent[channel].add(frame.type)
    socket.send(frame)
  }

  const next = (socket: TestSocket, what: string, predicate: (f: Node) => boolean) => frameWhere(socket, predicate, WAIT_MS, what)
  const closeOf = (socket: TestSocket, what: string) => withTimeout(socket.closed, WAIT_MS, what)

  test('match their schemas, in every frame type both ways', async () => {
    const [alice, bob] = await cast(server, 'alice', 'bob')
    const { stream } = await openUserStream(server, bob!)
    opened.push({ channel: 'userStream', socket: stream })
    await joinRoom(server, bob!, 'lobby')
    await next(stream, 'room', (f) => f.type === 'room' && f.data.member)

    const a = await open('room', roomWs(server, 'lobby'), alice!.token)
    await next(a, 'welcome', (f) => f.type === 'welcome')
    // A batched reader's frames, once split on newlines, are checked like every other socket's.
    const batched = await open('room', roomWs(server, 'lobby', `?${BATCH.PARAM}=5`))
    await next(batched, 'welcome', (f) => f.type === 'welcome')
    const b = await open('room', roomWs(server, 'lobby'), bob!.token)
    await next(b, 'welcome', (f) => f.type === 'welcome')
    await next(a, 'join', (f) => f.type === 'join')

    const upload = await fetch(`${server.url}${CONVERSATION_PATHS.upload('lobby')}?filename=dot.png`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${bob!.token}` },
      body: makePng(2, 3),
    })
    expect(upload.status).toBe(201)
    const attachment = ((await upload.json()) as Node).data

    // Text limits count code points: 4000 emoji are 8000 UTF-16 units, and fit.
    send('room', a, { type: 'message', text: '😀'.repeat(LIMITS.TEXT_MAX_LENGTH), nonce: 'long' })
    const first = (await next(a, 'the first message', (f) => f.type === 'message' && f.data.nonce === 'long')).data
    send('room', a, { type: 'message', text: 'hello @bob', nonce: 'n1' })
    const hello = (await next(a, 'the mention', (f) => f.type === 'message' && f.data.nonce === 'n1')).data
    await next(stream, 'mention', (f) => f.type === 'mention')
    await next(stream, 'unread', (f) => f.type === 'unread' && f.data.lastMessageId === hello.id)
    send('room', b, { type: 'message', text: 'a reply', nonce: 'n2', replyTo: hello.id, attachments: [attachment.id] })
    await next(a, 'the reply', (f) => f.type === 'message' && f.data.nonce === 'n2')
    const cursor = hello.id

    // After the cursor: changes to messages at or before it, for the resumed welcome's `changes`.
    send('room', b, { type: 'react', id: hello.id, emoji: '👍', on: true })
    await next(a, 'reaction', (f) => f.type === 'reaction')
    send('room', a, { type: 'edit', id: hello.id, text: 'hello again @bob' })
    await next(a, 'edited', (f) => f.type === 'edited')
    send('room', a, { type: 'delete', id: first.id })
    await next(a, 'deleted', (f) => f.type === 'deleted')
    send('room', b, { type: 'typing' })
    await next(a, 'typing', (f) => f.type === 'typing')
    send('room', b, { type: 'read', id: hello.id })
    await next(stream, 'read', (f) => f.type === 'read')
    send('room', a, { type: 'ping' })
    await next(a, 'pong', (f) => f.type === 'pong')
    send('userStream', stream, { type: 'ping' })
    await next(stream, 'pong', (f) => f.type === 'pong')
    stream.send({ type: 'typing' })
    await next(stream, 'error', (f) => f.type === 'error')
    // The schema can't say "shows something"; the server refuses a text of invisible characters alone.
    a.send({ type: 'message', text: '\u200b' })
    await next(a, 'error', (f) => f.type === 'error')

    // A fresh welcome's history and a resumed one's changes: every optional field and kind of change goes on the wire, checked below.
    const fresh = await open('room', roomWs(server, 'lobby'))
    const { history } = (await next(fresh, 'the welcome', (f) => f.type === 'welcome')).data
    expect(history.some((m: Node) => m.deleted === true)).toBe(true)
    expect(history.some((m: Node) => m.editedAt && m.mentions && m.reactions)).toBe(true)
    expect(history.some((m: Node) => m.replyTo && m.attachments?.[0]?.width === 2)).toBe(true)
    const resumed = await open('room', roomWs(server, 'lobby', `?since=${cursor}`), alice!.token)
    const { changes } = (await next(resumed, 'the resumed welcome', (f) => f.type === 'welcome')).data
    expect(sorted(changes.map((c: Node) => c.type))).toEqual(['deleted', 'edited', 'reaction'])
    const { stream: resumedStream, welcome: streamWelcome } = await openUserStream(server, bob!, '?since=0')
    opened.push({ channel: 'userStream', socket: resumedStream })
    expect(streamWelcome.data.mentions.length).toBeGreaterThan(0)
    expect(streamWelcome.data.rooms.length).toBeGreaterThan(0)

    b.close()
    await next(a, 'leave', (f) => f.type === 'leave')

    expect(sorted(sent.room)).toEqual(sorted(ROOM_CLIENT_FRAMES))
    expect(sorted(sent.userStream)).toEqual(sorted(USER_STREAM_CLIENT_FRAMES))
    const seen = (channel: Channel) => new Set(opened.filter((o) => o.channel === channel).flatMap((o) => o.socket.frames.map((f) => f.type as string)))
    expect(sorted(seen('room'))).toEqual(sorted(ROOM_SERVER_FRAMES))
    expect(sorted(seen('userStream'))).toEqual(sorted(USER_STREAM_SERVER_FRAMES))
    for (const { channel, socket } of opened)
      for (const frame of socket.frames) expect({ frame, errors: violations(channel, 'send', frame) }).toEqual({ frame, errors: [] })
  })

  test('close with a documented code and reason, after the documented error frame', async () => {
    const [carol] = await cast(server, 'carol')
    await createRoom(server, carol!, 'secret', 'private')
    const closes: { channel: Channel; socket: TestSocket; act?: (s: TestSocket) => void }[] = [
      { channel: 'room', socket: await open('room', roomWs(server, 'lobby'), 'not-a-token') },
      { channel: 'room', socket: await open('room', roomWs(server, 'secret')) },
      { channel: 'room', socket: await open('room', roomWs(server, 'lobby')), act: (s) => s.send({ type: 'typing' }) },
      { channel: 'room', socket: await open('room', roomWs(server, 'lobby'), carol!.token), act: (s) => s.sendRaw(new Uint8Array([1])) },
      { channel: 'userStream', socket: await open('userStream', userStreamUrl(server)) },
    ]
    for (const { channel, socket, act } of closes) {
      if (act) {
        await next(socket, 'welcome', (f) => f.type === 'welcome')
        act(socket)
      }
      const { code, reason } = await closeOf(socket, `a close on ${channel}`)
      const documented = (doc.channels[channel]['x-close-codes'] as Node[]).map(deref).find((c) => c.code === code && c.reason === reason)
      expect({ code, reason, documented: documented !== undefined }).toEqual({ code, reason, documented: true })
      const last = socket.frames.at(-1)
      expect(documented.errorFrame).toBe(last?.type === 'error' ? last.error!.type : undefined)
      for (const frame of socket.frames) expect(violations(channel, 'send', frame)).toEqual([])
    }
  })

  test('what the document refuses, the server refuses', async () => {
    const [dave] = await cast(server, 'dave')
    const socket = await open('room', roomWs(server, 'lobby'), dave!.token)
    await next(socket, 'welcome', (f) => f.type === 'welcome')
    const refused = [
      { type: 'message', text: '' },
      { type: 'message', text: 'x'.repeat(LIMITS.TEXT_MAX_LENGTH + 1) },
      { type: 'message', text: 'hi', nonce: 'n'.repeat(LIMITS.NONCE_MAX_LENGTH + 1) },
      { type: 'message', text: 'hi', attachments: Array.from({ length: CONVERSATION_LIMITS.ATTACHMENTS_PER_MESSAGE + 1 }, (_, i) => `a${i}`) },
      { type: 'edit', id: 0, text: 'hi' },
      { type: 'react', id: 1, emoji: '👍' },
      { type: 'read', id: '1' },
      { type: 'shout' },
    ]
    for (const frame of refused) {
      expect({ frame, valid: violations('room', 'receive', frame).length === 0 }).toEqual({ frame, valid: false })
      const before = socket.frames.length
      socket.send(frame)
      const answer = await next(socket, `the answer to ${JSON.stringify(frame)}`, (f) => socket.frames.indexOf(f) >= before)
      expect(answer).toMatchObject({ type: 'error', error: { type: 'MESSAGE_INVALID' } })
    }
  })
})
