/** What each HTTP operation is, in the terms the OpenAPI document is built from (document.ts). */
import type { ErrorType } from '../../errors.ts'
import type { Schema } from './schemas.ts'

/**
 * `required`: `Authorization: Bearer` (401 TOKEN_INVALID, 403 USER_BANNED); `admin`: an admin's
 * (also 403 FORBIDDEN); `optional`: anonymous, or a token that must then be valid.
 */
export type Auth = 'none' | 'optional' | 'required' | 'admin'

export interface QueryParam {
  schema: Schema
  description: string
  required?: boolean
}

/** A 2xx answer: the envelope around `data`, no body (204/101), or a body of its own. */
export type Success =
  | { status: number; data: Schema; description: string }
  | { status: 101 | 204; description: string; headers?: Record<string, HeaderSpec> }
  | { status: 200; content: Record<string, { schema: Schema }>; description: string; headers?: Record<string, HeaderSpec> }

export interface HeaderSpec {
  schema: Schema
  description: string
  required?: boolean
}

export interface OperationSpec {
  operationId: string
  summary: string
  tag: string
  auth?: Auth
  /** Path parameters by name (the route's `:name`); every one must be described. */
  params?: Record<string, QueryParam>
  query?: Record<string, QueryParam>
  /** A component schema name for a JSON body; `optional` when no body at all reads as `{}`. */
  body?: { schema: string; optional?: boolean }
  /** A body that is not JSON (an upload), by media type. */
  rawBody?: { description: string; content: Record<string, { schema: Schema }> }
  /** Extra request headers (the WebSocket handshake). */
  headers?: Record<string, HeaderSpec>
  success: Success
  /** Other answers than the success and the envelope's errors, by status (OpenAPI Response Objects). */
  also?: Record<number, { description: string; headers?: Record<string, HeaderSpec>; content?: Record<string, { schema: Schema }> }>
  /** Error types of this operation beyond those its auth, path and body imply. */
  errors: ErrorType[]
  /** Where this route answers a type with another status than respond.ts STATUS (ADMIN_STATUS). */
  statusOf?: Partial<Record<ErrorType, number>>
  /** Requests the server makes because of this operation (OpenAPI Callback Objects, by name). */
  callbacks?: Record<string, Schema>
  /** False for operations that never touch the database (no 503 UNAVAILABLE). */
  store?: boolean
  description?: string
}

/** Operations by route path (the router's `:name` form), then by method. */
export type OperationTable = Record<string, Partial<Record<string, OperationSpec>>>
