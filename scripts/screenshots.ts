/** Screenshots of the web client's main screens for docs/screenshots/: `bun scripts/screenshots.ts`. */
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import type { Browser, BrowserContextOptions, Page } from 'playwright-core'
import { launchBrowser, openPage, waitForConnected, waitForMessage } from '../test/browser/browser.ts'
import { makePng } from '../test/browser/png.ts'
import { register, request, type Account } from '../test/support/http.ts'
import { startTestServer } from '../test/support/server.ts'
import { openSocket, type TestSocket } from '../test/support/socket.ts'

const OUT = join(import.meta.dir, '..', 'docs', 'screenshots')
const DESKTOP: BrowserContextOptions = { viewport: { width: 1280, height: 800 } }
const PHONE: BrowserContextOptions = { viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true }

const CONVERSATION: [string, string][] = [
  ['bob', 'Morning! Is the deploy still on for today?'],
  ['alice', 'Yes, after lunch. The migration ran fine on staging.'],
  ['carol', 'I can keep an eye on the dashboards while it rolls out.'],
  ['bob', 'Great. I will post the changelog here when it is done.'],
  ['carol', 'Reminder: the new rooms list shows who is online per room.'],
  ['alice', 'Nice. And links like #/room/lobby can be shared directly.'],
  ['bob', 'Ship it!'],
  ['carol', '@alice the dashboards look green, want me to start?'],
]

/** Spec §6: a direct message between bob and alice, bob's side unread for alice. */
const DM: [string, string][] = [
  ['alice', 'Do you have a minute after the deploy?'],
  ['bob', 'Sure, what is up?'],
  ['bob', 'I can also do tomorrow morning if that is easier.'],
]

