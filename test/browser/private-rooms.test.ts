/**
 * The web client and spec §6: the sidebar's rooms and DMs with unread and mention badges kept live by
 * the user stream (for rooms that are not open too), read markers that clear them on every tab, the
 * tab title and favicon, `@` mentions (highlight and completion), "X is typing…", creating a private
 * room and managing its members, joining and leaving, and the 4004 state of a room one can't read.
 */
import { expect } from 'bun:test'
import type { Page } from 'playwright-core'
import { register, request, type Account } from '../support/http.ts'
import { startTestServer, type TestServer } from '../support/server.ts'
import { openSocket } from '../support/socket.ts'
import { until } from '../support/wait.ts'
import { BROWSER_TEST_MS, WAIT_MS, openPage, sendFromPage, useBrowser, waitForConnected, waitForMessage } from './browser.ts'

// Skipped, with one line saying so, when Chromium is not installed.
const { test, browser } = useBrowser()

/** A REST call as `who` (spec §6 endpoints), failing loudly on anything but 2xx. */
async function api(server: TestServer, who: Account, method: string, path: string, body?: unknown) {
  const res = await request(`${server.url}${path}`, {
    method,
    headers: { Authorization: `Bearer ${who.token}`, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  })
  if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(res.body)}`)
  return res.body?.data
}

/** The sidebar entry of a room in "Your rooms" or "Direct messages". */
function sidebarRoom(page: Page, room: string) {
  return page.locator(`#my-rooms a[data-room="${room}"]`)
}

/** The sidebar's badge text of a room ('' when it has none). */
async function badge(page: Page, room: string, kind: 'unread' | 'mention'): Promise<string> {
  return (await sidebarRoom(page, room).locator(`.${kind}-badge`).allTextContents()).join()
}

test(
  'a DM started by alice appears live in bob’s sidebar with an unread badge, the tab title and favicon count it, and reading clears it on every tab',
  async () => {
    await using server = await startTestServer()
    const alice = await register(server.url, 'alice')
    const bob = await register(server.url, 'bob')
    const a = await openPage(browser(), { session: alice })
    const b = await openPage(browser(), { session: bob })
    const b2 = await b.context.newPage()
    await a.page.goto(`${server.url}/#/`)
    await b.page.goto(`${server.url}/#/`)
    await b2.goto(`${server.url}/#/`)
    await b.page.locator('#my-rooms').waitFor()
    await b2.locator('#my-rooms').waitFor()
    expect(await b.page.title()).toBe('Chat')

    // Alice starts the DM by username and lands in it, titled with bob's name.
    await a.page.getByRole('button', { name: 'New direct message' }).click()
    const dmName = a.page.getByRole('textbox', { name: 'New direct message' })
    await dmName.fill('bob')
    await dmName.press('Enter')
    await waitForConnected(a.page)
    const dm = decodeURIComponent(a.page.url().split('#/room/')[1]!)
    expect(dm).toMatch(/^dm\.\d+\.\d+$/)
    expect(await a.page.locator('#room-title').textContent()).toBe('@bob')
    await sidebarRoom(a.page, dm).waitFor()
    expect(await sidebarRoom(a.page, dm).locator('.room-name').textContent()).toBe('bob')
    await sendFromPage(a.page, 'hi bob, got a minute?')
    await waitForMessage(a.page, 'hi bob, got a minute?')

    // Bob never opened anything: the DM shows up under the peer's name, with a badge, on both tabs.
    for (const page of [b.page, b2]) {
      await sidebarRoom(page, dm).waitFor()
      expect(await sidebarRoom(page, dm).locator('.room-name').textContent()).toBe('alice')
      await until(async () => (await badge(page, dm, 'unread')) === '1', WAIT_MS, 'the unread badge')
      await until(async () => (await page.title()) === '(1) Chat', WAIT_MS, 'the count in the tab title')
      const icon = await page.locator('#favicon').getAttribute('href')
      expect(icon).toStartWith('data:image/svg+xml,')
      expect(decodeURIComponent(icon!)).toContain('>1</text>')
    }
    // Alice's own message is not unread for her.
    expect(await badge(a.page, dm, 'unread')).toBe('')
    expect(await a.page.title()).toBe('@bob · Chat')

    // Bob reads it on one tab: the marker clears the badge on the other as well.
    await sidebarRoom(b.page, dm).click()
    await waitForMessage(b.page, 'hi bob, got a minute?')
    expect(await b.page.locator('#room-title').textContent()).toBe('@alice')
    for (const page of [b.page, b2]) {
      await until(async () => (await badge(page, dm, 'unread')) === '', WAIT_MS, 'the badge to clear')
      await until(async () => !(await page.title()).startsWith('('), WAIT_MS, 'the title count to clear')
    }
    expect(await b2.locator('#favicon').getAttribute('href')).not.toStartWith('data:')
    const rooms = await api(server, bob, 'GET', '/api/v1/users/me/rooms')
    expect(rooms.rooms.find((r: { name: string }) => r.name === dm)).toMatchObject({ unread: 0, peer: { username: 'alice' } })
    expect([...a.errors, ...b.errors]).toEqual([])
    await a.context.close()
    await b.context.close()
  },
  BROWSER_TEST_MS,
)

