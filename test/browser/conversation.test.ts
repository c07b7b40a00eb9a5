/**
 * Conversation features in the web client (spec §7): a reply shows its quote and jumps to the
 * original (loading older history), reactions from another tab appear live with their counts, search
 * finds a message and opens it in its room, and uploads (a real PNG, a text file) show inline with a
 * lightbox or as a download link.
 */
import { expect } from 'bun:test'
import type { Page } from 'playwright-core'
import { register } from '../support/http.ts'
import { startTestServer } from '../support/server.ts'
import { openSocket, type TestSocket } from '../support/socket.ts'
import { until } from '../support/wait.ts'
import { makePng } from './png.ts'
import { BROWSER_TEST_MS, openPage, sendFromPage, useBrowser, waitForConnected, waitForMessage } from './browser.ts'

// Skipped, with one line saying so, when Chromium is not installed.
const { test, browser } = useBrowser()

/** A short welcome history, so that older messages have to be loaded; no rate limit in the way of setup. */
const CONFIG = { historySize: 5, messageRate: 1000, messageBurst: 1000 }

/** Posts `text` on `socket` and returns its id once stored. */
async function post(socket: TestSocket, text: string, extra: Record<string, unknown> = {}): Promise<number> {
  socket.send({ type: 'message', text, ...extra })
  for (;;) {
    const frame = await socket.next('message')
    if (frame.data.text === text) return frame.data.id
  }
}

async function joined(url: string, token: string): Promise<TestSocket> {
  const socket = await openSocket(url, [token])
  await socket.next('welcome')
  return socket
}

/** The chip of `emoji` under the message showing `text`. */
function chip(page: Page, text: string, emoji: string) {
  return page.locator('.message[data-id]', { hasText: text }).locator(`.reaction-chip[data-emoji="${emoji}"]`)
}

test(
  'a reply shows its quote; clicking the quote loads older history and highlights the original; Escape cancels a reply',
  async () => {
    await using server = await startTestServer({ config: CONFIG })
    await register(server.url, 'root')
    const alice = await register(server.url, 'alice')
    const bob = await register(server.url, 'bob')
    using bobSocket = await joined(`${server.wsUrl}/api/v1/rooms/lobby/messages/ws`, bob.token)
    const original = await post(bobSocket, 'the original question')
    // More than the welcome (5) and the page the client loads to fill the screen (50).
    for (let i = 1; i <= 120; i++) await post(bobSocket, `filler ${i}`)

    const a = await openPage(browser(), { session: alice })
    await a.page.goto(`${server.url}/#/room/lobby`)
    await waitForConnected(a.page)
    await waitForMessage(a.page, 'filler 120')

    // Reply from the message's actions: the quote sits above the box; Escape takes it away.
    const last = a.page.locator('.message[data-id]', { hasText: 'filler 120' })
    await last.hover()
    await last.getByRole('button', { name: 'Reply' }).click()
    await a.page.locator('#composer-reply .quote', { hasText: 'filler 120' }).waitFor()
    await a.page.locator('#composer-input').press('Escape')
    await a.page.locator('#composer-reply').waitFor({ state: 'hidden' })
    // The × does the same; then a real reply goes out with its quote.
    await last.hover()
    await last.getByRole('button', { name: 'Reply' }).click()
    await a.page.getByRole('button', { name: 'Cancel reply' }).click()
    await a.page.locator('#composer-reply').waitFor({ state: 'hidden' })
    await last.hover()
    await last.getByRole('button', { name: 'Reply' }).click()
    await sendFromPage(a.page, 'agreed')
    await waitForMessage(a.page, 'agreed')
    const reply = a.page.locator('.message[data-id]', { hasText: 'agreed' }).locator('.quote')
    expect(await reply.locator('.quote-author').textContent()).toBe('bob')
    expect(await reply.locator('.quote-text').textContent()).toBe('filler 120')
    await a.page.locator('#composer-reply').waitFor({ state: 'hidden' })
    const stored = await bobSocket.next('message')
    expect(stored.data.replyTo).toMatchObject({ user: { username: 'bob' }, text: 'filler 120' })

    // Bob answers the first message, which this page has not loaded: the quote jumps to it.
    await post(bobSocket, 'about that first one', { replyTo: original })
    await waitForMessage(a.page, 'about that first one')
    expect(await a.page.locator(`.message[data-id="${original}"]`).count()).toBe(0)
    await a.page.locator('.message[data-id]', { hasText: 'about that first one' }).locator('.quote').click()
    const target = a.page.locator(`.message.highlight[data-id="${original}"]`)
    await target.waitFor()
    expect(await target.locator('.text').textContent()).toBe('the original question')
    expect(await target.isVisible()).toBe(true)

    // The original deleted: quotes of it say so, live.
    bobSocket.send({ type: 'delete', id: original })
    await a.page.locator('.message[data-id]', { hasText: 'about that first one' }).locator('.quote.quote-deleted', { hasText: 'deleted message' }).waitFor()
    expect(a.errors).toEqual([])
    expect(a.dialogs).toEqual([])
    await a.context.close()
  },
  BROWSER_TEST_MS,
)

