/**
 * The search half of the store contract (spec §7), implemented by every store: messages whose current
 * text contains a string, among those the caller may read, newest first. Access is decided in the
 * query itself (spec §6: public rooms to anyone; private rooms and DMs to their members), so a
 * private room's messages never leave the database for someone outside it.
 */
import type { Message } from '../protocol.ts'

export interface SearchQuery {
  /** The text to find (already checked: 3–200 code points); matched as a case-insensitive substring. */
  q: string
  /** The caller; null for an anonymous one (public rooms only). */
  userId: number | null
  /** Only this room (still only if the caller may read it). */
  room?: string
  /** Only messages with a smaller id. */
  before?: number
  limit: number
}

export interface SearchStore {
  /**
   * The newest `limit` messages (kind 'message', not deleted) with an id below `before` whose current
   * text contains `q` case-insensitively, in rooms `userId` may read, newest first. Index-bound: the
   * text index is walked from `before` down, never the table.
   */
  searchMessages(query: SearchQuery): Promise<Message[]>
}
