/**
 * Helpers for the tests of spec §6 (private rooms, direct messages, membership, unread state, the
 * user stream): registered rooms, members, DMs, read markers, "my rooms", the user stream, and what
 * an outsider of a private room sees (REST 404 ROOM_NOT_FOUND, socket `error` ROOM_NOT_FOUND + 4004).
 */
import { expect } from 'bun:test'
import { CLOSE, PATHS, ROOM_PATHS, type ErrorType, type MyRoom, type RoomInfo, type Visibility, type WireError } from '../../packages/client/src/index.ts'
import { call } from './accounts.ts'
import { TestClient } from './client.ts'
import { register, type Account, type ApiResponse } from './http.ts'
import { OPCODE, rawUpgrade, type RawFrame } from './raw-ws.ts'
import { errorFrame, roomWs } from './rooms.ts'
import type { TestServer } from './server.ts'
import { openSocket, type Frame, type TestSocket } from './socket.ts'
import { frameWhere, until, withTimeout } from './wait.ts'

export const WAIT_MS = 3_000

/** Signs up `names` in order (the first account of a server becomes its admin, spec §5). */
export async function cast(server: TestServer, ...names: string[]): Promise<Account[]> {
  const accounts: Account[] = []
  for (const name of names) accounts.push(await register(server.url, name))
  return accounts
}

/** A client SDK session of `account` on the server (through the OpenAPI proxy when it is on). */
const as = (server: TestServer, account: Account) => new TestClient(server.url, account)

/** `POST /api/v1/rooms`, which must answer 201; resolves with the room it answers. */
export async function createRoom(server: TestServer, owner: Account, name: string, visibility: Visibility = 'private', topic?: string): Promise<RoomInfo> {
  return as(server, owner).must(201, `registering ${name}`, (c) => c.createRoom(name, { visibility, topic }))
}

/** `PUT /api/v1/rooms/{room}/members/{username}` by `by`, which must answer 204. */
export async function addMember(server: TestServer, by: Account, room: string, username: string): Promise<void> {
  return as(server, by).must(204, `adding ${username} to ${room}`, (c) => c.addMember(room, username))
}

/** `DELETE /api/v1/rooms/{room}/members/{username}` by `by`, which must answer 204. */
export async function removeMember(server: TestServer, by: Account, room: string, username: string): Promise<void> {
  return as(server, by).must(204, `removing ${username} from ${room}`, (c) => c.removeMember(room, username))
}

/** `POST /api/v1/dms {"username"}`; resolves with the DM room's name. */
export async function openDm(server: TestServer, by: Account, username: string): Promise<string> {
  return as(server, by).must(200, `opening a DM with ${username}`, (c) => c.openDm(username))
}

/** `PUT /api/v1/users/me/rooms/{room}` (join), which must answer 204. */
export async function joinRoom(server: TestServer, account: Account, room: string): Promise<void> {
  return as(server, account).must(204, `${account.user.username} joining ${room}`, (c) => c.joinRoom(room))
}

/** `PUT /api/v1/users/me/rooms/{room}/read {"id"}`, which must answer 204. */
export async function markRead(server: TestServer, account: Account, room: string, id: number): Promise<void> {
  return as(server, account).must(204, `${account.user.username} reading ${room} up to ${id}`, (c) => c.markRead(room, id))
}

/** `GET /api/v1/users/me/rooms`. */
export async function myRooms(server: TestServer, account: Account): Promise<MyRoom[]> {
  return as(server, account).must(200, `${account.user.username}'s rooms`, (c) => c.myRooms())
}

/** One room of `GET /api/v1/users/me/rooms`, or undefined when the user is not in it. */
export async function myRoom(server: TestServer, account: Account, room: string): Promise<MyRoom | undefined> {
  return (await myRooms(server, account)).find((r) => r.name === room)
}

/** Waits until the user's list shows `room` with these fields (counts may be updated just after an acknowledgement). */
export async function expectMyRoom(server: TestServer, account: Account, room: string, fields: Partial<MyRoom>): Promise<void> {
  await until(
    async () => {
      expect(await myRoom(server, account, room)).toMatchObject(fields)
      return true
    },
    WAIT_MS,
    `${account.user.username}'s ${room} to show ${JSON.stringify(fields)}`,
  )
}

/** The GET answer a room path gives `account` (or anyone without a token). */
export function get(server: TestServer, path: string, account?: Account): Promise<ApiResponse> {
  return call(server.url, 'GET', path, account?.token)
}

/** /api/v1/rooms/{room}/messages, the room percent-encoded, with an optional query. */
export const historyPath = (room: string, query = '') => `${PATHS.roomMessages(room)}${query}`

/** ws://…/api/v1/users/me/ws with an optional query. */
export function userStreamUrl(server: TestServer, query = ''): string {
  return `${server.wsUrl}${ROOM_PATHS.userStream}${query}`
}

/** Opens the user's stream and waits for its `welcome`. */
export async function openUserStream(server: TestServer, account: Account, query = ''): Promise<{ stream: TestSocket; welcome: Frame }> {
  const stream = await openSocket(userStreamUrl(server, query), [account.token])
  const welcome = await withTimeout(stream.next(), WAIT_MS, 'the user stream welcome')
  if (welcome.type !== 'welcome') throw new Error(`the user stream's first frame is not welcome: ${JSON.stringify(welcome)}`)
  return { stream, welcome }
}

