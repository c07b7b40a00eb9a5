/**
 * The protocol module (src/protocol.ts) is the one declaration of the wire (spec §1–§3) that the
 * server, the web client, the tests and the bench import. These tests pin it to the spec: the close
 * codes and reasons of spec §3's table, the room-name rule, the limits, and the error types the HTTP
 * status map knows. And they keep it the only declaration: it imports nothing (so the browser
 * bundle and the bench can take it as it is), and the web client imports it instead of declaring
 * its own copy.
 */
import { describe, expect, test } from 'bun:test'
import { join } from 'node:path'
import { STATUS } from '../../src/http/respond.ts'
import { CLOSE, isRoomName, LIMITS, PATHS, ROOM_NAME } from '../../src/protocol.ts'

const ROOT = join(import.meta.dir, '..', '..')
const PROTOCOL = join(ROOT, 'src', 'protocol.ts')
const WEB = join(ROOT, 'src', 'web')

/** spec §3's close-code table, row by row; `normal` is the empty reason. Rows of features not built yet say which. */
const SPEC_CLOSES: (Close & { pending?: string })[] = [
  { code: 1000, reason: '' },
  { code: 1001, reason: 'SHUTDOWN' },
  { code: 1003, reason: 'BINARY_UNSUPPORTED' },
  { code: 1008, reason: 'READ_ONLY' },
  { code: 1009, reason: 'TOO_LARGE' },
  { code: 1011, reason: 'INTERNAL' },
  { code: 1013, reason: 'SLOW_CONSUMER' },
  { code: 4001, reason: 'TOKEN_INVALID' },
  { code: 4001, reason: 'TOKEN_EXPIRED' },
  { code: 4001, reason: 'TOKEN_REVOKED' },
  { code: 4003, reason: 'BANNED' },
  { code: 4004, reason: 'ROOM_NOT_FOUND' },
  { code: 4029, reason: 'CONNECTION_LIMIT' },
]

type Close = { code: number; reason: string }

const byCodeAndReason = (a: Close, b: Close) => a.code - b.code || a.reason.localeCompare(b.reason)

async function webSources(): Promise<{ file: string; text: string }[]> {
  const files = await Array.fromAsync(new Bun.Glob('*.ts').scan({ cwd: WEB }))
  return Promise.all(files.sort().map(async (file) => ({ file, text: await Bun.file(join(WEB, file)).text() })))
}

describe('src/protocol.ts', () => {
  test('imports nothing: no import statement, dynamic import, require or re-export', async () => {
    const source = await Bun.file(PROTOCOL).text()
    expect(source).not.toMatch(/^\s*import\b/m)
    expect(source).not.toMatch(/\bimport\s*\(/)
    expect(source).not.toMatch(/\brequire\s*\(/)
    expect(source).not.toMatch(/^\s*export\b[^\n]*\bfrom\s*['"]/m)
  })

  test("CLOSE holds exactly the rows of spec §3's close-code table that are built today", () => {
    const built: Close[] = SPEC_CLOSES.filter((row) => row.pending === undefined).map(({ code, reason }) => ({ code, reason }))
    const declared: Close[] = Object.values(CLOSE).map(({ code, reason }) => ({ code, reason }))
    expect(declared.sort(byCodeAndReason)).toEqual(built.sort(byCodeAndReason))
  })

  test("each CLOSE entry is named by its reason, the spec's string (NORMAL has the empty reason)", () => {
    for (const [name, { reason }] of Object.entries(CLOSE)) expect({ name, reason: reason as string }).toEqual({ name, reason: name === 'NORMAL' ? '' : name })
  })

  test('ROOM_NAME is spec §3: 1-64 of A-Z a-z 0-9 . _ -, starting with a letter or digit, case-sensitive', () => {
    const max = LIMITS.ROOM_NAME_MAX_LENGTH
    for (const name of ['a', 'Z', '0', 'lobby', 'Lobby', 'a.b_c-d', '9-lives', 'a.', 'a'.repeat(max)])
      expect({ name, ok: isRoomName(name) }).toEqual({ name, ok: true })
    for (const name of ['', '.a', '_a', '-a', 'a b', 'a/b', 'a%20b', 'é', 'a\n', '\na', 'a'.repeat(max + 1)])
      expect({ name, ok: isRoomName(name) }).toEqual({ name, ok: false })
    expect(isRoomName('lobby')).toBe(ROOM_NAME.test('lobby'))
  })

  test("LIMITS are the spec's numbers (spec §2, §3)", () => {
    expect(LIMITS).toEqual({
      ROOM_NAME_MAX_LENGTH: 64,
      NONCE_MAX_LENGTH: 64,
      TEXT_MAX_LENGTH: 4000,
      FRAME_MAX_BYTES: 64 * 1024,
      BODY_MAX_BYTES: 16 * 1024,
      HISTORY_SIZE: 50,
      RESUME_MAX: 500,
      PAGE_DEFAULT: 50,
      PAGE_MAX: 200,
      USERNAME_MAX_LENGTH: 32,
      SECRET_MAX_BYTES: 1024,
    })
  })

  test("PATHS are spec §2's paths, the room percent-encoded", () => {
    expect({ ...PATHS, roomMessages: PATHS.roomMessages('a.b'), roomMessage: PATHS.roomMessage('a b', 7), roomSocket: PATHS.roomSocket('a b') }).toEqual({
      users: '/api/v1/users',
      me: '/api/v1/users/me',
      login: '/api/v1/login',
      token: '/api/v1/token',
      rooms: '/api/v1/rooms',
      roomMessages: '/api/v1/rooms/a.b/messages',
      roomMessage: '/api/v1/rooms/a%20b/messages/7',
      roomSocket: '/api/v1/rooms/a%20b/messages/ws',
    })
  })

  test('the ErrorType union has exactly the error types the HTTP status map (http/respond.ts) knows', async () => {
    const source = await Bun.file(PROTOCOL).text()
    const union = /export type ErrorType\s*=((?:\s*\|?\s*'[A-Z_]+')+)/.exec(source)?.[1]
    expect(union).toBeString()
    const members = Array.from(union!.matchAll(/'([A-Z_]+)'/g), (m) => m[1]!)
    expect(new Set(members).size).toBe(members.length)
    expect(members.sort()).toEqual(Object.keys(STATUS).sort())
  })
})

describe('the web client (src/web/)', () => {
  test('declares none of the protocol itself: no CLOSE_CODES, wire types, room-name pattern or bare close code', async () => {
    const declarations = [
      /\bCLOSE_CODES\b/,
      /\binterface\s+(User|Message|Welcome|Session|RoomSummary|RoomPage|MessagePage|WireError)\b/,
      /\btype\s+(User|Message|Welcome|Session|ServerFrame|ClientFrame|ErrorType|Envelope)\b\s*[=<]/,
      /\{0,63\}/,
      /\bROOM_NAME\s*=/,
      /\.close\(\s*\d/,
    ]
    const found = (await webSources()).flatMap(({ file, text }) => declarations.filter((pattern) => pattern.test(text)).map((pattern) => `${file}: ${pattern}`))
    expect(found).toEqual([])
  })

  test('the files that speak the protocol import it from src/protocol.ts or the SDK (which re-exports it)', async () => {
    const sources = await webSources()
    const speaking = ['client.ts', 'room-list.ts', 'room-view.ts', 'upload.ts']
    for (const file of speaking) {
      const text = sources.find((s) => s.file === file)?.text ?? ''
      const imports = text.includes("from '../protocol.ts'") || text.includes("from '../../packages/client/src/index.ts'")
      expect({ file, imports }).toEqual({ file, imports: true })
    }
  })
})
