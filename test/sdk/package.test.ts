/**
 * The SDK as its users get it: `bun run build` in packages/client makes the ESM bundle and its
 * declarations, `npm pack` makes the tarball, `npm install <tarball>` puts it in a fresh project
 * (offline: it has no dependencies), the declarations type-check there under `moduleResolution:
 * nodenext`, and the shipped examples run from that project against a live server (`bun src/main.ts`
 * as a child process), under Bun and under Node (Node 20 with `--experimental-websocket`, since it
 * has no global WebSocket): print-room on a password account, ping-bot on the API token of a bot the
 * admin API made, and webhook-receiver on deliveries signed here with node:crypto.
 */
import { afterAll, beforeAll, expect, test } from 'bun:test'
import { createHmac, randomBytes } from 'node:crypto'
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ChatClient, type Message, type WebhookPayload } from '../../packages/client/src/index.ts'
import { startChildServer, REPO_ROOT, type ChildServer } from '../support/child-server.ts'
import { register } from '../support/http.ts'
import { withTimeout } from '../support/wait.ts'

const PACKAGE = join(REPO_ROOT, 'packages', 'client')
const PACKAGE_NAME = '@bun-chat-server/client'
const SETUP_TIMEOUT_MS = 120_000
const STEP_TIMEOUT_MS = 60_000
const TEST_TIMEOUT_MS = 60_000
const WAIT_MS = 15_000
const SECRET = 'correct horse battery staple'
const NODE = Bun.which('node')
const ENV = { PATH: `${join(REPO_ROOT, 'node_modules', '.bin')}:${process.env.PATH ?? ''}`, HOME: process.env.HOME ?? tmpdir() }

let dir = ''
let project = ''
let packed: { filename: string; size: number; unpackedSize: number; files: { path: string }[] }
let server: ChildServer
let admin: ChatClient

/** Runs a command to its end (killed after STEP_TIMEOUT_MS); throws with its output unless it exits 0. */
async function run(cmd: string[], cwd: string, env: Record<string, string> = {}): Promise<string> {
  const proc = Bun.spawn(cmd, { cwd, env: { ...ENV, ...env }, stdin: 'ignore', stdout: 'pipe', stderr: 'pipe' })
  const timer = setTimeout(() => proc.kill('SIGKILL'), STEP_TIMEOUT_MS)
  const [code, out, err] = await Promise.all([proc.exited, new Response(proc.stdout).text(), new Response(proc.stderr).text()])
  clearTimeout(timer)
  if (code !== 0) throw new Error(`${cmd.join(' ')} exited with ${code}:\n${out}\n${err}`)
  return out
}

/** An example running from the project: its output lines, and a wait for a line that matches. */
function startExample(cmd: string[], env: Record<string, string>) {
  const proc = Bun.spawn(cmd, { cwd: project, env: { ...ENV, ...env }, stdin: 'ignore', stdout: 'pipe', stderr: 'pipe' })
  const lines: string[] = []
  const waiters: (() => void)[] = []
  let ended = false
  const stderr = new Response(proc.stderr).text()
  void (async () => {
    const decoder = new TextDecoder()
    let partial = ''
    const reader = proc.stdout.getReader()
    for (;;) {
      const { done, value } = await reader.read()
      if (done) break
      const parts = (partial + decoder.decode(value, { stream: true })).split('\n')
      partial = parts.pop()!
      lines.push(...parts)
      for (const w of waiters.splice(0)) w()
    }
    ended = true
    for (const w of waiters.splice(0)) w()
  })()
  const waitForLine = async (pattern: RegExp, what: string): Promise<string> => {
    const found = (async () => {
      for (;;) {
        const line = lines.find((l) => pattern.test(l))
        if (line !== undefined) return line
        if (ended) throw new Error(`${cmd.join(' ')} ended without ${what}:\n${lines.join('\n')}\n${await stderr}`)
        await new Promise<void>((r) => waiters.push(r))
      }
    })()
    return withTimeout(found, WAIT_MS, `${what} from ${cmd.join(' ')} (output so far: ${JSON.stringify(lines)})`)
  }
  const stop = async () => {
    proc.kill('SIGTERM')
    const timer = setTimeout(() => proc.kill('SIGKILL'), 5_000)
    const code = await proc.exited
    clearTimeout(timer)
    return code
  }
  return { waitForLine, stop, [Symbol.asyncDispose]: async () => void (await stop()) }
}

