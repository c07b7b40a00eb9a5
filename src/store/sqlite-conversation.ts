/**
 * What spec §7 adds to the SQLite message stream, called inside its batch transaction: a reply's
 * original and its quote, attachments claimed by a message, reactions toggled, the search index
 * (sqlite-search.ts) following edits and deletions of indexed messages, and what a deletion takes with it. Reads for history pages
 * (quotes, reactions) are here too.
 */
import type { Database } from 'bun:sqlite'
import { CONVERSATION_LIMITS } from '../protocol-conversation.ts'
import type { Attachment, Quote } from '../protocol.ts'
import { quoteOf, type MessageRow, type ReactionRow } from './rows.ts'
import { IN_IDS } from './sqlite-rooms.ts'
import { sqliteSearchIndex } from './sqlite-search.ts'
import type { SqliteSearchIndexer } from './sqlite-search-indexer.ts'
import { MessageRefused, type MessageChange, type NewMessage } from './entries.ts'

type Metadata = Omit<Attachment, 'url'>
type ReactionChange = Extract<MessageChange, { type: 'reaction' }>
type QuoteRow = Pick<MessageRow, 'id' | 'userId' | 'username' | 'text'> & { deleted: number }

export function sqliteConversation(client: Database, indexer: SqliteSearchIndexer) {
  const q = client.query.bind(client)
  const original = q<QuoteRow, { id: number; room: string }>(
    `SELECT id, user_id AS userId, username, text, deleted FROM messages WHERE id = $id AND room = $room AND kind = 'message'`,
  )
  const quotes = q<QuoteRow, { ids: string }>(`SELECT id, user_id AS userId, username, text, deleted FROM messages WHERE id IN ${IN_IDS}`)
  const unused = q<Metadata & { width: number | null; height: number | null }, { ids: string; user: number; room: string }>(
    `SELECT id, name, type, size, width, height FROM attachments WHERE id IN ${IN_IDS} AND user_id = $user AND room = $room AND message_id IS NULL`,
  )
  const claim = q(`UPDATE attachments SET message_id = $message WHERE id IN ${IN_IDS}`)
  const dropAttachments = q<{ id: string }, { message: number }>(`DELETE FROM attachments WHERE message_id = $message RETURNING id`)
  const hasReaction = q<{ one: number }, { message: number; emoji: string; user: number }>(
    `SELECT 1 AS one FROM reactions WHERE message_id = $message AND emoji = $emoji AND user_id = $user`,
  )
  const emojiCount = q<{ n: number; present: number }, { message: number; emoji: string }>(
    `SELECT count(DISTINCT emoji) AS n, coalesce(max(emoji = $emoji), 0) AS present FROM reactions WHERE message_id = $message`,
  )
  const addReaction = q(`INSERT INTO reactions (message_id, emoji, user_id, created_at) VALUES ($message, $emoji, $user, $at)`)
  const removeReaction = q<{ one: number }, { message: number; emoji: string; user: number }>(
    `DELETE FROM reactions WHERE message_id = $message AND emoji = $emoji AND user_id = $user RETURNING 1 AS one`,
  )
  const dropReactions = q(`DELETE FROM reactions WHERE message_id = $message`)
  const reactions = q<ReactionRow, { ids: string }>(
    `SELECT message_id AS messageId, emoji, user_id AS userId FROM reactions WHERE message_id IN ${IN_IDS} ORDER BY created_at, rowid`,
  )
  const search = sqliteSearchIndex(client, indexer)

  return {
    /** What a new message needs before its insert: its reply's quote and its attachments' metadata; MessageRefused if either is not its to use. */
    prepare(m: NewMessage): { quote?: Quote; attachments: Metadata[] } | MessageRefused {
      let quote: Quote | undefined
      if (m.replyTo !== undefined) {
        const found = original.get({ id: m.replyTo, room: m.room })
        if (!found) return new MessageRefused('replyTo must be the id of a message in this room')
        quote = quoteOf({ ...found, deleted: found.deleted === 1 })
      }
      const wanted = [...new Set(m.attachments ?? [])]
      const attachments = wanted.length === 0 ? [] : unused.all({ ids: JSON.stringify(wanted), user: m.user.id, room: m.room })
      if (attachments.length !== wanted.length) return new MessageRefused('attachments must be your own uploads to this room that no message uses yet')
      return { quote, attachments: attachments.map(({ width, height, ...a }) => (width === null || height === null ? a : { ...a, width, height })) }
    },
    /** After the insert: the message's attachments are its own. */
    stored(m: NewMessage, id: number): void {
      if (m.attachments?.length) claim.run({ message: id, ids: JSON.stringify([...new Set(m.attachments)]) })
    },
    edited(id: number, text: string): void {
      search.edited(id, text)
    },
    /** A deletion takes the message's reactions, attachments and index entry; returns the attachments dropped. */
    deleted(id: number): string[] {
      search.deleted(id)
      dropReactions.run({ message: id })
      return dropAttachments.all({ message: id }).map((r) => r.id)
    },
    /** Applies a toggle: UNCHANGED when it changes nothing, MESSAGE_INVALID for a 21st emoji; undefined when applied. */
    react(c: ReactionChange): 'UNCHANGED' | 'MESSAGE_INVALID' | undefined {
      const key = { message: c.messageId, emoji: c.emoji, user: c.user.id }
      if (!c.on) return removeReaction.get(key) ? undefined : 'UNCHANGED'
      if (hasReaction.get(key)) return 'UNCHANGED'
      const { n, present } = emojiCount.get({ message: c.messageId, emoji: c.emoji })!
      if (!present && n >= CONVERSATION_LIMITS.REACTIONS_MAX) return 'MESSAGE_INVALID'
      addReaction.run({ ...key, at: c.at })
      return undefined
    },
    /** The quotes of replies' originals, by id, as they are now. */
    quotes(ids: number[]): Map<number, Quote> {
      if (ids.length === 0) return new Map()
      return new Map(quotes.all({ ids: JSON.stringify([...new Set(ids)]) }).map((r) => [r.id, quoteOf({ ...r, deleted: r.deleted === 1 })]))
    },
    listReactions(ids: number[]): ReactionRow[] {
      return ids.length === 0 ? [] : reactions.all({ ids: JSON.stringify(ids) })
    },
  }
}

export type SqliteConversation = ReturnType<typeof sqliteConversation>
