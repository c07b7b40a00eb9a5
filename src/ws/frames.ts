/** Frames: server frames serialised once into the envelope plus `type`, and client frames parsed and checked (spec §3). */
import { checkEmoji } from '../chat/reactions.ts'
import { exceedsCodePoints } from '../chat/text.ts'
import { CONVERSATION_LIMITS } from '../protocol-conversation.ts'
import { AppError } from '../errors.ts'
import type { UserStreamFrame } from '../protocol-rooms.ts'
import { showsNothing } from '../protocol-text.ts'
import { LIMITS, type ErrorType, type ServerFrame, type Welcome } from '../protocol.ts'

/** A server frame other than `error`, as the server builds it (the envelope's `error: null` is added here). */
export type DataFrame = Exclude<ServerFrame, { type: 'error' }> extends infer F ? (F extends { error: null } ? Omit<F, 'error'> : never) : never

/** A frame of the user stream (spec §6), or of a room. */
export function encodeFrame(frame: DataFrame | Omit<UserStreamFrame, 'error'>): string {
  return JSON.stringify({ type: frame.type, error: null, data: frame.data })
}

/**
 * The `welcome` frame, byte for byte what encodeFrame writes, from parts serialised once and shared:
 * the member list (ws/presence.ts membersJson) and, when every reader sees the same, the history
 * part (ws/room-history.ts `json`).
 */
export function encodeWelcome(
  head: Pick<Welcome, 'room' | 'user' | 'readOnly'>,
  membersJson: string,
  found: Pick<Welcome, 'history' | 'changes' | 'truncated'> & { json?: string },
): string {
  const rest = found.json ?? JSON.stringify({ history: found.history, changes: found.changes, truncated: found.truncated }).slice(1, -1)
  return `{"type":"welcome","error":null,"data":{"room":${JSON.stringify(head.room)},"user":${JSON.stringify(head.user)},"readOnly":${head.readOnly},"members":${membersJson},${rest}}}`
}

export function encodeError(type: ErrorType, message: string): string {
  return JSON.stringify({ type: 'error', error: { type, message }, data: null })
}

export const PONG_FRAME = encodeFrame({ type: 'pong', data: null })

/** A client frame as the server has checked it (protocol.ts ClientFrame is what a client writes). */
export type CheckedFrame =
  | { type: 'ping' }
  | { type: 'message'; text: string; nonce: string | undefined; replyTo?: number; attachments?: string[] }
  | { type: 'react'; id: number; emoji: string; on: boolean }
  | { type: 'edit'; id: number; text: string }
  | { type: 'delete'; id: number }
  | { type: 'read'; id: number }
  | { type: 'typing' }

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
  if (frame.type === 'ping' || frame.type === 'typing') return { type: frame.type }
  // spec §5, §6: edits, deletions and read markers name a message by its id; an edit's text follows the message rules.
  if (frame.type === 'edit' || frame.type === 'delete' || frame.type === 'read' || frame.type === 'react') {
    const id = messageId(frame.id, 'id')
    if (frame.type === 'edit') return { type: 'edit', id, text: checkText(frame.text, maxTextLength) }
    // spec §7: one emoji grapheme, and whether it is put or taken back.
    if (frame.type === 'react') {
      if (typeof frame.on !== 'boolean') throw invalid('on must be true or false')
      return { type: 'react', id, emoji: checkEmoji(frame.emoji), on: frame.on }
    }
    return { type: frame.type, id }
  }
  if (frame.type !== 'message') throw invalid('type must be "message", "edit", "delete", "react", "read", "typing" or "ping"')
  const { nonce } = frame
  const text = checkText(frame.text, maxTextLength)
  if (
    nonce !== undefined &&
    (typeof nonce !== 'string' || exceedsCodePoints(nonce, LIMITS.NONCE_MAX_LENGTH) || !nonce.isWellFormed() || nonce.includes('\u0000'))
  )
    throw invalid(`nonce must be a string of at most ${LIMITS.NONCE_MAX_LENGTH} characters`)
  const checked: CheckedFrame & { type: 'message' } = { type: 'message', text, nonce }
  if (frame.replyTo !== undefined) checked.replyTo = messageId(frame.replyTo, 'replyTo')
  if (frame.attachments !== undefined) checked.attachments = attachmentIds(frame.attachments)
  return checked
}

function messageId(value: unknown, field: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) throw invalid(`${field} must be the id of a message`)
  return value
}

/** spec §7: ids of uploads, at most ATTACHMENTS_PER_MESSAGE. */
function attachmentIds(value: unknown): string[] {
  const max = CONVERSATION_LIMITS.ATTACHMENTS_PER_MESSAGE
  if (!Array.isArray(value) || value.length > max || !value.every((id) => typeof id === 'string' && /^[\w-]{1,64}$/.test(id)))
    throw invalid(`attachments must be a list of at most ${max} upload ids`)
  if (new Set(value).size !== value.length) throw invalid('attachments must not name an upload twice')
  return value as string[]
}

/** A message text as the spec allows it (spec §2, §3), or MESSAGE_INVALID. */
export function checkText(text: unknown, maxTextLength: number): string {
  if (typeof text !== 'string') throw invalid('text must be a string')
  // spec §2: a text that shows nothing (U+200B alone) is as empty as "", though one that merely
  // contains such characters ("hi\u200b", an emoji ZWJ sequence) is fine.
  if (showsNothing(text)) throw invalid('text must not be empty or only whitespace and invisible characters')
  // NUL is refused too: PostgreSQL can't store it, and no chat text needs it.
  if (!text.isWellFormed() || text.includes('\u0000')) throw invalid('text must be valid Unicode without NUL characters')
  if (exceedsCodePoints(text, maxTextLength)) throw invalid(`text must be at most ${maxTextLength} characters`)
  return text
}