test(
  'a mention: @ completes the name from the room’s members, the mentioned user gets a mention badge, and the name is highlighted (more for them)',
  async () => {
    await using server = await startTestServer()
    const alice = await register(server.url, 'alice')
    const bob = await register(server.url, 'bob')
    await register(server.url, 'bert')
    await api(server, bob, 'PUT', '/api/v1/users/me/rooms/lobby')
    const a = await openPage(browser(), { session: alice })
    const b = await openPage(browser(), { session: bob })
    await b.page.goto(`${server.url}/#/`)
    await sidebarRoom(b.page, 'lobby').waitFor()
    await a.page.goto(`${server.url}/#/room/lobby`)
    await waitForConnected(a.page)

    // bob joined lobby, so he is a member to complete; bert (not in it) is not offered.
    const box = a.page.locator('#composer-input')
    await box.pressSequentially('ping @b')
    await a.page.locator('#mention-suggestions .suggestion', { hasText: 'bob' }).waitFor()
    expect(await a.page.locator('#mention-suggestions .suggestion-name').allTextContents()).toEqual(['bob'])
    await box.press('Enter')
    expect(await box.inputValue()).toBe('ping @bob ')
    expect(await a.page.locator('#mention-suggestions').isHidden()).toBe(true)
    await box.pressSequentially('can you look?')
    await box.press('Enter')
    await waitForMessage(a.page, 'ping @bob can you look?')
    const sent = a.page.locator('.message[data-id]', { hasText: 'ping @bob' })
    expect(await sent.locator('.mention').textContent()).toBe('@bob')
    expect(await sent.locator('.mention.me').count()).toBe(0)

    // Bob, elsewhere, gets the mention badge and the unread count, and a notice.
    await until(async () => (await badge(b.page, 'lobby', 'mention')) === '@1', WAIT_MS, 'the mention badge')
    expect(await badge(b.page, 'lobby', 'unread')).toBe('1')
    await b.page.locator('.mention-notice', { hasText: 'alice mentioned you in #lobby' }).waitFor()

    // A mention in a public room bob never joined: a notice (no badge: it is not in his list).
    using poster = await openSocket(`${server.wsUrl}/api/v1/rooms/random/messages/ws`, [alice.token])
    await poster.next('welcome')
    poster.send({ type: 'message', text: '@bob, are you around?' })
    const notice = b.page.locator('.mention-notice[data-room="random"]')
    await notice.waitFor()
    expect(await notice.textContent()).toContain('@bob, are you around?')
    expect(await sidebarRoom(b.page, 'random').count()).toBe(0)
    await sidebarRoom(b.page, 'lobby').click()
    await waitForMessage(b.page, 'ping @bob can you look?')
    const seen = b.page.locator('.message[data-id]', { hasText: 'ping @bob' })
    expect(await seen.locator('.mention.me').textContent()).toBe('@bob')
    expect(await seen.getAttribute('class')).toContain('mentions-me')
    await until(async () => (await badge(b.page, 'lobby', 'mention')) === '', WAIT_MS, 'the mention badge to clear once read')
    expect([...a.errors, ...b.errors]).toEqual([])
    await a.context.close()
    await b.context.close()
  },
  BROWSER_TEST_MS,
)

