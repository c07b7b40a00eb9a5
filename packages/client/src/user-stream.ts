/**
 * The user stream `GET /api/v1/users/me/ws` (docs/PROTOCOL.md "The user stream"): badges, mentions,
 * read markers and membership changes wherever the user is. Needs a token. Reconnects like a room
 * socket and resumes mentions with `?since=` (the largest message id seen in a mention).
 */
import { Connection, type ConnectionDeps, type SocketState } from './connection.ts'
import { SocketEndpoint } from './socket-endpoint.ts'
import { ChatError } from './errors.ts'
import {
  ROOM_PATHS,
  type MentionEvent,
  type ReadEvent,
  type RoomEvent,
  type StreamWelcome,
  type UnreadEvent,
  type UserStreamFrame,
  type WireError,
} from './protocol.ts'

export type UserStreamEvents = {
  /** Every accepted connection's first frame: `rooms` is the state of every badge now. */
  welcome: [welcome: StreamWelcome, info: { resumed: boolean }]
  /** A message (or an edit) mentions the user; `replayed` when it was missed and comes from a resumed welcome. */
  mention: [event: MentionEvent, info: { replayed: boolean }]
  read: [event: ReadEvent]
  unread: [event: UnreadEvent]
  /** The user was added to (`member: true`) or removed from a room. */
  room: [event: RoomEvent]
  error: [error: ChatError]
  state: [state: SocketState]
}

/** A frame the user stream sends: its own, and `pong` and `error` as a room socket sends them. */
type StreamFrame = UserStreamFrame | { type: 'pong'; error: null; data: null } | { type: 'error'; error: WireError; data: null }

export class UserStream extends SocketEndpoint<UserStreamEvents> {
  /** The largest message id seen in a `mention`: the `?since=` cursor. */
  lastMentionId = 0
  protected readonly conn: Connection
  private welcomedBefore = false

  constructor(deps: ConnectionDeps) {
    super()
    this.conn = new Connection(deps, {
      needsToken: true,
      path: () => `${ROOM_PATHS.userStream}${this.lastMentionId > 0 ? `?since=${this.lastMentionId}` : ''}`,
      frame: (frame) => this.handle(frame as StreamFrame),
      state: (state) => this.emit('state', state),
    })
  }

  protected get label(): string {
    return 'the user stream'
  }

  private handle(frame: StreamFrame): void {
    switch (frame.type) {
      case 'welcome': {
        const resumed = this.welcomedBefore
        this.welcomedBefore = true
        this.conn.welcomed()
        this.emit('welcome', frame.data, { resumed })
        for (const m of frame.data.mentions ?? []) {
          if (m.message.id <= this.lastMentionId) continue
          this.lastMentionId = m.message.id
          this.emit('mention', m, { replayed: true })
        }
        return
      }
      case 'mention':
        // Live mentions are all delivered: an edit can mention the user in an older message.
        this.lastMentionId = Math.max(this.lastMentionId, frame.data.message.id)
        return this.emit('mention', frame.data, { replayed: false })
      case 'read':
        return this.emit('read', frame.data)
      case 'unread':
        return this.emit('unread', frame.data)
      case 'room':
        return this.emit('room', frame.data)
      case 'error':
        return this.emit('error', new ChatError(frame.error.type, frame.error.message))
      case 'pong':
        return
    }
  }
}
