/** Rewrites the README's settings table from src/config.ts (test/unit/readme.test.ts fails when it is stale). */
import { renderSettingsTable } from '../src/config.ts'

const path = new URL('../README.md', import.meta.url)
const readme = await Bun.file(path).text()
const start = readme.indexOf('| Variable | Flag | Default | Meaning |')
if (start === -1) throw new Error('README.md has no settings table')
let end = readme.indexOf('\n\n', start)
if (end === -1) end = readme.length
await Bun.write(path, readme.slice(0, start) + renderSettingsTable() + readme.slice(end))