mkdirSync(OUT, { recursive: true })
const server = await startTestServer()
const browser = await launchBrowser()
try {
  const people: Record<string, Account> = {}
  for (const name of ['alice', 'bob', 'carol']) people[name] = await register(server.url, name)
  const sockets = await Promise.all(
    ['bob', 'carol'].map(async (name) => {
      const socket = await openSocket(`${server.wsUrl}/api/v1/rooms/lobby/messages/ws`, [people[name]!.token])
      await socket.next('welcome')
      return [name, socket] as const
    }),
  )
  const socketOf = new Map(sockets)
  const as = (who: string) => ({ Authorization: `Bearer ${people[who]!.token}`, 'Content-Type': 'application/json' })
  // Spec §6: alice keeps lobby and design in her list (so they count unread), owns a private room, and has DMs.
  for (const room of ['lobby', 'design']) await request(`${server.url}/api/v1/users/me/rooms/${room}`, { method: 'PUT', headers: as('alice') })
  await request(`${server.url}/api/v1/rooms`, {
    method: 'POST',
    headers: as('alice'),
    body: JSON.stringify({ name: 'launch', visibility: 'private', topic: 'Q3 launch planning (members only)' }),
  })
  for (const who of ['bob', 'carol']) await request(`${server.url}/api/v1/rooms/launch/members/${who}`, { method: 'PUT', headers: as('alice') })
  const dmRoom = (await request(`${server.url}/api/v1/dms`, { method: 'POST', headers: as('bob'), body: JSON.stringify({ username: 'alice' }) })).body.data
    .room as string
  await request(`${server.url}/api/v1/dms`, { method: 'POST', headers: as('carol'), body: JSON.stringify({ username: 'alice' }) })
  // Some activity elsewhere, so the room list has more than one entry.
  for (const room of ['design', 'random']) {
    using s = await openSocket(`${server.wsUrl}/api/v1/rooms/${room}/messages/ws`, [people.carol!.token])
    await s.next('welcome')
    s.send({ type: 'message', text: `Hello ${room}` })
    await s.next('message')
  }
  {
    using launch = await openSocket(`${server.wsUrl}/api/v1/rooms/launch/messages/ws`, [people.alice!.token])
    await launch.next('welcome')
    for (const text of ['Kick-off is Monday at 10.', 'Agenda and owners are in the doc.']) {
      launch.send({ type: 'message', text })
      await posted(launch, text)
    }
  }
  for (const [name, text] of DM) {
    using s = await openSocket(`${server.wsUrl}/api/v1/rooms/${dmRoom}/messages/ws`, [people[name]!.token])
    await s.next('welcome')
    s.send({ type: 'message', text })
    await posted(s, text)
  }
  const alicePost = await openSocket(`${server.wsUrl}/api/v1/rooms/lobby/messages/ws`, [people.alice!.token])
  await alicePost.next('welcome')
  const ids: number[] = []
  for (const [name, text] of CONVERSATION) {
    const socket = name === 'alice' ? alicePost : socketOf.get(name)!
    socket.send({ type: 'message', text })
    ids.push(await posted(socket, text))
  }
  // Spec §5: one message edited, one deleted, so the room shows "(edited)" and the placeholder.
  const carol = socketOf.get('carol')!
  carol.send({ type: 'edit', id: ids[4], text: 'Reminder: the rooms list now shows who is online in each room.' })
  await carol.next('edited')
  const bob = socketOf.get('bob')!
  bob.send({ type: 'message', text: 'oops, wrong window' })
  const oops = await posted(bob, 'oops, wrong window')
  bob.send({ type: 'delete', id: oops })
  await bob.next('deleted')
  alicePost.close()

  // The admin page's content: alice is the first account, so the admin; an invite, a ban, invite-only sign-up.
  const asAlice = { Authorization: `Bearer ${people.alice!.token}`, 'Content-Type': 'application/json' }
  const mallory = await register(server.url, 'mallory')
  await request(`${server.url}/api/v1/admin/users/${mallory.user.id}/ban`, { method: 'PUT', headers: asAlice, body: JSON.stringify({ reason: 'spam' }) })
  await request(`${server.url}/api/v1/admin/settings`, { method: 'PUT', headers: asAlice, body: JSON.stringify({ registration: 'invite' }) })
  await request(`${server.url}/api/v1/admin/invites`, { method: 'POST', headers: asAlice, body: JSON.stringify({ uses: 5, expiresIn: 7 * 86_400 }) })

  // Spec §6 first, while alice's rooms are still unread: badges, the members dialog, typing, a DM.
  await shoot(browser, 'sidebar.png', DESKTOP, people.alice, async (page) => {
    await page.goto(`${server.url}/#/room/launch`)
    await waitForConnected(page)
    await page.locator(`#dm-list a[data-room="${dmRoom}"] .unread-badge`).waitFor()
    await page.locator('#my-room-list a[data-room="lobby"] .mention-badge').waitFor()
  })
  await shoot(browser, 'members.png', DESKTOP, people.alice, async (page) => {
    await page.goto(`${server.url}/#/room/launch`)
    await waitForConnected(page)
    await page.getByRole('button', { name: 'Members' }).click()
    await page.locator('#room-member-list .room-member[data-username="carol"]').waitFor()
  })
  await shoot(browser, 'typing.png', DESKTOP, people.alice, async (page) => {
    await page.goto(`${server.url}/#/room/lobby`)
    await waitForConnected(page)
    await page.locator('.message.mentions-me .mention.me').waitFor()
    socketOf.get('bob')!.send({ type: 'typing' })
    await page.locator('#typing', { hasText: 'bob is typing…' }).waitFor()
  })
  await shoot(browser, 'dm.png', DESKTOP, people.alice, async (page) => {
    await page.goto(`${server.url}/#/room/${dmRoom}`)
    await waitForConnected(page)
    await waitForMessage(page, DM.at(-1)![1])
    await page.locator('#room-title', { hasText: '@bob' }).waitFor()
    await page.locator('#composer-input').fill('Tomorrow works, thanks!')
  })
  await shoot(browser, 'login.png', DESKTOP, undefined, async (page) => {
    await page.goto(server.url)
    await page.locator('#auth-view').waitFor()
  })
  const inRoom = async (page: Page) => {
    await page.goto(`${server.url}/#/room/lobby`)
    await waitForConnected(page)
    await waitForMessage(page, 'Ship it!')
    await page.locator('#room-list a[data-room="random"]').waitFor({ state: 'attached' })
    await page.locator('#composer-input').fill('Deploying now')
  }
  await shoot(browser, 'room.png', DESKTOP, people.alice, inRoom)
  await shoot(browser, 'dark.png', { ...DESKTOP, colorScheme: 'dark' }, people.alice, inRoom)
  await shoot(browser, 'phone.png', PHONE, people.alice, inRoom)
  await shoot(browser, 'phone-dark.png', { ...PHONE, colorScheme: 'dark' }, people.alice, inRoom)
  await shoot(browser, 'phone-rooms.png', PHONE, people.alice, async (page) => {
    await page.goto(`${server.url}/#/`)
    await page.locator('#room-list a[data-room="random"]').waitFor()
  })
  await shoot(browser, 'reader.png', DESKTOP, undefined, async (page) => {
    await page.goto(`${server.url}/#/room/lobby`)
    await waitForConnected(page)
    await waitForMessage(page, 'Ship it!')
    await page.locator('#room-list a[data-room="random"]').waitFor({ state: 'attached' })
  })
  await shoot(browser, 'edit.png', DESKTOP, people.alice, async (page) => {
    await inRoom(page)
    const own = page.locator('.message[data-id]', { hasText: 'links like #/room/lobby' })
    await own.hover()
    await own.getByRole('button', { name: 'Edit' }).click()
    await own.getByRole('textbox').press('End')
  })
  await shoot(browser, 'account.png', DESKTOP, people.alice, async (page) => {
    await page.goto(`${server.url}/#/account`)
    await page.locator('#account-role', { hasText: 'admin' }).waitFor()
  })
  await shoot(browser, 'admin.png', { viewport: { width: 1280, height: 1400 } }, people.alice, async (page) => {
    await page.goto(`${server.url}/#/admin`)
    await page.locator('#user-list .user-row .role-badge.banned').waitFor()
    await page.locator('#invite-list .invite').waitFor()
    await page.locator('#audit-list .audit-entry[data-action="invite.create"]').waitFor()
    await page.locator('#registration-mode input[value="invite"]:checked').waitFor()
  })

  // Spec §7, last so the screens above stay as they were: a reply, reactions, an image, search.
  const design = new Map<string, TestSocket>()
  for (const name of ['alice', 'bob', 'carol']) {
    const s = await openSocket(`${server.wsUrl}/api/v1/rooms/design/messages/ws`, [people[name]!.token])
    await s.next('welcome')
    design.set(name, s)
  }
  const say = async (who: string, text: string, extra: Record<string, unknown> = {}) => {
    design.get(who)!.send({ type: 'message', text, ...extra })
    return posted(design.get(who)!, text)
  }
  const mockup = await say('carol', 'Here is the first pass at the new sign-in screen. Thoughts on the colours?')
  const upload = await request(`${server.url}/api/v1/rooms/design/attachments?filename=sign-in-mockup.png`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${people.carol!.token}` },
    body: new Uint8Array(makePng(480, 300, (x, y) => [79 + Math.round((x / 480) * 80), 70 + Math.round((y / 300) * 90), 229 - Math.round((x / 480) * 60)])),
  })
  if (upload.status !== 201) throw new Error(`upload failed: ${upload.status} ${JSON.stringify(upload.body)}`)
  await say('carol', 'Mock-up attached.', { attachments: [upload.body.data.id] })
  await say('bob', 'Love the gradient. Could the button be a bit larger on phones?', { replyTo: mockup })
  const answer = await say('alice', 'Agreed, and let us keep the same purple as the rest of the app.')
  await say('carol', 'Will do: bigger button, same purple. New version tomorrow.', { replyTo: answer })
  for (const [who, id, emoji] of [
    ['alice', mockup, '😍'],
    ['bob', mockup, '😍'],
    ['bob', mockup, '🎨'],
    ['carol', answer, '👍'],
    ['bob', answer, '👍'],
  ] as const) {
    design.get(who)!.send({ type: 'react', id, emoji, on: true })
    await design.get(who)!.next('reaction')
  }
  for (const s of design.values()) s.close()

  await shoot(browser, 'conversation.png', DESKTOP, people.alice, async (page) => {
    await page.goto(`${server.url}/#/room/design`)
    await waitForConnected(page)
    await waitForMessage(page, 'Will do: bigger button, same purple. New version tomorrow.')
    await page.waitForFunction(() => [...document.querySelectorAll<HTMLImageElement>('.attachment-image img')].every((i) => i.complete && i.naturalWidth > 0))
    const last = page.locator('.message[data-id]', { hasText: 'New version tomorrow' })
    await last.hover()
    await last.getByRole('button', { name: 'Reply' }).click()
    await page.locator('#composer-input').fill('Thanks!')
  })
  await shoot(browser, 'reactions.png', DESKTOP, people.alice, async (page) => {
    await page.goto(`${server.url}/#/room/design`)
    await waitForConnected(page)
    await page.locator('.reaction-chip[data-emoji="👍"]').waitFor()
    const message = page.locator(`.message[data-id="${mockup}"]`)
    await message.hover()
    await message.getByRole('button', { name: 'React' }).click()
    await page.locator('.emoji-picker').waitFor()
  })
  await shoot(browser, 'search.png', DESKTOP, people.alice, async (page) => {
    await page.goto(`${server.url}/#/room/lobby`)
    await waitForConnected(page)
    await page.getByRole('searchbox', { name: 'Search messages' }).fill('the')
    await page.getByRole('searchbox', { name: 'Search messages' }).press('Enter')
    await page.locator('#search-results .search-result').nth(3).waitFor()
  })
  await shoot(browser, 'lightbox.png', DESKTOP, people.alice, async (page) => {
    await page.goto(`${server.url}/#/room/design`)
    await waitForConnected(page)
    const image = page.locator('.attachment-image img')
    await page.waitForFunction(() => (document.querySelector('.attachment-image img') as HTMLImageElement | null)?.naturalWidth === 480)
    await image.click()
    await page.waitForFunction(() => (document.getElementById('lightbox-image') as HTMLImageElement).naturalWidth === 480)
  })
  for (const socket of socketOf.values()) socket.close()
  console.log(`screenshots written to ${OUT}`)
} finally {
  await browser.close()
  await server.stop()
}

/** The id of `text` once this socket sees it stored (it sees everyone's messages, so match the text). */
async function posted(socket: TestSocket, text: string): Promise<number> {
  for (;;) {
    const frame = await socket.next('message')
    if (frame.data.text === text) return frame.data.id
  }
}

async function shoot(browser: Browser, file: string, context: BrowserContextOptions, session: Account | undefined, prepare: (page: Page) => Promise<void>) {
  const { page, context: ctx, errors } = await openPage(browser, { session, context: { colorScheme: 'light', ...context } })
  await prepare(page)
  await page.screenshot({ path: join(OUT, file) })
  if (errors.length > 0) throw new Error(`${file}: the page reported errors:\n${errors.join('\n')}`)
  await ctx.close()
}
