/**
 * The admin page (spec §5): only admins get the link and the page; users with search, roles, bans
 * and password resets; invites with a copyable link that opens the sign-up form with the code;
 * the registration mode as the sign-up form meets it; and the audit log of all of it.
 */
import { expect } from 'bun:test'
import type { Page } from 'playwright-core'
import { register, request } from '../support/http.ts'
import { startTestServer } from '../support/server.ts'
import { BROWSER_TEST_MS, useBrowser, openPage } from './browser.ts'

// Skipped, with one line saying so, when Chromium is not installed.
const { test, browser } = useBrowser()

function userRow(page: Page, name: string) {
  return page.locator('#user-list .user-row', { has: page.locator('.user-name', { hasText: new RegExp(`^${name}$`) }) })
}

test(
  'only an admin sees the Admin link and the page; a member is told it is for admins',
  async () => {
    await using server = await startTestServer()
    const root = await register(server.url, 'root') // the first account becomes admin
    const member = await register(server.url, 'member')

    const m = await openPage(browser(), { session: member })
    await m.page.goto(`${server.url}/#/`)
    await m.page.locator('#whoami', { hasText: 'member' }).waitFor()
    expect(await m.page.locator('#admin-link').isHidden()).toBe(true)
    await m.page.goto(`${server.url}/#/admin`)
    await m.page.locator('#admin-denied', { hasText: 'Only administrators' }).waitFor()
    expect(await m.page.locator('#admin-content').isHidden()).toBe(true)

    const a = await openPage(browser(), { session: root })
    await a.page.goto(`${server.url}/#/`)
    await a.page.locator('#admin-link').click()
    await a.page.locator('#admin-content').waitFor()
    expect(a.page.url()).toEndWith('#/admin')
    await userRow(a.page, 'member').waitFor()
    expect(await userRow(a.page, 'root').locator('.role-badge').allTextContents()).toEqual(['admin'])
    expect([...m.errors, ...a.errors].filter((e) => !e.includes('status of 403'))).toEqual([])
    for (const p of [m, a]) await p.context.close()
  },
  BROWSER_TEST_MS,
)

test(
  'users: search by name, make and unmake admin, ban and unban, reset a password; the audit log records it',
  async () => {
    await using server = await startTestServer()
    const root = await register(server.url, 'root')
    for (const name of ['alice', 'albert', 'bob']) await register(server.url, name)
    const { page, context, errors } = await openPage(browser(), { session: root })
    await page.goto(`${server.url}/#/admin`)
    await userRow(page, 'bob').waitFor()

    await page.getByLabel('Search users by name').fill('AL')
    await page.waitForFunction(() => document.querySelectorAll('#user-list .user-row').length === 2)
    expect(await page.locator('#user-list .user-name').allTextContents()).toEqual(['alice', 'albert'])

    const alice = userRow(page, 'alice')
    await alice.getByRole('button', { name: 'Make admin' }).click()
    await alice.locator('.role-badge', { hasText: 'admin' }).waitFor()
    await alice.getByRole('button', { name: 'Remove admin' }).click()
    await alice.getByRole('button', { name: 'Make admin' }).waitFor()

    await alice.getByRole('button', { name: 'Ban…' }).click()
    await alice.getByLabel('Reason for banning alice (optional)').fill('spam')
    await alice.getByRole('button', { name: 'Ban', exact: true }).click()
    await alice.locator('.role-badge.banned').waitFor()
    const login = (secret: string) => request(`${server.url}/api/v1/login`, { json: { username: 'alice', secret } })
    expect((await login('correct horse battery staple')).body.error.type).toBe('USER_BANNED')
    await alice.getByRole('button', { name: 'Unban' }).click()
    await alice.getByRole('button', { name: 'Ban…' }).waitFor()
    expect((await login('correct horse battery staple')).status).toBe(200)

    await alice.getByRole('button', { name: 'Reset password…' }).click()
    await alice.getByLabel('New password for alice').fill('reset by admin')
    await alice.getByRole('button', { name: 'Set password', exact: true }).click()
    await alice.locator('.user-done', { hasText: 'Password of alice changed' }).waitFor()
    expect((await login('reset by admin')).status).toBe(200)

    // The last admin cannot remove their own role: the answer is said in words.
    await page.getByLabel('Search users by name').fill('root')
    await page.waitForFunction(() => document.querySelectorAll('#user-list .user-row').length === 1)
    const self = userRow(page, 'root')
    expect(await self.locator('.member-you').textContent()).toBe('(you)')
    await self.getByRole('button', { name: 'Remove admin' }).click()
    await self.locator('.user-error', { hasText: 'at least one administrator' }).waitFor()

    // Newest first: every action above, each naming its target.
    await page.waitForFunction(() => document.querySelectorAll('#audit-list .audit-entry[data-action="user.password"]').length === 1)
    const actions = await page.locator('#audit-list .audit-entry').evaluateAll((els) => els.map((e) => (e as HTMLElement).dataset.action))
    expect(actions).toEqual(['user.password', 'user.unban', 'user.ban', 'user.role', 'user.role'])
    expect(await page.locator('#audit-list .audit-entry').first().textContent()).toContain('root reset the password of alice')
    expect(errors.filter((e) => !e.includes('status of 409'))).toEqual([])
    await context.close()
  },
  BROWSER_TEST_MS,
)

