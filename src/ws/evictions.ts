/**
 * Recent evictions (spec §6: a removed member, or a room registered private under its readers), per
 * room. The hub closes the sockets it holds at once; a socket that passed the upgrade's access check
 * before an eviction and reached its welcome after it was not in the room to be closed, so its welcome
 * asks here, and a removal can't slip through the gap without a second database read.
 */
import { roomNotFound, type RoomGate } from '../chat/room-access.ts'
import { CLOSE } from '../protocol.ts'
import type { SocketResponder } from './respond.ts'
import type { RoomSocket } from './socket-data.ts'

interface Eviction {
  /** The user evicted, or null: everyone but `keep`. */
  userId: number | null
  keep?: number
  /** performance.now() */
  at: number
}

/** How long an eviction is remembered: far longer than any upgrade takes to reach its welcome. */
const MEMORY_MS = 300_000
/** Past this many rooms remembered, those whose evictions are all old are forgotten. */
const ROOMS_MAX = 1000

/** Whether eviction `e` applies to the user (undefined: anonymous). */
export function evicts(e: Pick<Eviction, 'userId' | 'keep'>, userId: number | undefined): boolean {
  return e.userId === null ? userId === undefined || userId !== e.keep : userId === e.userId
}

export class Evictions {
  private readonly byRoom = new Map<string, Eviction[]>()

  record(room: string, userId: number | null, keep: number | undefined): void {
    const at = performance.now()
    const recent = (this.byRoom.get(room) ?? []).filter((e) => at - e.at < MEMORY_MS)
    this.byRoom.set(room, [...recent, { userId, keep, at }])
    if (this.byRoom.size > ROOMS_MAX) for (const [name, list] of this.byRoom) if (at - list.at(-1)!.at >= MEMORY_MS) this.byRoom.delete(name)
  }

  /** Whether an eviction from `room` at or after `since` (performance.now()) applies to the user (undefined: anonymous). */
  since(room: string, userId: number | undefined, since: number): boolean {
    return (this.byRoom.get(room) ?? []).some((e) => e.at >= since && evicts(e, userId))
  }
}

/** After notices may have been missed (the broker reconnected): sockets whose room could have closed to them are checked again. */
export async function recheckAccess(sockets: Iterable<RoomSocket>, gate: Pick<RoomGate, 'canRead'>, respond: SocketResponder): Promise<void> {
  for (const ws of [...sockets]) {
    if (ws.data.recheck && !(await gate.canRead(ws.data.room, ws.data.user?.id ?? null))) respond.shut(ws, CLOSE.ROOM_NOT_FOUND, roomNotFound())
  }
}
