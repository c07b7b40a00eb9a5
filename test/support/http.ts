/** Small HTTP helpers over real fetch. */
import type { Session } from '../../src/protocol.ts'

export interface ApiResponse {
  status: number
  headers: Headers
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  body: any
}

export async function request(url: string, init: RequestInit & { json?: unknown } = {}): Promise<ApiResponse> {
  const { json, ...rest } = init
  const res = await fetch(url, json === undefined ? rest : { method: 'POST', ...rest, body: JSON.stringify(json) })
  const text = await res.text()
  let body: unknown = text
  try {
    body = text === '' ? null : JSON.parse(text)
  } catch {
    // not JSON: leave the text for the assertion to show
  }
  return { status: res.status, headers: res.headers, body }
}

/** A logged-in test user: the login answer (spec §2). */
export type Account = Session

/** Signs up and logs in; returns the token and user. */
export async function register(baseUrl: string, username: string, secret = 'correct horse battery staple'): Promise<Account> {
  const created = await request(`${baseUrl}/api/v1/users`, { json: { username, secret } })
  if (created.status !== 201) throw new Error(`sign-up failed: ${created.status} ${JSON.stringify(created.body)}`)
  const login = await request(`${baseUrl}/api/v1/login`, { json: { username, secret } })
  if (login.status !== 200) throw new Error(`login failed: ${login.status} ${JSON.stringify(login.body)}`)
  return login.body.data
}