/** A logged-in SDK client (from source) in `room`, ready to post and to watch. */
async function poster(room: string) {
  const client = new ChatClient({ url: server.url })
  await client.login('bob', SECRET)
  const socket = client.room(room)
  const seen: Message[] = []
  socket.on('message', (m) => seen.push(m))
  await socket.ready()
  return { client, socket, seen }
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'chat-sdk-package-'))
  await run([process.execPath, 'run', 'build'], PACKAGE)
  const packOut = await run(['npm', 'pack', '--json', '--ignore-scripts', '--pack-destination', dir], PACKAGE, { npm_config_cache: join(dir, 'npm-cache') })
  packed = JSON.parse(packOut)[0]
  project = join(dir, 'project')
  mkdirSync(project)
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'sdk-user', private: true, type: 'module' }))
  await run(['npm', 'install', '--offline', '--no-audit', '--no-fund', join(dir, packed.filename)], project, { npm_config_cache: join(dir, 'npm-cache') })
  const examples = join(project, 'node_modules', ...PACKAGE_NAME.split('/'), 'examples')
  for (const file of readdirSync(examples)) copyFileSync(join(examples, file), join(project, file))
  server = await startChildServer({ database: join(dir, 'chat.db') })
  // The first account of a fresh server is its admin.
  for (const name of ['admin', 'alice', 'bob']) await register(server.url, name, SECRET)
  admin = new ChatClient({ url: server.url })
  await admin.login('admin', SECRET)
}, SETUP_TIMEOUT_MS)

/** The bot account the ping-bot runs as, made once through the admin API: its API token. */
let pingbot: Promise<string> | undefined
const pingbotToken = () => (pingbot ??= admin.admin.createBot('pingbot').then(({ token }) => token))

afterAll(async () => {
  admin?.close()
  await server?.stop()
  if (dir) rmSync(dir, { recursive: true, force: true })
})

test('the tarball holds the ESM bundle, its declarations, the README, the licence and the examples, and no sources', () => {
  const files = packed.files.map((f) => f.path).sort()
  for (const needed of [
    'package.json',
    'README.md',
    'LICENSE',
    'dist/index.js',
    'dist/index.d.ts',
    'dist/protocol/protocol.d.ts',
    'examples/print-room.mjs',
    'examples/ping-bot.mjs',
    'examples/webhook-receiver.mjs',
  ])
    expect(files).toContain(needed)
  expect(files.filter((f) => !/^(dist|examples)\/|^(package\.json|README\.md|LICENSE)$/.test(f))).toEqual([])
  expect(packed.size).toBeLessThan(64 * 1024)
})

test(
  'its declarations type-check in a strict TypeScript project with moduleResolution nodenext',
  async () => {
    writeFileSync(
      join(project, 'check.ts'),
      `import { ChatClient, ChatError, CLOSE, verifyWebhook, WebhookError, type Bot, type Message, type ServerFrame, type SocketState, type WebhookDelivery, type WebhookPayload } from '${PACKAGE_NAME}'
const client = new ChatClient({ url: 'http://localhost:3000', reconnect: { baseMs: 100 } })
const room = client.room('lobby')
room.on('message', (m: Message, { source }) => {
  const where: 'history' | 'resume' | 'live' = source
  if (!m.deleted) console.log(where, m.text.length)
})
room.on('state', (s: SocketState) => console.log(s.kind === 'closed' ? s.why : s.kind))
const code: 4001 = CLOSE.TOKEN_INVALID.code
export const isChatError = (e: unknown): e is ChatError => e instanceof ChatError && e.status >= 0
export function idOf(frame: ServerFrame): number | undefined {
  return frame.type === 'message' ? frame.data.id : undefined
}
// @ts-expect-error: not a client frame
room.send({ type: 'shout' })
export const sent: Promise<Message> = room.post('hi', { replyTo: 1 })
console.log(code)
export const bot = new ChatClient({ url: 'http://localhost:3000', apiToken: 'cbt_1_1_x' })
export const made: Promise<{ bot: Bot; token: string }> = client.admin.createBot('helper')
export const statuses: Promise<WebhookDelivery['status'][]> = client.admin.deliveries(1, { limit: 10 }).then((p) => p.deliveries.map((d) => d.status))
export async function receive(headers: Record<string, string>, body: string): Promise<string> {
  try {
    const payload: WebhookPayload = await verifyWebhook('whsec_AAAA', headers, body, { toleranceSeconds: 60 })
    return payload.data.message.deleted ? payload.type : payload.data.message.text
  } catch (err) {
    return err instanceof WebhookError ? err.type : 'other'
  }
}
`,
    )
    writeFileSync(
      join(project, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          module: 'nodenext',
          moduleResolution: 'nodenext',
          target: 'es2022',
          lib: ['es2022', 'dom'],
          strict: true,
          noEmit: true,
          skipLibCheck: false,
          types: [],
        },
        files: ['check.ts'],
      }),
    )
    await run([join(REPO_ROOT, 'node_modules', '.bin', 'tsc'), '-p', 'tsconfig.json'], project)
  },
  TEST_TIMEOUT_MS,
)

const runtimes: [string, string[], boolean][] = [
  ['Bun', [process.execPath], true],
  ['Node', NODE ? [NODE, ...nodeFlags(NODE)] : [], NODE !== null],
]