test(
  '“X is typing…” shows for the others in the room (not the typist) and goes away by itself',
  async () => {
    await using server = await startTestServer()
    const alice = await register(server.url, 'alice')
    const bob = await register(server.url, 'bob')
    const a = await openPage(browser(), { session: alice })
    const b = await openPage(browser(), { session: bob })
    const typingFrames: string[] = []
    b.page.on('websocket', (ws) => ws.on('framesent', (f) => typeof f.payload === 'string' && f.payload.includes('"typing"') && typingFrames.push(f.payload)))
    await a.page.goto(`${server.url}/#/room/lobby`)
    await b.page.goto(`${server.url}/#/room/lobby`)
    await waitForConnected(a.page)
    await waitForConnected(b.page)

    await b.page.locator('#composer-input').pressSequentially('I am writing something long', { delay: 20 })
    await a.page.locator('#typing', { hasText: 'bob is typing…' }).waitFor()
    expect(await b.page.locator('#typing').textContent()).toBe('')
    // At most one frame per 2 s, however many keys were pressed.
    expect(typingFrames.length).toBe(1)
    await a.page.locator('#typing:empty').waitFor({ timeout: WAIT_MS })

    // The message itself ends the indicator at once.
    await b.page.locator('#composer-input').fill('')
    await Bun.sleep(2100)
    await b.page.locator('#composer-input').pressSequentially('done')
    await a.page.locator('#typing', { hasText: 'bob is typing…' }).waitFor()
    await b.page.locator('#composer-input').press('Enter')
    await waitForMessage(a.page, 'done')
    expect(await a.page.locator('#typing').textContent()).toBe('')
    expect([...a.errors, ...b.errors]).toEqual([])
    await a.context.close()
    await b.context.close()
  },
  BROWSER_TEST_MS,
)

