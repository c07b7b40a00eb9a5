/** Room names (spec §3): the rule is the protocol's; refusing a bad one is the domain's. */
import { AppError } from '../errors.ts'
import { isRoomName } from '../protocol.ts'

export function checkRoomName(name: string): void {
  if (!isRoomName(name)) throw new AppError('ROOM_INVALID', 'room names are 1-64 characters of A-Z a-z 0-9 . _ - and start with a letter or digit')
}

/** The pub/sub topic of a room; one per room (Bun's built-in topics). */
export function roomTopic(room: string): string {
  return `room:${room}`
}
