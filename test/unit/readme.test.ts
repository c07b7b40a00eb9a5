/** The docs say what the server does: generated tables stay in step, and no example ships something unsafe or false. */
import { expect, test } from 'bun:test'
import { readdirSync } from 'node:fs'
import { join } from 'node:path'
import { ConfigError, loadConfig, renderSettingsTable } from '../../src/config.ts'
import { request } from '../support/http.ts'
import { startTestServer } from '../support/server.ts'

const ROOT = join(import.meta.dir, '..', '..')
const DOCS = [
  'README.md',
  ...readdirSync(join(ROOT, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .map((f) => join('docs', f)),
]
const read = (file: string) => Bun.file(join(ROOT, file)).text()

// The README's settings table is generated from the SETTINGS table; this keeps the two in step.
test('README lists every setting exactly as config.ts defines it', async () => {
  expect(await read('README.md')).toContain(renderSettingsTable())
})

// A secret pasted from a guide is known to everyone who read it: no doc may show one the server takes.
test('no JWT_SECRET value written in the docs is accepted by the server', async () => {
  const accepted: string[] = []
  for (const file of DOCS) {
    for (const m of (await read(file)).matchAll(/JWT_SECRET=("[^"]*"|'[^']*'|[^\s`|]+)/g)) {
      const value = m[1]!.replace(/^["']|["']$/g, '')
      // Shell substitutions and elisions are instructions, not values.
      if (/^\$|^\.\.\.$|^…$/.test(value)) continue
      try {
        loadConfig([], { JWT_SECRET: value })
        accepted.push(`${file}: ${value}`)
      } catch (err) {
        if (!(err instanceof ConfigError)) throw err
      }
    }
  }
  expect(accepted).toEqual([])
})

test('the README shows /healthz answering with the body the server really sends', async () => {
  await using server = await startTestServer()
  const res = await request(`${server.url}/healthz`)
  expect(await read('README.md')).toContain(`\`${JSON.stringify(res.body)}\``)
})

test('every copy into /opt in the docs makes the folder first', async () => {
  const missing: string[] = []
  for (const file of DOCS) {
    for (const line of (await read(file)).split('\n')) {
      if (/\bcp\s+\S+\s+\/opt\//.test(line) && !/mkdir -p \/opt|install -d/.test(line)) missing.push(`${file}: ${line.trim()}`)
    }
  }
  expect(missing).toEqual([])
})
