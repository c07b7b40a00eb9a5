/** Operations outside the API proper: health, metrics, the web client's page, and this description itself. */
import type { OperationSpec, OperationTable } from './operation.ts'
import { ref } from './schemas.ts'

const html = { 'text/html': { schema: { type: 'string' } } }

/** The web client's page: served by Bun's static routes, GET and HEAD (server.ts). */
const page = (operationId: string): OperationSpec => ({
  operationId,
  summary: 'The web client',
  tag: 'Site',
  store: false,
  success: { status: 200, description: 'The web client’s HTML page.', content: html },
  errors: [],
})

/** A file of the web client's bundle; any other name reaches the router, which knows no such path. */
const asset = (operationId: string): OperationSpec => ({
  operationId,
  summary: 'A file of the web client (content-hashed name, cached for good)',
  tag: 'Site',
  store: false,
  params: { file: { schema: { type: 'string', pattern: '^[^/]+$' }, description: 'A file name the page refers to.' } },
  success: { status: 200, description: 'The file, with the page’s security headers.', content: { '*/*': { schema: {} } } },
  errors: ['NOT_FOUND'],
})

/** Operations Bun's static routes serve (server.ts `routes`), which the router's table does not list. */
export const STATIC_OPERATIONS = [
  ['GET', '/:file'],
  ['HEAD', '/:file'],
] as const

export const SITE_OPERATIONS: OperationTable = {
  '/healthz': {
    GET: {
      operationId: 'health',
      summary: 'Up, and the database answers',
      tag: 'Operations',
      success: { status: 200, data: ref('Health'), description: 'Healthy.' },
      errors: ['UNAVAILABLE'],
    },
  },
  '/metrics': {
    GET: {
      operationId: 'metrics',
      summary: 'Prometheus metrics (text format, not the envelope)',
      tag: 'Operations',
      store: false,
      success: { status: 200, description: 'Prometheus text exposition format.', content: { 'text/plain': { schema: { type: 'string' } } } },
      errors: [],
    },
  },
  '/': { GET: page('webClient'), HEAD: page('webClientHead') },
  // The page's scripts, styles and images: Bun's static routes, beside the router (STATIC_OPERATIONS).
  '/:file': { GET: asset('webClientFile'), HEAD: asset('webClientFileHead') },
  '/api/v1/openapi.json': {
    GET: {
      operationId: 'openApi',
      summary: 'This document',
      tag: 'Site',
      store: false,
      success: { status: 200, description: 'The OpenAPI 3.1 document (not in the envelope).', content: { 'application/json': { schema: { type: 'object' } } } },
      errors: [],
    },
  },
  '/api/docs': {
    GET: {
      operationId: 'apiDocs',
      summary: 'This document, rendered (Swagger UI)',
      tag: 'Site',
      store: false,
      success: { status: 200, description: 'An HTML page.', content: html },
      errors: [],
    },
  },
  '/api/docs/:file': {
    GET: {
      operationId: 'apiDocsAsset',
      summary: 'A file of the rendered documentation page',
      tag: 'Site',
      store: false,
      params: { file: { schema: { type: 'string' }, description: 'A file name the page refers to.' } },
      success: {
        status: 200,
        description: 'A script or style sheet.',
        content: { 'text/javascript': { schema: { type: 'string' } }, 'text/css': { schema: { type: 'string' } } },
      },
      errors: ['NOT_FOUND'],
    },
  },
}
