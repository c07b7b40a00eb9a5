/**
 * Registered rooms, members, direct messages, my rooms and read markers (spec §6), for REST and
 * sockets alike. Every change is written first, then told to whom it concerns (notices.ts): the user
 * added or removed, the sockets that may no longer read.
 */
import { AppError } from '../errors.ts'
import { dmName, isDmName, ROOM_LIMITS, type MyRoom, type RoomInfo, type Visibility } from '../protocol-rooms.ts'
import { showsNothing } from '../protocol-text.ts'
import type { Role, User } from '../protocol.ts'
import type { Store } from '../store/store.ts'
import { exceedsCodePoints } from './text.ts'
import type { Notify } from './notices.ts'
import { roomNotFound, type RoomGate } from './room-access.ts'
import { checkRoomName } from './rooms.ts'
import { DELETED_USERNAME, usernameKey } from './usernames.ts'

export interface MembershipDeps {
  store: Store
  gate: RoomGate
  notify: Notify
  /** Epoch ms. */
  now: () => number
}

/** The caller of an action: a user with their role. */
export interface Caller {
  user: User
  role: Role
}

const taken = () => new AppError('ROOM_EXISTS', 'that room name is taken (registered, has messages, or a direct message name)')
const fixedDm = () => new AppError('FORBIDDEN', 'a direct message has its two members for good')

/** `{username}` as at login (case as for uniqueness); 404 USER_NOT_FOUND when no one has it. */
async function findUser(store: Store, username: string): Promise<User> {
  const found = await store.findUserByKey(usernameKey(username.normalize('NFC')))
  if (!found) throw new AppError('USER_NOT_FOUND', 'no user has that name')
  return { id: found.id, username: found.username }
}

export function checkTopic(topic: unknown): string | null {
  if (topic === undefined || topic === null || topic === '') return null
  if (typeof topic !== 'string' || !topic.isWellFormed() || /\p{Cc}/u.test(topic) || exceedsCodePoints(topic, ROOM_LIMITS.TOPIC_MAX_LENGTH))
    throw new AppError('BAD_BINDING', `topic must be text of at most ${ROOM_LIMITS.TOPIC_MAX_LENGTH} characters without control characters`)
  return showsNothing(topic) ? null : topic
}

export function checkVisibility(visibility: unknown): Visibility {
  if (visibility !== 'public' && visibility !== 'private') throw new AppError('BAD_BINDING', 'visibility must be "public" or "private"')
  return visibility
}