test(
  'invites: a created invite has a copyable link that opens sign-up with the code; invite-only and closed registration read as sentences',
  async () => {
    await using server = await startTestServer()
    const root = await register(server.url, 'root')
    const admin = await openPage(browser(), { session: root })
    await admin.context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: server.url })
    await admin.page.goto(`${server.url}/#/admin`)
    await admin.page.locator('#registration-mode input[value="open"]:checked').waitFor()

    await admin.page.getByLabel('Invite only').check()
    await admin.page.locator('#registration-status', { hasText: 'Saved.' }).waitFor()
    await admin.page.getByLabel('Uses').fill('1')
    await admin.page.getByRole('button', { name: 'Create invite' }).click()
    const invite = admin.page.locator('#invite-list .invite').first()
    await invite.waitFor()
    const link = await invite.locator('.invite-link').inputValue()
    expect(link).toMatch(new RegExp(`^${server.url}/#/signup\\?invite=.+`))
    expect(await invite.locator('.invite-details').textContent()).toContain('1 of 1 use left')
    await invite.getByRole('button', { name: 'Copy link' }).click()
    await invite.getByRole('button', { name: 'Copied' }).waitFor()
    expect(await admin.page.evaluate(() => navigator.clipboard.readText())).toBe(link)

    // Without a code, invite-only registration asks for one.
    const visitor = await openPage(browser())
    await visitor.page.goto(`${server.url}/#/`)
    await visitor.page.getByRole('button', { name: 'Create an account' }).click()
    await visitor.page.getByLabel('Username').fill('newbie')
    await visitor.page.getByLabel('Password', { exact: true }).fill('a fine secret')
    await visitor.page.locator('#auth-submit').click()
    await visitor.page.locator('#auth-error', { hasText: 'by invitation only' }).waitFor()
    expect(await visitor.page.getByLabel('Invite code', { exact: true }).isVisible()).toBe(true)

    // The link opens the sign-up form with the code filled in, and it works once.
    await visitor.page.goto(link)
    expect(await visitor.page.locator('#auth-title').textContent()).toBe('Create an account')
    expect(await visitor.page.getByLabel('Invite code', { exact: true }).inputValue()).toBe(decodeURIComponent(link.split('invite=')[1]!))
    await visitor.page.getByLabel('Username').fill('newbie')
    await visitor.page.getByLabel('Password', { exact: true }).fill('a fine secret')
    await visitor.page.locator('#auth-submit').click()
    await visitor.page.locator('#whoami', { hasText: 'newbie' }).waitFor()
    expect(visitor.page.url()).toEndWith('#/')

    const late = await openPage(browser())
    await late.page.goto(link)
    await late.page.getByLabel('Username').fill('latecomer')
    await late.page.getByLabel('Password', { exact: true }).fill('a fine secret')
    await late.page.locator('#auth-submit').click()
    await late.page.locator('#auth-error', { hasText: 'That invite code is not valid' }).waitFor()

    // Closed: no sign-up at all, said plainly.
    await admin.page.getByLabel('Closed').check()
    await admin.page.locator('#registration-status', { hasText: 'Saved.' }).waitFor()
    await late.page.locator('#auth-submit').click()
    await late.page.locator('#auth-error', { hasText: 'This server is not taking new accounts.' }).waitFor()

    // Revoking removes it from the list; the audit log has each step.
    await admin.page.reload()
    await admin.page.locator('#invite-list .invite').first().getByRole('button', { name: 'Revoke' }).click()
    await admin.page.locator('#invite-empty').waitFor()
    await admin.page.waitForFunction(() => document.querySelector('#audit-list .audit-entry')?.getAttribute('data-action') === 'invite.revoke')
    const actions = await admin.page.locator('#audit-list .audit-entry').evaluateAll((els) => els.map((e) => (e as HTMLElement).dataset.action))
    expect(actions).toEqual(['invite.revoke', 'registration.set', 'invite.create', 'registration.set'])
    for (const p of [admin, visitor, late]) await p.context.close()
  },
  BROWSER_TEST_MS,
)