test(
  'a private room: created with a topic, a member added appears for them live, and a removed member’s open room shows the 4004 state without reconnecting',
  async () => {
    await using server = await startTestServer()
    const alice = await register(server.url, 'alice')
    const bob = await register(server.url, 'bob')
    await register(server.url, 'carol')
    const a = await openPage(browser(), { session: alice })
    const b = await openPage(browser(), { session: bob })
    await b.page.goto(`${server.url}/#/`)
    await b.page.locator('#my-rooms').waitFor()
    await a.page.goto(`${server.url}/#/`)

    await a.page.getByRole('button', { name: 'Create a room' }).click()
    const dialog = a.page.locator('#create-room-dialog')
    await dialog.getByLabel('Name').fill('secret-plans')
    await dialog.getByText('Private', { exact: true }).click()
    await dialog.getByLabel('Topic').fill('Q3 launch, do not share')
    await dialog.getByRole('button', { name: 'Create room' }).click()
    await waitForConnected(a.page)
    expect(a.page.url()).toEndWith('#/room/secret-plans')
    await a.page.locator('#room-topic', { hasText: 'Q3 launch, do not share' }).waitFor()
    await sidebarRoom(a.page, 'secret-plans').locator('.lock-icon').waitFor()
    await sendFromPage(a.page, 'the plan is ready')
    await waitForMessage(a.page, 'the plan is ready')

    // The name is taken now: a second registration is refused with the reason.
    await a.page.getByRole('button', { name: 'Create a room' }).click()
    await dialog.getByLabel('Name').fill('secret-plans')
    await dialog.getByRole('button', { name: 'Create room' }).click()
    await dialog.locator('#create-room-error', { hasText: 'That room name is taken' }).waitFor()
    await dialog.getByRole('button', { name: 'Cancel' }).click()

    // Alice adds bob from the members dialog; his sidebar gets the room with its unread message.
    await a.page.getByRole('button', { name: 'Members' }).click()
    const members = a.page.locator('#members-dialog')
    await members.locator('.room-member[data-username="alice"] .role-badge', { hasText: 'owner' }).waitFor()
    await members.getByPlaceholder('Add someone by username').fill('bob')
    await members.getByRole('button', { name: 'Add', exact: true }).click()
    await members.locator('.room-member[data-username="bob"]').waitFor()
    await members.getByPlaceholder('Add someone by username').fill('nobody-here')
    await members.getByRole('button', { name: 'Add', exact: true }).click()
    await members.locator('#members-dialog-error', { hasText: 'There is no account with that username.' }).waitFor()
    await sidebarRoom(b.page, 'secret-plans').waitFor()

    await sidebarRoom(b.page, 'secret-plans').click()
    await waitForMessage(b.page, 'the plan is ready')
    await waitForConnected(b.page)

    // Removed: bob's open room closes with 4004 and says so, and the room leaves his sidebar.
    const upgrades: string[] = []
    b.page.on('websocket', (ws) => upgrades.push(ws.url()))
    await members.getByRole('button', { name: 'Remove bob' }).click()
    await members.locator('.room-member[data-username="bob"]').waitFor({ state: 'detached' })
    await b.page.locator('#room-gone', { hasText: 'This room does not exist or is private' }).waitFor()
    expect(await b.page.locator('#connection').textContent()).toBe('Not available')
    expect(await b.page.locator('#message-list').isVisible()).toBe(false)
    expect(await b.page.locator('#composer-input').isVisible()).toBe(false)
    await sidebarRoom(b.page, 'secret-plans').waitFor({ state: 'detached' })
    await Bun.sleep(1500)
    expect(upgrades.filter((u) => u.includes('/rooms/secret-plans/'))).toEqual([])

    // Added back (the user stream's `room` event): the open page connects again by itself.
    await members.getByPlaceholder('Add someone by username').fill('bob')
    await members.getByRole('button', { name: 'Add', exact: true }).click()
    await b.page.locator('#room-gone').waitFor({ state: 'hidden' })
    await waitForConnected(b.page)
    await waitForMessage(b.page, 'the plan is ready')
    await members.getByRole('button', { name: 'Remove bob' }).click()
    await b.page.locator('#room-gone').waitFor()

    // Anyone else (a guest included) sees the same state, never the room.
    const guest = await openPage(browser())
    await guest.page.goto(`${server.url}/#/room/secret-plans`)
    await guest.page.locator('#room-gone', { hasText: 'This room does not exist or is private' }).waitFor()
    expect(await guest.page.locator('.message').count()).toBe(0)
    // The refused registration (409) and the unknown username (404) are the only failed requests.
    expect([...a.errors, ...b.errors].filter((e) => !e.includes('Failed to load resource'))).toEqual([])
    expect(a.errors.length).toBe(2)
    await a.context.close()
    await b.context.close()
    await guest.context.close()
  },
  BROWSER_TEST_MS,
)

test(
  'joining a public room puts it in the sidebar, leaving takes it out; its badge counts while it is not open',
  async () => {
    await using server = await startTestServer()
    const alice = await register(server.url, 'alice')
    const bob = await register(server.url, 'bob')
    const b = await openPage(browser(), { session: bob })
    await b.page.goto(`${server.url}/#/room/general`)
    await waitForConnected(b.page)
    await b.page.getByRole('button', { name: 'Join' }).click()
    await sidebarRoom(b.page, 'general').waitFor()
    expect(await b.page.getByRole('button', { name: 'Join' }).isHidden()).toBe(true)

    await b.page.goto(`${server.url}/#/`)
    using poster = await openSocket(`${server.wsUrl}/api/v1/rooms/general/messages/ws`, [alice.token])
    await poster.next('welcome')
    for (const text of ['one', 'two', 'three']) poster.send({ type: 'message', text })
    await until(async () => (await badge(b.page, 'general', 'unread')) === '3', WAIT_MS, 'three unread')
    await until(async () => (await b.page.title()) === '(3) Chat', WAIT_MS, 'the title count')

    await sidebarRoom(b.page, 'general').click()
    await waitForMessage(b.page, 'three')
    await until(async () => (await badge(b.page, 'general', 'unread')) === '', WAIT_MS, 'the badge to clear')
    await b.page.getByRole('button', { name: 'Leave' }).click()
    await sidebarRoom(b.page, 'general').waitFor({ state: 'detached' })
    await b.page.getByRole('button', { name: 'Join' }).waitFor()
    expect(b.errors).toEqual([])
    await b.context.close()
  },
  BROWSER_TEST_MS,
)

