/** Prints the OpenAPI document the server serves at /api/v1/openapi.json (for linters and generators offline). */
import pkg from '../package.json' with { type: 'json' }
import { buildOpenApi } from '../src/http/openapi/document.ts'

console.log(JSON.stringify(buildOpenApi(pkg.version), null, 2))
