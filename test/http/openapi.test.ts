/**
 * The OpenAPI document (issue 15) cannot drift from the server: every route and method of the
 * router is in it and nothing else is, every error type respond.ts can render is documented
 * somewhere (an operation, the server-wide answers, or the WebSocket-only ones, which AsyncAPI
 * describes), each documented error sits under the status the server sends it with, and the
 * document served at /api/v1/openapi.json is the one built from the operation tables.
 */
import { expect, test } from 'bun:test'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import pkg from '../../package.json' with { type: 'json' }
import type { ErrorType } from '../../src/errors.ts'
import {
  buildOpenApi,
  errorTypesOf,
  OPERATIONS,
  SERVER_WIDE,
  STATIC_OPERATIONS,
  statusOf,
  toOpenApiPath,
  WEBSOCKET_ONLY,
} from '../../src/http/openapi/document.ts'
import { DOCS_CSP, DOCS_PATH, OPENAPI_PATH } from '../../src/http/docs.ts'
import { ADMIN_STATUS, STATUS } from '../../src/http/respond.ts'
import { startTestServer } from '../support/server.ts'

type Json = Record<string, any> // eslint-disable-line @typescript-eslint/no-explicit-any

const document: Json = buildOpenApi(pkg.version)
const operationsOf = (doc: Json) =>
  Object.entries<Json>(doc.paths)
    .flatMap(([path, item]) => Object.keys(item).map((method) => `${method.toUpperCase()} ${path}`))
    .sort()

test('every route and method of the router is in the document, and the document has nothing else', async () => {
  await using server = await startTestServer()
  const routed = server.app.router.table.flatMap(({ path, methods }) => methods.map((m) => `${m} ${toOpenApiPath(path)}`))
  const served = STATIC_OPERATIONS.map(([method, path]) => `${method} ${toOpenApiPath(path)}`)
  expect(operationsOf(document)).toEqual([...routed, ...served].sort())
})

test('every file of the web client is served at a path the document describes, GET and HEAD', async () => {
  await using server = await startTestServer()
  const pattern = new RegExp(document.paths['/{file}'].get.parameters[0].schema.pattern)
  const files = server.app.web.files.filter((f) => f.urlPath !== '/')
  expect(files.length).toBeGreaterThan(0)
  for (const file of files) {
    expect(file.urlPath.slice(1)).toMatch(pattern)
    for (const method of ['GET', 'HEAD']) expect((await fetch(`${server.url}${file.urlPath}`, { method })).status).toBe(200)
  }
  expect(Object.keys(server.app.web.routes()).sort()).toEqual(server.app.web.files.map((f) => f.urlPath).sort())
})

test('GET /api/v1/openapi.json serves the document built from the operation tables', async () => {
  await using server = await startTestServer()
  const res = await fetch(`${server.url}/api/v1/openapi.json`)
  expect(res.status).toBe(200)
  expect(res.headers.get('content-type')).toBe('application/json; charset=utf-8')
  const served = await res.json()
  expect(served).toEqual(document)
  expect(served.openapi).toBe('3.1.0')
  expect(served.info.version).toBe(pkg.version)
})

test('every error type respond.ts can render is documented: per operation, server-wide, or as WebSocket-only', () => {
  const inOperations = new Set<string>()
  for (const item of Object.values<Json>(document.paths))
    for (const op of Object.values<Json>(item))
      for (const [status, response] of Object.entries<Json>(op.responses)) {
        // A 416 to a Range request is Bun's, with no body: not an envelope.
        if (Number(status) < 400 || !response.content?.['application/json']) continue
        for (const type of response.content['application/json'].schema.properties.error.properties.type.enum) inOperations.add(type)
      }
  const documented = new Set([...inOperations, ...Object.keys(document.components.responses)])
  const undocumented = (Object.keys(STATUS) as ErrorType[]).filter((t) => !documented.has(t) && !WEBSOCKET_ONLY.includes(t))
  expect(undocumented).toEqual([])
  // The WebSocket-only types are really absent from HTTP, and present in the AsyncAPI document.
  expect(WEBSOCKET_ONLY.filter((t) => inOperations.has(t))).toEqual([])
  const asyncapi = readFileSync(join(import.meta.dir, '../../docs/asyncapi.yaml'), 'utf8')
  expect(WEBSOCKET_ONLY.filter((t) => !asyncapi.includes(t))).toEqual([])
  expect(SERVER_WIDE.filter((t) => !document.components.responses[t])).toEqual([])
})

test('each error type is documented under the status the server sends it with', () => {
  const misplaced: string[] = []
  for (const [path, methods] of Object.entries(OPERATIONS))
    for (const [method, op] of Object.entries(methods)) {
      const responses = document.paths[toOpenApiPath(path)][method.toLowerCase()].responses
      for (const type of errorTypesOf(path, op!)) {
        // A route's own status for a type is only ever the admin API's (ADMIN_STATUS), as in its handlers.
        const expected = op!.statusOf?.[type] === undefined ? STATUS[type] : ADMIN_STATUS[type]
        const status = statusOf(op!, type)
        const listed = responses[String(status)]?.content['application/json'].schema.properties.error.properties.type.enum ?? []
        if (status !== expected || !listed.includes(type)) misplaced.push(`${method} ${path} ${type}`)
      }
    }
  expect(misplaced).toEqual([])
})

test('every admin route answers an unknown user with the admin status, as its handler does', () => {
  const admin = Object.entries(OPERATIONS).filter(([path]) => path.startsWith('/api/v1/admin/'))
  expect(admin.length).toBeGreaterThan(0)
  for (const [, methods] of admin) for (const op of Object.values(methods)) expect(statusOf(op!, 'USER_NOT_FOUND')).toBe(ADMIN_STATUS.USER_NOT_FOUND!)
})

test('429 answers document Retry-After, 426 Upgrade; the server-wide 405 documents Allow', () => {
  for (const item of Object.values<Json>(document.paths))
    for (const op of Object.values<Json>(item)) {
      if (op.responses['429']) expect(op.responses['429'].headers['Retry-After'].required).toBe(true)
      if (op.responses['426']) expect(op.responses['426'].headers.Upgrade.required).toBe(true)
    }
  expect(document.components.responses.METHOD_NOT_ALLOWED.headers.Allow.required).toBe(true)
})

test('/api/docs and its files carry their own CSP; an unknown file is 404 NOT_FOUND', async () => {
  await using server = await startTestServer()
  for (const path of [DOCS_PATH, `${DOCS_PATH}/swagger-ui-bundle.js`, `${DOCS_PATH}/swagger-ui.css`, `${DOCS_PATH}/init.js`]) {
    const res = await fetch(`${server.url}${path}`)
    expect(res.status).toBe(200)
    expect(res.headers.get('content-security-policy')).toBe(DOCS_CSP)
    expect(res.headers.get('x-content-type-options')).toBe('nosniff')
  }
  const page = await (await fetch(`${server.url}${DOCS_PATH}`)).text()
  expect(page).not.toMatch(/<script>|<style>| style=/)
  expect(page).toContain(`${DOCS_PATH}/init.js`)
  const missing = await fetch(`${server.url}${DOCS_PATH}/toString`)
  expect(missing.status).toBe(404)
  expect((await missing.json()).error.type).toBe('NOT_FOUND')
  expect((await fetch(`${server.url}${OPENAPI_PATH}`)).status).toBe(200)
})
