/**
 * `/api/docs` (issue 15): the OpenAPI document rendered by the Swagger UI files the server carries,
 * offline and within the page's own CSP (docs/SECURITY.md): no request leaves the server's origin, and
 * no CSP violation or script error shows up while every operation is listed.
 */
import { expect } from 'bun:test'
import { OPERATIONS } from '../../src/http/openapi/document.ts'
import { startTestServer } from '../support/server.ts'
import { BROWSER_TEST_MS, openPage, useBrowser } from './browser.ts'

const { test, browser } = useBrowser()

test(
  '/api/docs renders every operation of the document, from the server alone, without CSP violations',
  async () => {
    await using server = await startTestServer()
    const { page, context, errors } = await openPage(browser())
    const origins = new Set<string>()
    page.on('request', (req) => void origins.add(new URL(req.url()).origin))
    await page.goto(`${server.url}/api/docs`)

    const count = Object.values(OPERATIONS).reduce((n, methods) => n + Object.keys(methods).length, 0)
    const operations = page.locator('.opblock')
    await operations.nth(count - 1).waitFor()
    expect(await operations.count()).toBe(count)
    expect(await page.locator('.opblock-summary-path').allTextContents()).toContain('/api/v1/rooms/{room}/messages')
    expect(await page.locator('.info .title').textContent()).toContain('bun-chat-server HTTP API')

    // Opening an operation renders its responses, the documented error types among them.
    await page.locator('#operations-Accounts-logIn .opblock-summary-control').click()
    await page.locator('#operations-Accounts-logIn .responses-table').first().waitFor()
    expect(await page.locator('#operations-Accounts-logIn').textContent()).toContain('PASSWORD_MATCH_FAILED')

    expect([...origins]).toEqual([server.url])
    expect(errors).toEqual([])
    await context.close()
  },
  BROWSER_TEST_MS,
)
