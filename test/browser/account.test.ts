/**
 * The account page (spec §5 self-service) and sessions ended from elsewhere: changing the password
 * keeps this page logged in and sends other devices back to the login form with the reason; "log
 * out everywhere"; deleting the account; and a ban closing an open room (4003) with the reason.
 */
import { expect } from 'bun:test'
import { register, request } from '../support/http.ts'
import { startTestServer } from '../support/server.ts'
import { BROWSER_TEST_MS, useBrowser, openPage, sendFromPage, waitForConnected, waitForMessage } from './browser.ts'

// Skipped, with one line saying so, when Chromium is not installed.
const { test, browser } = useBrowser()

const SECRET = 'correct horse battery staple'
const REVOKED = 'You were logged out: your password or role changed, or “Log out everywhere” was used. Please log in again.'

function storedToken(page: import('playwright-core').Page): Promise<string | undefined> {
  return page.evaluate(() => JSON.parse(localStorage.getItem('chat.session') ?? 'null')?.token)
}

test(
  'changing the password keeps this page logged in; another device in a room is sent to the login form with the reason',
  async () => {
    await using server = await startTestServer()
    const alice = await register(server.url, 'alice')
    const phone = await openPage(browser(), { session: alice })
    await phone.page.goto(`${server.url}/#/room/lobby`)
    await waitForConnected(phone.page)

    const desk = await openPage(browser(), { session: alice })
    await desk.page.goto(`${server.url}/#/room/lobby`)
    await waitForConnected(desk.page)
    await desk.page.locator('#whoami').click()
    await desk.page.locator('#account-view').waitFor()
    expect(await desk.page.locator('#account-name').textContent()).toBe('alice')

    // A wrong current password is said in words, and nothing changes.
    await desk.page.getByLabel('Current password').fill('not it')
    await desk.page.getByLabel('New password').fill('a new secret')
    await desk.page.getByRole('button', { name: 'Change password' }).click()
    await desk.page.locator('#password-error', { hasText: 'That is not your current password.' }).waitFor()

    await desk.page.getByLabel('Current password').fill(SECRET)
    await desk.page.getByLabel('New password').fill('a new secret')
    await desk.page.getByRole('button', { name: 'Change password' }).click()
    await desk.page.locator('#password-done', { hasText: 'Password changed.' }).waitFor()
    expect(await storedToken(desk.page)).not.toBe(alice.token)

    // The other device's socket is closed 4001 TOKEN_REVOKED: back to the login form, saying why.
    await phone.page.locator('#auth-view').waitFor()
    expect(await phone.page.locator('#auth-notice').textContent()).toBe(REVOKED)
    await phone.page.getByLabel('Username').fill('alice')
    await phone.page.getByLabel('Password', { exact: true }).fill('a new secret')
    await phone.page.locator('#auth-submit').click()
    await phone.page.locator('#composer-input:enabled').waitFor()

    // This page still posts with its new token.
    await desk.page.goto(`${server.url}/#/room/lobby`)
    await waitForConnected(desk.page)
    await sendFromPage(desk.page, 'still here')
    await waitForMessage(phone.page, 'still here')
    for (const p of [phone, desk]) await p.context.close()
  },
  BROWSER_TEST_MS,
)

test(
  '"Log out everywhere" logs out this page and every other one',
  async () => {
    await using server = await startTestServer()
    const bob = await register(server.url, 'bob')
    const other = await openPage(browser(), { session: bob })
    await other.page.goto(`${server.url}/#/room/lobby`)
    await waitForConnected(other.page)
    const here = await openPage(browser(), { session: bob })
    await here.page.goto(`${server.url}/#/account`)
    await here.page.getByRole('button', { name: 'Log out everywhere' }).click()

    await here.page.locator('#auth-view').waitFor()
    expect(await here.page.locator('#auth-notice').textContent()).toBe('You have logged out on every device.')
    expect(await storedToken(here.page)).toBeUndefined()
    await other.page.locator('#auth-view').waitFor()
    expect(await other.page.locator('#auth-notice').textContent()).toBe(REVOKED)
    // The old token is refused on HTTP too.
    expect((await request(`${server.url}/api/v1/users/me`, { headers: { Authorization: `Bearer ${bob.token}` } })).status).toBe(401)
    expect([...here.errors, ...other.errors].filter((e) => !e.includes('status of 401'))).toEqual([])
    for (const p of [here, other]) await p.context.close()
  },
  BROWSER_TEST_MS,
)

test(
  'deleting the account needs the password, then ends the session and frees the name',
  async () => {
    await using server = await startTestServer()
    await register(server.url, 'root')
    const carol = await register(server.url, 'carol')
    const { page, context } = await openPage(browser(), { session: carol })
    await page.goto(`${server.url}/#/account`)
    await page.getByRole('button', { name: 'Delete my account' }).click()
    await page.locator('#delete-error', { hasText: 'Type your password to confirm.' }).waitFor()
    await page.getByLabel('Type your password to confirm').fill('wrong')
    await page.getByRole('button', { name: 'Delete my account' }).click()
    await page.locator('#delete-error', { hasText: 'That is not your current password.' }).waitFor()

    await page.getByLabel('Type your password to confirm').fill(SECRET)
    await page.getByRole('button', { name: 'Delete my account' }).click()
    await page.locator('#auth-view').waitFor()
    expect(await page.locator('#auth-notice').textContent()).toBe('Your account has been deleted.')
    // The name is free again.
    expect((await request(`${server.url}/api/v1/users`, { json: { username: 'carol', secret: 'another one' } })).status).toBe(201)
    await context.close()
  },
  BROWSER_TEST_MS,
)

test(
  'a ban closes the banned user’s room (4003) and the login form says why; logging in again is refused with the reason',
  async () => {
    await using server = await startTestServer()
    const root = await register(server.url, 'root')
    const dave = await register(server.url, 'dave')
    const { page, context } = await openPage(browser(), { session: dave })
    await page.goto(`${server.url}/#/room/lobby`)
    await waitForConnected(page)

    const ban = await request(`${server.url}/api/v1/admin/users/${dave.user.id}/ban`, {
      method: 'PUT',
      headers: { Authorization: `Bearer ${root.token}` },
      body: JSON.stringify({ reason: 'spam' }),
    })
    expect(ban.status).toBe(204)
    await page.locator('#auth-view').waitFor()
    expect(await page.locator('#auth-notice').textContent()).toBe('Your account has been banned by an administrator.')
    expect(await storedToken(page)).toBeUndefined()

    await page.getByLabel('Username').fill('dave')
    await page.getByLabel('Password', { exact: true }).fill(SECRET)
    await page.locator('#auth-submit').click()
    await page.locator('#auth-error', { hasText: 'This account has been banned by an administrator.' }).waitFor()
    await context.close()
  },
  BROWSER_TEST_MS,
)
