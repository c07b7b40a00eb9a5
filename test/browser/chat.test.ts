/**
 * The web client in a room (spec §3): two people chatting with live presence, a logged-out reader
 * who can read but not post, text that stays text, the room-name rule, older pages on scroll-up,
 * a send that stays pending until its own copy (matched by nonce) comes back, and batched delivery
 * (`?batch=`: several frames to a WebSocket message, shown one by one, in order).
 */
import { expect } from 'bun:test'
import { BATCH } from '../../src/protocol-batch.ts'
import { register } from '../support/http.ts'
import { startTestServer } from '../support/server.ts'
import { openSocket } from '../support/socket.ts'
import { until } from '../support/wait.ts'
import { BROWSER_TEST_MS, WAIT_MS, useBrowser, memberNames, messageTexts, openPage, sendFromPage, waitForConnected, waitForMessage } from './browser.ts'

// Skipped, with one line saying so, when Chromium is not installed.
const { test, browser } = useBrowser()

test(
  'two people in one room see each other’s messages and presence',
  async () => {
    await using server = await startTestServer()
    const alice = await register(server.url, 'alice')
    const bob = await register(server.url, 'bob')
    const a = await openPage(browser(), { session: alice })
    const b = await openPage(browser(), { session: bob })

    await a.page.goto(`${server.url}/#/room/lobby`)
    await waitForConnected(a.page)
    expect(await memberNames(a.page)).toEqual(['alice'])
    await b.page.goto(`${server.url}/#/room/lobby`)
    await waitForConnected(b.page)
    expect(await memberNames(b.page)).toEqual(['alice', 'bob'])
    await until(async () => (await memberNames(a.page)).join() === 'alice,bob', WAIT_MS, 'alice to see bob join')

    await sendFromPage(a.page, 'hi bob')
    await waitForMessage(b.page, 'hi bob')
    await waitForMessage(a.page, 'hi bob')
    const own = a.page.locator('.message', { hasText: 'hi bob' })
    expect(await own.getAttribute('class')).toContain('own')
    expect(await own.locator('.send-status').count()).toBe(0)
    const theirs = b.page.locator('.message', { hasText: 'hi bob' })
    expect(await theirs.getAttribute('class')).not.toContain('own')
    expect(await theirs.locator('.author').textContent()).toBe('alice')
    expect(await theirs.locator('time').getAttribute('datetime')).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/)

    // Shift+Enter is a new line, Enter sends.
    const box = b.page.locator('#composer-input')
    await box.pressSequentially('first line')
    await box.press('Shift+Enter')
    await box.pressSequentially('second line')
    await box.press('Enter')
    await waitForMessage(a.page, 'first line\nsecond line')
    expect(await box.inputValue()).toBe('')
    expect(await messageTexts(a.page)).toEqual(['hi bob', 'first line\nsecond line'])

    await b.context.close()
    await until(async () => (await memberNames(a.page)).join() === 'alice', WAIT_MS, 'alice to see bob leave')
    expect(a.errors).toEqual([])
    await a.context.close()
  },
  BROWSER_TEST_MS,
)

test(
  'a logged-out reader sees messages arrive but cannot post, and is asked to log in',
  async () => {
    await using server = await startTestServer()
    const alice = await register(server.url, 'alice')
    const reader = await openPage(browser())
    await reader.page.goto(`${server.url}/#/room/lobby`)
    await waitForConnected(reader.page)

    await reader.page.locator('#guest-prompt', { hasText: 'Log in to post' }).waitFor()
    expect(await reader.page.locator('#composer-input').isVisible()).toBe(false)
    expect(await reader.page.locator('#guest-login').isVisible()).toBe(true)

    using poster = await openSocket(`${server.wsUrl}/api/v1/rooms/lobby/messages/ws`, [alice.token])
    await poster.next('welcome')
    poster.send({ type: 'message', text: 'anyone reading?', nonce: 'n1' })
    await waitForMessage(reader.page, 'anyone reading?')
    // Readers are not members (spec §2: members counts logged-in users).
    expect(await memberNames(reader.page)).toEqual(['alice'])

    await reader.page.getByRole('button', { name: 'Log in to post' }).click()
    await reader.page.locator('#auth-view').waitFor()
    expect(await reader.page.locator('#auth-notice').textContent()).toBe('Log in to post in #lobby.')
    expect(reader.errors).toEqual([])
    await reader.context.close()
  },
  BROWSER_TEST_MS,
)

