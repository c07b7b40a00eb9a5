/**
 * After `tsc -p tsconfig.build.json`: moves the declarations out of dist/.types (which mirrors the
 * repository, since the protocol comes from the server's src/) into dist/ — the SDK's at the top, the
 * server's protocol modules under dist/protocol/ — and points their imports at the moved `.js` names.
 */
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { dirname, join, relative } from 'node:path'

const DIST = join(import.meta.dir, '..', 'dist')
const TYPES = join(DIST, '.types')
const SDK = join(TYPES, 'packages', 'client', 'src')
const SERVER = join(TYPES, 'src')

function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? files(join(dir, e.name)) : [join(dir, e.name)]))
}

function rewrite(text: string): string {
  return text.replace(/(from\s+|import\()(['"])(\.[^'"]*?)\.ts\2/g, (_, lead: string, quote: string, path: string) => {
    const moved = path.replace(/^(\.\.\/)+src\//, './protocol/')
    return `${lead}${quote}${moved}.js${quote}`
  })
}

for (const [from, to] of [
  [SDK, DIST],
  [SERVER, join(DIST, 'protocol')],
] as const) {
  for (const file of files(from)) {
    if (!file.endsWith('.d.ts')) continue
    const target = join(to, relative(from, file))
    mkdirSync(dirname(target), { recursive: true })
    writeFileSync(target, rewrite(readFileSync(file, 'utf8')))
  }
}
rmSync(TYPES, { recursive: true, force: true })
