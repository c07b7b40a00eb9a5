/** Operations of the admin API (spec §5): an admin's token; an unknown user id is 404 here (ADMIN_STATUS). */
import { LIMITS } from '../../protocol.ts'
import { ADMIN_STATUS } from '../respond.ts'
import type { OperationSpec, OperationTable, QueryParam } from './operation.ts'
import { ref } from './schemas.ts'

const TAG = 'Admin'

const userId: QueryParam = { schema: { type: 'integer', minimum: 1 }, description: 'A user id; anything else names no user (404 USER_NOT_FOUND).' }
const limit: QueryParam = { schema: { type: 'integer', minimum: 1, maximum: LIMITS.PAGE_MAX, default: LIMITS.PAGE_DEFAULT }, description: 'Page size.' }

/** Every admin operation: the admin's auth and the admin API's statuses. */
const admin = (op: Omit<OperationSpec, 'tag' | 'auth' | 'statusOf'>): OperationSpec => ({ ...op, tag: TAG, auth: 'admin', statusOf: ADMIN_STATUS })

export const ADMIN_OPERATIONS: OperationTable = {
  '/api/v1/admin/users': {
    GET: admin({
      operationId: 'listUsers',
      summary: 'List users, ids ascending',
      query: {
        q: { schema: { type: 'string' }, description: 'A name prefix, compared as names are (ignoring case and width).' },
        after: { schema: { type: 'integer', minimum: 0, maximum: Number.MAX_SAFE_INTEGER, default: 0 }, description: 'Ids above this one.' },
        limit,
      },
      success: { status: 200, data: ref('AdminUserPage'), description: 'A page of users.' },
      errors: ['BAD_QUERY'],
    }),
  },
  '/api/v1/admin/users/:id/role': {
    PUT: admin({
      operationId: 'setRole',
      summary: 'Make a user admin or member',
      params: { id: userId },
      body: { schema: 'RoleChange' },
      success: { status: 200, data: ref('Me'), description: 'The user with their role.' },
      errors: ['USER_NOT_FOUND', 'LAST_ADMIN'],
    }),
  },
  '/api/v1/admin/users/:id/ban': {
    PUT: admin({
      operationId: 'banUser',
      summary: 'Ban a user',
      params: { id: userId },
      body: { schema: 'Ban', optional: true },
      success: { status: 204, description: 'Banned; their tokens are revoked.' },
      errors: ['USER_NOT_FOUND', 'LAST_ADMIN'],
    }),
    DELETE: admin({
      operationId: 'unbanUser',
      summary: 'Lift a ban',
      params: { id: userId },
      success: { status: 204, description: 'Not banned (nothing happens for a user who was not).' },
      errors: ['USER_NOT_FOUND'],
    }),
  },
  '/api/v1/admin/users/:id/password': {
    PUT: admin({
      operationId: 'resetPassword',
      summary: 'Set a user’s password',
      params: { id: userId },
      body: { schema: 'PasswordReset' },
      success: { status: 204, description: 'Set; their tokens are revoked. A bot has none (400 BAD_REQUEST): it has its API token.' },
      errors: ['BAD_PASSWORD', 'BAD_REQUEST', 'USER_NOT_FOUND'],
    }),
  },
  '/api/v1/admin/invites': {
    GET: admin({
      operationId: 'listInvites',
      summary: 'Invitation codes not revoked, newest first',
      success: { status: 200, data: ref('Invites'), description: 'At most 1000 codes.' },
      errors: [],
    }),
    POST: admin({
      operationId: 'createInvite',
      summary: 'Create an invitation code',
      body: { schema: 'InviteRequest', optional: true },
      success: { status: 201, data: ref('Invite'), description: 'The new code.' },
      errors: [],
    }),
  },
  '/api/v1/admin/invites/:code': {
    DELETE: admin({
      operationId: 'revokeInvite',
      summary: 'Revoke an invitation code',
      params: { code: { schema: { type: 'string' }, description: 'The code.' } },
      success: { status: 204, description: 'Revoked.' },
      errors: ['NOT_FOUND'],
    }),
  },
  '/api/v1/admin/settings': {
    GET: admin({
      operationId: 'getSettings',
      summary: 'The registration mode',
      success: { status: 200, data: ref('Registration'), description: 'The mode in force.' },
      errors: [],
    }),
    PUT: admin({
      operationId: 'setSettings',
      summary: 'Set the registration mode',
      body: { schema: 'Registration' },
      success: { status: 200, data: ref('Registration'), description: 'The mode now in force.' },
      errors: [],
    }),
  },
  '/api/v1/admin/audit': {
    GET: admin({
      operationId: 'listAudit',
      summary: 'The audit log, newest first',
      query: { before: { schema: { type: 'integer', minimum: 1, maximum: Number.MAX_SAFE_INTEGER }, description: 'Entries with ids below this one.' }, limit },
      success: { status: 200, data: ref('AuditPage'), description: 'A page of entries.' },
      errors: ['BAD_QUERY'],
    }),
  },
}