test(
  'message text is shown as text: markup stays literal, nothing runs, no element is created',
  async () => {
    await using server = await startTestServer()
    const alice = await register(server.url, 'alice')
    const bob = await register(server.url, 'bob')
    const a = await openPage(browser(), { session: alice })
    await a.page.goto(`${server.url}/#/room/lobby`)
    await waitForConnected(a.page)

    const attack = '<img src=x onerror=alert(1)>'
    await sendFromPage(a.page, attack)
    using other = await openSocket(`${server.wsUrl}/api/v1/rooms/lobby/messages/ws`, [bob.token])
    await other.next('welcome')
    other.send({ type: 'message', text: `<script>alert(2)</script><b>bold</b>`, nonce: 'x' })
    await waitForMessage(a.page, attack)
    await waitForMessage(a.page, '<script>alert(2)</script><b>bold</b>')

    expect(await messageTexts(a.page)).toEqual([attack, '<script>alert(2)</script><b>bold</b>'])
    expect(await a.page.locator('#message-list img, #message-list script, #message-list b').count()).toBe(0)
    expect(a.dialogs).toEqual([])
    expect(a.errors).toEqual([])
    await a.context.close()
  },
  BROWSER_TEST_MS,
)

test(
  'a room name that breaks the rule is explained; a good one opens the room at its own URL',
  async () => {
    await using server = await startTestServer()
    const { page, context } = await openPage(browser())
    await page.goto(`${server.url}/#/`)
    await page.getByRole('button', { name: 'Just read, without an account' }).click()

    const field = page.getByLabel('Open a room')
    await field.fill('my room')
    await field.press('Enter')
    await page.locator('#open-room-hint', { hasText: 'Spaces are not allowed' }).waitFor()
    expect(await field.getAttribute('aria-invalid')).toBe('true')
    expect(await page.locator('#open-room-hint').textContent()).toContain('starting with a letter or digit')
    await field.fill('-dash')
    await field.press('Enter')
    await page.locator('#open-room-hint', { hasText: 'must start with a letter or digit' }).waitFor()

    await field.fill('my-room.2')
    await field.press('Enter')
    await waitForConnected(page)
    expect(page.url()).toEndWith('#/room/my-room.2')
    expect(await page.locator('#room-title').textContent()).toBe('#my-room.2')

    // A shared link with a bad name explains itself instead of failing.
    await page.goto(`${server.url}/#/room/${encodeURIComponent('bad/name')}`)
    await page.locator('#room-invalid-view').waitFor()
    expect(await page.locator('#room-invalid-text').textContent()).toContain('is not allowed')
    await context.close()
  },
  BROWSER_TEST_MS,
)