export function createMemberships({ store, gate, notify, now }: MembershipDeps) {
  const tellRoom = (userId: number, room: string, visibility: Visibility, member: boolean) =>
    notify({ kind: 'user', userId, frame: { type: 'room', data: { room, visibility, member } } })

  /**
   * What the caller may do to the room's members: manage (the owner, an admin), or only themselves
   * (a member, anyone in a public room). To an outsider of a private room it does not exist.
   */
  async function standingIn(room: string, caller: Caller): Promise<{ visibility: Visibility; manage: boolean; owner: boolean }> {
    if (isDmName(room)) {
      // An admin may manage any room, but no DM: the same answer for every DM name, created or not.
      if (caller.role !== 'admin' && !(await store.isMember(room, caller.user.id))) throw roomNotFound()
      throw fixedDm()
    }
    const row = await store.roomAccess(room, caller.user.id)
    // A private room's owner who left it (or was removed by an admin) is an outsider like any other
    // (spec §6: 404 on every room path) until let back in; the ownership waits for them.
    const owner = row?.ownerId === caller.user.id && (row.visibility === 'public' || row.member)
    const manage = owner || caller.role === 'admin'
    if (row?.visibility === 'private' && !manage && !row.member) throw roomNotFound()
    return { visibility: row?.visibility ?? 'public', manage, owner }
  }

  async function remove(room: string, user: User, visibility: Visibility, audited: Caller | undefined): Promise<void> {
    if (!(await store.removeMember(room, user, now(), audited && { actor: audited.user }))) return
    if (visibility === 'private') notify({ kind: 'evict', room, userId: user.id })
    tellRoom(user.id, room, visibility, false)
  }

  return {
    /** `POST /api/v1/rooms`: 409 ROOM_EXISTS for a name taken, in the DM namespace included. */
    async register(owner: User, name: string, visibility: Visibility, topic: string | null): Promise<RoomInfo> {
      checkRoomName(name)
      if (isDmName(name)) throw taken()
      // Who joined the name without messages before it is registered private is no longer a member: told so.
      const joined = visibility === 'private' ? await store.listMembers(name) : []
      if (!(await store.createRoom({ name, visibility, topic, owner, at: now() }))) throw taken()
      // Anyone reading the (empty) name until now may not read a private room.
      if (visibility === 'private') notify({ kind: 'evict', room: name, userId: null, keep: owner.id })
      for (const { id } of joined) if (id !== owner.id) tellRoom(id, name, visibility, false)
      tellRoom(owner.id, name, visibility, true)
      return { name, visibility, topic, owner }
    },

    /** `GET /api/v1/rooms/{room}`. */
    async info(room: string, userId: number | null): Promise<RoomInfo> {
      const access = await gate.check(room, userId)
      if (access.visibility === 'private' && access.dm) return { name: room, visibility: 'private', topic: null, owner: null }
      const found = await store.findRoom(room)
      return { name: room, visibility: found?.visibility ?? 'public', topic: found?.topic ?? null, owner: found?.owner ?? null }
    },

    async members(room: string, userId: number | null): Promise<User[]> {
      await gate.check(room, userId)
      return store.listMembers(room)
    },

    /** `PUT /api/v1/rooms/{room}/members/{username}`: the owner or an admin; anyone themselves into a public room. */
    async add(caller: Caller, room: string, username: string): Promise<void> {
      const { visibility, manage, owner } = await standingIn(room, caller)
      const user = await findUser(store, username)
      if (!manage && !(visibility === 'public' && user.id === caller.user.id)) throw new AppError('FORBIDDEN', 'only the room owner or an admin adds members')
      // An admin acting on a room that is not theirs is moderating: on the record.
      if (await store.addMember(room, user, now(), manage && !owner ? { actor: caller.user } : undefined)) tellRoom(user.id, room, visibility, true)
    },

    /** `DELETE /api/v1/rooms/{room}/members/{username}`: the owner or an admin; anyone themselves. */
    async remove(caller: Caller, room: string, username: string): Promise<void> {
      const { visibility, manage, owner } = await standingIn(room, caller)
      const user = await findUser(store, username)
      if (!manage && user.id !== caller.user.id) throw new AppError('FORBIDDEN', 'only the room owner or an admin removes other members')
      await remove(room, user, visibility, manage && !owner && user.id !== caller.user.id ? caller : undefined)
    },

    /** `POST /api/v1/dms`: the pair's one room, the same from either side. */
    async openDm(user: User, username: string): Promise<{ room: string }> {
      const peer = await findUser(store, username)
      const room = dmName(user.id, peer.id)
      if (await store.openDm(room, user.id, peer.id, now())) for (const id of new Set([user.id, peer.id])) tellRoom(id, room, 'private', true)
      return { room }
    },

    /** `PUT /api/v1/users/me/rooms/{room}`: join a public room; a private room's members are in it already. */
    async join(user: User, room: string): Promise<void> {
      const access = await gate.check(room, user.id)
      if (access.visibility === 'private') return
      if (await store.addMember(room, user, now())) tellRoom(user.id, room, 'public', true)
    },

    /** `DELETE /api/v1/users/me/rooms/{room}`: leave; a DM can't be left. */
    async leave(user: User, room: string): Promise<void> {
      const access = await gate.check(room, user.id)
      if (access.visibility === 'private' && access.dm) throw fixedDm()
      await remove(room, user, access.visibility, undefined)
    },

    /** `GET /api/v1/users/me/rooms`, each DM with the other person. */
    async myRooms(userId: number): Promise<MyRoom[]> {
      const rows = await store.listMyRooms(userId)
      const peerOf = (room: string) => {
        const pair = /^dm\.(\d+)\.(\d+)$/.exec(room)
        if (!pair) return undefined
        const [a, b] = [Number(pair[1]), Number(pair[2])]
        return a === userId ? b : a
      }
      const ids = rows.map((r) => peerOf(r.name)).filter((id) => id !== undefined)
      const peers = new Map((await store.findUsersByIds(ids)).map((u) => [u.id, u]))
      return rows.map((r) => {
        const id = peerOf(r.name)
        return { ...r, peer: id === undefined ? null : (peers.get(id) ?? { id, username: DELETED_USERNAME }) }
      })
    },

    /**
     * Moves the user's marker forward (spec §6); the user's other tabs and devices hear of it. A
     * public room the user has not joined keeps no marker.
     */
    async markRead(user: User, room: string, id: number): Promise<void> {
      await gate.check(room, user.id)
      const marked = await store.markRead(room, user.id, id)
      if (marked?.moved) notify({ kind: 'user', userId: user.id, frame: { type: 'read', data: { room, id: marked.lastReadId } } })
    },
  }
}

export type Memberships = ReturnType<typeof createMemberships>
