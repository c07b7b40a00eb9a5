/** REST calls of spec §6: registered and private rooms, members, direct messages, the user's rooms and read markers. */
import { PATHS, type User } from '../protocol.ts'
import { ROOM_PATHS, type MyRoom, type RoomInfo, type Visibility } from '../protocol-rooms.ts'
import { call } from './api.ts'

/** `POST /api/v1/rooms`: registers a room; the owner is its first member. */
export function createRoom(token: string, name: string, visibility: Visibility, topic: string): Promise<RoomInfo> {
  return call('POST', PATHS.rooms, { token, body: topic === '' ? { name, visibility } : { name, visibility, topic } })
}

/** `GET /api/v1/rooms/{room}`: visibility, topic and owner (null for a room nobody registered). */
export function getRoom(room: string, token?: string): Promise<RoomInfo> {
  return call('GET', ROOM_PATHS.room(room), { token })
}

/** `GET /api/v1/rooms/{room}/members`, in the order they joined. */
export async function listRoomMembers(room: string, token?: string): Promise<User[]> {
  return (await call<{ members: User[] }>('GET', ROOM_PATHS.members(room), { token })).members
}

export function addMember(token: string, room: string, username: string): Promise<void> {
  return call('PUT', ROOM_PATHS.member(room, username), { token })
}

export function removeMember(token: string, room: string, username: string): Promise<void> {
  return call('DELETE', ROOM_PATHS.member(room, username), { token })
}

/** `POST /api/v1/dms`: the pair's one direct-message room, created on first use. */
export async function openDm(token: string, username: string): Promise<string> {
  return (await call<{ room: string }>('POST', ROOM_PATHS.dms, { token, body: { username } })).room
}

/** `GET /api/v1/users/me/rooms`: the user's rooms with their unread counts. */
export async function listMyRooms(token: string): Promise<MyRoom[]> {
  return (await call<{ rooms: MyRoom[] }>('GET', ROOM_PATHS.myRooms, { token })).rooms
}

export function joinRoom(token: string, room: string): Promise<void> {
  return call('PUT', ROOM_PATHS.myRoom(room), { token })
}

export function leaveRoom(token: string, room: string): Promise<void> {
  return call('DELETE', ROOM_PATHS.myRoom(room), { token })
}
