/** What every HTTP handler receives besides the request. */
import type { Server } from 'bun'
import type { App } from '../app.ts'
import type { SocketData } from '../ws/socket.ts'

export interface RequestContext {
  app: App
  server: Server<SocketData>
  /** The client's address: the TCP peer, or the first X-Forwarded-For entry with TRUST_PROXY (spec §3). */
  address: string
  /** The query string of the request target (never read from `new URL(req.url)`: see target.ts). */
  query: URLSearchParams
}
