/**
 * Requests generated from the OpenAPI document (issue 15): for every operation it serves at
 * /api/v1/openapi.json, fast-check builds requests from the operation's own schemas (path and query
 * parameters, JSON body, auth: none, an admin's token, a member's, a forged one), some valid and some
 * slightly off, and sends them to a real server. Every answer must be a status the operation
 * documents, with its documented headers and a body that matches its schema (test/support/openapi-check.ts),
 * and never a 5xx.
 *
 * Bounded: OPENAPI_FUZZ_RUNS requests per operation (default 40), and each operation stops early
 * once OPERATION_BUDGET_MS has passed. OPENAPI_FUZZ_SEED replays a run (the seed is in the failure).
 */
import { expect, test } from 'bun:test'
import fc from 'fast-check'
import { register, type Account } from '../support/http.ts'
import { createArbitraries } from '../support/openapi-arbitrary.ts'
import { createChecker } from '../support/openapi-check.ts'
import { startTestServer } from '../support/server.ts'

const RUNS = Number(process.env.OPENAPI_FUZZ_RUNS ?? 40)
const SEED = Number(process.env.OPENAPI_FUZZ_SEED ?? Date.now() % 1_000_000)
const OPERATION_BUDGET_MS = 4000

type Json = Record<string, any> // eslint-disable-line @typescript-eslint/no-explicit-any

// One server to read the document from, as a client would; each operation then gets a server of its own.
const document: Json = await (async () => {
  await using server = await startTestServer()
  return (await fetch(`${server.directUrl}/api/v1/openapi.json`)).json()
})()
const { valid, invalid } = createArbitraries(document)
const check = createChecker(document)

interface Generated {
  auth: 'none' | 'admin' | 'member' | 'forged'
  params: Record<string, unknown>
  query: Record<string, unknown>
  body: unknown
}

/** Half the time a value off the schema, else one it accepts. */
const maybeOff = (schema: Json) => fc.oneof({ weight: 3, arbitrary: valid(schema) }, { weight: 1, arbitrary: invalid(schema) })

/** A path segment: `.` and `..` (percent-encoded or not) would be resolved away by the URL, reaching another path. */
const segment = (value: unknown) => encodeURIComponent(String(value)).replace(/^\.{1,2}$/, (dots) => `${dots}_`)

function requests(operation: Json): fc.Arbitrary<Generated> {
  const parameters: Json[] = operation.parameters ?? []
  const of = (where: string) => parameters.filter((p) => p.in === where)
  const params = fc.record(Object.fromEntries(of('path').map((p) => [p.name, maybeOff(p.schema)])))
  const query = fc.record(Object.fromEntries(of('query').map((p) => [p.name, maybeOff(p.schema)])), { requiredKeys: [] })
  const content = operation.requestBody?.content ?? {}
  const body = content['application/json']
    ? fc.oneof(maybeOff(content['application/json'].schema), fc.constant(undefined))
    : content['*/*']
      ? fc.uint8Array({ maxLength: 2048 })
      : fc.constant(undefined)
  return fc.record({ auth: fc.constantFrom('none', 'admin', 'member', 'forged'), params, query, body })
}

function toRequest(base: string, path: string, method: string, r: Generated, accounts: Record<'admin' | 'member', Account>): [string, RequestInit] {
  const url = new URL(base + path.replace(/\{(\w+)\}/g, (_, name: string) => segment(r.params[name])))
  for (const [name, value] of Object.entries(r.query)) if (value !== undefined) url.searchParams.set(name, String(value))
  const headers: Record<string, string> = {}
  if (r.auth === 'forged') headers.Authorization = 'Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.forged'
  else if (r.auth !== 'none') headers.Authorization = `Bearer ${accounts[r.auth].token}`
  let body: BodyInit | undefined
  if (r.body instanceof Uint8Array) body = r.body.slice()
  else if (r.body !== undefined) {
    headers['Content-Type'] = 'application/json'
    body = JSON.stringify(r.body)
  }
  return [url.toString(), { method, headers, body, redirect: 'manual' }]
}

const operations = Object.entries<Json>(document.paths).flatMap(([path, item]) =>
  Object.entries<Json>(item).map(([method, op]) => ({ path, method: method.toUpperCase(), op })),
)

test('the document has operations to generate requests for', () => {
  expect(operations.length).toBeGreaterThan(40)
})

for (const { path, method, op } of operations) {
  test(`${method} ${path}: generated requests get documented answers, never a 5xx`, async () => {
    await using server = await startTestServer()
    // Straight to the server, never through the Prism proxy (OPENAPI_PROXY): these requests are checked here, and
    // the hostile ones among them are for the server, not for Prism.
    const accounts = { admin: await register(server.directUrl, 'admin'), member: await register(server.directUrl, 'member') }
    const started = performance.now()
    const problems: string[] = []
    let sent = 0
    for (const generated of fc.sample(requests(op), { numRuns: RUNS, seed: SEED })) {
      if (performance.now() - started > OPERATION_BUDGET_MS) break
      const [url, init] = toRequest(server.directUrl, path, method, generated, accounts)
      const res = await fetch(url, init)
      const answer = { status: res.status, headers: res.headers, text: method === 'HEAD' ? '' : await res.text() }
      sent++
      const found = [...(res.status >= 500 ? [`a ${res.status}`] : []), ...check(method, path, answer)]
      for (const p of found) problems.push(`${method} ${new URL(url).pathname}${new URL(url).search} (seed ${SEED}): ${p}`)
    }
    expect(problems).toEqual([])
    expect(sent).toBeGreaterThan(0)
  })
}