test(
  'a reaction from another tab appears live with its count; chips toggle one’s own; the picker takes any emoji',
  async () => {
    await using server = await startTestServer({ config: CONFIG })
    await register(server.url, 'root')
    const alice = await register(server.url, 'alice')
    const bob = await register(server.url, 'bob')
    const carol = await register(server.url, 'carol')
    using carolSocket = await joined(`${server.wsUrl}/api/v1/rooms/lobby/messages/ws`, carol.token)
    await post(carolSocket, 'lunch at noon?')

    const a = await openPage(browser(), { session: alice })
    const b = await openPage(browser(), { session: bob })
    for (const p of [a, b]) {
      await p.page.goto(`${server.url}/#/room/lobby`)
      await waitForConnected(p.page)
      await waitForMessage(p.page, 'lunch at noon?')
    }

    const message = a.page.locator('.message[data-id]', { hasText: 'lunch at noon?' })
    await message.hover()
    await message.getByRole('button', { name: 'React' }).click()
    await a.page.getByRole('button', { name: 'React with 👍' }).click()
    await chip(a.page, 'lunch at noon?', '👍').and(a.page.locator('.me')).waitFor()
    // Bob's tab gets it live, counted, and not marked as his.
    const bobChip = chip(b.page, 'lunch at noon?', '👍')
    await bobChip.locator('.reaction-count', { hasText: '1' }).waitFor()
    expect(await bobChip.getAttribute('aria-pressed')).toBe('false')

    // Bob adds his by clicking the chip: 2 everywhere, each tab marks its own.
    await bobChip.click()
    for (const p of [a, b]) await chip(p.page, 'lunch at noon?', '👍').locator('.reaction-count', { hasText: '2' }).waitFor()
    expect(await bobChip.getAttribute('aria-pressed')).toBe('true')
    expect(await chip(a.page, 'lunch at noon?', '👍').getAttribute('aria-pressed')).toBe('true')

    // Alice takes hers back.
    await chip(a.page, 'lunch at noon?', '👍').click()
    await bobChip.locator('.reaction-count', { hasText: '1' }).waitFor()
    await chip(a.page, 'lunch at noon?', '👍').and(a.page.locator('[aria-pressed="false"]')).waitFor()

    // Any emoji from the picker's box; text that is not one emoji is refused there.
    await message.hover()
    await message.getByRole('button', { name: 'React' }).click()
    const box = a.page.getByRole('textbox', { name: 'Any other emoji' })
    await box.fill('no')
    await box.press('Enter')
    await a.page.locator('.emoji-error', { hasText: 'One emoji' }).waitFor()
    await box.fill('🦄')
    await box.press('Enter')
    await chip(b.page, 'lunch at noon?', '🦄').locator('.reaction-count', { hasText: '1' }).waitFor()

    // A page opened now sees the same counts from history, its own marked.
    const later = await openPage(browser(), { session: bob })
    await later.page.goto(`${server.url}/#/room/lobby`)
    await waitForMessage(later.page, 'lunch at noon?')
    expect(await later.page.locator('.reaction-chip').allTextContents()).toEqual(['👍1', '🦄1'])
    expect(await chip(later.page, 'lunch at noon?', '👍').getAttribute('aria-pressed')).toBe('true')
    expect([...a.errors, ...b.errors, ...later.errors]).toEqual([])
    for (const p of [a, b, later]) await p.context.close()
  },
  BROWSER_TEST_MS,
)

