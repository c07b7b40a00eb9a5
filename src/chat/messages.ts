/**
 * Posting, editing and deleting (spec §3, §5): each is stored first and only then published, exactly
 * once, as an entry of the room's ordered stream. Whoever a text mentions (spec §6) is told after.
 */
import { AppError } from '../errors.ts'
import type { Message, Role } from '../protocol.ts'
import { CONVERSATION_LIMITS } from '../protocol-conversation.ts'
import { MessageRefused, type CommittedEvent, type MessageChange, type Store, type User } from '../store/store.ts'
import { resolveMentions } from './mentions.ts'
import { roomNotFound } from './room-access.ts'
import { Turns } from './turns.ts'
import type { Notify } from './notices.ts'

/**
 * Hands a committed stream entry (a message, an edit, a deletion) on to its readers. Declared here,
 * supplied by the composition root (app.ts), so the domain never depends on the transport. Must not
 * throw: the entry is stored.
 */
export type Publish = (committed: CommittedEvent) => void

/** Removes the bytes of attachments whose rows a committed deletion took (spec §7). Must not throw. */
export type Discard = (attachmentIds: string[]) => void

/** What a message may carry beside its text (spec §7). */
export interface Extras {
  /** The id of a message of the same room it answers. */
  replyTo?: number
  /** Ids of the sender's unused uploads to the room. */
  attachments?: string[]
}

export interface Poster {
  /**
   * Stores the message, then publishes it; resolves with it once it is stored. Throws AppError
   * MESSAGE_INVALID, nothing stored, for a `replyTo` or `attachments` it may not use (spec §7).
   */
  post(room: string, user: User, text: string, nonce: string | undefined, extras?: Extras): Promise<Message>
  /**
   * spec §5: the author replaces the text of their message `id` in `room`. Throws AppError
   * MESSAGE_NOT_FOUND (no such message in the room, or deleted) or FORBIDDEN (someone else's).
   */
  edit(room: string, user: User, id: number, text: string): Promise<void>
  /** spec §5: the author, or an admin, deletes message `id` in `room`; errors as for edit. */
  delete(room: string, user: User, role: Role | null, id: number): Promise<void>
  /**
   * spec §7: puts (`on`) or takes back `emoji` on message `id`; a toggle that changes nothing is
   * silently nothing. MESSAGE_NOT_FOUND as for edit, MESSAGE_INVALID for a 21st emoji.
   */
  react(room: string, user: User, id: number, emoji: string, on: boolean): Promise<void>
  /** Refuses new posts from now on and resolves when every post in flight is stored and published (shutdown). */
  close(): Promise<void>
  /** True once close() was called. */
  readonly closed: boolean
}

const REFUSALS = {
  MESSAGE_NOT_FOUND: 'no such message in this room (it may have been deleted)',
  FORBIDDEN: 'only its author can edit a message, and only its author or an admin delete it',
  MESSAGE_INVALID: `a message takes at most ${CONVERSATION_LIMITS.REACTIONS_MAX} different emoji`,
} as const

/** A message the store refused as it wrote it: not the sender's to send (spec §7), or a private room's non-member's (spec §6). */
const refused = (err: MessageRefused) => (err.type === 'ROOM_NOT_FOUND' ? roomNotFound() : new AppError('MESSAGE_INVALID', err.message))

export function createPoster(store: Store, publish: Publish, notify: Notify, discard: Discard, now: () => number): Poster {
  const inFlight = new Set<Promise<unknown>>()
  let closed = false

  function track<T>(work: () => Promise<T>): Promise<T> {
    if (closed) return Promise.reject(new Error('the poster is closed'))
    const done = work()
    inFlight.add(done)
    void done.finally(() => inFlight.delete(done)).catch(() => {})
    return done
  }

  /** A `mention` for each of `users` but the author (mentioning yourself notifies no one). */
  function tellMentioned(room: string, message: Message, users: User[]): void {
    for (const { id } of users) if (id !== message.user.id) notify({ kind: 'user', userId: id, frame: { type: 'mention', data: { room, message } } })
  }

  async function change(c: MessageChange): Promise<void> {
    const outcome = await store.changeMessage(c)
    if (!outcome.ok) {
      if (outcome.refusal === 'UNCHANGED') return
      if (outcome.refusal === 'ROOM_NOT_FOUND') throw roomNotFound()
      // spec §7: every refusal of a `react` frame is MESSAGE_INVALID (§5's MESSAGE_NOT_FOUND is edits' and deletions').
      if (c.type === 'reaction' && outcome.refusal === 'MESSAGE_NOT_FOUND')
        throw new AppError('MESSAGE_INVALID', 'no such message in this room to react to (it may have been deleted)')
      throw new AppError(outcome.refusal, REFUSALS[outcome.refusal])
    }
    publish(outcome.committed)
    if (outcome.dropped.length > 0) discard(outcome.dropped)
    const { event } = outcome.committed
    if (event.type !== 'edited' || outcome.mentioned.length === 0) return
    // The message as it is now: its author, the new text.
    const { messageId, text, editedAt, mentions } = event.data
    const [original] = await store.listMessages(c.room, { after: messageId - 1, before: messageId + 1, limit: 1 })
    if (original && !original.deleted) tellMentioned(c.room, { ...original, id: messageId, text, editedAt, mentions }, outcome.mentioned)
  }

  const turns = new Turns()
  const mentionsIn = (room: string, text: string) => (text.includes('@') ? resolveMentions(store, room, text) : [])

  return {
    post(room, user, text, nonce, { replyTo, attachments } = {}) {
      return track(() =>
        turns.take(room, user.id, mentionsIn(room, text), async (mentions) => {
          const { message, after } = await store
            .insertMessage({ room, user, text, nonce, mentions, replyTo, attachments, createdAt: now() })
            .catch((err: unknown) => Promise.reject(err instanceof MessageRefused ? refused(err) : err))
          publish({ event: { type: 'message', room, data: message }, after })
          if (message.mentions) tellMentioned(room, message, message.mentions)
          return message
        }),
      )
    },
    edit(room, user, id, text) {
      return track(() =>
        turns.take(room, user.id, mentionsIn(room, text), (mentions) => change({ type: 'edited', room, messageId: id, user, text, mentions, at: now() })),
      )
    },
    delete(room, user, role, id) {
      // The store audits a deletion by anyone but the author (an admin's) in the same transaction.
      return track(() => turns.take(room, user.id, null, () => change({ type: 'deleted', room, messageId: id, user, byAdmin: role === 'admin', at: now() })))
    },
    react(room, user, id, emoji, on) {
      return track(() => turns.take(room, user.id, null, () => change({ type: 'reaction', room, messageId: id, user, emoji, on, at: now() })))
    },
    async close() {
      closed = true
      await Promise.allSettled([...inFlight])
    },
    get closed() {
      return closed
    },
  }
}
