/**
 * Checks a delivery of an outgoing webhook as the Standard Webhooks convention signs it: an
 * HMAC-SHA256 of `${id}.${timestamp}.${body}`, computed with WebCrypto so that it runs in browsers,
 * Bun and Node 20+, and a timestamp close to now, so that a delivery someone captured cannot be
 * replayed later.
 */
import { WEBHOOK_HEADERS, WEBHOOK_SECRET_PREFIX, type WebhookPayload } from './protocol.ts'

/**
 * Why a delivery was refused: HEADERS_INVALID (a webhook header is missing, or the timestamp is not
 * a whole number), TIMESTAMP_OUT_OF_RANGE (signed too long ago, or ahead), SIGNATURE_INVALID (no
 * `v1` signature matches: another secret, or a changed body), PAYLOAD_INVALID (signed, but not the
 * JSON of a delivery).
 */
export type WebhookErrorType = 'HEADERS_INVALID' | 'TIMESTAMP_OUT_OF_RANGE' | 'SIGNATURE_INVALID' | 'PAYLOAD_INVALID'

export class WebhookError extends Error {
  constructor(
    readonly type: WebhookErrorType,
    message: string,
  ) {
    super(message)
    this.name = 'WebhookError'
  }
}

/** A request's headers: fetch's `Headers`, or a plain object such as Node's `req.headers`. */
export type WebhookHeaders = Headers | Record<string, string | string[] | undefined>

export interface VerifyWebhookOptions {
  /** How far the delivery's timestamp may lie from `now`, either way, in seconds. Default 300. */
  toleranceSeconds?: number
  /** The time to check against, in ms since the epoch. Default `Date.now()`. */
  now?: number
}

/**
 * Resolves with the delivery's payload once its signature (any of the space-separated `v1,…` ones,
 * so that a secret can be rotated) matches `secret` (`whsec_<base64>`) and its timestamp lies within
 * the tolerance; rejects with a WebhookError otherwise (and with a TypeError for a secret that is
 * not base64). `body` is the request body exactly as received: parsing and serialising it again
 * could change the bytes that were signed.
 */
export async function verifyWebhook(
  secret: string,
  headers: WebhookHeaders,
  body: string | ArrayBuffer | ArrayBufferView,
  { toleranceSeconds = 300, now = Date.now() }: VerifyWebhookOptions = {},
): Promise<WebhookPayload> {
  const id = header(headers, WEBHOOK_HEADERS.id)
  const timestamp = header(headers, WEBHOOK_HEADERS.timestamp)
  const signatures = header(headers, WEBHOOK_HEADERS.signature)
  if (id === undefined || timestamp === undefined || signatures === undefined) {
    throw new WebhookError('HEADERS_INVALID', `a delivery has all of ${Object.values(WEBHOOK_HEADERS).join(', ')}`)
  }
  if (!/^\d+$/.test(timestamp)) throw new WebhookError('HEADERS_INVALID', `${WEBHOOK_HEADERS.timestamp} is not unix seconds: ${timestamp}`)
  if (Math.abs(now / 1000 - Number(timestamp)) > toleranceSeconds) {
    throw new WebhookError('TIMESTAMP_OUT_OF_RANGE', `signed at ${timestamp}, more than ${toleranceSeconds} s from now`)
  }

  const bytes =
    typeof body === 'string'
      ? encoder.encode(body)
      : ArrayBuffer.isView(body)
        ? new Uint8Array(body.buffer, body.byteOffset, body.byteLength)
        : new Uint8Array(body)
  const expected = await sign(secret, concat(encoder.encode(`${id}.${timestamp}.`), bytes))
  let matched = false
  for (const entry of signatures.split(' ')) {
    const comma = entry.indexOf(',')
    // Every entry is compared, in constant time, so that the time taken tells nothing about the expected one.
    if (comma > 0 && entry.slice(0, comma) === SIGNATURE_VERSION && constantTimeEqual(entry.slice(comma + 1), expected)) matched = true
  }
  if (!matched) throw new WebhookError('SIGNATURE_INVALID', `no ${SIGNATURE_VERSION} signature matches the secret`)

  let payload: unknown
  try {
    payload = JSON.parse(typeof body === 'string' ? body : new TextDecoder().decode(bytes))
  } catch {
    // not JSON: below
  }
  const { type, data } = (typeof payload === 'object' && payload !== null ? payload : {}) as Partial<Record<keyof WebhookPayload, unknown>>
  if (typeof type !== 'string' || typeof data !== 'object' || data === null) throw new WebhookError('PAYLOAD_INVALID', 'the body is not a delivery')
  return payload as WebhookPayload
}

/** The scheme of the signatures checked here; entries of other schemes (`v1a,` public-key ones) are skipped. */
const SIGNATURE_VERSION = 'v1'
const encoder = new TextEncoder()

/** A header's value; an array (several of one name) is joined with spaces, as signatures are listed. */
function header(headers: WebhookHeaders, name: string): string | undefined {
  if (typeof headers.get === 'function') return (headers as Headers).get(name) ?? undefined
  // Node lower-cases the names it parses; other plain objects may not.
  const value = Object.entries(headers).find(([key]) => key.toLowerCase() === name)?.[1]
  return Array.isArray(value) ? value.join(' ') : value
}

/** The base64 HMAC-SHA256 of `content`, keyed with the secret's base64 part. */
async function sign(secret: string, content: Uint8Array<ArrayBuffer>): Promise<string> {
  const subtle = globalThis.crypto?.subtle
  if (!subtle) throw new TypeError('no WebCrypto (crypto.subtle): a browser has it only on https pages')
  let key: Uint8Array<ArrayBuffer>
  try {
    const base64 = secret.startsWith(WEBHOOK_SECRET_PREFIX) ? secret.slice(WEBHOOK_SECRET_PREFIX.length) : secret
    key = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0))
  } catch {
    throw new TypeError(`the secret is not ${WEBHOOK_SECRET_PREFIX}<base64>`)
  }
  if (key.length === 0) throw new TypeError(`the secret is not ${WEBHOOK_SECRET_PREFIX}<base64>`)
  const hmac = await subtle.importKey('raw', key, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign'])
  return btoa(String.fromCharCode(...new Uint8Array(await subtle.sign('HMAC', hmac, content))))
}

function concat(a: Uint8Array<ArrayBuffer>, b: Uint8Array): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(a.length + b.length)
  out.set(a)
  out.set(b, a.length)
  return out
}

/** Equal strings, compared without stopping at the first difference (the length is not secret: every v1 signature has one). */
function constantTimeEqual(a: string, b: string): boolean {
  if (a.length !== b.length) return false
  let diff = 0
  for (let i = 0; i < a.length; i++) diff |= a.charCodeAt(i) ^ b.charCodeAt(i)
  return diff === 0
}
