/** Bun's WebSocket handlers for room sockets and user streams: opening, frames from clients, closing (spec §3, §6). */
import type { WebSocketHandler } from 'bun'
import { KeyedBuckets, type MessageLimiter } from '../auth/rate-limit.ts'
import type { Memberships } from '../chat/memberships.ts'
import type { Poster } from '../chat/messages.ts'
import { AppError } from '../errors.ts'
import type { Logger } from '../log.ts'
import { CLOSE, LIMITS } from '../protocol.ts'
import { FRAME_BUDGET } from '../protocol-frames.ts'
import type { Admission } from './admission.ts'
import { parseClientFrame, PONG_FRAME } from './frames.ts'
import type { Hub } from './hub.ts'
import type { SocketResponder } from './respond.ts'
import { sendAlone, type RoomSocket, type SocketData } from './socket-data.ts'
import { revocationOf, type StandingSource } from './standing-check.ts'
import type { TypingGate } from './typing.ts'
import type { UserStreams } from './user-streams.ts'

export interface SocketOptions {
  hub: Hub
  streams: UserStreams
  memberships: Pick<Memberships, 'markRead'>
  typing: TypingGate
  admission: Admission
  poster: Poster
  messageLimiter: MessageLimiter
  /** Edits and deletions, apart from messages (same rate and burst). */
  changeLimiter: MessageLimiter
  standing: StandingSource
  respond: SocketResponder
  log: Logger
  maxTextLength: number
  messageRate: number
  messageBurst: number
  slowConsumerBytes: number
  /** Epoch ms (the frame budget's clock). */
  now: () => number
  idleTimeoutSeconds: number
}

/** Frames a client may send before its welcome is out; more than this is a client bug. */
const EARLY_FRAMES_MAX = 64

/**
 * Frames Bun reads whole before the server judges their size: twice the limit, so a frame just over it
 * gets the spec's 1009 `TOO_LARGE` (Bun closes a larger one with 1009 and a reason of its own). Kept
 * small: a socket may hold a frame this big half-sent for as long as it keeps sending.
 */
const FRAME_READ_MAX_BYTES = 2 * LIMITS.FRAME_MAX_BYTES

/** Over FRAME_MAX_BYTES of UTF-8 (spec §3): a string's length in UTF-16 units bounds its bytes from below, 3 × it from above. */
function tooLarge(raw: string | Buffer): boolean {
  if (typeof raw !== 'string') return raw.byteLength > LIMITS.FRAME_MAX_BYTES
  return raw.length > LIMITS.FRAME_MAX_BYTES || (raw.length * 3 > LIMITS.FRAME_MAX_BYTES && Buffer.byteLength(raw) > LIMITS.FRAME_MAX_BYTES)
}

