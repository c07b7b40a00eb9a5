/** Prometheus metrics (prom-client), one registry per running server so tests can start several. */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client'

export interface ConnectionCounts {
  authenticated: number
  readOnly: number
  /** User streams (spec §6). */
  userStreams: number
  rooms: number
}

export interface Metrics {
  registry: Registry
  httpRequests: Counter<'route' | 'method' | 'status'>
  httpDuration: Histogram<'route' | 'method'>
  httpAborted: Counter<'route'>
  messagesReceived: Counter
  messagesDelivered: Counter
  framesRejected: Counter<'reason'>
  logins: Counter<'result'>
  /** Outgoing webhook attempts by what came of them (docs/BOTS.md). */
  webhookAttempts: Counter<'result'>
  /** The connection gauges read `counts` at scrape time, so they cost nothing per event. */
  countConnections(counts: () => ConnectionCounts): void
}

export function createMetrics(): Metrics {
  let counts: () => ConnectionCounts = () => ({ authenticated: 0, readOnly: 0, userStreams: 0, rooms: 0 })
  const registry = new Registry()
  // The event-loop lag monitor's default 10 ms timer alone costs ~1 % of a core on an idle server; 100 ms still catches stalls.
  collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: 100 })
  const registers = [registry]
  new Gauge({
    name: 'chat_connections',
    help: 'Open WebSocket connections by kind',
    labelNames: ['kind'],
    registers,
    collect() {
      const c = counts()
      this.set({ kind: 'authenticated' }, c.authenticated)
      this.set({ kind: 'read_only' }, c.readOnly)
      this.set({ kind: 'user_stream' }, c.userStreams)
    },
  })
  new Gauge({
    name: 'chat_rooms',
    help: 'Rooms followed by this instance (with an open connection here, or in the list of a user whose stream is open here)',
    registers,
    collect() {
      this.set(counts().rooms)
    },
  })
  return {
    registry,
    httpRequests: new Counter({
      name: 'http_requests_total',
      help: 'HTTP requests by route pattern, method and status',
      labelNames: ['route', 'method', 'status'],
      registers,
    }),
    httpDuration: new Histogram({
      name: 'http_request_duration_seconds',
      help: 'HTTP request latency by route pattern',
      labelNames: ['route', 'method'],
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    }),
    httpAborted: new Counter({
      name: 'http_requests_aborted_total',
      help: 'HTTP requests whose client hung up before the request was read (not in http_requests_total)',
      labelNames: ['route'],
      registers,
    }),
    messagesReceived: new Counter({ name: 'chat_messages_received_total', help: 'Messages stored and broadcast', registers }),
    messagesDelivered: new Counter({ name: 'chat_messages_delivered_total', help: 'Message frames handed to subscribers (one per subscriber)', registers }),
    framesRejected: new Counter({
      name: 'chat_frames_rejected_total',
      help: 'Client frames and connections refused or closed by the server, by error type or close reason',
      labelNames: ['reason'],
      registers,
    }),
    logins: new Counter({ name: 'chat_logins_total', help: 'Login attempts by result', labelNames: ['result'], registers }),
    webhookAttempts: new Counter({
      name: 'chat_webhook_attempts_total',
      help: 'Outgoing webhook delivery attempts by result: delivered, retry (failed, tried again later) or failed (given up)',
      labelNames: ['result'],
      registers,
    }),
    countConnections(source) {
      counts = source
    },
  }
}