/** Node 20 has its WebSocket behind a flag; from 22 on it is global. */
function nodeFlags(node: string): string[] {
  const version = Bun.spawnSync([node, '--version']).stdout.toString().trim()
  return Number(/^v(\d+)/.exec(version)?.[1] ?? 0) < 22 ? ['--experimental-websocket'] : []
}

/** The first message the poster saw that satisfies `predicate`, waiting for more as they come. */
function firstSeen(watcher: Awaited<ReturnType<typeof poster>>, predicate: (m: Message) => boolean, what: string): Promise<Message> {
  return withTimeout(
    (async () => {
      for (;;) {
        const found = watcher.seen.find(predicate)
        if (found) return found
        await new Promise<void>((resolve) => watcher.socket.once('message', () => resolve()))
      }
    })(),
    WAIT_MS,
    what,
  )
}

/** A Standard Webhooks delivery of `payload`, signed with `secret` as the server signs it. */
function delivery(secret: string, id: string, payload: WebhookPayload) {
  const body = JSON.stringify(payload)
  const timestamp = Math.floor(Date.now() / 1000)
  const mac = createHmac('sha256', Buffer.from(secret.slice('whsec_'.length), 'base64'))
    .update(`${id}.${timestamp}.${body}`)
    .digest('base64')
  const headers = { 'content-type': 'application/json', 'webhook-id': id, 'webhook-timestamp': String(timestamp), 'webhook-signature': `v1,${mac}` }
  return { body, headers }
}

for (const [name, runtime, available] of runtimes) {
  test.skipIf(!available)(
    `under ${name}: print-room logs in, joins a room and prints its messages`,
    async () => {
      const room = `${name.toLowerCase()}-room`
      const bob = await poster(room)
      try {
        await using printer = startExample([...runtime, 'print-room.mjs', room], { CHAT_URL: server.url, CHAT_USER: 'alice', CHAT_SECRET: SECRET })
        await printer.waitForLine(new RegExp(`^joined ${room} as alice`), 'the joined line')
        const posted = await bob.socket.post(`hello from bob to ${name}`)
        await printer.waitForLine(new RegExp(`^#${posted.id} bob: hello from bob to ${name}$`), 'the message')
        expect(await printer.stop()).toBe(0)
      } finally {
        bob.client.close()
      }
    },
    TEST_TIMEOUT_MS,
  )

  test.skipIf(!available)(
    `under ${name}: ping-bot runs on a bot's API token and answers !ping and !roll as replies`,
    async () => {
      const room = `${name.toLowerCase()}-bot-room`
      const bob = await poster(room)
      try {
        await using bot = startExample([...runtime, 'ping-bot.mjs', room], { CHAT_URL: server.url, CHAT_BOT_TOKEN: await pingbotToken() })
        await bot.waitForLine(new RegExp(`^ping-bot ready in ${room} as pingbot$`), 'the ready line')
        const ping = await bob.socket.post('!ping')
        const pong = await firstSeen(bob, (m) => m.user.username === 'pingbot' && m.replyTo?.id === ping.id, "the bot's answer to !ping")
        expect(pong).toMatchObject({ text: 'pong', replyTo: { id: ping.id, text: '!ping' } })
        const roll = await bob.socket.post('!roll 3d6')
        const dice = await firstSeen(bob, (m) => m.user.username === 'pingbot' && m.replyTo?.id === roll.id, "the bot's answer to !roll")
        expect(dice.text).toMatch(/^🎲 [1-6] \+ [1-6] \+ [1-6] = \d+$/)
        expect(await bot.stop()).toBe(0)
      } finally {
        bob.client.close()
      }
    },
    TEST_TIMEOUT_MS,
  )

  test.skipIf(!available)(
    `under ${name}: webhook-receiver logs a delivery signed with its secret and refuses a tampered one`,
    async () => {
      const secret = `whsec_${randomBytes(24).toString('base64')}`
      await using receiver = startExample([...runtime, 'webhook-receiver.mjs'], { CHAT_WEBHOOK_SECRET: secret, PORT: '0' })
      const port = /(\d+)$/.exec(await receiver.waitForLine(/^webhook-receiver listening on port \d+$/, 'the listening line'))![1]
      const ts = new Date().toISOString()
      const payload: WebhookPayload = {
        type: 'message',
        timestamp: ts,
        data: { room: 'lobby', message: { id: 12, room: 'lobby', user: { id: 3, username: 'bob' }, text: `to ${name}`, ts } },
      }
      const { body, headers } = delivery(secret, '1', payload)
      const url = `http://127.0.0.1:${port}/`
      expect((await fetch(url, { method: 'POST', headers, body })).status).toBe(204)
      await receiver.waitForLine(new RegExp(`^message #12 in lobby from bob: to ${name}$`), 'the logged delivery')
      expect((await fetch(url, { method: 'POST', headers, body: body.replace('to ', 'TO ') })).status).toBe(400)
      expect(await receiver.stop()).toBe(0)
    },
    TEST_TIMEOUT_MS,
  )
}
