/**
 * The entries of a room's stream (spec §3, §5, §7) as the store is asked for them and hands them
 * back: a new message, a change asked for, an entry of the stream. Shared by the store contract
 * (stream.ts) and the rows both stores keep (rows.ts).
 */
import type { DeletedEvent, EditedEvent, Message, ReactionEvent, User } from '../protocol.ts'

export interface NewMessage {
  room: string
  user: User
  text: string
  nonce: string | undefined
  /**
   * Who the text mentions, as the domain resolved it (chat/mentions.ts). The store keeps those who
   * can read the room when it commits (in a private room, its members), and counts them (spec §6).
   */
  mentions: User[]
  /** spec §7: the id of a message of the same room this one answers (else the insert is refused). */
  replyTo?: number
  /** spec §7: ids of the sender's unused uploads to this room that the message carries (else refused). */
  attachments?: string[]
  /** Epoch milliseconds. */
  createdAt: number
}

/**
 * A message the store would not take, nothing written: MESSAGE_INVALID for a reply to no message of
 * the room or attachments not the sender's to use (spec §7); ROOM_NOT_FOUND when, as it is written, the
 * room is private and the sender not one of its members (spec §6: registered private, or the sender
 * removed, after the message was accepted and before it was stored).
 */
export class MessageRefused extends Error {
  override name = 'MessageRefused'
  constructor(
    message: string,
    readonly type: 'MESSAGE_INVALID' | 'ROOM_NOT_FOUND' = 'MESSAGE_INVALID',
  ) {
    super(message)
  }
}

/** An entry of a room's stream: a message (as it is now, when read back), or a change to one. */
export type StreamEvent =
  | { type: 'message'; room: string; data: Message }
  | { type: 'edited'; room: string; data: EditedEvent }
  | { type: 'deleted'; room: string; data: DeletedEvent }
  | { type: 'reaction'; room: string; data: ReactionEvent }

/**
 * A change asked for (spec §5) by `user`: an edit (the author only) or a deletion (the author, or
 * anyone when `byAdmin`). `at` is epoch ms.
 */
export type MessageChange =
  | { type: 'edited'; room: string; messageId: number; user: User; text: string; mentions: User[]; at: number }
  | { type: 'deleted'; room: string; messageId: number; user: User; byAdmin: boolean; at: number }
  /** spec §7: anyone who may post puts (`on`) or takes back one emoji; a toggle that changes nothing is UNCHANGED. */
  | { type: 'reaction'; room: string; messageId: number; user: User; emoji: string; on: boolean; at: number }
