/**
 * The shape of src/ (docs/ARCHITECTURE.md), checked from the code's own imports: no import cycle,
 * no upward arrow between layers, the protocol declared once and importing nothing, the web client
 * built only on the protocol and the client SDK, and modules of a size a reader can hold.
 */
import { expect, test } from 'bun:test'
import { readdirSync, readFileSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'

const SRC = join(import.meta.dir, '..', '..', 'src')
/** The client SDK (packages/client): the protocol's client side, the one library the web client is built on. */
const SDK = join(import.meta.dir, '..', '..', 'packages', 'client', 'src')

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  )
}

/** Each module (path relative to src/; the SDK's are `../packages/client/src/…`) and the modules of src/ and the SDK it imports. */
const graph = new Map<string, string[]>()
for (const file of [...sources(SRC), ...sources(SDK)]) {
  const text = readFileSync(file, 'utf8')
  const targets = [...text.matchAll(/^(?:import|export)[^'"]*?from\s+'(\.[^']+)'/gm)]
    .map((m) => resolve(dirname(file), m[1]!))
    .filter((p) => (p.startsWith(SRC) || p.startsWith(SDK)) && p.endsWith('.ts'))
    .map((p) => relative(SRC, p))
  graph.set(relative(SRC, file), targets)
}
const isSdk = (m: string) => m.startsWith(`${relative(SRC, SDK)}/`)

/** Layers from the bottom up: a module may import its own layer and those below, never above. */
const LAYERS: [string, (m: string) => boolean][] = [
  ['protocol', (m) => /^protocol(-[a-z]+)?\.ts$/.test(m)],
  ['base', (m) => ['errors.ts', 'log.ts', 'config.ts', 'redact.ts', 'metrics.ts', 'startup.ts'].includes(m)],
  ['domain', (m) => /^(store|auth|chat)\//.test(m)],
  ['transport', (m) => /^(ws|http|cli)\//.test(m)],
  ['root', (m) => ['app.ts', 'server.ts', 'main.ts'].includes(m)],
]
const layerOf = (m: string) => LAYERS.findIndex(([, has]) => has(m))

const server = [...graph.keys()].filter((m) => !m.startsWith('web/') && !isSdk(m))

test('every module of src/ belongs to a layer', () => {
  expect(server.filter((m) => layerOf(m) === -1)).toEqual([])
})

test('no module imports from a layer above its own (the domain never imports the transport)', () => {
  const upward: string[] = []
  for (const m of server) for (const to of graph.get(m)!) if (layerOf(to) > layerOf(m)) upward.push(`${m} → ${to}`)
  expect(upward).toEqual([])
})

test('the import graph has no cycle', () => {
  const cycles: string[] = []
  const state = new Map<string, 'open' | 'done'>()
  const visit = (m: string, path: string[]) => {
    if (state.get(m) === 'done') return
    if (state.get(m) === 'open') return void cycles.push([...path.slice(path.indexOf(m)), m].join(' → '))
    state.set(m, 'open')
    for (const to of graph.get(m) ?? []) visit(to, [...path, m])
    state.set(m, 'done')
  }
  for (const m of graph.keys()) visit(m, [])
  expect(cycles).toEqual([])
})

const isProtocol = (m: string) => layerOf(m) === 0

/** Imports of the modules `from` matches that go anywhere `allowed` does not match. */
const importsOutside = (from: (m: string) => boolean, allowed: (m: string) => boolean) =>
  [...graph].filter(([m]) => from(m)).flatMap(([m, to]) => to.filter((t) => !allowed(t)).map((t) => `${m} → ${t}`))

test('the protocol imports nothing but itself; the SDK only itself and the protocol; the web client only itself, the protocol and the SDK', () => {
  expect(graph.get('protocol.ts')).toEqual([])
  expect(importsOutside(isProtocol, isProtocol)).toEqual([])
  // The SDK is the protocol's client side, published on its own: nothing of the server or the page.
  expect([...graph.keys()].filter(isSdk)).toContain(`${relative(SRC, SDK)}/index.ts`)
  expect(importsOutside(isSdk, (t) => isSdk(t) || isProtocol(t))).toEqual([])
  // The page speaks to the server only through the SDK: its own REST or socket code would be a second copy.
  expect(
    importsOutside(
      (m) => m.startsWith('web/'),
      (t) => t.startsWith('web/') || isProtocol(t) || isSdk(t),
    ),
  ).toEqual([])
})

test('no module outside config.ts and web/ is much over 250 lines', () => {
  const long = server
    .filter((m) => m !== 'config.ts')
    .map((m) => ({ m, lines: readFileSync(join(SRC, m), 'utf8').split('\n').length }))
    .filter(({ lines }) => lines > 260)
  expect(long).toEqual([])
})
