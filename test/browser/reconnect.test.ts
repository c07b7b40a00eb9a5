/**
 * Spec §3 close code 1001 SHUTDOWN: "reconnect with back-off, resume with ?since=". The server is
 * stopped under an open page and started again on the same port and database; what another client
 * posted meanwhile appears exactly once, and nothing shown before is repeated.
 */
import { expect } from 'bun:test'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { register, request } from '../support/http.ts'
import { startTestServer } from '../support/server.ts'
import { openSocket } from '../support/socket.ts'
import { BROWSER_TEST_MS, useBrowser, messageTexts, openPage, sendFromPage, waitForConnected, waitForMessage } from './browser.ts'

// Skipped, with one line saying so, when Chromium is not installed.
const { test, browser } = useBrowser()

test(
  'after a server restart the page resumes: messages posted during the gap appear exactly once',
  async () => {
    const dir = mkdtempSync(join(tmpdir(), 'chat-browser-restart-'))
    let server = await startTestServer({ dir })
    try {
      const port = server.running.server.port
      const alice = await register(server.url, 'alice')
      await register(server.url, 'bob')
      const a = await openPage(browser(), { session: alice })
      await a.page.goto(`${server.url}/#/room/lobby`)
      await waitForConnected(a.page)
      await sendFromPage(a.page, 'before the restart')
      await waitForMessage(a.page, 'before the restart')

      await server.stop()
      // The page notices (1001, then refused connections) and says so; posting is off meanwhile.
      await a.page.locator('#connection[data-state="waiting"], #connection[data-state="connecting"]').waitFor()
      await a.page.locator('#composer-input:disabled').waitFor()
      expect(await a.page.locator('#composer-status').textContent()).toContain('Reconnecting')

      server = await startTestServer({ dir, config: { port } })
      // Bob posts the moment the server is back, while the page is still waiting out its back-off.
      const bob = (await request(`${server.url}/api/v1/login`, { json: { username: 'bob', secret: 'correct horse battery staple' } })).body.data
      using socket = await openSocket(`${server.wsUrl}/api/v1/rooms/lobby/messages/ws`, [bob.token])
      await socket.next('welcome')
      for (const text of ['gap 1', 'gap 2', 'gap 3']) socket.send({ type: 'message', text })

      await waitForMessage(a.page, 'gap 3')
      await waitForConnected(a.page)
      // A message after the reconnect is a barrier: anything duplicated would have arrived before it.
      await sendFromPage(a.page, 'after the restart')
      await waitForMessage(a.page, 'after the restart')
      expect(await messageTexts(a.page)).toEqual(['before the restart', 'gap 1', 'gap 2', 'gap 3', 'after the restart'])
      expect(await a.page.locator('#composer-input').isEnabled()).toBe(true)
      await a.context.close()
    } finally {
      await server.stop()
      rmSync(dir, { recursive: true, force: true })
    }
  },
  BROWSER_TEST_MS,
)
