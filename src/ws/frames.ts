/** Frames: server frames serialised once into the envelope plus `type`, and client frames parsed and checked (spec §3). */
import { AppError } from '../errors.ts'
import { LIMITS, showsNothing, type ErrorType, type ServerFrame } from '../protocol.ts'

/** A server frame other than `error`, as the server builds it (the envelope's `error: null` is added here). */
export type DataFrame = Exclude<ServerFrame, { type: 'error' }> extends infer F ? (F extends { error: null } ? Omit<F, 'error'> : never) : never

export function encodeFrame(frame: DataFrame): string {
  return JSON.stringify({ type: frame.type, error: null, data: frame.data })
}

export function encodeError(type: ErrorType, message: string): string {
  return JSON.stringify({ type: 'error', error: { type, message }, data: null })
}

export const PONG_FRAME = encodeFrame({ type: 'pong', data: null })

/** A client frame as the server has checked it (protocol.ts ClientFrame is what a client writes). */
export type CheckedFrame =
  { type: 'ping' } | { type: 'message'; text: string; nonce: string | undefined } | { type: 'edit'; id: number; text: string } | { type: 'delete'; id: number }

const invalid = (message: string) => new AppError('MESSAGE_INVALID', message)

/** Parses one text frame; throws MESSAGE_INVALID for anything the protocol does not define. */
export function parseClientFrame(raw: string, maxTextLength: number): CheckedFrame {
  let value: unknown
  try {
    value = JSON.parse(raw)
  } catch {
    throw invalid('frame must be JSON')
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw invalid('frame must be a JSON object')
  const frame = value as Record<string, unknown>
  if (frame.type === 'ping') return { type: 'ping' }
  // spec §5: edits and deletions name a message by its id; an edit's text follows the message rules.
  if (frame.type === 'edit' || frame.type === 'delete') {
    const { id } = frame
    if (typeof id !== 'number' || !Number.isSafeInteger(id) || id < 1) throw invalid('id must be the id of a message')
    return frame.type === 'edit' ? { type: 'edit', id, text: checkText(frame.text, maxTextLength) } : { type: 'delete', id }
  }
  if (frame.type !== 'message') throw invalid('type must be "message", "edit", "delete" or "ping"')
  const { nonce } = frame
  const text = checkText(frame.text, maxTextLength)
  if (
    nonce !== undefined &&
    (typeof nonce !== 'string' || exceedsCodePoints(nonce, LIMITS.NONCE_MAX_LENGTH) || !nonce.isWellFormed() || nonce.includes('\u0000'))
  )
    throw invalid(`nonce must be a string of at most ${LIMITS.NONCE_MAX_LENGTH} characters`)
  return { type: 'message', text, nonce }
}

/** A message text as the spec allows it (spec §2, §3), or MESSAGE_INVALID. */
function checkText(text: unknown, maxTextLength: number): string {
  if (typeof text !== 'string') throw invalid('text must be a string')
  // spec §2: a text that shows nothing (U+200B alone) is as empty as "", though one that merely
  // contains such characters ("hi\u200b", an emoji ZWJ sequence) is fine.
  if (showsNothing(text)) throw invalid('text must not be empty or only whitespace and invisible characters')
  // NUL is refused too: PostgreSQL can't store it, and no chat text needs it.
  if (!text.isWellFormed() || text.includes('\u0000')) throw invalid('text must be valid Unicode without NUL characters')
  if (exceedsCodePoints(text, maxTextLength)) throw invalid(`text must be at most ${maxTextLength} characters`)
  return text
}

/** True when `text` has more than `max` code points; stops counting as soon as it knows. */
export function exceedsCodePoints(text: string, max: number): boolean {
  if (text.length <= max) return false
  let n = 0
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    // A high surrogate pairs only with a low one; a lone surrogate is a code point of its own.
    if (c >= 0xd800 && c <= 0xdbff) {
      const next = text.charCodeAt(i + 1)
      if (next >= 0xdc00 && next <= 0xdfff) i++
    }
    if (++n > max) return true
  }
  return false
}
