/**
 * fast-check arbitraries from the OpenAPI document's JSON Schemas: values a schema accepts, and
 * values slightly off it (a required field dropped, a wrong type, a number past its range, a string
 * off its pattern). Covers the keywords the document uses; an unknown schema shape is an error, so a
 * new keyword cannot quietly go untested.
 */
import fc, { type Arbitrary } from 'fast-check'

type Json = Record<string, any> // eslint-disable-line @typescript-eslint/no-explicit-any

export function createArbitraries(document: Json) {
  const resolve = (schema: Json): Json => {
    if (!schema.$ref) return schema
    const name = (schema.$ref as string).replace('#/components/schemas/', '')
    const target = document.components.schemas[name]
    if (!target) throw new Error(`no schema ${schema.$ref}`)
    return resolve(target)
  }

  /** Values `schema` accepts. */
  function valid(input: Json): Arbitrary<unknown> {
    const schema = resolve(input)
    if ('const' in schema) return fc.constant(schema.const)
    if (schema.enum) return fc.constantFrom(...(schema.enum as unknown[]))
    if (schema.oneOf) return fc.oneof(...(schema.oneOf as Json[]).map(valid))
    if (schema.allOf) return fc.tuple(...(schema.allOf as Json[]).map(valid)).map((parts) => Object.assign({}, ...parts))
    switch (schema.type) {
      case 'null':
        return fc.constant(null)
      case 'boolean':
        return fc.boolean()
      case 'integer':
        return fc.integer({ min: schema.minimum ?? -1e6, max: Math.min(schema.maximum ?? 1e6, Number.MAX_SAFE_INTEGER) })
      case 'string':
        if (schema.pattern) return fc.stringMatching(new RegExp(schema.pattern)).filter((s) => s.length <= (schema.maxLength ?? Infinity))
        return fc.string({ minLength: schema.minLength ?? 0, maxLength: Math.min(schema.maxLength ?? 40, 40) })
      case 'array':
        return fc.array(valid(schema.items), { maxLength: 3 })
      case 'object': {
        const properties: Record<string, Json> = schema.properties ?? {}
        const shape = Object.fromEntries(Object.entries(properties).map(([k, s]) => [k, valid(s)]))
        return fc.record(shape, { requiredKeys: schema.required ?? [] })
      }
      case undefined:
        return fc.jsonValue()
    }
    throw new Error(`no arbitrary for ${JSON.stringify(schema)}`)
  }

  /** Values just off `schema`. */
  function invalid(input: Json): Arbitrary<unknown> {
    const schema = resolve(input)
    const wrongType = fc.oneof(fc.constant(null), fc.boolean(), fc.constant([]), fc.constant('x'), fc.constant(1.5))
    if (schema.type === 'integer') {
      const edges = [schema.minimum !== undefined ? schema.minimum - 1 : -1, schema.maximum !== undefined ? schema.maximum + 1 : 2 ** 60, 1.5]
      return fc.oneof(fc.constantFrom(...edges), wrongType)
    }
    if (schema.type === 'string' && schema.pattern)
      return fc.oneof(
        fc.string({ maxLength: 80 }).filter((s) => !new RegExp(schema.pattern).test(s)),
        fc.constant(1),
      )
    if (schema.type === 'object' && schema.required?.length) {
      return fc.oneof(
        valid(schema).map((value) => ({ ...(value as object), [schema.required[0]]: undefined })),
        fc.constantFrom(...(schema.required as string[])).chain((key) => valid(schema).map((value) => ({ ...(value as object), [key]: 1.5 }))),
        wrongType,
      )
    }
    if (schema.enum || 'const' in schema) return fc.oneof(fc.constant('not-one-of-them'), wrongType)
    return wrongType
  }

  return { valid, invalid }
}
