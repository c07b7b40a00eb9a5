/**
 * `GET /api/v1/openapi.json` (the OpenAPI document, built once from openapi/) and `GET /api/docs`,
 * the document rendered by Swagger UI, whose files are bundled into the binary (no CDN). The page has
 * a CSP of its own (docs/SECURITY.md), tighter than the web client's: it connects to nothing but this
 * origin over HTTP, and submits no form.
 */
import pkg from '../../package.json' with { type: 'json' }
import bundle from 'swagger-ui-dist/swagger-ui-bundle.js' with { type: 'text' }
import css from 'swagger-ui-dist/swagger-ui.css' with { type: 'text' }
import { AppError } from '../errors.ts'
import type { RequestContext } from './context.ts'
import { buildOpenApi } from './openapi/document.ts'
import type { Route } from './router.ts'

export const OPENAPI_PATH = '/api/v1/openapi.json'
export const DOCS_PATH = '/api/docs'

export const DOCS_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"

const HEADERS = { 'Content-Security-Policy': DOCS_CSP, 'X-Content-Type-Options': 'nosniff', 'Referrer-Policy': 'no-referrer' }

/** Started from a file, not inline, so the CSP needs no 'unsafe-inline' for scripts; validatorUrl null keeps it offline. */
const INIT = `window.ui = SwaggerUIBundle({ url: ${JSON.stringify(OPENAPI_PATH)}, dom_id: '#ui', validatorUrl: null, deepLinking: true })\n`

const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>${pkg.name} API</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="${DOCS_PATH}/swagger-ui.css">
</head>
<body>
<div id="ui"></div>
<script src="${DOCS_PATH}/swagger-ui-bundle.js"></script>
<script src="${DOCS_PATH}/init.js"></script>
</body>
</html>
`

/** A Map, not an object: a name like `toString` must find nothing. */
const FILES = new Map([
  ['swagger-ui-bundle.js', { body: bundle, type: 'text/javascript; charset=utf-8' }],
  ['swagger-ui.css', { body: css, type: 'text/css; charset=utf-8' }],
  ['init.js', { body: INIT, type: 'text/javascript; charset=utf-8' }],
])

export function docsRoutes(): Route<RequestContext>[] {
  const document = JSON.stringify(buildOpenApi(pkg.version))
  return [
    {
      path: OPENAPI_PATH,
      methods: {
        GET: () => new Response(document, { headers: { 'Content-Type': 'application/json; charset=utf-8', 'X-Content-Type-Options': 'nosniff' } }),
      },
    },
    {
      path: DOCS_PATH,
      methods: { GET: () => new Response(PAGE, { headers: { ...HEADERS, 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-cache' } }) },
    },
    {
      path: `${DOCS_PATH}/:file`,
      methods: {
        GET(_req, _ctx, params) {
          const file = FILES.get(params.file!)
          if (!file) throw new AppError('NOT_FOUND', 'no such file')
          return new Response(file.body, { headers: { ...HEADERS, 'Content-Type': file.type, 'Cache-Control': 'no-cache' } })
        },
      },
    },
  ]
}
