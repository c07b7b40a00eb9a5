/** How a message held in memory follows the changes of its room's stream (spec §5, §7): pure functions for ws/room-history.ts. */
import type { Change, Message } from '../protocol.ts'
import { cutQuote } from '../store/rows.ts'

/**
 * A message after `change` to it (edited text, or a tombstone; a deleted message stays deleted) or to
 * the message it replies to (its quote follows, spec §7). Reactions are kept apart (Reactors).
 */
export function applyChange(message: Message, change: Change): Message {
  if (message.deleted || change.type === 'reaction') return message
  if (change.messageId !== message.id) {
    if (message.replyTo?.id !== change.messageId) return message
    return { ...message, replyTo: { ...message.replyTo, text: change.type === 'deleted' ? null : cutQuote(change.text) } }
  }
  if (change.type === 'deleted') return { id: message.id, room: message.room, user: message.user, ts: message.ts, deleted: true }
  const { mentions: _before, ...unmentioned } = message
  return change.mentions
    ? { ...unmentioned, text: change.text, editedAt: change.editedAt, mentions: change.mentions }
    : { ...unmentioned, text: change.text, editedAt: change.editedAt }
}

export const byId = (a: { id: number }, b: { id: number }) => a.id - b.id
