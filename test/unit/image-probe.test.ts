/**
 * Judging an upload from its bytes (spec §7, src/chat/image-probe.ts): PNG, JPEG, GIF and WebP with
 * the size their headers give, whatever the chunking of the stream; anything else, or a header that
 * lies about being an image, is application/octet-stream. And the names uploads are shown under.
 */
import { describe, expect, test } from 'bun:test'
import fc from 'fast-check'
import { sanitizeFilename } from '../../src/chat/attachments.ts'
import { ImageProbe, judgeBytes, OCTET_STREAM } from '../../src/chat/image-probe.ts'
import { makePng } from '../support/images.ts'

const bytes = (...parts: (number[] | string | Uint8Array)[]) =>
  Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'latin1') : Buffer.from(p))))
const le16 = (n: number) => [n & 0xff, n >> 8]
const be16 = (n: number) => [n >> 8, n & 0xff]

const gif = (w: number, h: number) => bytes('GIF89a', le16(w), le16(h), [0, 0, 0], new Uint8Array(20))
const webpLossy = (w: number, h: number) =>
  bytes('RIFF', [0, 0, 0, 0], 'WEBP', 'VP8 ', [0, 0, 0, 0], [0x10, 0x02, 0x00], [0x9d, 0x01, 0x2a], le16(w), le16(h), new Uint8Array(10))
const webpLossless = (w: number, h: number) => {
  const bits = (w - 1) | ((h - 1) << 14)
  return bytes(
    'RIFF',
    [0, 0, 0, 0],
    'WEBP',
    'VP8L',
    [0, 0, 0, 0],
    [0x2f, bits & 0xff, (bits >> 8) & 0xff, (bits >> 16) & 0xff, (bits >>> 24) & 0xff],
    new Uint8Array(10),
  )
}
const webpExtended = (w: number, h: number) =>
  bytes(
    'RIFF',
    [0, 0, 0, 0],
    'WEBP',
    'VP8X',
    [10, 0, 0, 0],
    [0, 0, 0, 0],
    [(w - 1) & 0xff, ((w - 1) >> 8) & 0xff, (w - 1) >> 16],
    [(h - 1) & 0xff, ((h - 1) >> 8) & 0xff, (h - 1) >> 16],
  )
/** A JPEG with an APP1 segment of `appBytes`, fill bytes, a restart marker, then its frame header. */
const jpeg = (w: number, h: number, appBytes = 100, sof = 0xc2) =>
  bytes(
    [0xff, 0xd8],
    [0xff, 0xe1],
    be16(appBytes + 2),
    new Uint8Array(appBytes).fill(0xff),
    [0xff, 0xff, 0xdb],
    be16(5),
    [0, 1, 2],
    [0xff, sof],
    be16(17),
    [8],
    be16(h),
    be16(w),
    new Uint8Array(20),
  )

/** Judged in chunks of `size`, as a stream delivers them. */
function judgeChunked(data: Uint8Array, size: number) {
  const probe = new ImageProbe()
  for (let at = 0; at < data.byteLength; at += size) probe.push(data.subarray(at, at + size))
  return probe.result()
}

