/** Signed opaque cursors: a client can hand back a cursor it was given, and nothing else. */
import { createHmac, timingSafeEqual } from 'node:crypto'

export interface CursorSigner {
  sign(payload: string): string
  /** The payload of a cursor this signer made (with the same secret), or undefined for anything else. */
  open(cursor: string): string | undefined
}

const MAC_BYTES = 16
/** Far above any cursor we make; a longer one is refused before any decoding. */
const CURSOR_MAX_LENGTH = 256

/** Base64url that decodes and re-encodes to itself: Buffer's decoder skips stray characters. */
function strictBase64url(text: string): Buffer | undefined {
  const bytes = Buffer.from(text, 'base64url')
  return bytes.toString('base64url') === text ? bytes : undefined
}

/**
 * Cursors are `base64url(payload).base64url(mac)`. The key is derived from `secret` per `purpose`, so
 * a cursor never passes for a token or for another kind of cursor; every instance sharing the secret
 * accepts the others' cursors (a load balancer may send the next page anywhere).
 */
export function createCursorSigner(secret: string, purpose: string): CursorSigner {
  const key = createHmac('sha256', secret).update(`cursor:${purpose}`).digest()
  const mac = (payload: Buffer) => createHmac('sha256', key).update(payload).digest().subarray(0, MAC_BYTES)
  return {
    sign(payload) {
      const bytes = Buffer.from(payload)
      return `${bytes.toString('base64url')}.${mac(bytes).toString('base64url')}`
    },
    open(cursor) {
      if (cursor.length > CURSOR_MAX_LENGTH) return undefined
      const parts = cursor.split('.')
      if (parts.length !== 2) return undefined
      const bytes = strictBase64url(parts[0]!)
      const given = strictBase64url(parts[1]!)
      if (!bytes || given?.length !== MAC_BYTES || !timingSafeEqual(given, mac(bytes))) return undefined
      return bytes.toString()
    },
  }
}