test(
  'search finds a message, marks the match as text, and opens it in its room with the history around it',
  async () => {
    await using server = await startTestServer({ config: CONFIG })
    await register(server.url, 'root')
    const alice = await register(server.url, 'alice')
    const bob = await register(server.url, 'bob')
    using elsewhere = await joined(`${server.wsUrl}/api/v1/rooms/engineering/messages/ws`, bob.token)
    const found = await post(elsewhere, 'The quarterly Zebra report is ready <img src=x>')
    for (let i = 1; i <= 20; i++) await post(elsewhere, `later message ${i}`)

    const a = await openPage(browser(), { session: alice })
    await a.page.goto(`${server.url}/#/room/lobby`)
    await waitForConnected(a.page)

    const input = a.page.getByRole('searchbox', { name: 'Search messages' })
    await input.fill('ze')
    await input.press('Enter')
    await a.page.locator('#search-status', { hasText: 'at least 3 characters' }).waitFor()
    await input.fill('zebra')
    await input.press('Enter')
    const result = a.page.locator(`#search-results .search-result[data-id="${found}"]`)
    await result.waitFor()
    expect(await result.locator('.search-room').textContent()).toBe('#engineering')
    expect(await result.locator('mark').allTextContents()).toEqual(['Zebra'])
    // The text came in as text: the tag in it is shown, not made.
    expect(await result.locator('.search-excerpt').textContent()).toContain('<img src=x>')
    expect(await a.page.locator('#search-results img').count()).toBe(0)

    // Escape closes the results; Enter again shows them; a click opens the room at the message.
    await input.press('Escape')
    await a.page.locator('#search-panel').waitFor({ state: 'hidden' })
    await input.press('Enter')
    await result.click()
    await a.page.waitForURL(/#\/room\/engineering$/)
    const target = a.page.locator(`.message.highlight[data-id="${found}"]`)
    await target.waitFor()
    expect(await target.isVisible()).toBe(true)
    // In context: the messages after it are there too, down to the newest.
    await waitForMessage(a.page, 'later message 1')
    await waitForMessage(a.page, 'later message 20')

    // A message of the open room: found and jumped to without leaving.
    await input.fill('later message 3')
    await input.press('Enter')
    await a.page.locator('#search-results .search-result', { hasText: 'later message 3' }).first().click()
    await a.page.locator('.message.highlight', { hasText: 'later message 3' }).waitFor()
    expect(a.errors).toEqual([])
    await a.context.close()
  },
  BROWSER_TEST_MS,
)

test(
  'an uploaded PNG shows inline at its size for everyone, and opens in a lightbox that Escape closes',
  async () => {
    await using server = await startTestServer({ config: CONFIG })
    await register(server.url, 'root')
    const alice = await register(server.url, 'alice')
    const a = await openPage(browser(), { session: alice })
    const reader = await openPage(browser())
    for (const p of [a, reader]) {
      await p.page.goto(`${server.url}/#/room/lobby`)
      await waitForConnected(p.page)
    }

    // The paperclip's file input, as a person picking a file would.
    await a.page.locator('#composer-file').setInputFiles({ name: 'red.png', mimeType: 'image/png', buffer: makePng(64, 40) })
    await a.page.locator('#composer-uploads .upload[data-state="done"]', { hasText: 'red.png' }).waitFor()
    await sendFromPage(a.page, 'a red rectangle')

    for (const p of [a, reader]) {
      await waitForMessage(p.page, 'a red rectangle')
      const img = p.page.locator('.message[data-id]', { hasText: 'a red rectangle' }).locator('.attachment-image img')
      await img.waitFor()
      expect(await img.getAttribute('width')).toBe('64')
      expect(await img.getAttribute('height')).toBe('40')
      expect(await img.boundingBox()).toMatchObject({ width: 64, height: 40 })
      // Decoded for real: the bytes were a PNG and were served as one.
      await p.page.waitForFunction((el) => (el as HTMLImageElement).complete && (el as HTMLImageElement).naturalWidth === 64, await img.elementHandle())
    }
    await a.page.locator('#composer-uploads').waitFor({ state: 'hidden' })

    const thumb = reader.page.locator('.attachment-image').first()
    await thumb.click()
    const lightbox = reader.page.locator('#lightbox')
    await lightbox.waitFor()
    expect(await reader.page.locator('#lightbox-caption').textContent()).toContain('red.png')
    await reader.page.waitForFunction(() => (document.getElementById('lightbox-image') as HTMLImageElement).naturalWidth === 64)
    await reader.page.keyboard.press('Escape')
    await lightbox.waitFor({ state: 'hidden' })
    expect([...a.errors, ...reader.errors]).toEqual([])
    for (const p of [a, reader]) await p.context.close()
  },
  BROWSER_TEST_MS,
)

test(
  'a text file dropped on the box uploads with progress and is shown as a download link with its name and size',
  async () => {
    await using server = await startTestServer({ config: CONFIG })
    await register(server.url, 'root')
    const alice = await register(server.url, 'alice')
    const a = await openPage(browser(), { session: alice })
    await a.page.goto(`${server.url}/#/room/lobby`)
    await waitForConnected(a.page)

    // Drag and drop, as the browser delivers it: a DataTransfer holding a File.
    await a.page.evaluate(() => {
      const data = new DataTransfer()
      data.items.add(new File(['meeting notes\n'.repeat(100)], 'notes.txt', { type: 'text/plain' }))
      const target = document.getElementById('composer-input')!
      for (const type of ['dragenter', 'dragover', 'drop']) target.dispatchEvent(new DragEvent(type, { dataTransfer: data, bubbles: true, cancelable: true }))
    })
    await a.page.locator('#composer-uploads .upload[data-state="done"]', { hasText: 'notes.txt' }).waitFor()
    // Sent without text: the message is named after the file.
    await a.page.locator('#composer-input').press('Enter')
    await waitForMessage(a.page, 'notes.txt')
    const link = a.page.locator('.message[data-id] .attachment-file')
    expect(await link.locator('.attachment-name').textContent()).toBe('notes.txt')
    expect(await link.locator('.attachment-size').textContent()).toBe('1.4 KB')
    const href = (await link.getAttribute('href'))!
    expect(href).toMatch(/^\/api\/v1\/attachments\//)
    const served = await fetch(`${server.url}${href}`)
    expect(served.headers.get('content-disposition')).toStartWith('attachment')
    expect(await served.text()).toBe('meeting notes\n'.repeat(100))

    // A click downloads it (fetched with the token, handed to the browser as a file).
    const [download] = await Promise.all([a.page.waitForEvent('download'), link.click()])
    expect(download.suggestedFilename()).toBe('notes.txt')

    // Pasting a file works the same way.
    await a.page.evaluate(() => {
      const data = new DataTransfer()
      data.items.add(new File(['x'], 'pasted.txt', { type: 'text/plain' }))
      document.getElementById('composer-input')!.dispatchEvent(new ClipboardEvent('paste', { clipboardData: data, bubbles: true, cancelable: true }))
    })
    await a.page.locator('#composer-uploads .upload[data-state="done"]', { hasText: 'pasted.txt' }).waitFor()
    expect(a.errors).toEqual([])
    await a.context.close()
  },
  BROWSER_TEST_MS,
)

test(
  'a private room’s image and file reach its members (fetched with the token), and nobody else',
  async () => {
    await using server = await startTestServer({ config: CONFIG })
    await register(server.url, 'root')
    const alice = await register(server.url, 'alice')
    const auth = { Authorization: `Bearer ${alice.token}` }
    const created = await fetch(`${server.url}/api/v1/rooms`, {
      method: 'POST',
      headers: { ...auth, 'Content-Type': 'application/json' },
      body: JSON.stringify({ name: 'secret', visibility: 'private' }),
    })
    expect(created.status).toBe(201)
    const upload = async (name: string, body: Uint8Array<ArrayBuffer>) => {
      const res = await fetch(`${server.url}/api/v1/rooms/secret/attachments?filename=${name}`, { method: 'POST', headers: auth, body })
      expect(res.status).toBe(201)
      return (await res.json()).data as { id: string; url: string }
    }
    const image = await upload('plan.png', new Uint8Array(makePng(30, 20)))
    const file = await upload('plan.txt', new TextEncoder().encode('top secret'))
    using socket = await joined(`${server.wsUrl}/api/v1/rooms/secret/messages/ws`, alice.token)
    await post(socket, 'the plan', { attachments: [image.id, file.id] })

    const a = await openPage(browser(), { session: alice })
    await a.page.goto(`${server.url}/#/room/secret`)
    await waitForMessage(a.page, 'the plan')
    const img = a.page.locator('.attachment-image img')
    await a.page.waitForFunction((el) => (el as HTMLImageElement).naturalWidth === 30, await img.elementHandle())
    const [download] = await Promise.all([a.page.waitForEvent('download'), a.page.locator('.attachment-file').click()])
    expect(download.suggestedFilename()).toBe('plan.txt')
    // Without the token the same URLs answer 404.
    for (const url of [image.url, file.url]) expect((await fetch(`${server.url}${url}`)).status).toBe(404)
    expect(a.errors).toEqual([])
    await a.context.close()
  },
  BROWSER_TEST_MS,
)

test(
  'a search result far back opens with the page that ends with it; the messages in between load on demand, in order',
  async () => {
    await using server = await startTestServer({ config: CONFIG })
    await register(server.url, 'root')
    const alice = await register(server.url, 'alice')
    const bob = await register(server.url, 'bob')
    using archive = await joined(`${server.wsUrl}/api/v1/rooms/archive/messages/ws`, bob.token)
    await post(archive, 'before the needle')
    const needle = await post(archive, 'a needle in the haystack')
    for (let i = 1; i <= 600; i++) await post(archive, `hay ${i}`)

    const a = await openPage(browser(), { session: alice })
    await a.page.goto(`${server.url}/#/room/lobby`)
    await waitForConnected(a.page)
    const input = a.page.getByRole('searchbox', { name: 'Search messages' })
    await input.fill('needle')
    await input.press('Enter')
    await a.page.locator(`#search-results .search-result[data-id="${needle}"]`).click()
    await a.page.locator(`.message.highlight[data-id="${needle}"]`).waitFor()
    await waitForMessage(a.page, 'before the needle')
    await waitForMessage(a.page, 'hay 600')
    const gap = a.page.getByRole('button', { name: 'Load the messages in between' })
    await gap.waitFor()
    expect(await a.page.locator('.message[data-id] .text', { hasText: /^hay 1$/ }).count()).toBe(0)
    // Each click loads a page and redraws the gap (or removes it once filled): click whatever gap is there until the oldest hay shows.
    const oldest = a.page.locator('.message[data-id] .text', { hasText: /^hay 1$/ })
    await until(
      async () => {
        if ((await oldest.count()) > 0) return true
        await gap.click({ timeout: 500 }).catch(() => {})
        return false
      },
      15_000,
      'the gap to fill down to hay 1',
      100,
    )
    const ids = (await a.page
      .locator('#message-list .message[data-id]')
      .evaluateAll((els) => els.map((e) => Number((e as HTMLElement).dataset.id)))) as number[]
    expect(ids).toEqual([...ids].sort((x, y) => x - y))
    expect(ids.length).toBe(602)
    expect(a.errors).toEqual([])
    await a.context.close()
  },
  BROWSER_TEST_MS,
)