describe('image probe', () => {
  const cases: [string, Uint8Array, { type: string; width?: number; height?: number }][] = [
    ['PNG', makePng(640, 480), { type: 'image/png', width: 640, height: 480 }],
    ['GIF', gif(16, 9), { type: 'image/gif', width: 16, height: 9 }],
    ['WebP lossy', webpLossy(300, 200), { type: 'image/webp', width: 300, height: 200 }],
    ['WebP lossless', webpLossless(1024, 16383), { type: 'image/webp', width: 1024, height: 16383 }],
    ['WebP extended', webpExtended(70_000, 3), { type: 'image/webp', width: 70_000, height: 3 }],
    ['JPEG', jpeg(1920, 1080), { type: 'image/jpeg', width: 1920, height: 1080 }],
    ['JPEG with a 60 KiB EXIF segment', jpeg(4000, 3000, 60_000, 0xc0), { type: 'image/jpeg', width: 4000, height: 3000 }],
    ['HTML', bytes('<!doctype html><script>alert(1)</script>'), { type: OCTET_STREAM }],
    ['SVG', bytes('<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'), { type: OCTET_STREAM }],
    ['empty', new Uint8Array(0), { type: OCTET_STREAM }],
    ['a PNG signature alone', bytes([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), { type: OCTET_STREAM }],
    ['a PNG of zero width', makePng(1, 1).map((b, i) => (i >= 16 && i < 20 ? 0 : b)), { type: OCTET_STREAM }],
    ['a GIF of zero height', gif(5, 0), { type: OCTET_STREAM }],
    ['a JPEG cut before its frame header', jpeg(10, 10, 500).subarray(0, 300), { type: OCTET_STREAM }],
    ['a JPEG whose image data comes before any frame header', bytes([0xff, 0xd8, 0xff, 0xda], be16(4), new Uint8Array(40)), { type: OCTET_STREAM }],
    ['RIFF that is not WebP', bytes('RIFF', [0, 0, 0, 0], 'WAVE', new Uint8Array(40)), { type: OCTET_STREAM }],
  ]
  for (const [name, data, expected] of cases) {
    test(`${name}: ${expected.type}${expected.width ? ` ${expected.width}×${expected.height}` : ''}, in one piece or byte by byte`, () => {
      expect(judgeBytes(data)).toEqual(expected)
      for (const size of [1, 2, 3, 7, 29, 30, 31, 4096]) expect(judgeChunked(data, size)).toEqual(expected)
    })
  }

  test('any bytes, in any chunking, get one answer, an image only with a positive size', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.integer({ min: 1, max: 64 }), (data, size) => {
        const whole = judgeBytes(data)
        expect(judgeChunked(data, size)).toEqual(whole)
        if (whole.type !== OCTET_STREAM) expect(whole.width! > 0 && whole.height! > 0).toBe(true)
      }),
      { numRuns: 2000 },
    )
  })

  test('random tails after a real header still give the header size', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 500 }), (tail) => {
        expect(judgeBytes(bytes(jpeg(33, 44), tail))).toEqual({ type: 'image/jpeg', width: 33, height: 44 })
        expect(judgeBytes(bytes(makePng(2, 3), tail))).toEqual({ type: 'image/png', width: 2, height: 3 })
      }),
    )
  })
})

describe('attachment names', () => {
  test.each([
    ['photo.png', 'photo.png'],
    ['../../etc/passwd', 'passwd'],
    ['C:\\Users\\me\\report.pdf', 'report.pdf'],
    ['dir/', 'file'],
    ['', 'file'],
    [null, 'file'],
    ['..', 'file'],
    ['  spaced  ', 'spaced'],
    ['a\u0000b\nc\u007f.txt', 'abc.txt'],
    ['invoice\u202Egnp.exe', 'invoicegnp.exe'],
    ['e\u0301.txt', '\u00e9.txt'],
    ['日本語のファイル.txt', '日本語のファイル.txt'],
    ['🙂'.repeat(250), '🙂'.repeat(200)],
  ])('%p is shown as %p', (raw, shown) => {
    expect(sanitizeFilename(raw)).toBe(shown)
  })

  test('any name becomes one of 1-200 code points with no path separator, control character or direction mark', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 400 }), (raw) => {
        const name = sanitizeFilename(raw)
        const length = Array.from(name).length
        expect(length >= 1 && length <= 200).toBe(true)
        expect(name).not.toMatch(/[/\\\p{Cc}\u202a-\u202e\u2066-\u2069]/u)
        expect(name).toBe(name.toWellFormed())
        expect(sanitizeFilename(name)).toBe(name)
      }),
      { numRuns: 2000 },
    )
  })
})
