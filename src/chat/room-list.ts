/**
 * The room list (spec §2 GET /api/v1/rooms): public rooms with messages or logged-in people, most
 * recently active first, a page at a time; a private room is in no list (spec §6).
 *
 * One order in two runs. First the rooms with messages, by newest message id, read from the store's
 * rooms index (never from the messages). Then the rooms with logged-in people but no message yet, by
 * name, read from presence (bounded by connections). A cursor names the run and the position in it
 * (an id to go below, or a name to go past), so a page boundary never skips or repeats a room that did
 * not change; a room that gets a message moves to the front, where the next first page shows it.
 */
import { AppError } from '../errors.ts'
import type { RoomActivity, Store } from '../store/store.ts'
import type { CursorSigner } from './cursor.ts'
import { isRoomName, type RoomPage, type RoomSummary } from '../protocol.ts'

/** Where a page starts: below a newest-message id (rooms with messages), or past a name (rooms without). */
type Position = { below: number | undefined } | { past: string }

/** Who is present where, cluster-wide (the broker answers it; declared here so the domain doesn't import the transport). */
export interface PresenceCounts {
  /** Rooms with logged-in users, and how many. */
  occupiedRooms(): Promise<{ name: string; members: number }[]>
  /** How many logged-in users are present in each of `rooms`, in that order. */
  countMembers(rooms: string[]): Promise<number[]>
}

/** Names looked up in the store at a time while searching presence for rooms without messages. */
const NAME_BATCH = 200

export interface RoomLister {
  /**
   * Up to `limit` rooms from where `cursor` (a previous page's `next`) points, or from the start.
   * A cursor this server did not make is 400 BAD_QUERY.
   */
  list(limit: number, cursor: string | undefined): Promise<RoomPage>
}

export function createRoomLister(store: Store, presence: PresenceCounts, signer: CursorSigner): RoomLister {
  const encode = (position: Position) => signer.sign('below' in position ? `m${position.below}` : `n${position.past}`)

  function decode(cursor: string): Position {
    const payload = signer.open(cursor) ?? ''
    const id = /^m[1-9]\d{0,15}$/.test(payload) ? Number(payload.slice(1)) : NaN
    if (Number.isSafeInteger(id)) return { below: id }
    if (payload.startsWith('n') && isRoomName(payload.slice(1))) return { past: payload.slice(1) }
    throw new AppError('BAD_QUERY', 'cursor must be the "next" value of a previous page; start again without it')
  }

  /** Up to `want` rooms with logged-in people and no messages, by name, after `past`. */
  async function quietRooms(past: string, want: number): Promise<RoomSummary[]> {
    const occupied = (await presence.occupiedRooms()).filter((r) => r.name > past).sort((a, b) => (a.name < b.name ? -1 : 1))
    const found: RoomSummary[] = []
    for (let i = 0; i < occupied.length && found.length < want; i += NAME_BATCH) {
      const batch = occupied.slice(i, i + NAME_BATCH)
      // Rooms with messages are in the first run; private rooms (spec §6) in no list.
      const rows = await store.findRoomActivity(batch.map((r) => r.name))
      const skip = new Set(rows.filter((r) => r.lastMessageId > 0 || r.visibility !== 'public').map((r) => r.room))
      for (const r of batch) if (!skip.has(r.name) && found.length < want) found.push({ name: r.name, members: r.members, lastMessageId: null })
    }
    return found
  }

  async function withMembers(active: RoomActivity[]): Promise<RoomSummary[]> {
    const members = await presence.countMembers(active.map((r) => r.room))
    return active.map((r, i) => ({ name: r.room, members: members[i]!, lastMessageId: r.lastMessageId }))
  }

  return {
    async list(limit, cursor) {
      const from = cursor === undefined ? { below: undefined } : decode(cursor)
      const rooms: RoomSummary[] = []
      let past = ''
      if ('below' in from) {
        // One more than the page, to know whether the run goes on.
        const active = await store.listRoomActivity({ before: from.below, limit: limit + 1 })
        rooms.push(...(await withMembers(active.slice(0, limit))))
        if (active.length > limit) return { rooms, next: encode({ below: rooms.at(-1)!.lastMessageId! }) }
      } else {
        past = from.past
      }
      const left = limit - rooms.length
      const quiet = await quietRooms(past, left + 1)
      rooms.push(...quiet.slice(0, left))
      if (quiet.length <= left) return { rooms, next: null }
      const last = rooms.at(-1)!
      // A page full of rooms with messages still ends in the first run: the next one finds it done.
      return { rooms, next: encode(last.lastMessageId === null ? { past: last.name } : { below: last.lastMessageId }) }
    },
  }
}
