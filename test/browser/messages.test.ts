/**
 * Edit and delete in the web client (spec §5): the author edits and deletes their own messages, an
 * admin deletes anyone's, everyone in the room sees "(edited)" and the "deleted" placeholder live,
 * a page that loads later sees the same state from history, and a member gets no actions on
 * other people's messages.
 */
import { expect } from 'bun:test'
import { register } from '../support/http.ts'
import { startTestServer } from '../support/server.ts'
import { openSocket } from '../support/socket.ts'
import { BROWSER_TEST_MS, useBrowser, messageTexts, openPage, sendFromPage, waitForConnected, waitForMessage } from './browser.ts'

// Skipped, with one line saying so, when Chromium is not installed.
const { test, browser } = useBrowser()

const DELETED = 'This message was deleted.'

test(
  'the author edits a message: everyone sees the new text marked (edited), and so does a page opened later',
  async () => {
    await using server = await startTestServer()
    await register(server.url, 'root') // the first account is the admin; these two are members
    const alice = await register(server.url, 'alice')
    const bob = await register(server.url, 'bob')
    const a = await openPage(browser(), { session: alice })
    const b = await openPage(browser(), { session: bob })
    for (const p of [a, b]) {
      await p.page.goto(`${server.url}/#/room/lobby`)
      await waitForConnected(p.page)
    }
    await sendFromPage(a.page, 'helo wrold')
    await waitForMessage(b.page, 'helo wrold')
    await waitForMessage(a.page, 'helo wrold')

    // Bob (a member) may not edit or delete Alice's message (only answer and react, spec §7).
    const theirs = b.page.locator('.message', { hasText: 'helo wrold' }).locator('.message-actions button')
    expect(await theirs.allTextContents()).toEqual(['Reply', 'React'])

    const own = a.page.locator('.message[data-id]').first()
    await own.hover()
    await own.getByRole('button', { name: 'Edit' }).click()
    const box = own.getByRole('textbox', { name: /Edit message/ })
    expect(await box.inputValue()).toBe('helo wrold')
    await box.fill('hello world')
    await box.press('Enter')

    for (const p of [a, b]) {
      await waitForMessage(p.page, 'hello world')
      await p.page.locator('.message', { hasText: 'hello world' }).locator('.edited', { hasText: '(edited)' }).waitFor()
    }
    expect(await messageTexts(b.page)).toEqual(['hello world'])

    // Escape cancels an edit without sending anything.
    await own.hover()
    await own.getByRole('button', { name: 'Edit' }).click()
    await own.getByRole('textbox', { name: /Edit message/ }).fill('never sent')
    await own.getByRole('textbox', { name: /Edit message/ }).press('Escape')
    expect(await messageTexts(a.page)).toEqual(['hello world'])

    // History (welcome) carries the edited state: a page opened now shows it too.
    const c = await openPage(browser())
    await c.page.goto(`${server.url}/#/room/lobby`)
    await waitForConnected(c.page)
    await waitForMessage(c.page, 'hello world')
    expect(await c.page.locator('.message .edited').count()).toBe(1)
    expect([...a.errors, ...b.errors, ...c.errors]).toEqual([])
    expect(a.dialogs).toEqual([])
    for (const p of [a, b, c]) await p.context.close()
  },
  BROWSER_TEST_MS,
)

