/** WebSocket handlers for room sockets: admission, frames from clients, close (spec §3). */
import type { ServerWebSocket, WebSocketHandler } from 'bun'
import type { App } from '../app.ts'
import { AppError } from '../errors.ts'
import type { User } from '../store/store.ts'
import { CLOSE, type CloseSpec } from './close-codes.ts'
import { encodeError, parseClientFrame, PONG_FRAME } from './frames.ts'

/** Everything the upgrade route hands to a socket. */
export interface SocketData {
  room: string
  /** Null for a read-only connection. */
  user: User | null
  /** Token expiry in epoch seconds, for authenticated sockets. */
  exp: number | undefined
  since: number | undefined
  address: string
  /** Set when the upgrade was accepted only to be closed at once (bad token, connection cap). */
  rejection: { close: CloseSpec; error?: AppError } | undefined
  /** Holds a connection slot to give back on close. */
  reserved: boolean
  /** Welcome sent, subscribed, counted in presence. */
  entered: boolean
  closing: boolean
  /** Frames that arrived before the welcome; handled right after it. */
  early: string[]
}

type Socket = ServerWebSocket<SocketData>

/** Frames a client may send before its welcome is out; more than this is a client bug. */
const EARLY_FRAMES_MAX = 64

export function createSocketHandler(app: App): WebSocketHandler<SocketData> {
  const { hub, poster, config, log, metrics, messageLimiter } = app

  function handleFrame(ws: Socket, raw: string): void {
    const data = ws.data
    let frame
    try {
      frame = parseClientFrame(raw, config.maxTextLength)
    } catch (err) {
      if (!(err instanceof AppError)) throw err
      // spec §3: a read-only socket may only ping; anything else closes it, valid or not.
      if (data.user === null) return hub.shut(ws, CLOSE.READ_ONLY)
      metrics.framesRejected.inc({ reason: err.type })
      ws.send(encodeError(err.type, err.message))
      return
    }
    if (frame.type === 'ping') {
      ws.send(PONG_FRAME)
      return
    }
    const user = data.user
    if (user === null) return hub.shut(ws, CLOSE.READ_ONLY)
    if (app.shuttingDown) return
    const { text, nonce } = frame
    const post = (allowed: boolean) => {
      if (!allowed) {
        metrics.framesRejected.inc({ reason: 'RATE_LIMITED' })
        if (!data.closing) ws.send(encodeError('RATE_LIMITED', `at most ${config.messageRate} messages a second; this one was dropped`))
        return
      }
      poster.post(data.room, user, text, nonce).catch((err: unknown) => {
        const type = err instanceof AppError ? err.type : 'INTERNAL'
        if (type === 'INTERNAL') log.error('storing a message failed', { room: data.room, err })
        if (!data.closing) ws.send(encodeError(type, 'the message could not be stored; send it again'))
      })
    }
    // The in-memory limiter answers at once; the cluster's (Redis) answers in order on one connection.
    const verdict = messageLimiter.allow(user.id)
    if (typeof verdict === 'boolean') post(verdict)
    else verdict.then(post, (err: unknown) => log.error('message rate limiter failed', { err }))
  }

  return {
    maxPayloadLength: 64 * 1024,
    // Past the slow-consumer limit the sweeper closes the socket with 1013; Bun's own limit sits above it as a memory cap.
    backpressureLimit: config.slowConsumerBytes * 4,
    closeOnBackpressureLimit: false,
    idleTimeout: config.wsIdleTimeoutSeconds,
    sendPings: true,
    publishToSelf: true,

    async open(ws) {
      const data = ws.data
      if (data.rejection) {
        const { close, error } = data.rejection
        metrics.framesRejected.inc({ reason: close.reason })
        if (error) ws.send(encodeError(error.type, error.message))
        ws.close(close.code, close.reason)
        return
      }
      hub.admit(ws)
      try {
        const history = await hub.historyFor(data.room, data.since)
        if (data.closing || !hub.sockets.has(ws)) return
        hub.enter(ws, history)
      } catch (err) {
        log.error('loading room history failed', { room: data.room, err })
        if (!data.closing) hub.shut(ws, CLOSE.INTERNAL)
        return
      }
      for (const raw of data.early.splice(0)) {
        if (data.closing) break
        handleFrame(ws, raw)
      }
    },

    message(ws, raw) {
      const data = ws.data
      if (data.closing || data.rejection) return
      if (typeof raw !== 'string') return hub.shut(ws, CLOSE.BINARY_UNSUPPORTED)
      if (!data.entered) {
        if (data.early.length >= EARLY_FRAMES_MAX) return hub.shut(ws, CLOSE.INTERNAL)
        data.early.push(raw)
        return
      }
      handleFrame(ws, raw)
    },

    close(ws) {
      const data = ws.data
      data.closing = true
      hub.leave(ws)
      if (data.reserved) hub.release(data.address)
    },
  }
}
