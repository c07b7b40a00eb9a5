/**
 * The room-stream half of the store contract, implemented by every store: a room's messages and the
 * changes to them (spec §5: edits and deletions are events that share the message id sequence), in
 * one ordered stream per room, and the rows they are stored as.
 */
import type { Message, User } from '../protocol.ts'
import type { MessageChange, NewMessage, StreamEvent } from './entries.ts'
import type { ReactionRow } from './rows.ts'

export { MessageRefused } from './entries.ts'
export type { MessageChange, NewMessage, StreamEvent } from './entries.ts'

/**
 * A message as committed, with `after`: the id of the room's stream entry (message or change)
 * committed before it (0 for the room's first). Ids order a room's stream (spec §3, §5), and `after`
 * chains it, so whoever delivers can tell an entry that overtook its predecessor (ws/sequencer.ts).
 */
export interface Committed {
  message: Message
  after: number
}

/** Any stream entry as committed, with `after` as in Committed: what the sequencer orders. */
export interface CommittedEvent {
  event: StreamEvent
  after: number
}

/**
 * What came of a change: committed (with the message's author), or refused with the spec's error
 * type, nothing written: MESSAGE_NOT_FOUND when the room has no such message or it is deleted,
 * FORBIDDEN when the user may not make that change, ROOM_NOT_FOUND when the room is private and the
 * user no longer one of its members.
 */
export type ChangeOutcome =
  /**
   * `mentioned`: who an edit mentions that the message did not before (they get a `mention` event);
   * `dropped`: the attachments a deletion removed, whose files go after the commit.
   */
  | { ok: true; committed: CommittedEvent; author: User; mentioned: User[]; dropped: string[] }
  /** MESSAGE_INVALID: a 21st emoji (spec §7); UNCHANGED: a reaction already (or not) there, nothing written. */
  | { ok: false; refusal: 'MESSAGE_NOT_FOUND' | 'FORBIDDEN' | 'MESSAGE_INVALID' | 'ROOM_NOT_FOUND' | 'UNCHANGED' }

export interface MessageQuery {
  /** Only messages with a smaller id. */
  before?: number
  /** Only messages with a larger id. */
  after?: number
  /** The newest `limit` matches are returned, oldest first. */
  limit: number
}

export interface StreamQuery extends MessageQuery {
  /** Only changes to messages with an id up to this one (a resume: those the client has). */
  changesUpTo?: number
  /**
   * Only entries from the room's `fromNewest`-th newest message on (all of them when it has no more
   * messages): a room's newest messages and what followed them. The id that bounds it is read from the
   * (room, kind, id) index alone, so the rows read are those returned.
   */
  fromNewest?: number
}

export interface StreamStore {
  /**
   * Stores a message and resolves once it is committed (spec §3: stored, then broadcast). Within a
   * room, ids grow in commit order across every instance sharing the database, and each entry
   * knows its predecessor (`after`). The room's activity (see listRoomActivity) is updated in the
   * same transaction as the message. Rejects with MessageRefused, nothing written, for a `replyTo`
   * that is no message of the room or `attachments` that are not the sender's unused uploads to it;
   * the message carries the reply's quote and the attachments' metadata.
   */
  insertMessage(message: NewMessage): Promise<Committed>
  /**
   * Checks and applies a change in one transaction, in the room's stream order like a message: the
   * event row is stored (an edit with its text), the message updated (a deletion erases its text
   * and that of its earlier edits: spec §5 "gone, not hidden"), the room's stream head moved (not
   * its activity: an event is not a message). A deletion by anyone but the author is audited
   * (`message.delete`, spec §5) in the same transaction.
   */
  changeMessage(change: MessageChange): Promise<ChangeOutcome>
  /** Messages only, as they are now (edited text, deleted ones as tombstones). Index-bound per page. */
  listMessages(room: string, query: MessageQuery): Promise<Message[]>
  /**
   * The room's stream: messages as they are now and the changes that still stand (an edit whose
   * message was deleted since is gone with its text), oldest first, the newest `limit` matches.
   */
  listStream(room: string, query: StreamQuery): Promise<StreamEvent[]>
  /** spec §7: the reactions standing on these messages, each emoji's in the order it was first put, users in the order they put it. */
  listReactions(messageIds: number[]): Promise<ReactionRow[]>
}

export type { MessageRow, ReactionRow, StreamRow } from './rows.ts'
export { encodeMentions, messageTarget, quoteOf, toEventRow, toMessage, toMessageRow, toStreamEvent } from './rows.ts'

/** The id of a stream entry (a message's, or the event's own). */
export function eventId(event: StreamEvent): number {
  return event.data.id
}