test(
  'the author deletes a message after confirming in place: it becomes a placeholder for everyone, with no text left',
  async () => {
    await using server = await startTestServer()
    await register(server.url, 'root')
    const alice = await register(server.url, 'alice')
    const a = await openPage(browser(), { session: alice })
    const reader = await openPage(browser())
    for (const p of [a, reader]) {
      await p.page.goto(`${server.url}/#/room/lobby`)
      await waitForConnected(p.page)
    }
    await sendFromPage(a.page, 'oops, wrong room')
    await sendFromPage(a.page, 'this one stays')
    await waitForMessage(reader.page, 'this one stays')
    await waitForMessage(a.page, 'this one stays')

    const own = a.page.locator('.message[data-id]', { hasText: 'oops, wrong room' })
    await own.hover()
    await own.getByRole('button', { name: 'Delete' }).click()
    // Nothing is deleted until confirmed; Cancel puts the actions back.
    await own.getByText('Delete this message?').waitFor()
    await own.getByRole('button', { name: 'Cancel' }).click()
    expect(await own.getByRole('button', { name: 'Edit' }).count()).toBe(1)
    await own.hover()
    await own.getByRole('button', { name: 'Delete' }).click()
    await own.getByRole('button', { name: 'Delete' }).click()

    for (const p of [a, reader]) {
      await p.page.locator('.message.deleted .text', { hasText: DELETED }).waitFor()
      expect(await messageTexts(p.page)).toEqual([DELETED, 'this one stays'])
    }
    // A placeholder has no actions left.
    expect(await a.page.locator('.message.deleted .message-actions').count()).toBe(0)

    // REST history shows a tombstone without text.
    const page = await fetch(`${server.url}/api/v1/rooms/lobby/messages`).then((r) => r.json())
    expect(page.data.messages[0].deleted).toBe(true)
    expect(page.data.messages[0].text).toBeUndefined()

    const later = await openPage(browser())
    await later.page.goto(`${server.url}/#/room/lobby`)
    await waitForMessage(later.page, 'this one stays')
    expect(await messageTexts(later.page)).toEqual([DELETED, 'this one stays'])
    expect(a.dialogs).toEqual([])
    expect([...a.errors, ...reader.errors, ...later.errors]).toEqual([])
    for (const p of [a, reader, later]) await p.context.close()
  },
  BROWSER_TEST_MS,
)

test(
  'an admin can delete anyone’s message but edit only their own',
  async () => {
    await using server = await startTestServer()
    const root = await register(server.url, 'root') // first account: admin
    const bob = await register(server.url, 'bob')
    using socket = await openSocket(`${server.wsUrl}/api/v1/rooms/lobby/messages/ws`, [bob.token])
    await socket.next('welcome')
    socket.send({ type: 'message', text: 'buy cheap watches' })
    await socket.next('message')

    const admin = await openPage(browser(), { session: root })
    await admin.page.goto(`${server.url}/#/room/lobby`)
    await waitForMessage(admin.page, 'buy cheap watches')
    const theirs = admin.page.locator('.message[data-id]', { hasText: 'buy cheap watches' })
    // The role comes from GET /users/me; Delete appears once it is known.
    await theirs.getByRole('button', { name: 'Delete' }).waitFor({ state: 'attached' })
    expect(await theirs.getByRole('button', { name: 'Edit' }).count()).toBe(0)
    await theirs.hover()
    await theirs.getByRole('button', { name: 'Delete' }).click()
    await theirs.getByRole('button', { name: 'Delete' }).click()
    await admin.page.locator('.message.deleted', { hasText: DELETED }).waitFor()
    // Bob's own socket got the event as well.
    expect((await socket.next('deleted')).data.messageId).toBeNumber()
    expect(admin.errors).toEqual([])
    await admin.context.close()
  },
  BROWSER_TEST_MS,
)

test(
  'edits and deletions made while a page was disconnected are applied when it resumes',
  async () => {
    await using server = await startTestServer()
    await register(server.url, 'root')
    const alice = await register(server.url, 'alice')
    using socket = await openSocket(`${server.wsUrl}/api/v1/rooms/lobby/messages/ws`, [alice.token])
    await socket.next('welcome')
    socket.send({ type: 'message', text: 'first draft' })
    const first = (await socket.next('message')).data
    socket.send({ type: 'message', text: 'short-lived' })
    const second = (await socket.next('message')).data

    // The reader goes offline (the page drops its socket and waits for "online") while Alice edits and deletes.
    const reader = await openPage(browser())
    await reader.page.goto(`${server.url}/#/room/lobby`)
    await waitForMessage(reader.page, 'short-lived')
    await reader.page.evaluate(() => window.dispatchEvent(new Event('offline')))
    await reader.page.locator('#connection', { hasText: 'Offline' }).waitFor()

    socket.send({ type: 'edit', id: first.id, text: 'final text' })
    await socket.next('edited')
    socket.send({ type: 'delete', id: second.id })
    await socket.next('deleted')

    // Back online: it reconnects with ?since= and applies welcome.changes to what it shows.
    await reader.page.evaluate(() => window.dispatchEvent(new Event('online')))
    await waitForConnected(reader.page)
    await waitForMessage(reader.page, 'final text')
    expect(await messageTexts(reader.page)).toEqual(['final text', DELETED])
    expect(await reader.page.locator('.message .edited').count()).toBe(1)
    await reader.context.close()
  },
  BROWSER_TEST_MS,
)
