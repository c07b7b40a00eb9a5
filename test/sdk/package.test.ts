/**
 * The SDK as its users get it: `bun run build` in packages/client makes the ESM bundle and its
 * declarations, `npm pack` makes the tarball, `npm install <tarball>` puts it in a fresh project
 * (offline: it has no dependencies), the declarations type-check there under `moduleResolution:
 * nodenext`, and the shipped examples run from that project against a live server (`bun src/main.ts`
 * as a child process), under Bun and under Node (Node 20 with `--experimental-websocket`, since it
 * has no global WebSocket).
 */
import { afterAll, beforeAll, expect, test } from 'bun:test'
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ChatClient, type Message } from '../../packages/client/src/index.ts'
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
  for (const name of ['alice', 'pingbot', 'bob']) await register(server.url, name, SECRET)
}, SETUP_TIMEOUT_MS)

afterAll(async () => {
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
      `import { ChatClient, ChatError, CLOSE, type Message, type ServerFrame, type SocketState } from '${PACKAGE_NAME}'
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

for (const [name, runtime, available] of runtimes) {
  test.skipIf(!available)(
    `under ${name}: print-room logs in, joins a room and prints its messages; ping-bot answers !ping`,
    async () => {
      const room = `${name.toLowerCase()}-room`
      const bob = await poster(room)
      try {
        {
          await using printer = startExample([...runtime, 'print-room.mjs', room], { CHAT_URL: server.url, CHAT_USER: 'alice', CHAT_SECRET: SECRET })
          await printer.waitForLine(new RegExp(`^joined ${room} as alice`), 'the joined line')
          const posted = await bob.socket.post(`hello from bob to ${name}`)
          await printer.waitForLine(new RegExp(`^#${posted.id} bob: hello from bob to ${name}$`), 'the message')
          expect(await printer.stop()).toBe(0)
        }
        {
          await using bot = startExample([...runtime, 'ping-bot.mjs', room], { CHAT_URL: server.url, CHAT_USER: 'pingbot', CHAT_SECRET: SECRET })
          await bot.waitForLine(new RegExp(`^ping-bot ready in ${room} as pingbot$`), 'the ready line')
          const ping = await bob.socket.post('!ping')
          const answer = await withTimeout(
            (async () => {
              for (;;) {
                const found = bob.seen.find((m) => m.user.username === 'pingbot')
                if (found) return found
                await new Promise<void>((resolve) => bob.socket.once('message', () => resolve()))
              }
            })(),
            WAIT_MS,
            "the bot's answer",
          )
          expect(answer).toMatchObject({ text: 'pong', replyTo: { id: ping.id, text: '!ping' } })
          expect(await bot.stop()).toBe(0)
        }
      } finally {
        bob.client.close()
      }
    },
    TEST_TIMEOUT_MS,
  )
}