/** A room socket (logged in when `account` is given), once its `welcome` has come. */
export async function connectRoom(server: TestServer, room: string, account?: Account, query = ''): Promise<TestSocket> {
  const socket = await openSocket(roomWs(server, room, query), account === undefined ? undefined : [account.token])
  const welcome = await withTimeout(socket.next(), WAIT_MS, `the welcome of ${room}`)
  if (welcome.type !== 'welcome') throw new Error(`${room}: first frame is not welcome: ${JSON.stringify(welcome)}`)
  return socket
}

/**
 * Spec §6: an outsider's socket to a private room (anonymous included) is upgraded, gets one `error`
 * frame ROOM_NOT_FOUND, then close 4004 ROOM_NOT_FOUND, and nothing else (no welcome, no presence).
 */
export async function expectRoomNotFoundSocket(server: TestServer, room: string, account?: Account, query = ''): Promise<void> {
  const socket = await openSocket(roomWs(server, room, query), account === undefined ? undefined : [account.token])
  expect(await withTimeout(socket.closed, WAIT_MS, `${room} to close its socket with 4004`)).toEqual(CLOSE.ROOM_NOT_FOUND)
  expect(socket.frames).toEqual([errorFrame('ROOM_NOT_FOUND')])
}

/** A socket closed by the server with `error` `type` then `close`, within WAIT_MS. */
export async function expectClosedWith(socket: TestSocket, type: ErrorType, close: { code: number; reason: string }): Promise<void> {
  expect(await withTimeout(socket.closed, WAIT_MS, `the socket to be closed with ${close.code}`)).toEqual(close)
  expect(socket.frames.at(-1)).toEqual(errorFrame(type))
}

/**
 * A frame of a room socket or of the user stream (whose types, `mention` `read` `unread` `room`, the
 * room sockets' Frame type does not list), as a test reads it.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyFrame = { type: string; error: WireError | null; data: any }

/** The first frame of `type` (received so far or later) whose data matches `predicate`. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function frameOf(socket: TestSocket, type: string, predicate: (data: any) => boolean = () => true, what = type): Promise<AnyFrame> {
  return frameWhere(socket, (f) => (f as AnyFrame).type === type && predicate(f.data), WAIT_MS, what)
}

/** Every frame of `type` received so far. */
export function framesOf(socket: TestSocket, type: string): AnyFrame[] {
  return (socket.frames as AnyFrame[]).filter((f) => f.type === type)
}

/** Spec §6: the user stream's `unread` for `room` reaching these counts (updates are coalesced, so wait for the value). */
export function unreadReaches(
  stream: TestSocket,
  room: string,
  counts: { unread: number; mentions: number; lastMessageId?: number | null },
): Promise<AnyFrame> {
  return frameOf(
    stream,
    'unread',
    (d) =>
      d.room === room &&
      d.unread === counts.unread &&
      d.mentions === counts.mentions &&
      (counts.lastMessageId === undefined || d.lastMessageId === counts.lastMessageId),
    `unread ${JSON.stringify({ room, ...counts })}`,
  )
}

/** Pings and waits for the pong: every frame the server sent before it has arrived. */
export async function sync(socket: TestSocket): Promise<void> {
  const before = socket.frames.length
  socket.send({ type: 'ping' })
  await frameWhere(socket, (f) => f.type === 'pong' && socket.frames.indexOf(f) >= before, WAIT_MS, 'pong')
}

/** An HTTP answer as bytes: status, Content-Type and body text (for "answers exactly as" comparisons). */
export async function rawAnswer(
  server: TestServer,
  method: string,
  path: string,
  account?: Account,
  body?: unknown,
): Promise<{ status: number; contentType: string | null; text: string }> {
  const headers: Record<string, string> = account === undefined ? {} : { Authorization: `Bearer ${account.token}` }
  const res = await fetch(`${server.url}${path}`, { method, headers, ...(body === undefined ? {} : { body: JSON.stringify(body) }) })
  return { status: res.status, contentType: res.headers.get('content-type'), text: await res.text() }
}

/** A room socket's whole life as bytes: the upgrade status and every frame (opcode and payload) up to the server's close. */
export async function rawSocketLife(
  server: TestServer,
  room: string,
  account?: Account,
): Promise<{ status: number; frames: { opcode: number; payload: string }[] }> {
  const socket = await withTimeout(rawUpgrade(roomWs(server, room), account === undefined ? {} : { protocols: [account.token] }), WAIT_MS, `upgrade to ${room}`)
  try {
    await until(() => socket.frames.some((f: RawFrame) => f.opcode === OPCODE.CLOSE), WAIT_MS, `${room} to send a close frame`)
    return { status: socket.response.status, frames: socket.frames.map((f) => ({ opcode: f.opcode, payload: f.payload.toString('hex') })) }
  } finally {
    socket.destroy()
  }
}

/** The audit entries of `action`, read by an admin. */
export async function auditOf(server: TestServer, admin: Account, action: string): Promise<unknown[]> {
  const page = await as(server, admin).must(200, 'reading the audit log', (c) => c.admin.audit({ limit: 200 }))
  return page.entries.filter((e) => e.action === action)
}
