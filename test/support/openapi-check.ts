/**
 * Checks an HTTP answer against the OpenAPI document, as a client generated from it would read it:
 * the status is one the operation documents, the documented headers are there, and a JSON body
 * matches its schema (JSON Schema 2020-12, Ajv). Used by the generated-request test.
 */
import Ajv2020, { type ValidateFunction } from 'ajv/dist/2020.js'
import type { ErrorType } from '../../src/errors.ts'
import { STATUS } from '../../src/http/respond.ts'

type Json = Record<string, any> // eslint-disable-line @typescript-eslint/no-explicit-any

export interface Answer {
  status: number
  headers: Headers
  text: string
}

/** Path segments as a JSON pointer into the document. */
const pointer = (...parts: string[]) => parts.map((p) => p.replaceAll('~', '~0').replaceAll('/', '~1')).join('/')

export function createChecker(document: Json) {
  // The document is one schema resource, so every `#/components/...` ref resolves inside it.
  const ajv = new Ajv2020({ strict: false, allErrors: true, validateFormats: false })
  ajv.addSchema({ ...document, $id: 'openapi' })
  const compiled = new Map<string, ValidateFunction>()
  const validatorAt = (at: string) => {
    let validate = compiled.get(at)
    if (!validate) compiled.set(at, (validate = ajv.compile({ $ref: `openapi#/${at}` })))
    return validate
  }

  /** Every way `answer` breaks the document for `method path` (the document's path template). */
  return function check(method: string, path: string, answer: Answer): string[] {
    const operation: Json | undefined = document.paths[path]?.[method.toLowerCase()]
    // No such operation: the answer must be one of those that come before an operation is chosen.
    const serverWide = Object.keys(document.components.responses).find((type) => STATUS[type as ErrorType] === answer.status)
    const at = operation
      ? pointer('paths', path, method.toLowerCase(), 'responses', String(answer.status))
      : pointer('components', 'responses', serverWide ?? '')
    const response: Json | undefined = operation ? operation.responses[String(answer.status)] : serverWide && document.components.responses[serverWide]
    if (!response) return [`status ${answer.status} is not documented for ${method} ${path} (${answer.text.slice(0, 200)})`]
    const problems: string[] = []
    for (const [name, header] of Object.entries<Json>(response.headers ?? {})) {
      if (header.required && !answer.headers.has(name)) problems.push(`${answer.status} without its ${name} header`)
    }
    // A HEAD answer has the GET answer's headers and no body.
    if (method === 'HEAD') return problems
    if (!response.content) {
      if (answer.text !== '') problems.push(`${answer.status} has a body the document does not describe`)
      return problems
    }
    const type = (answer.headers.get('content-type') ?? '').split(';')[0]!.trim()
    const media = Object.keys(response.content).find((m) => m === type || m === '*/*' || (m.endsWith('/*') && type.startsWith(m.slice(0, -1))))
    if (!media) return [...problems, `${answer.status} is ${type || 'untyped'}, documented as ${Object.keys(response.content).join(', ')}`]
    if (media !== 'application/json') return problems
    let body: unknown
    try {
      body = JSON.parse(answer.text)
    } catch {
      return [...problems, `${answer.status} is not JSON: ${answer.text.slice(0, 200)}`]
    }
    const validate = validatorAt(`${at}/${pointer('content', media, 'schema')}`)
    if (!validate(body)) problems.push(`${answer.status} body ${JSON.stringify(body).slice(0, 300)}: ${ajv.errorsText(validate.errors)}`)
    return problems
  }
}
