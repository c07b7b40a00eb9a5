/** Helpers for the accounts and moderation tests (spec §5): authorised calls, error envelopes, waiting for a close. */
import { expect } from 'bun:test'
import type { ErrorType } from '../../packages/client/src/index.ts'
import { request, type ApiResponse } from './http.ts'
import type { TestSocket } from './socket.ts'
import { withTimeout } from './wait.ts'

const JSON_TYPE = 'application/json; charset=utf-8'

/** `method path` on `baseUrl` with the token as Bearer (if any) and `json` as the body (if any). */
export function call(baseUrl: string, method: string, path: string, token?: string, json?: unknown): Promise<ApiResponse> {
  const headers: Record<string, string> = token === undefined ? {} : { Authorization: `Bearer ${token}` }
  return request(`${baseUrl}${path}`, { method, headers, ...(json === undefined ? {} : { body: JSON.stringify(json) }) })
}

/** The error envelope with `status` and `type` (spec §1). */
export function expectError(res: ApiResponse, status: number, type: ErrorType): void {
  expect({ status: res.status, contentType: res.headers.get('content-type'), body: res.body }).toEqual({
    status,
    contentType: JSON_TYPE,
    body: { error: { type, message: expect.any(String) }, data: null },
  })
}

/** 204 with no body (spec §1). */
export function expectNoContent(res: ApiResponse): void {
  expect({ status: res.status, body: res.body }).toEqual({ status: 204, body: null })
}

/** The 200 envelope holding `data`. */
export function expectOk(res: ApiResponse, data: unknown, status = 200): void {
  expect({ status: res.status, body: res.body }).toEqual({ status, body: { error: null, data } })
}

/** Spec §5: a socket of a revoked or banned user is closed within 2 s; resolves with the close and the error frame before it. */
export async function closedWithin2s(socket: TestSocket): Promise<{ code: number; reason: string; error: ErrorType | undefined }> {
  const { code, reason } = await withTimeout(socket.closed, 2000, 'the socket to be closed')
  const last = socket.frames.at(-1)
  return { code, reason, error: last?.type === 'error' ? last.error!.type : undefined }
}
