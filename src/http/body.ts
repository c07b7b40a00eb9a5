/** Request bodies: capped at BODY_LIMIT_BYTES without reading past it, strict UTF-8, JSON objects only. */
import { AppError, ClientGone } from '../errors.ts'
import { LIMITS } from '../protocol.ts'

export const BODY_LIMIT_BYTES = LIMITS.BODY_MAX_BYTES

const tooLarge = () => new AppError('PAYLOAD_TOO_LARGE', `request body must be at most ${BODY_LIMIT_BYTES} bytes`)
const decoder = new TextDecoder('utf-8', { fatal: true })

/** Reads the body as bytes, refusing with 413 as soon as it passes the limit; ClientGone if the client hangs up. */
async function readCapped(req: Request): Promise<Uint8Array> {
  try {
    return await readUpTo(req)
  } catch (err) {
    // Bun rejects a body read with a DOMException AbortError when the peer closes mid-body.
    if (err instanceof Error && err.name === 'AbortError') throw new ClientGone('the client closed the connection mid-body', { cause: err })
    throw err
  }
}

/**
 * spec §2: a body declared longer than the limit is 413 before anything else, on every route but an
 * upload's, whether the route reads a body or not (one it does not read is never read).
 */
export function refuseDeclaredTooLarge(req: Request): void {
  const declared = req.headers.get('content-length')
  if (declared !== null && Number(declared) > BODY_LIMIT_BYTES) throw tooLarge()
}

async function readUpTo(req: Request): Promise<Uint8Array> {
  refuseDeclaredTooLarge(req)
  const declared = req.headers.get('content-length')
  if (!req.body) return new Uint8Array(0)
  // A declared length within the cap bounds the body (HTTP/1.1 framing), so it can be read in one go,
  // which is much cheaper than a stream reader; a chunked body is read chunk by chunk below.
  if (declared !== null && /^\d+$/.test(declared)) return new Uint8Array(await req.arrayBuffer())
  const reader = req.body.getReader()
  const chunks: Uint8Array[] = []
  let size = 0
  for (;;) {
    const { done, value } = await reader.read()
    if (done) break
    size += value.byteLength
    if (size > BODY_LIMIT_BYTES) {
      void reader.cancel().catch(() => {})
      throw tooLarge()
    }
    chunks.push(value)
  }
  return Buffer.concat(chunks)
}

/**
 * The body as a JSON object; BAD_BINDING when it is not valid UTF-8 JSON or not an object. With
 * `emptyIsObject`, no body at all reads as `{}` (for bodies whose fields are all optional).
 */
export async function readJsonObject(req: Request, { emptyIsObject = false } = {}): Promise<Record<string, unknown>> {
  const bytes = await readCapped(req)
  if (emptyIsObject && bytes.byteLength === 0) return {}
  let value: unknown
  try {
    value = JSON.parse(decoder.decode(bytes))
  } catch {
    throw new AppError('BAD_BINDING', 'body must be a JSON object')
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new AppError('BAD_BINDING', 'body must be a JSON object')
  return value as Record<string, unknown>
}

/** `{"username","secret"}` as strings; extra fields are ignored (spec §2). */
export async function readCredentials(req: Request): Promise<{ username: string; secret: string }> {
  const body = await readJsonObject(req)
  const { username, secret } = body
  if (typeof username !== 'string') throw new AppError('BAD_BINDING', 'username must be a string')
  if (typeof secret !== 'string') throw new AppError('BAD_BINDING', 'secret must be a string')
  return { username, secret }
}

/** A string field of a body; BAD_BINDING when it is missing or not a string. */
export function stringField(body: Record<string, unknown>, name: string): string {
  const value = body[name]
  if (typeof value !== 'string') throw new AppError('BAD_BINDING', `${name} must be a string`)
  return value
}

/** An optional string field: absent or null → undefined; anything else but a string → BAD_BINDING. */
export function optionalStringField(body: Record<string, unknown>, name: string): string | undefined {
  const value = body[name]
  if (value === undefined || value === null) return undefined
  if (typeof value !== 'string') throw new AppError('BAD_BINDING', `${name} must be a string when given`)
  return value
}
