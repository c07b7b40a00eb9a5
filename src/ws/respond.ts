/**
 * The one place that turns WebSocket outcomes into frames and closes, as http/respond.ts does for
 * HTTP: an AppError becomes an `error` frame, anything else is logged and becomes INTERNAL; a server
 * close counts in metrics, stops the socket's room frames, may send an error first, then closes.
 */
import { AppError, INTERNAL_MESSAGE } from '../errors.ts'
import type { Logger } from '../log.ts'
import type { Metrics } from '../metrics.ts'
import type { CloseSpec } from '../protocol.ts'
import { roomTopic } from '../chat/rooms.ts'
import { encodeError } from './frames.ts'
import { sendAlone, type RoomSocket } from './socket-data.ts'

export interface SocketResponder {
  /** An `error` frame for `err` (the connection stays open); nothing once the socket is closing. */
  error(ws: RoomSocket, err: unknown, context?: string): void
  /** Closes the socket from the server side with `spec`, after an `error` frame for `err` if given. */
  shut(ws: RoomSocket, spec: CloseSpec, err?: AppError): void
}

export function createResponder(log: Logger, metrics: Metrics): SocketResponder {
  return {
    error(ws, err, context = 'a room socket') {
      if (ws.data.state === 'closing') return
      if (err instanceof AppError) {
        metrics.framesRejected.inc({ reason: err.type })
        sendAlone(ws, encodeError(err.type, err.message))
        return
      }
      log.error(`unexpected error in ${context}`, { room: ws.data.room, err })
      sendAlone(ws, encodeError('INTERNAL', INTERNAL_MESSAGE))
    },
    shut(ws, spec, err) {
      if (ws.data.state === 'closing') return
      metrics.framesRejected.inc({ reason: spec.reason })
      ws.data.state = 'closing'
      // A batched socket gets what its batch holds first (at shutdown: every message acknowledged before the 1001).
      const batch = ws.data.batch
      batch?.flush()
      batch?.leave(ws)
      ws.unsubscribe(batch?.topic ?? roomTopic(ws.data.room))
      if (err) ws.send(encodeError(err.type, err.message))
      ws.close(spec.code, spec.reason)
    },
  }
}
