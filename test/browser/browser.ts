/** Browser test helpers: headless Debian Chromium via playwright-core, pages on the in-process server, bounded waits. */
import { chromium, type Browser, type BrowserContext, type BrowserContextOptions, type Page } from 'playwright-core'
import type { Account } from '../support/http.ts'
import { chromiumPath, missingReason, requireServices, type ServiceGate } from '../support/require-services.ts'

/** Debian's `chromium` package (CHROMIUM_PATH overrides it); CI installs it with apt (playwright's own download is not used). */
export const CHROMIUM_PATH = chromiumPath()

const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
]

/** Every wait in these tests ends within this time, with an error naming what it waited for. */
export const WAIT_MS = 8000

/**
 * Per test: a few page loads and waits, with room for a busy CI machine. (A timed-out bun test
 * kills the processes it started, the shared browser included, so this errs on the long side.)
 */
export const BROWSER_TEST_MS = 30_000

export function launchBrowser(): Promise<Browser> {
  const missing = missingReason('chromium')
  if (missing) throw new Error(missing)
  return chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS })
}

export interface TestPage {
  context: BrowserContext
  page: Page
  /** Uncaught page errors and console errors (a CSP violation is one), in order. */
  errors: string[]
  /** Fired dialogs (alert/confirm/prompt): none should ever open. */
  dialogs: string[]
}

/**
 * A fresh browser context (its own localStorage) with one page. With `session`, the page starts
 * logged in, as if it had logged in before: the token is in localStorage before any script runs.
 */
export async function openPage(browser: Browser, opts: { session?: Account; context?: BrowserContextOptions } = {}): Promise<TestPage> {
  const context = await browser.newContext(opts.context)
  context.setDefaultTimeout(WAIT_MS)
  if (opts.session) {
    await context.addInitScript((session) => {
      if (!sessionStorage.getItem('seeded')) {
        sessionStorage.setItem('seeded', '1')
        localStorage.setItem('chat.session', JSON.stringify(session))
      }
    }, opts.session)
  }
  const page = await context.newPage()
  const errors: string[] = []
  const dialogs: string[] = []
  page.on('pageerror', (err) => errors.push(`pageerror: ${err.message}`))
  page.on('console', (msg) => {
    if (msg.type() === 'error') errors.push(`console: ${msg.text()}`)
  })
  page.on('dialog', (dialog) => {
    dialogs.push(`${dialog.type()}: ${dialog.message()}`)
    void dialog.dismiss()
  })
  return { context, page, errors, dialogs }
}

/** The text of every message in the timeline, in order (pending ones included). */
export function messageTexts(page: Page): Promise<string[]> {
  return page.locator('#message-list .message .text').allTextContents()
}

/** Waits until the timeline shows `text` (exactly) in a confirmed message, not a pending one. */
export async function waitForMessage(page: Page, text: string): Promise<void> {
  await page.waitForFunction((want) => [...document.querySelectorAll('#message-list .message[data-id] .text')].some((el) => el.textContent === want), text, {
    timeout: WAIT_MS,
  })
}

/** Waits until the room's socket has its welcome (the badge says Connected). */
export async function waitForConnected(page: Page): Promise<void> {
  await page.locator('#connection[data-state="open"]').waitFor()
}

/** Types into the message box and sends with Enter, as a person would. */
export async function sendFromPage(page: Page, text: string): Promise<void> {
  const box = page.locator('#composer-input')
  await box.fill(text)
  await box.press('Enter')
}

/** The member list's usernames, sorted as shown. */
export function memberNames(page: Page): Promise<string[]> {
  return page.locator('#member-list .member-name').allTextContents()
}

/**
 * One Chromium per test file: launched before its tests, closed after them. Use the returned `test`
 * (skipped, with one line saying so, when Chromium is not installed; see requireServices) and call
 * `browser()` inside a test.
 */
export function useBrowser(): { test: ServiceGate['test']; browser: () => Browser } {
  const { test, beforeAll, afterAll } = requireServices('chromium')
  let browser: Browser | undefined
  beforeAll(async () => {
    browser = await launchBrowser()
  }, BROWSER_TEST_MS)
  afterAll(async () => {
    await browser?.close()
  }, BROWSER_TEST_MS)
  return {
    test,
    browser: () => {
      if (!browser) throw new Error('the browser did not launch')
      return browser
    },
  }
}
