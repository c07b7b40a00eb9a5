/** How a message held in memory follows the changes of its room's stream (spec §5, §7) and its authors' deletion: pure functions for ws/room-history.ts. */
import type { Change, Message, Quote, User } from '../protocol.ts'
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

/** The newest `max` (RESUME_MAX) of messages and changes together, by id; `truncated` when some were left out. */
export function cutToNewest(max: number, history: Message[], changes: Change[]): { history: Message[]; changes: Change[]; truncated: boolean } {
  const excess = history.length + changes.length - max
  if (excess <= 0) return { history, changes, truncated: false }
  const from = [...history, ...changes].sort(byId)[excess]!.id
  return { history: history.filter((m) => m.id >= from), changes: changes.filter((c) => c.id >= from), truncated: true }
}

/**
 * spec §5: `item` (a message, or a change) with the deleted account `gone` shown under its placeholder
 * wherever it is named (author, mentions, reply quote), as the store rewrote it; `item` itself when it
 * names them nowhere.
 */
export function renameUser<T extends object>(item: T, gone: User): T {
  const stale = (u: User | undefined) => u?.id === gone.id && u.username !== gone.username
  const named = (u: User) => (stale(u) ? gone : u)
  const { user, mentions, replyTo } = item as { user?: User; mentions?: User[]; replyTo?: Quote }
  // Most items don't name them (and none does once renamed): the same object, nothing copied.
  if (!stale(user) && !mentions?.some(stale) && !stale(replyTo?.user)) return item
  const out: Record<string, unknown> = { ...(item as Record<string, unknown>) }
  if (user) out.user = named(user)
  if (mentions) out.mentions = mentions.map(named)
  if (replyTo) out.replyTo = { ...replyTo, user: named(replyTo.user) }
  return out as T
}
