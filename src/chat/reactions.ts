/**
 * Reactions (spec §7): what counts as one emoji, and how the reactions standing on messages are shown
 * to a reader (`me` is theirs; false for anonymous readers).
 */
import { AppError } from '../errors.ts'
import type { Message, ReactionCount } from '../protocol.ts'
import type { ReactionRow } from '../store/store.ts'

/** Unicode's recommended emoji (a property of strings, kept current by the JavaScript engine). */
const RGI_EMOJI = /^\p{RGI_Emoji}$/v
const graphemes = new Intl.Segmenter(undefined, { granularity: 'grapheme' })

/** One emoji grapheme (👍, 👍🏽, 🇫🇷, 👩‍💻, 1️⃣), or MESSAGE_INVALID. */
export function checkEmoji(emoji: unknown): string {
  if (typeof emoji !== 'string' || emoji.length > 64 || !RGI_EMOJI.test(emoji) || [...graphemes.segment(emoji)].length !== 1)
    throw new AppError('MESSAGE_INVALID', 'emoji must be one emoji')
  return emoji
}

/** Who put which emoji on each message, in the order the emoji were first put. */
export type Reactors = Map<number, Map<string, number[]>>

export function toReactors(rows: ReactionRow[]): Reactors {
  const byMessage: Reactors = new Map()
  for (const { messageId, emoji, userId } of rows) {
    let emojis = byMessage.get(messageId)
    if (!emojis) byMessage.set(messageId, (emojis = new Map()))
    emojis.set(emoji, [...(emojis.get(emoji) ?? []), userId])
  }
  return byMessage
}

/** `reactions` on each message as `reader` sees them; a message with none carries none. */
export function withReactions(messages: Message[], reactors: Reactors, reader: number | null): Message[] {
  return messages.map((m) => {
    const emojis = reactors.get(m.id)
    if (m.deleted || !emojis || emojis.size === 0) return m
    const reactions: ReactionCount[] = [...emojis].map(([emoji, users]) => ({ emoji, count: users.length, me: reader !== null && users.includes(reader) }))
    return { ...m, reactions }
  })
}