test(
  'scrolling up loads older messages from REST, each once, in order',
  async () => {
    await using server = await startTestServer({ config: { messageRate: 10_000, messageBurst: 10_000 } })
    const alice = await register(server.url, 'alice')
    using poster = await openSocket(`${server.wsUrl}/api/v1/rooms/lobby/messages/ws`, [alice.token])
    await poster.next('welcome')
    const total = 130
    for (let i = 0; i < total; i++) poster.send({ type: 'message', text: `message ${i}` })
    for (let i = 0; i < total; i++) await poster.next('message')

    const reader = await openPage(browser(), { context: { viewport: { width: 900, height: 700 } } })
    await reader.page.goto(`${server.url}/#/room/lobby`)
    await waitForConnected(reader.page)
    await waitForMessage(reader.page, `message ${total - 1}`)
    // The newest sit at the bottom, in view.
    expect(await reader.page.getByText(`message ${total - 1}`, { exact: true }).isVisible()).toBe(true)

    for (let round = 0; round < 10 && !(await reader.page.locator('#history-start').isVisible()); round++) {
      await reader.page.locator('#messages').evaluate((el) => el.scrollTo({ top: 0 }))
      await reader.page.waitForFunction(() => !(document.getElementById('load-older') as HTMLButtonElement).disabled)
    }
    await reader.page.locator('#history-start', { hasText: 'This is the start of #lobby.' }).waitFor()
    expect(await messageTexts(reader.page)).toEqual(Array.from({ length: total }, (_, i) => `message ${i}`))
    await reader.context.close()
  },
  BROWSER_TEST_MS,
)

test(
  'a send stays pending until its own copy returns, even when that copy comes in the welcome after a reconnect',
  async () => {
    await using server = await startTestServer()
    const alice = await register(server.url, 'alice')
    const a = await openPage(browser(), { session: alice })
    // Between page and server: swallow the echo of the first send and drop the connection, as a
    // network failure would right after the server stored it.
    let swallowed = false
    await a.page.routeWebSocket(/\/messages\/ws/, (ws) => {
      const upstream = ws.connectToServer()
      upstream.onMessage((frame) => {
        if (!swallowed && typeof frame === 'string' && frame.includes('"lost echo"')) {
          swallowed = true
          ws.close({ code: 4000, reason: 'network drop' })
          return
        }
        ws.send(frame)
      })
    })
    await a.page.goto(`${server.url}/#/room/lobby`)
    await waitForConnected(a.page)

    await sendFromPage(a.page, 'lost echo')
    await a.page.locator('.message.pending', { hasText: 'lost echo' }).waitFor()
    await waitForMessage(a.page, 'lost echo')
    await waitForConnected(a.page)
    expect(swallowed).toBe(true)
    expect(await a.page.locator('.message.pending').count()).toBe(0)
    expect(await messageTexts(a.page)).toEqual(['lost echo'])
    // It was stored once: the reconnect matched it by nonce instead of sending it again.
    const page = await fetch(`${server.url}/api/v1/rooms/lobby/messages`).then((r) => r.json())
    expect(page.data.messages.map((m: { text: string }) => m.text)).toEqual(['lost echo'])
    await a.context.close()
  },
  BROWSER_TEST_MS,
)

test(
  'a rate-limited send is marked not sent and the box is disabled with the reason, then Retry delivers it',
  async () => {
    await using server = await startTestServer({ config: { messageRate: 1, messageBurst: 1 } })
    const alice = await register(server.url, 'alice')
    const a = await openPage(browser(), { session: alice })
    await a.page.goto(`${server.url}/#/room/lobby`)
    await waitForConnected(a.page)

    await sendFromPage(a.page, 'first')
    await sendFromPage(a.page, 'second')
    await a.page.locator('#composer-input:disabled').waitFor()
    expect(await a.page.locator('#composer-status').textContent()).toBe('You are sending messages too fast. Wait a moment.')
    await a.page.locator('.message.failed', { hasText: 'second' }).waitFor()
    await waitForMessage(a.page, 'first')

    await a.page.locator('#composer-input:enabled').waitFor()
    await a.page.locator('.message.failed').getByRole('button', { name: 'Retry' }).click()
    await waitForMessage(a.page, 'second')
    expect(await messageTexts(a.page)).toEqual(['first', 'second'])
    expect(await a.page.locator('.message.pending').count()).toBe(0)
    await a.context.close()
  },
  BROWSER_TEST_MS,
)

