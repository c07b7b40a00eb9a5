/**
 * The benchmark's baseline: the smallest server that does the product's job for a room socket.
 * A bare Bun.serve pub/sub; per message: JSON.parse, one autocommit bun:sqlite INSERT (same table
 * and pragmas as the product), id from the insert, JSON.stringify, server.publish. Per connection:
 * an HS256 check of the token, a subscription and a `welcome` with the room's last 50 messages from
 * one SELECT. No presence, no validation, no rate limits, no caps, no metrics, no logs.
 *
 * Env: PORT, DATABASE, JWT_SECRET. Listens on 127.0.0.1 only.
 */
import { Database } from 'bun:sqlite'

interface User {
  id: number
  username: string
}

interface Data {
  room: string
  topic: string
  user: User | null
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
const recent = db.prepare<Row, [string]>('SELECT * FROM messages WHERE room = ? ORDER BY id DESC LIMIT 50')

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

function toMessage(r: Row) {
  const m: Record<string, unknown> = {
    id: r.id,
    room: r.room,
    user: { id: r.user_id, username: r.username },
    text: r.text,
    ts: new Date(r.created_at).toISOString(),
  }
  if (r.nonce !== null) m.nonce = r.nonce
  return m
}

let batch: { room: string; topic: string; user: User; text: string; nonce?: string; createdAt: number }[] = []
const insertAll = db.transaction((items: typeof batch) => items.map((m) => Number(insert.run(m.room, m.user.id, m.user.username, m.text, m.nonce ?? null, m.createdAt).lastInsertRowid)))
function flush() {
  const items = batch
  batch = []
  const ids = process.env.V_NOTX ? items.map((m) => Number(insert.run(m.room, m.user.id, m.user.username, m.text, m.nonce ?? null, m.createdAt).lastInsertRowid)) : insertAll(items)
  items.forEach((m, i) => {
    const message: Record<string, unknown> = { id: ids[i], room: m.room, user: m.user, text: m.text, ts: new Date(m.createdAt).toISOString() }
    server.publish(m.topic, JSON.stringify({ type: 'message', error: null, data: message }))
  })
}
const PONG = JSON.stringify({ type: 'pong', error: null, data: null })

const server = Bun.serve<Data>({
  hostname: '127.0.0.1',
  port: Number(process.env.PORT ?? 0),
  fetch(req, server) {
    const path = new URL(req.url).pathname
    if (path === '/healthz') return Response.json({ error: null, data: { status: 'ok' } })
    const match = /^\/api\/v1\/rooms\/([A-Za-z0-9][A-Za-z0-9._-]{0,63})\/messages\/ws$/.exec(path)
    if (!match) return new Response(null, { status: 404 })
    const room = match[1]!
    const token = req.headers.get('sec-websocket-protocol')?.split(',')[0]?.trim()
    const user = token ? verify(token) : null
    if (token && !user) return new Response(null, { status: 401 })
    const data: Data = { room, topic: `room:${room}`, user }
    if (server.upgrade(req, { data, headers: token ? { 'Sec-WebSocket-Protocol': token } : undefined })) return undefined
    return new Response(null, { status: 400 })
  },
  websocket: {
    open(ws) {
      const { room, topic, user } = ws.data
      ws.subscribe(topic)
      const history = recent.all(room).reverse().map(toMessage)
      ws.send(JSON.stringify({ type: 'welcome', error: null, data: { room, user, readOnly: user === null, members: [], history, truncated: false } }))
    },
    ...(process.env.V_OPTS ? { maxPayloadLength: 64 * 1024, backpressureLimit: 4 * 1024 * 1024, closeOnBackpressureLimit: false, idleTimeout: 120, sendPings: true, publishToSelf: true } : {}),
    message(ws, raw) {
      if (typeof raw !== 'string') return
      const frame = JSON.parse(raw) as { type: string; text?: string; nonce?: string }
      if (frame.type === 'ping') return void ws.send(PONG)
      const { room, topic, user } = ws.data
      if (!user || typeof frame.text !== 'string') return
      if (process.env.V_BATCH) {
        batch.push({ room, topic, user, text: frame.text, nonce: frame.nonce, createdAt: Date.now() })
        if (process.env.V_SYNC) flush()
        else if (batch.length === 1) setImmediate(flush)
        return
      }
      const createdAt = Date.now()
      const { lastInsertRowid } = insert.run(room, user.id, user.username, frame.text, frame.nonce ?? null, createdAt)
      const message: Record<string, unknown> = { id: Number(lastInsertRowid), room, user, text: frame.text, ts: new Date(createdAt).toISOString() }
      if (frame.nonce !== undefined) message.nonce = frame.nonce
      server.publish(topic, JSON.stringify({ type: 'message', error: null, data: message }))
    },
  },
})

console.log(JSON.stringify({ listening: server.port }))
process.on('SIGTERM', () => {
  server.stop(true)
  db.close()
  process.exit(0)
})
