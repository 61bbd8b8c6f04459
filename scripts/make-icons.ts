/**
 * Draws the app icons (public/icon-192.png, icon-512.png, icon-maskable-512.png) with no image
 * library: a PNG is a signature plus zlib-compressed RGBA rows in CRC-checked chunks.
 * Run with `npx tsx scripts/make-icons.ts`; the output is committed, so this only runs on changes.
 */
import { writeFileSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { deflateSync } from 'node:zlib'

type Rgba = readonly [number, number, number, number]

const BACKGROUND: Rgba = [22, 78, 140, 255] // deep blue
const BLOCK: Rgba = [255, 255, 255, 255]
const LINK: Rgba = [140, 200, 255, 255]
const CLEAR: Rgba = [0, 0, 0, 0]

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1
  return c >>> 0
})

function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff
  for (const b of bytes) c = CRC_TABLE[(c ^ b) & 0xff]! ^ (c >>> 8)
  return (c ^ 0xffffffff) >>> 0
}

function chunk(type: string, data: Uint8Array): Buffer {
  const head = Buffer.alloc(8)
  head.writeUInt32BE(data.length, 0)
  head.write(type, 4, 'ascii')
  const crc = Buffer.alloc(4)
  crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])), 0)
  return Buffer.concat([head, data, crc])
}

function encodePng(size: number, pixel: (x: number, y: number) => Rgba): Buffer {
  const raw = Buffer.alloc(size * (size * 4 + 1))
  for (let y = 0; y < size; y++) {
    const row = y * (size * 4 + 1)
    raw[row] = 0 // filter: none
    for (let x = 0; x < size; x++) raw.set(pixel(x, y), row + 1 + x * 4)
  }
  const header = Buffer.alloc(13)
  header.writeUInt32BE(size, 0)
  header.writeUInt32BE(size, 4)
  header[8] = 8 // bit depth
  header[9] = 6 // colour type: RGBA
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', header),
    chunk('IDAT', deflateSync(raw, { level: 9 })),
    chunk('IEND', new Uint8Array(0)),
  ])
}

/**
 * Three blocks chained left to right (a feed of signed messages) on a rounded blue square.
 * Coordinates are fractions of the icon; `safe` shrinks the drawing into the maskable safe zone.
 */
function icon(size: number, options: { rounded: boolean; safe: boolean }) {
  const scale = options.safe ? 0.78 : 1
  const toUnit = (v: number) => ((v + 0.5) / size - 0.5) / scale + 0.5
  const radius = options.rounded ? 0.18 : 0
  const inRoundedSquare = (u: number, v: number) => {
    if (radius === 0) return true
    const dx = Math.max(radius - u, 0, u - (1 - radius))
    const dy = Math.max(radius - v, 0, v - (1 - radius))
    return dx * dx + dy * dy <= radius * radius
  }
  const blocks = [0.14, 0.4, 0.66].map((left) => ({ left, top: 0.38, size: 0.2 }))
  return (x: number, y: number): Rgba => {
    const u0 = (x + 0.5) / size
    const v0 = (y + 0.5) / size
    if (!inRoundedSquare(u0, v0)) return CLEAR
    const u = toUnit(x)
    const v = toUnit(y)
    for (const b of blocks)
      if (u >= b.left && u <= b.left + b.size && v >= b.top && v <= b.top + b.size) return BLOCK
    if (v >= 0.46 && v <= 0.5 && u >= 0.14 && u <= 0.86) return LINK
    return BACKGROUND
  }
}

const out = resolve(dirname(fileURLToPath(import.meta.url)), '../public')
writeFileSync(resolve(out, 'icon-192.png'), encodePng(192, icon(192, { rounded: true, safe: false })))
writeFileSync(resolve(out, 'icon-512.png'), encodePng(512, icon(512, { rounded: true, safe: false })))
writeFileSync(
  resolve(out, 'icon-maskable-512.png'),
  encodePng(512, icon(512, { rounded: false, safe: true })),
)
writeFileSync(
  resolve(out, 'favicon.svg'),
  `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 100 100">
  <title>BlockfinBFT</title>
  <rect width="100" height="100" rx="18" fill="rgb(22,78,140)"/>
  <rect x="14" y="46" width="72" height="4" fill="rgb(140,200,255)"/>
  <rect x="14" y="38" width="20" height="20" fill="#fff"/>
  <rect x="40" y="38" width="20" height="20" fill="#fff"/>
  <rect x="66" y="38" width="20" height="20" fill="#fff"/>
</svg>
`,
)
console.log(`icons written to ${out}`)
