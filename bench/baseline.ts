/**
 * The benchmark's baseline: the smallest server that does the product's job for a room socket.
 * A bare Bun.serve pub/sub; per message: JSON.parse, one autocommit bun:sqlite INSERT (same table
 * and pragmas as the product), id from the insert, JSON.stringify, server.publish. Per connection:
 * an HS256 check of the token, a subscription and a `welcome` with the room's last 50 messages from
 * one SELECT, or with `?since=` the messages after that id (the newest 500, `truncated` if there were
 * more), also one SELECT. No presence, no validation, no rate limits, no caps, no metrics, no logs.
 *
 * Env: PORT, DATABASE, JWT_SECRET. Listens on 127.0.0.1 only.
 */
import { Database } from 'bun:sqlite'
import { isRoomName, LIMITS, type Message, type ServerFrame, type User } from '../src/protocol.ts'

interface Data {
  room: string
  topic: string
  user: User | null
  since: number | undefined
}

interface Row {
  id: number
  room: string
  user_id: number
  username: string
  text: string
  nonce: string | null
  created_at: number
}

const db = new Database(process.env.DATABASE ?? ':memory:', { create: true, strict: true })
db.exec('PRAGMA journal_mode = WAL')
db.exec('PRAGMA synchronous = NORMAL')
db.exec(`CREATE TABLE IF NOT EXISTS messages (
  id INTEGER PRIMARY KEY AUTOINCREMENT, room TEXT NOT NULL, user_id INTEGER NOT NULL, username TEXT NOT NULL,
  text TEXT NOT NULL, nonce TEXT, created_at INTEGER NOT NULL)`)
db.exec('CREATE INDEX IF NOT EXISTS messages_room_id ON messages (room, id)')
const insert = db.prepare<unknown, [string, number, string, string, string | null, number]>(
  'INSERT INTO messages (room, user_id, username, text, nonce, created_at) VALUES (?, ?, ?, ?, ?, ?)',
)
const recent = db.prepare<Row, [string]>(`SELECT * FROM messages WHERE room = ? ORDER BY id DESC LIMIT ${LIMITS.HISTORY_SIZE}`)
const resume = db.prepare<Row, [string, number]>(`SELECT * FROM messages WHERE room = ? AND id > ? ORDER BY id DESC LIMIT ${LIMITS.RESUME_MAX + 1}`)

const secret = process.env.JWT_SECRET ?? 'baseline secret, at least 32 bytes long'

function verify(token: string): User | null {
  const [head, body, sig] = token.split('.')
  if (!head || !body || !sig) return null
  const mac = new Bun.CryptoHasher('sha256', secret).update(`${head}.${body}`).digest('base64url')
  if (mac !== sig) return null
  const claims = JSON.parse(Buffer.from(body, 'base64url').toString()) as { sub: string; name: string; exp: number }
  if (claims.exp * 1000 < Date.now()) return null
  return { id: Number(claims.sub), username: claims.name }
}

function toMessage(r: Row): Message {
  const m: Message = {
    id: r.id,
    room: r.room,
    user: { id: r.user_id, username: r.username },
    text: r.text,
    ts: new Date(r.created_at).toISOString(),
  }
  if (r.nonce !== null) m.nonce = r.nonce
  return m
}

const PONG = JSON.stringify({ type: 'pong', error: null, data: null } satisfies ServerFrame)

const server = Bun.serve<Data>({
  hostname: '127.0.0.1',
  port: Number(process.env.PORT ?? 0),
  fetch(req, server) {
    const url = new URL(req.url)
    const path = url.pathname
    if (path === '/healthz') return Response.json({ error: null, data: { status: 'ok' } })
    const room = /^\/api\/v1\/rooms\/([^/]+)\/messages\/ws$/.exec(path)?.[1]
    if (room === undefined || !isRoomName(room)) return new Response(null, { status: 404 })
    const token = req.headers.get('sec-websocket-protocol')?.split(',')[0]?.trim()
    const user = token ? verify(token) : null
    if (token && !user) return new Response(null, { status: 401 })
    const since = url.searchParams.has('since') ? Number(url.searchParams.get('since')) : undefined
    if (since !== undefined && !(Number.isSafeInteger(since) && since >= 0)) return new Response(null, { status: 400 })
    const data: Data = { room, topic: `room:${room}`, user, since }
    if (server.upgrade(req, { data, headers: token ? { 'Sec-WebSocket-Protocol': token } : undefined })) return undefined
    return new Response(null, { status: 400 })
  },
  websocket: {
    open(ws) {
      const { room, topic, user, since } = ws.data
      ws.subscribe(topic)
      const rows = since === undefined ? recent.all(room) : resume.all(room, since)
      const truncated = rows.length > LIMITS.RESUME_MAX
      const history = rows.slice(0, LIMITS.RESUME_MAX).reverse().map(toMessage)
      ws.send(
        JSON.stringify({
          type: 'welcome',
          error: null,
          data: { room, user, readOnly: user === null, members: [], history, changes: [], truncated },
        } satisfies ServerFrame),
      )
    },
    message(ws, raw) {
      if (typeof raw !== 'string') return
      const frame = JSON.parse(raw) as { type: string; text?: string; nonce?: string }
      if (frame.type === 'ping') return void ws.send(PONG)
      const { room, topic, user } = ws.data
      if (!user || typeof frame.text !== 'string') return
      const createdAt = Date.now()
      const { lastInsertRowid } = insert.run(room, user.id, user.username, frame.text, frame.nonce ?? null, createdAt)
      const message: Message = { id: Number(lastInsertRowid), room, user, text: frame.text, ts: new Date(createdAt).toISOString() }
      if (frame.nonce !== undefined) message.nonce = frame.nonce
      server.publish(topic, JSON.stringify({ type: 'message', error: null, data: message } satisfies ServerFrame))
    },
  },
})

console.log(JSON.stringify({ listening: server.port }))
process.on('SIGTERM', () => {
  server.stop(true)
  db.close()
  process.exit(0)
})
