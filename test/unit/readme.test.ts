import { expect, test } from 'bun:test'
import { renderSettingsTable } from '../../src/config.ts'

// The README's settings table is generated from the SETTINGS table; this keeps the two in step.
test('README lists every setting exactly as config.ts defines it', async () => {
  const readme = await Bun.file(new URL('../../README.md', import.meta.url)).text()
  expect(readme).toContain(renderSettingsTable())
})
