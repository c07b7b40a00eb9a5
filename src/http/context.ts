/** What every HTTP handler receives besides the request: the transport's facts, never the app. */
import type { Server } from 'bun'
import type { SocketData } from '../ws/socket-data.ts'

export interface RequestContext {
  /** For the WebSocket upgrade. */
  server: Server<SocketData>
  /** The client's address: the TCP peer, or the first X-Forwarded-For entry with TRUST_PROXY (spec §3). */
  address: string
  /** The query string of the request target (never read from `new URL(req.url)`: see target.ts). */
  query: URLSearchParams
}
