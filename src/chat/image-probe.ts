/**
 * What an upload is, judged from its bytes as they stream past (spec §7: never from the name or the
 * client's Content-Type): PNG, JPEG, GIF or WebP with the width and height their headers give, or
 * `application/octet-stream` for everything else. Nothing is buffered but a few header bytes: a JPEG's
 * segments before its frame header are skipped by their lengths.
 */

export const OCTET_STREAM = 'application/octet-stream'
export const IMAGE_TYPES = ['image/png', 'image/jpeg', 'image/gif', 'image/webp'] as const

export interface Judgement {
  type: string
  width?: number
  height?: number
}

const OTHER: Judgement = { type: OCTET_STREAM }
/** Bytes enough to tell PNG, GIF and WebP apart and read their sizes. */
const HEAD_BYTES = 30

const u16be = (b: Uint8Array, i: number) => (b[i]! << 8) | b[i + 1]!
const u16le = (b: Uint8Array, i: number) => b[i]! | (b[i + 1]! << 8)
const u24le = (b: Uint8Array, i: number) => b[i]! | (b[i + 1]! << 8) | (b[i + 2]! << 16)
const u32be = (b: Uint8Array, i: number) => ((b[i]! << 24) >>> 0) + ((b[i + 1]! << 16) | (b[i + 2]! << 8) | b[i + 3]!)
const ascii = (b: Uint8Array, i: number, text: string) => [...text].every((c, k) => b[i + k] === c.charCodeAt(0))

/** An image only with a real size: a header that claims zero pixels is not taken for one. */
const image = (type: string, width: number, height: number): Judgement => (width > 0 && height > 0 ? { type, width, height } : OTHER)

/** PNG, GIF or WebP from the first HEAD_BYTES (or all there are); 'jpeg' to scan further; OTHER otherwise. */
function judgeHead(b: Uint8Array): Judgement | 'jpeg' {
  const has = (n: number) => b.byteLength >= n
  // PNG: signature, then IHDR first (width, height as big-endian 32-bit).
  if (has(24) && ascii(b, 0, '\x89PNG\r\n\x1a\n') && ascii(b, 12, 'IHDR')) return image('image/png', u32be(b, 16), u32be(b, 20))
  if (has(10) && (ascii(b, 0, 'GIF87a') || ascii(b, 0, 'GIF89a'))) return image('image/gif', u16le(b, 6), u16le(b, 8))
  if (has(30) && ascii(b, 0, 'RIFF') && ascii(b, 8, 'WEBP')) {
    // Lossy: a key frame's start code, then 14-bit sizes.
    if (ascii(b, 12, 'VP8 ') && b[23] === 0x9d && b[24] === 0x01 && b[25] === 0x2a) return image('image/webp', u16le(b, 26) & 0x3fff, u16le(b, 28) & 0x3fff)
    // Lossless: signature 0x2f, then width-1 and height-1 in 14 bits each.
    if (ascii(b, 12, 'VP8L') && b[20] === 0x2f) {
      const bits = b[21]! | (b[22]! << 8) | (b[23]! << 16) | (b[24]! << 24)
      return image('image/webp', (bits & 0x3fff) + 1, ((bits >>> 14) & 0x3fff) + 1)
    }
    // Extended: canvas width-1 and height-1 in 24 bits each.
    if (ascii(b, 12, 'VP8X')) return image('image/webp', u24le(b, 24) + 1, u24le(b, 27) + 1)
    return OTHER
  }
  if (has(3) && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return 'jpeg'
  return OTHER
}

/** Start-of-frame markers (baseline, progressive, lossless, arithmetic): the ones that carry the size. */
const isFrameHeader = (m: number) => m >= 0xc0 && m <= 0xcf && m !== 0xc4 && m !== 0xc8 && m !== 0xcc

/**
 * Feeds an upload's chunks in order with `push`, then `result()` says what it is. Cheap per chunk:
 * after the header (and a JPEG's frame header) it looks at nothing more.
 */
export class ImageProbe {
  private head = new Uint8Array(HEAD_BYTES)
  private headLength = 0
  private seen = 0
  private verdict: Judgement | undefined
  /** JPEG: the offset of the next marker, and the bytes from there that have arrived. */
  private next = 2
  private pending: Uint8Array = new Uint8Array(0)

  push(chunk: Uint8Array): void {
    const start = this.seen
    this.seen += chunk.byteLength
    if (this.verdict) return
    if (this.headLength < HEAD_BYTES) {
      const n = Math.min(HEAD_BYTES - this.headLength, chunk.byteLength)
      this.head.set(chunk.subarray(0, n), this.headLength)
      this.headLength += n
      if (this.headLength < HEAD_BYTES) return
      const judged = judgeHead(this.head)
      if (judged !== 'jpeg') return void (this.verdict = judged)
      this.feedJpeg(this.head, 0)
      if (!this.verdict && n < chunk.byteLength) this.feedJpeg(chunk.subarray(n), start + n)
      return
    }
    this.feedJpeg(chunk, start)
  }

  /** True once the answer is known: later bytes cannot change it. */
  get done(): boolean {
    return this.verdict !== undefined
  }

  /** What the bytes pushed so far are: the final answer once the last chunk is in. */
  result(): Judgement {
    if (this.verdict) return this.verdict
    // Fewer bytes than HEAD_BYTES in all: judge what there is (a tiny GIF or PNG may be that short).
    if (this.headLength < HEAD_BYTES) {
      const judged = judgeHead(this.head.subarray(0, this.headLength))
      return judged === 'jpeg' ? OTHER : judged
    }
    return OTHER
  }

  /** `bytes` start at offset `at`; walks the JPEG's segments until a frame header gives the size. */
  private feedJpeg(bytes: Uint8Array, at: number): void {
    const end = at + bytes.byteLength
    if (end <= this.next) return
    const fresh = bytes.subarray(Math.max(0, this.next - at))
    this.pending = this.pending.byteLength === 0 ? fresh : Buffer.concat([this.pending, fresh])
    let p = this.pending
    while (p.byteLength >= 4) {
      if (p[0] !== 0xff) return void (this.verdict = OTHER)
      const marker = p[1]!
      // Fill bytes before a marker, and markers that stand alone (no length).
      if (marker === 0xff) {
        p = p.subarray(1)
        this.next += 1
        continue
      }
      if (marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) {
        p = p.subarray(2)
        this.next += 2
        continue
      }
      // Image data or the end before any frame header: not an image we can size.
      if (marker === 0xd8 || marker === 0xd9 || marker === 0xda) return void (this.verdict = OTHER)
      const length = u16be(p, 2)
      if (length < 2) return void (this.verdict = OTHER)
      if (isFrameHeader(marker)) {
        if (p.byteLength < 9) break
        return void (this.verdict = image('image/jpeg', u16be(p, 7), u16be(p, 5)))
      }
      this.next += 2 + length
      p = 2 + length <= p.byteLength ? p.subarray(2 + length) : new Uint8Array(0)
    }
    // Keep a copy of the few bytes left, not a view pinning the whole chunk.
    this.pending = p.byteLength === 0 ? p : p.slice()
  }
}

/** The whole judgement of a byte array at once (tests, small inputs). */
export function judgeBytes(bytes: Uint8Array): Judgement {
  const probe = new ImageProbe()
  probe.push(bytes)
  return probe.result()
}
