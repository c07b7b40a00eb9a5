/** AppError and the spec's error codes: domain code throws these, one place per transport renders them. */

/** Every `error.type` a client can see (spec §2, §3). Nothing else goes on the wire. */
export type ErrorType =
  | 'BAD_BINDING'
  | 'BAD_USERNAME'
  | 'BAD_PASSWORD'
  | 'USER_EXISTS'
  | 'USER_NOT_FOUND'
  | 'PASSWORD_MATCH_FAILED'
  | 'RATE_LIMITED'
  | 'ROOM_INVALID'
  | 'UPGRADE_REQUIRED'
  | 'BAD_QUERY'
  | 'TOKEN_INVALID'
  | 'TOKEN_EXPIRED'
  | 'MESSAGE_INVALID'
  | 'UNAVAILABLE'
  | 'NOT_FOUND'
  | 'METHOD_NOT_ALLOWED'
  | 'PAYLOAD_TOO_LARGE'
  | 'INTERNAL'
  | 'BAD_REQUEST'

export class AppError extends Error {
  constructor(
    readonly type: ErrorType,
    message: string,
    readonly headers?: Record<string, string>,
  ) {
    super(message)
    this.name = 'AppError'
  }
}

/** The fixed sentence a client gets for anything unexpected; the real error goes to the log. */
export const INTERNAL_MESSAGE = 'the server hit an unexpected error; it has been logged'

/** The client closed the connection before its request was read: nobody is left to answer. */
export class ClientGone extends Error {
  override name = 'ClientGone'
}