test(
  'the user stream reconnects with back-off and ?since= after a drop, and is not retried after 4001',
  async () => {
    await using server = await startTestServer()
    const alice = await register(server.url, 'alice')
    const bob = await register(server.url, 'bob')
    await api(server, bob, 'PUT', '/api/v1/users/me/rooms/lobby')
    const b = await openPage(browser(), { session: bob })
    const streams: string[] = []
    let drop: (() => void) | undefined
    await b.page.routeWebSocket(/\/users\/me\/ws/, (ws) => {
      streams.push(ws.url())
      const upstream = ws.connectToServer()
      drop = () => {
        void upstream.close()
        void ws.close({ code: 4000, reason: 'network drop' })
      }
      upstream.onMessage((frame) => ws.send(frame))
    })
    await b.page.goto(`${server.url}/#/`)
    await sidebarRoom(b.page, 'lobby').waitFor()

    using poster = await openSocket(`${server.wsUrl}/api/v1/rooms/lobby/messages/ws`, [alice.token])
    await poster.next('welcome')
    poster.send({ type: 'message', text: 'hey @bob' })
    const mention = (await poster.next('message')).data
    await until(async () => (await badge(b.page, 'lobby', 'mention')) === '@1', WAIT_MS, 'the mention badge')

    drop!()
    await until(() => streams.length === 2, WAIT_MS, 'a second connection')
    expect(streams[0]).not.toContain('since=')
    expect(new URL(streams[1]!).searchParams.get('since')).toBe(String(mention.id))
    // The badge state comes back from the new welcome.
    poster.send({ type: 'message', text: 'and again @bob' })
    await until(async () => (await badge(b.page, 'lobby', 'mention')) === '@2', WAIT_MS, 'the second mention')

    // Revoked everywhere: the stream is closed 4001 and the page logs out instead of retrying.
    await api(server, bob, 'POST', '/api/v1/logout')
    await b.page.locator('#auth-view').waitFor()
    await Bun.sleep(1500)
    expect(streams.length).toBe(2)
    await b.context.close()
  },
  BROWSER_TEST_MS,
)

test(
  'an admin who is not a member sees the 4004 state and may add themselves (on the record); a member may not',
  async () => {
    await using server = await startTestServer()
    const admin = await register(server.url, 'root') // the first account is the admin
    const bob = await register(server.url, 'bob')
    const carol = await register(server.url, 'carol')
    await api(server, bob, 'POST', '/api/v1/rooms', { name: 'hideout', visibility: 'private' })
    using poster = await openSocket(`${server.wsUrl}/api/v1/rooms/hideout/messages/ws`, [bob.token])
    await poster.next('welcome')
    poster.send({ type: 'message', text: 'members only' })
    await poster.next('message')

    const c = await openPage(browser(), { session: carol })
    await c.page.goto(`${server.url}/#/room/hideout`)
    await c.page.locator('#room-gone').waitFor()
    expect(await c.page.locator('#room-gone-admin-row').isHidden()).toBe(true)

    const a = await openPage(browser(), { session: admin })
    await a.page.goto(`${server.url}/#/room/hideout`)
    await a.page.locator('#room-gone').waitFor()
    await a.page.getByRole('button', { name: 'Add yourself as an administrator' }).click()
    await waitForMessage(a.page, 'members only')
    expect(await a.page.locator('#room-gone').isHidden()).toBe(true)
    await sidebarRoom(a.page, 'hideout').waitFor()
    const audit = await api(server, admin, 'GET', '/api/v1/admin/audit')
    expect(audit.entries[0]).toMatchObject({ action: 'room.member.add', target: { room: 'hideout', user: { username: 'root' } } })
    expect(a.errors.filter((e) => !e.includes('Failed to load resource'))).toEqual([])
    await a.context.close()
    await c.context.close()
  },
  BROWSER_TEST_MS,
)
