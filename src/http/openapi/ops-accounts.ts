/** Operations of accounts and sessions (spec §2, §5): sign-up, login, tokens, the caller's own account. */
import type { OperationTable } from './operation.ts'
import { ref } from './schemas.ts'

const TAG = 'Accounts'

export const ACCOUNT_OPERATIONS: OperationTable = {
  '/api/v1/users': {
    POST: {
      operationId: 'signUp',
      summary: 'Create an account',
      description: 'The first account on a server without an admin becomes admin. Limited per client address (429 with Retry-After).',
      tag: TAG,
      body: { schema: 'SignUp' },
      success: { status: 201, data: ref('User'), description: 'The new account.' },
      errors: ['BAD_USERNAME', 'BAD_PASSWORD', 'INVITE_INVALID', 'REGISTRATION_CLOSED', 'USER_EXISTS', 'RATE_LIMITED'],
    },
  },
  '/api/v1/login': {
    POST: {
      operationId: 'logIn',
      summary: 'Log in with username and password',
      description: 'Failed logins are limited per username and per address (429 with Retry-After).',
      tag: TAG,
      body: { schema: 'Credentials' },
      success: { status: 200, data: ref('Session'), description: 'A token and its user.' },
      errors: ['USER_NOT_FOUND', 'PASSWORD_MATCH_FAILED', 'USER_BANNED', 'RATE_LIMITED'],
    },
  },
  '/api/v1/token': {
    POST: {
      operationId: 'refreshToken',
      summary: 'Trade a valid token for a fresh one',
      tag: TAG,
      auth: 'required',
      success: { status: 200, data: ref('Session'), description: 'A fresh token.' },
      errors: [],
    },
  },
  '/api/v1/logout': {
    POST: {
      operationId: 'logOut',
      summary: 'Revoke every token of the caller',
      tag: TAG,
      auth: 'required',
      success: { status: 204, description: 'Every token of the user is revoked.' },
      errors: [],
    },
  },
  '/api/v1/users/me': {
    GET: {
      operationId: 'getMe',
      summary: 'Who the token belongs to',
      tag: TAG,
      auth: 'required',
      success: { status: 200, data: ref('Me'), description: 'The caller, with their role.' },
      errors: [],
    },
    DELETE: {
      operationId: 'deleteMe',
      summary: 'Delete the caller’s account',
      description: 'Messages stay, under the name `[deleted]`. A wrong secret counts against the login limits.',
      tag: TAG,
      auth: 'required',
      body: { schema: 'SecretConfirmation' },
      success: { status: 204, description: 'The account is gone.' },
      errors: ['PASSWORD_MATCH_FAILED', 'LAST_ADMIN', 'RATE_LIMITED'],
    },
  },
  '/api/v1/users/me/password': {
    PUT: {
      operationId: 'changePassword',
      summary: 'Change the caller’s password',
      description: 'Revokes every other token; the answer carries the only valid one.',
      tag: TAG,
      auth: 'required',
      body: { schema: 'PasswordChange' },
      success: { status: 200, data: ref('Session'), description: 'The only valid token from now on.' },
      errors: ['BAD_PASSWORD', 'PASSWORD_MATCH_FAILED', 'RATE_LIMITED'],
    },
  },
}
