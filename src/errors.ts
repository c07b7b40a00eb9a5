/** AppError and the spec's error codes: domain code throws these, one place per transport renders them. */
import type { ErrorType } from './protocol.ts'

export type { ErrorType }

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
