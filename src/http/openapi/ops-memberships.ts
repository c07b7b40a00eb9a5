/** Operations of spec §6 over HTTP: members, direct messages, the caller's rooms and read markers, the user stream. */
import { ADMIN_STATUS } from '../respond.ts'
import type { OperationTable, QueryParam } from './operation.ts'
import { upgradeOperation } from './ops-rooms.ts'
import { ref } from './schemas.ts'

const TAG = 'Memberships'
const username: QueryParam = { schema: { type: 'string' }, description: 'Matched as at login (ignoring case); an unknown one is 404 USER_NOT_FOUND.' }

/** A user named in a path or body who does not exist is 404 there, as in the admin API. */
const named = { statusOf: { USER_NOT_FOUND: ADMIN_STATUS.USER_NOT_FOUND } }

export const MEMBERSHIP_OPERATIONS: OperationTable = {
  '/api/v1/rooms/:room/members': {
    GET: {
      operationId: 'listMembers',
      summary: 'A room’s members, in the order they joined',
      tag: TAG,
      auth: 'optional',
      success: { status: 200, data: ref('Members'), description: 'The members.' },
      errors: ['ROOM_NOT_FOUND'],
    },
  },
  '/api/v1/rooms/:room/members/:username': {
    PUT: {
      ...named,
      operationId: 'addMember',
      summary: 'Add someone to a room (its owner or an admin; anyone themselves to a public room)',
      tag: TAG,
      auth: 'required',
      params: { username },
      success: { status: 204, description: 'A member (nothing changes if they were one).' },
      errors: ['FORBIDDEN', 'ROOM_NOT_FOUND', 'USER_NOT_FOUND'],
    },
    DELETE: {
      ...named,
      operationId: 'removeMember',
      summary: 'Remove someone from a room (its owner or an admin; anyone themselves)',
      tag: TAG,
      auth: 'required',
      params: { username },
      success: { status: 204, description: 'Not a member (nothing changes if they were not one).' },
      errors: ['FORBIDDEN', 'ROOM_NOT_FOUND', 'USER_NOT_FOUND'],
    },
  },
  '/api/v1/dms': {
    POST: {
      ...named,
      operationId: 'openDm',
      summary: 'The direct-message room of the caller and another user, created on first use',
      tag: TAG,
      auth: 'required',
      body: { schema: 'DmRequest' },
      success: { status: 200, data: ref('DmRoom'), description: 'The pair’s one DM room.' },
      errors: ['USER_NOT_FOUND'],
    },
  },
  '/api/v1/users/me/rooms': {
    GET: {
      operationId: 'listMyRooms',
      summary: 'The caller’s rooms with unread counts, newest message first',
      tag: TAG,
      auth: 'required',
      success: { status: 200, data: ref('MyRooms'), description: 'The rooms the caller is in.' },
      errors: [],
    },
  },
  '/api/v1/users/me/rooms/:room': {
    PUT: {
      operationId: 'joinRoom',
      summary: 'Join a room',
      tag: TAG,
      auth: 'required',
      success: { status: 204, description: 'Joined.' },
      errors: ['ROOM_NOT_FOUND'],
    },
    DELETE: {
      operationId: 'leaveRoom',
      summary: 'Leave a room (a DM cannot be left: 403)',
      tag: TAG,
      auth: 'required',
      success: { status: 204, description: 'Left.' },
      errors: ['FORBIDDEN', 'ROOM_NOT_FOUND'],
    },
  },
  '/api/v1/users/me/rooms/:room/read': {
    PUT: {
      operationId: 'markRead',
      summary: 'Move the caller’s read marker forward',
      tag: TAG,
      auth: 'required',
      body: { schema: 'ReadMarker' },
      success: { status: 204, description: 'Moved (an older id is ignored).' },
      errors: ['ROOM_NOT_FOUND'],
    },
  },
  '/api/v1/users/me/ws': {
    GET: upgradeOperation({
      operationId: 'userStream',
      summary: 'The user stream’s WebSocket',
      description: 'The token is required, as the first subprotocol; without one the socket closes with 4001.',
      tag: TAG,
    }),
  },
}
