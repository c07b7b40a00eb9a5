/** Room names (spec §3): 1-64 of A-Z a-z 0-9 . _ -, starting with a letter or digit, case-sensitive. */
import { AppError } from '../errors.ts'

const ROOM_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/

export function isRoomName(name: string): boolean {
  return ROOM_NAME.test(name)
}

export function checkRoomName(name: string): void {
  if (!isRoomName(name)) throw new AppError('ROOM_INVALID', 'room names are 1-64 characters of A-Z a-z 0-9 . _ - and start with a letter or digit')
}

/** The pub/sub topic of a room; one per room (Bun's built-in topics). */
export function roomTopic(room: string): string {
  return `room:${room}`
}
