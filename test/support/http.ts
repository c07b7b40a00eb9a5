/** Small HTTP helpers over real fetch, and the test accounts (signed up and logged in through the client SDK). */
import type { Session } from '../../packages/client/src/index.ts'
import { TestClient } from './client.ts'

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

/** Signs up and logs in through the client SDK (sign-up 201, login 200); returns the token and user. */
export async function register(baseUrl: string, username: string, secret = 'correct horse battery staple'): Promise<Account> {
  const client = new TestClient(baseUrl)
  await client.must(201, 'sign-up failed', (c) => c.signUp(username, secret))
  return client.must(200, 'login failed', (c) => c.login(username, secret))
}
