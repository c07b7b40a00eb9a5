/**
 * The web client's accounts: sign-up and login through the form, API errors in plain words,
 * logout, and a refused token (spec §3: WebSocket close 4001) sending the reader back to the form.
 */
import { expect } from 'bun:test'
import { register } from '../support/http.ts'
import { startTestServer } from '../support/server.ts'
import { BROWSER_TEST_MS, useBrowser, openPage, sendFromPage, waitForConnected, waitForMessage } from './browser.ts'

// Skipped, with one line saying so, when Chromium is not installed.
const { test, browser } = useBrowser()

test(
  'a visitor signs up, logs out and logs in again; errors read as sentences',
  async () => {
    await using server = await startTestServer()
    const { page, context, errors } = await openPage(browser())
    await page.goto(server.url)

    // Logged out, the landing screen is the login form.
    await page.locator('#auth-view').waitFor()
    expect(await page.locator('#auth-title').textContent()).toBe('Log in')

    await page.getByRole('button', { name: 'Create an account' }).click()
    expect(await page.locator('#auth-title').textContent()).toBe('Create an account')
    await page.getByLabel('Username').fill('alice')
    await page.getByLabel('Password', { exact: true }).fill('correct horse')
    await page.locator('#auth-submit').click()
    await page.locator('#whoami', { hasText: 'alice' }).waitFor()
    const stored = await page.evaluate(() => JSON.parse(localStorage.getItem('chat.session') ?? 'null'))
    expect(stored.user.username).toBe('alice')
    expect(stored.token.split('.')).toHaveLength(3)

    await page.getByRole('button', { name: 'Log out' }).click()
    await page.locator('#auth-view').waitFor()
    expect(await page.locator('#auth-notice').textContent()).toBe('You have logged out.')
    expect(await page.evaluate(() => localStorage.getItem('chat.session'))).toBeNull()
    expect(await page.locator('#whoami').isHidden()).toBe(true)

    // USER_EXISTS, in words.
    await page.getByRole('button', { name: 'Create an account' }).click()
    await page.getByLabel('Username').fill('Alice')
    await page.getByLabel('Password', { exact: true }).fill('whatever')
    await page.locator('#auth-submit').click()
    await page.locator('#auth-error', { hasText: 'That username is taken' }).waitFor()

    // BAD_USERNAME says which rule the name breaks, as the server does.
    await page.getByLabel('Username').fill('(alice)')
    await page.locator('#auth-submit').click()
    await page.locator('#auth-error', { hasText: "That username can't be used: names in brackets are reserved for the server" }).waitFor()

    // PASSWORD_MATCH_FAILED and USER_NOT_FOUND, in words.
    await page.getByRole('button', { name: 'Log in instead' }).click()
    await page.getByLabel('Username').fill('alice')
    await page.getByLabel('Password', { exact: true }).fill('wrong')
    await page.locator('#auth-submit').click()
    await page.locator('#auth-error', { hasText: 'That username and password do not match.' }).waitFor()
    await page.getByLabel('Username').fill('nobody')
    await page.locator('#auth-submit').click()
    await page.locator('#auth-error', { hasText: 'There is no account with that username.' }).waitFor()

    await page.getByLabel('Username').fill('alice')
    await page.getByLabel('Password', { exact: true }).fill('correct horse')
    await page.getByLabel('Password', { exact: true }).press('Enter')
    await page.locator('#whoami', { hasText: 'alice' }).waitFor()
    expect(await page.locator('#auth-view').isHidden()).toBe(true)
    expect(errors.filter((e) => !e.includes('the server responded with a status of'))).toEqual([])
    await context.close()
  },
  BROWSER_TEST_MS,
)

test(
  'a token the server refuses (close 4001) returns to the login form, and the room stays readable',
  async () => {
    await using server = await startTestServer()
    const bob = await register(server.url, 'bob')
    // A well-formed JWT with a broken signature: it decodes (so the page tries it) but the server refuses it.
    const [head, body, sig] = bob.token.split('.')
    const forged = `${head}.${body}.${sig!.startsWith('A') ? 'B' : 'A'}${sig!.slice(1)}`
    const { page, context } = await openPage(browser(), { session: { token: forged, user: bob.user } })
    await page.goto(`${server.url}/#/room/lobby`)

    await page.locator('#auth-view').waitFor()
    expect(await page.locator('#auth-notice').textContent()).toBe('Your session has ended. Please log in again.')
    expect(await page.evaluate(() => localStorage.getItem('chat.session'))).toBeNull()

    // "Just read": back in the room, now read-only, with the prompt to log in.
    await page.getByRole('button', { name: 'Just read, without an account' }).click()
    await waitForConnected(page)
    await page.locator('#guest-prompt', { hasText: 'Log in to post' }).waitFor()
    expect(await page.locator('#composer').isHidden()).toBe(true)

    // Logging in from the prompt returns to the same room, able to post.
    await page.getByRole('button', { name: 'Log in to post' }).click()
    await page.getByLabel('Username').fill('bob')
    await page.getByLabel('Password', { exact: true }).fill('correct horse battery staple')
    await page.locator('#auth-submit').click()
    await page.locator('#composer-input:enabled').waitFor()
    expect(page.url()).toEndWith('#/room/lobby')
    await context.close()
  },
  BROWSER_TEST_MS,
)

test(
  'a stored token that is not a JWT at all is dropped before use: the login form says the session expired',
  async () => {
    await using server = await startTestServer()
    const { page, context } = await openPage(browser(), { session: { token: 'garbage', user: { id: 1, username: 'bob' } } })
    await page.goto(`${server.url}/#/room/lobby`)
    await page.locator('#auth-view').waitFor()
    expect(await page.locator('#auth-notice').textContent()).toBe('Your session has expired. Please log in again.')
    await context.close()
  },
  BROWSER_TEST_MS,
)

test(
  'the page fetches a fresh token before the old one expires and stays logged in past that expiry',
  async () => {
    await using server = await startTestServer({ config: { tokenTtlSeconds: 4 } })
    const carol = await register(server.url, 'carol')
    const firstExpiry = JSON.parse(atob(carol.token.split('.')[1]!)).exp * 1000
    const { page, context } = await openPage(browser(), { session: carol })
    await page.goto(`${server.url}/#/room/lobby`)
    await waitForConnected(page)

    await page.waitForFunction((old) => JSON.parse(localStorage.getItem('chat.session') ?? 'null')?.token !== old, carol.token)
    // Past the first token's expiry the server would close a socket still using it (4001); the page has moved on.
    // Waiting for the real clock is the point: the token expires in the server and the page, not in a fake clock.
    await Bun.sleep(Math.max(0, firstExpiry + 500 - Date.now()))
    await sendFromPage(page, 'still logged in')
    await waitForMessage(page, 'still logged in')
    expect(await page.locator('#auth-view').isHidden()).toBe(true)
    expect(await page.locator('#whoami-name').textContent()).toBe('carol')
    await context.close()
  },
  BROWSER_TEST_MS,
)
