/** Real image files for the attachment tests (spec §7), made here rather than checked in. */
import { deflateSync } from 'node:zlib'

/** A valid PNG of `width` × `height` grey pixels: signature, IHDR, IDAT, IEND, each with its CRC. */
export function makePng(width: number, height: number): Uint8Array<ArrayBuffer> {
  const chunk = (type: string, data: Uint8Array) => {
    const out = Buffer.alloc(12 + data.byteLength)
    out.writeUInt32BE(data.byteLength, 0)
    out.write(type, 4, 'latin1')
    out.set(data, 8)
    out.writeUInt32BE(Bun.hash.crc32(out.subarray(4, 8 + data.byteLength)) >>> 0, 8 + data.byteLength)
    return out
  }
  const ihdr = Buffer.alloc(13)
  ihdr.writeUInt32BE(width, 0)
  ihdr.writeUInt32BE(height, 4)
  ihdr.set([8, 0, 0, 0, 0], 8) // 8-bit greyscale, deflate, no filter, no interlace
  const rows = Buffer.alloc((width + 1) * height, 0x80)
  for (let y = 0; y < height; y++) rows[y * (width + 1)] = 0
  const signature = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])
  return new Uint8Array(Buffer.concat([signature, chunk('IHDR', ihdr), chunk('IDAT', deflateSync(rows)), chunk('IEND', new Uint8Array(0))]))
}
