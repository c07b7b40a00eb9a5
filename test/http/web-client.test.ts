import { expect, test } from 'bun:test'
import { request } from '../support/http.ts'
import { startTestServer } from '../support/server.ts'

const SECURITY = {
  'content-security-policy': expect.stringContaining("default-src 'self'"),
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
}

function headersOf(res: Response): Record<string, string> {
  return Object.fromEntries(res.headers.entries())
}

// spec §2: GET / is the web client; SECURITY.md: CSP without inline script, nosniff, Referrer-Policy.
test('GET / serves the web client with security headers and no inline script', async () => {
  await using server = await startTestServer()
  const res = await fetch(`${server.url}/`)
  expect(res.status).toBe(200)
  expect(res.headers.get('content-type')).toStartWith('text/html')
  expect(headersOf(res)).toMatchObject(SECURITY)
  const csp = res.headers.get('content-security-policy')!
  expect(csp).not.toContain('unsafe-inline')
  expect(csp).not.toContain('unsafe-eval')
  const html = await res.text()
  // Every script is an external file from this origin: the CSP would refuse an inline one.
  const scripts = [...html.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/g)]
  expect(scripts.length).toBeGreaterThan(0)
  for (const [, attrs, body] of scripts) {
    expect(attrs).toMatch(/\bsrc="\/[^"]+"/)
    expect(body!.trim()).toBe('')
  }
})

test("the web client's assets carry the same security headers", async () => {
  await using server = await startTestServer()
  const html = await (await fetch(`${server.url}/`)).text()
  const assets = [...html.matchAll(/(?:src|href)="(\/[^"]+\.(?:js|css))"/g)].map((m) => m[1]!)
  expect(assets.length).toBeGreaterThan(0)
  for (const asset of assets) {
    const res = await fetch(`${server.url}${asset}`)
    expect(res.status).toBe(200)
    expect(headersOf(res)).toMatchObject(SECURITY)
  }
})

test('POST / is 405 METHOD_NOT_ALLOWED in the envelope, with Allow', async () => {
  await using server = await startTestServer()
  const res = await request(`${server.url}/`, { method: 'POST', body: '{}' })
  expect(res.status).toBe(405)
  expect(res.headers.get('allow')).toBe('GET, HEAD')
  expect(res.body).toEqual({ error: { type: 'METHOD_NOT_ALLOWED', message: expect.any(String) }, data: null })
})