export function createSocketHandler(opts: SocketOptions): WebSocketHandler<SocketData> {
  const { hub, streams, admission, poster, messageLimiter, respond, log } = opts
  // Per user (an anonymous reader: per address) on this instance; see FRAME_BUDGET.
  const { rate, burst, perMessage } = FRAME_BUDGET
  const frames = new KeyedBuckets<number | string>(rate + perMessage * opts.messageRate, burst + perMessage * opts.messageBurst, opts.now)

  /** Moves the read marker (spec §6): one write in flight per socket; what comes meanwhile is merged into the next. */
  function markRead(ws: RoomSocket, id: number): void {
    const data = ws.data
    data.readNext = Math.max(data.readNext, id)
    if (data.reading) return
    data.reading = true
    const next = data.readNext
    opts.memberships
      .markRead(data.user!, data.room, next)
      .catch((err: unknown) => respond.error(ws, err, 'storing a read marker'))
      .finally(() => {
        data.reading = false
        if (data.readNext > next && data.state === 'open') markRead(ws, data.readNext)
      })
  }

  /** The user stream takes pings only (spec §6). */
  function handleStreamFrame(ws: RoomSocket, raw: string): void {
    let frame
    try {
      frame = parseClientFrame(raw, opts.maxTextLength)
    } catch (err) {
      return respond.error(ws, err)
    }
    if (frame.type === 'ping') ws.send(PONG_FRAME)
    else respond.error(ws, new AppError('MESSAGE_INVALID', 'the user stream takes only "ping"; send the rest on a room socket'))
  }

  function handleFrame(ws: RoomSocket, raw: string): void {
    if (ws.data.stream === 'user') return handleStreamFrame(ws, raw)
    const data = ws.data
    let frame
    try {
      frame = parseClientFrame(raw, opts.maxTextLength)
    } catch (err) {
      // spec §3: a read-only socket may only ping; anything else closes it, valid or not.
      if (data.user === null) return respond.shut(ws, CLOSE.READ_ONLY)
      return respond.error(ws, err)
    }
    if (frame.type === 'ping') return void sendAlone(ws, PONG_FRAME)
    const user = data.user
    if (user === null) return respond.shut(ws, CLOSE.READ_ONLY)
    if (poster.closed) return
    // A ban or revocation made elsewhere reaches the cache before the sweep closes the socket:
    // nothing more from it is stored (spec §5).
    const revoked = revocationOf(data, opts.standing)
    if (revoked) return respond.shut(ws, revoked.close, revoked.error)
    // spec §6: never stored; at most one every 2 s per user and room, the rest dropped silently.
    if (frame.type === 'typing') {
      const allowed = opts.typing.allow(user.id, data.room)
      if (typeof allowed === 'boolean') return void (allowed && hub.typing(ws))
      return void allowed.then((ok) => ok && hub.typing(ws))
    }
    if (frame.type === 'read') return markRead(ws, frame.id)
    // spec §3: only `message` frames count against the message rate; edits and deletions have a
    // bucket of their own of the same size, so they can't be used to flood a room either.
    const act = (allowed: boolean) => {
      if (!allowed) return respond.error(ws, new AppError('RATE_LIMITED', `at most ${opts.messageRate} messages a second; this one was dropped`))
      if (frame.type === 'message') {
        poster.post(data.room, user, frame.text, frame.nonce, frame).catch((err: unknown) => {
          // A reply or attachments it may not use (spec §7), or a room that turned private under the
          // sender (spec §6), say why; a failure to store asks for a resend.
          if (err instanceof AppError && (err.type === 'MESSAGE_INVALID' || err.type === 'ROOM_NOT_FOUND')) respond.error(ws, err)
          else if (err instanceof AppError) respond.error(ws, new AppError(err.type, 'the message could not be stored; send it again'))
          else respond.error(ws, err, 'storing a message')
        })
        return
      }
      // MESSAGE_NOT_FOUND and FORBIDDEN (spec §5) come back as they are.
      const done =
        frame.type === 'edit'
          ? poster.edit(data.room, user, frame.id, frame.text)
          : frame.type === 'react'
            ? poster.react(data.room, user, frame.id, frame.emoji, frame.on)
            : poster.delete(data.room, user, data.role, frame.id)
      done.catch((err: unknown) => respond.error(ws, err, `storing a ${frame.type} frame`))
    }
    // The in-memory limiter answers at once; the cluster's (Redis) answers in order on one connection.
    const verdict = (frame.type === 'message' ? messageLimiter : opts.changeLimiter).allow(user.id)
    if (typeof verdict === 'boolean') act(verdict)
    else verdict.then(act, (err: unknown) => log.error('message rate limiter failed', { err }))
  }

  return {
    // Bun closes a frame over its limit with 1009 and a reason of its own; up to this one the server
    // reads the frame and closes with the spec's 1009 `TOO_LARGE` itself (message(), below).
    maxPayloadLength: FRAME_READ_MAX_BYTES,
    // Past the slow-consumer limit the sweeper closes the socket with 1013; Bun's own limit sits above it as a memory cap.
    backpressureLimit: opts.slowConsumerBytes * 4,
    closeOnBackpressureLimit: false,
    idleTimeout: opts.idleTimeoutSeconds,
    sendPings: true,
    publishToSelf: true,

    async open(ws) {
      const data = ws.data
      if (data.refusal) return respond.shut(ws, data.refusal.close, data.refusal.error)
      try {
        if (data.stream === 'user') {
          await streams.enter(ws)
        } else {
          hub.admit(ws)
          await hub.enter(ws)
        }
      } catch (err) {
        // The room became private to this socket between the upgrade and the welcome (spec §6).
        if (err instanceof AppError && err.type === 'ROOM_NOT_FOUND') return respond.shut(ws, CLOSE.ROOM_NOT_FOUND, err)
        log.error(data.stream === 'user' ? 'loading the user stream failed' : 'loading room history failed', { room: data.room, err })
        return respond.shut(ws, CLOSE.INTERNAL)
      }
      const early = data.early
      data.early = undefined
      for (const raw of early ?? []) {
        if (data.state !== 'open') break
        handleFrame(ws, raw)
      }
    },

    message(ws, raw) {
      const data = ws.data
      if (data.state === 'closing' || data.state === 'refused') return
      if (tooLarge(raw)) return respond.shut(ws, CLOSE.TOO_LARGE)
      if (typeof raw !== 'string') return respond.shut(ws, CLOSE.BINARY_UNSUPPORTED)
      if (!frames.allow(data.user?.id ?? data.address))
        return respond.shut(ws, CLOSE.CONNECTION_LIMIT, new AppError('RATE_LIMITED', 'far more frames than a client sends; back off before reconnecting'))
      if (data.state === 'opening') {
        const early = (data.early ??= [])
        if (early.length >= EARLY_FRAMES_MAX) return respond.shut(ws, CLOSE.INTERNAL)
        early.push(raw)
        return
      }
      handleFrame(ws, raw)
    },

    close(ws) {
      const data = ws.data
      data.state = 'closing'
      // A refused socket never held a slot nor entered a room.
      if (data.refusal) return
      if (data.stream === 'user') streams.leave(ws)
      else hub.leave(ws)
      admission.release(data.address)
    },
  }
}