test(
  'a burst past the rate limit: each refused send is marked not sent at once, a different one for each refusal',
  async () => {
    await using server = await startTestServer({ config: { messageRate: 1, messageBurst: 2 } })
    const alice = await register(server.url, 'alice')
    const a = await openPage(browser(), { session: alice })
    await a.page.goto(`${server.url}/#/room/lobby`)
    await waitForConnected(a.page)
    // Six sends in one turn of the page's event loop, before any answer: two are stored, four refused.
    await a.page.evaluate(() => {
      const box = document.querySelector<HTMLTextAreaElement>('#composer-input')!
      for (let i = 0; i < 6; i++) {
        box.value = `burst ${i}`
        box.dispatchEvent(new KeyboardEvent('keydown', { key: 'Enter', bubbles: true }))
      }
    })
    await waitForMessage(a.page, 'burst 1')
    // Well within the 10 s after which an unanswered send is given up on.
    await until(async () => (await a.page.locator('.message.failed').count()) === 4, 3000, 'four sends marked not sent')
    expect(await a.page.locator('.message.failed .text').allTextContents()).toEqual(['burst 2', 'burst 3', 'burst 4', 'burst 5'])
    expect(await a.page.locator('.message.pending:not(.failed)').count()).toBe(0)
    await a.context.close()
  },
  BROWSER_TEST_MS,
)

test(
  'on a phone an admin reaches every button of the top bar, and a long name stays inside its message',
  async () => {
    await using server = await startTestServer()
    const admin = await register(server.url, 'admin')
    const long = await register(server.url, 'W'.repeat(32))
    using socket = await openSocket(`${server.wsUrl}/api/v1/rooms/lobby/messages/ws`, [long.token])
    await socket.next('welcome')
    socket.send({ type: 'message', text: 'hello from a long name' })
    await socket.next('message')
    for (const width of [360, 375, 414]) {
      const a = await openPage(browser(), { session: admin, context: { viewport: { width, height: 740 } } })
      await a.page.goto(`${server.url}/#/room/lobby`)
      await waitForConnected(a.page)
      await waitForMessage(a.page, 'hello from a long name')
      const sizes = await a.page.evaluate(() => ({
        page: document.documentElement.scrollWidth,
        messages: document.querySelector('.messages')!.scrollWidth,
        logOut: document.querySelector('#logout')!.getBoundingClientRect().right,
        admin: document.querySelector('#admin-link')!.getBoundingClientRect().right,
      }))
      expect({ width, ...sizes }).toEqual({ width, page: width, messages: width, logOut: expect.any(Number), admin: expect.any(Number) })
      expect(sizes.logOut).toBeLessThanOrEqual(width)
      await a.context.close()
    }
  },
  BROWSER_TEST_MS,
)

test(
  'the page asks for batched delivery and shows a burst whole, once and in order, frames arriving several to a WebSocket message',
  async () => {
    await using server = await startTestServer({ config: { messageBurst: 1000, messageRate: 1000 } })
    const alice = await register(server.url, 'alice')
    const bob = await register(server.url, 'bob')
    const a = await openPage(browser(), { session: alice })
    const urls: string[] = []
    const received: string[] = []
    a.page.on('websocket', (ws) => {
      urls.push(ws.url())
      ws.on('framereceived', (f) => typeof f.payload === 'string' && received.push(f.payload))
    })
    await a.page.goto(`${server.url}/#/room/lobby`)
    await waitForConnected(a.page)
    expect(urls.find((u) => u.includes('/rooms/lobby/'))).toMatch(new RegExp(`[?&]batch=${BATCH.WEB_CLIENT_MS}(&|$)`))

    using writer = await openSocket(`${server.wsUrl}/api/v1/rooms/lobby/messages/ws`, [bob.token])
    await writer.next('welcome')
    const texts = Array.from({ length: 40 }, (_, i) => `burst ${i + 1}`)
    for (const text of texts) writer.send({ type: 'message', text })
    await waitForMessage(a.page, 'burst 40')
    expect(await messageTexts(a.page)).toEqual(texts)
    expect(received.some((payload) => payload.includes('\n'))).toBe(true)
    await a.context.close()
  },
  BROWSER_TEST_MS,
)
