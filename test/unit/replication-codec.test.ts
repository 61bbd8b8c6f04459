import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { MAX_MESSAGE_LENGTH } from '../../src/core/feed/message'
import { type FeedId, feedIdFromPublicKey } from '../../src/core/identity/ids'
import {
  type ClockEntry,
  decodeFrame,
  encodeFrame,
  type Frame,
  jsonStringLength,
  MAX_FRAME_BYTES,
  MAX_PARTS,
  type MsgsFrame,
  type PartFrame,
  packClock,
  packHello,
  packMessages,
  packUnfollow,
  utf8Length,
} from '../../src/net/replication/codec'
import { keysOf, NETWORK_ID } from '../net/replication-fixtures'

const encoder = new TextEncoder()
const feed = keysOf(1).id
const feedIds = Array.from({ length: 40 }, (_, i) => keysOf(100 + i).id)
const bytesOf = (value: unknown) => encoder.encode(JSON.stringify(value))
const decodeOk = (bytes: Uint8Array): Frame => {
  const d = decodeFrame(bytes, { networkId: NETWORK_ID })
  if (!d.ok) throw new Error(`did not decode: ${JSON.stringify(d.error)}`)
  return d.value
}

/** Reassembles the texts carried by data frames (msgs and parts), checking their sequences. */
function unpack(frames: Uint8Array[], firstSeq: number): string[] {
  const texts: string[] = []
  let parts: string[] = []
  for (const bytes of frames) {
    expect(bytes.length).toBeLessThanOrEqual(MAX_FRAME_BYTES)
    const f = decodeOk(bytes) as MsgsFrame | PartFrame
    expect(f.seq).toBe(firstSeq + texts.length)
    if (f.t === 'msgs') {
      expect(parts).toEqual([])
      texts.push(...f.texts)
    } else {
      expect(f.i).toBe(parts.length)
      parts.push(f.chunk)
      if (f.i === f.n - 1) {
        texts.push(parts.join(''))
        parts = []
      }
    }
  }
  expect(parts).toEqual([])
  return texts
}

/** Strings weighted toward what makes JSON in UTF-8 grow: quotes, backslashes, controls, non-ASCII, astral. */
const heavyChar = fc.constantFrom(
  '"',
  '\\',
  '\n',
  '\u0001',
  '\u2028',
  'é',
  '€',
  '中',
  '😀',
  '\ud800',
  'a',
  ' ',
)
const heavyString = (max: number) => fc.array(heavyChar, { maxLength: max }).map((a) => a.join(''))
/** Texts up to the message limit (8192 UTF-16 units). */
const text = fc.oneof(
  fc.string({ unit: 'grapheme', maxLength: 300 }),
  heavyString(400),
  heavyString(8192).map((s) => s.slice(0, MAX_MESSAGE_LENGTH)),
  fc.constantFrom(
    '中'.repeat(MAX_MESSAGE_LENGTH),
    '😀'.repeat(MAX_MESSAGE_LENGTH / 2),
    '\u0001'.repeat(8192),
  ),
)

describe('replication codec: sizes', () => {
  it('utf8Length and jsonStringLength agree with TextEncoder and JSON.stringify', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ unit: 'binary' }), heavyString(200)), (s) => {
        expect(utf8Length(s)).toBe(encoder.encode(s).length)
        expect(jsonStringLength(s)).toBe(encoder.encode(JSON.stringify(s)).length)
      }),
      { numRuns: 500 },
    )
  })

  it('utf8Length is exact on ASCII text and on text with one non-ASCII unit at either end', () => {
    fc.assert(
      fc.property(
        fc.string({ unit: fc.integer({ min: 0, max: 0x7f }).map((c) => String.fromCharCode(c)) }),
        (s) => {
          expect(utf8Length(s)).toBe(s.length)
          for (const edge of ['\u0080', '\u07ff', '\u0800', '\ud800', '😀']) {
            expect(utf8Length(edge + s)).toBe(encoder.encode(edge + s).length)
            expect(utf8Length(s + edge)).toBe(encoder.encode(s + edge).length)
          }
        },
      ),
      { numRuns: 300 },
    )
  })
})

describe('replication codec: packing never exceeds 16 KiB and loses nothing', () => {
  it('packMessages splits batches across frames and large texts into parts', () => {
    fc.assert(
      fc.property(
        fc.array(text, { minLength: 1, maxLength: 12 }),
        fc.integer({ min: 1, max: 2 ** 31 - 20 }),
        fc.integer({ min: 1, max: 2 ** 40 }),
        (texts, seq, rid) => {
          const packed = packMessages(rid, feed, seq, texts)
          for (const p of packed) expect(p.bytes.length).toBeLessThanOrEqual(MAX_FRAME_BYTES)
          expect(packed.reduce((n, p) => n + p.messages, 0)).toBe(texts.length)
          expect(
            unpack(
              packed.map((p) => p.bytes),
              seq,
            ),
          ).toEqual(texts)
        },
      ),
      { numRuns: 300 },
    )
  })

  it('a maximal message of 3-byte characters (24 KiB of UTF-8) goes as parts, never split inside a pair', () => {
    for (const t of ['中'.repeat(MAX_MESSAGE_LENGTH), `a${'😀'.repeat(4095)}`, '\\'.repeat(8192)]) {
      const packed = packMessages(1, feed, 7, [t])
      expect(packed.length).toBeGreaterThan(1)
      expect(packed.length).toBeLessThanOrEqual(MAX_PARTS)
      for (const p of packed) {
        expect(p.bytes.length).toBeLessThanOrEqual(MAX_FRAME_BYTES)
        const f = decodeOk(p.bytes) as PartFrame
        expect(f.t).toBe('part')
        // A chunk never ends in a high surrogate or starts with a low one.
        expect(/[\ud800-\udbff]$/.test(f.chunk) || /^[\udc00-\udfff]/.test(f.chunk)).toBe(false)
      }
      expect(
        unpack(
          packed.map((p) => p.bytes),
          7,
        ),
      ).toEqual([t])
    }
  })

  it('hello, have, follow and unfollow are chunked under the limit and keep every entry', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2000 }), (n) => {
        const clock: ClockEntry[] = Array.from({ length: n }, (_, i) => [feedIds[i % 40]!, i] as ClockEntry)
        // Distinct keys per frame: use each feed at most once per chunk by making them unique.
        const unique = new Map(clock)
        const hello = packHello({ net: NETWORK_ID, all: false, win: { frames: 8, bytes: 1 << 17 } }, unique)
        const frames = hello.map(decodeOk)
        frames.forEach((f, i) => {
          expect(f.t).toBe('hello')
          if (f.t === 'hello') expect(f.more).toBe(i < frames.length - 1)
        })
        const seen = frames.flatMap((f) => (f.t === 'hello' ? f.clock : []))
        expect(new Map(seen)).toEqual(unique)
        for (const b of [...hello, ...packClock('have', unique), ...packUnfollow(unique.keys())])
          expect(b.length).toBeLessThanOrEqual(MAX_FRAME_BYTES)
      }),
      { numRuns: 30 },
    )
  })

  it('a clock of 5,000 feeds takes several hello frames, each under 16 KiB', () => {
    const many = new Map<FeedId, number>()
    for (let i = 0; i < 5000; i++)
      many.set(feedIdFromPublicKey(Uint8Array.of(i >> 8, i & 255, ...new Uint8Array(30))), i)
    const hello = packHello({ net: NETWORK_ID, all: true, win: { frames: 8, bytes: 1 << 17 } }, many)
    expect(hello.length).toBeGreaterThan(10)
    for (const b of hello) expect(b.length).toBeLessThanOrEqual(MAX_FRAME_BYTES)
    const seen = hello.map(decodeOk).flatMap((f) => (f.t === 'hello' ? f.clock : []))
    expect(seen).toHaveLength(5000)
    const unfollow = packUnfollow(many.keys())
    expect(unfollow.map(decodeOk).flatMap((f) => (f.t === 'unfollow' ? f.feeds : []))).toHaveLength(5000)
  })
})

describe('replication codec: decoding', () => {
  it('round-trips every frame type', () => {
    const frames: Frame[] = [
      {
        t: 'hello',
        net: NETWORK_ID,
        all: true,
        win: { frames: 8, bytes: 131072 },
        clock: [[feed, 3]],
        more: false,
      },
      { t: 'want', rid: 1, feed, from: 4 },
      { t: 'unwant', feed },
      { t: 'msgs', rid: 1, feed, seq: 4, texts: ['x'] },
      { t: 'part', rid: 1, feed, seq: 4, i: 1, n: 2, chunk: 'y' },
      { t: 'ack', n: 12 },
      { t: 'have', clock: [[feed, 9]] },
      { t: 'follow', clock: [[feed, 0]] },
      { t: 'unfollow', feeds: [feed] },
      { t: 'error', code: 'FEED_GAP', fatal: false, feed, detail: 'at 5' },
    ]
    for (const f of frames) {
      const e = encodeFrame(f)
      if (!e.ok) throw new Error('encode')
      expect(decodeOk(e.value)).toEqual(f)
    }
  })

  it('answers bad input with typed errors', () => {
    const code = (bytes: Uint8Array) => {
      const d = decodeFrame(bytes, { networkId: NETWORK_ID })
      return d.ok ? 'ok' : d.error.code
    }
    expect(code(new Uint8Array(MAX_FRAME_BYTES + 1).fill(32))).toBe('FRAME_TOO_LARGE')
    expect(code(Uint8Array.of(0xc3, 0x28))).toBe('FRAME_MALFORMED')
    expect(code(encoder.encode('{'))).toBe('FRAME_MALFORMED')
    expect(code(bytesOf(null))).toBe('FRAME_MALFORMED')
    expect(code(bytesOf([]))).toBe('FRAME_MALFORMED')
    expect(code(bytesOf({ t: 'ack', n: 1 }))).toBe('FRAME_MALFORMED')
    expect(code(bytesOf({ v: 2, t: 'ack', n: 1 }))).toBe('UNSUPPORTED_VERSION')
    expect(code(bytesOf({ v: 1, t: 'ping' }))).toBe('UNKNOWN_FRAME')
    expect(code(bytesOf({ v: 1, t: 'ack', n: 0 }))).toBe('FRAME_MALFORMED')
    expect(code(bytesOf({ v: 1, t: 'want', rid: 1, feed: '@nope', from: 1 }))).toBe('FRAME_MALFORMED')
    expect(code(bytesOf({ v: 1, t: 'want', rid: 1, feed, from: 0 }))).toBe('FRAME_MALFORMED')
    expect(code(bytesOf({ v: 1, t: 'want', rid: 1, feed, from: 2 ** 31 }))).toBe('FRAME_MALFORMED')
    expect(code(bytesOf({ v: 1, t: 'msgs', rid: 1, feed, seq: 1, texts: [] }))).toBe('FRAME_MALFORMED')
    expect(code(bytesOf({ v: 1, t: 'msgs', rid: 1, feed, seq: 1, texts: [1] }))).toBe('FRAME_MALFORMED')
    expect(code(bytesOf({ v: 1, t: 'part', rid: 1, feed, seq: 1, i: 2, n: 2, chunk: 'x' }))).toBe(
      'FRAME_MALFORMED',
    )
    expect(code(bytesOf({ v: 1, t: 'part', rid: 1, feed, seq: 1, i: 0, n: MAX_PARTS + 1, chunk: 'x' }))).toBe(
      'FRAME_MALFORMED',
    )
    expect(code(bytesOf({ v: 1, t: 'have', clock: { [feed]: -1 } }))).toBe('FRAME_MALFORMED')
    expect(code(encoder.encode('{"v":1,"t":"have","clock":{"__proto__":1}}'))).toBe('FRAME_MALFORMED')
    expect(code(bytesOf({ v: 1, t: 'error', code: 'lower', fatal: true }))).toBe('FRAME_MALFORMED')
    const hello = {
      v: 1,
      t: 'hello',
      net: NETWORK_ID,
      all: false,
      win: { frames: 1, bytes: MAX_FRAME_BYTES },
    }
    expect(code(bytesOf({ ...hello, clock: {}, more: false }))).toBe('ok')
    expect(code(bytesOf({ ...hello, net: '%other', clock: {}, more: false }))).toBe('WRONG_NETWORK')
    expect(code(bytesOf({ ...hello, win: { frames: 1, bytes: 100 }, clock: {}, more: false }))).toBe(
      'FRAME_MALFORMED',
    )
    // Deep nesting is malformed JSON for us, not a crash.
    expect(code(encoder.encode('['.repeat(MAX_FRAME_BYTES)))).toBe('FRAME_MALFORMED')
  })

  it('never throws, whatever the bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        expect(() => decodeFrame(bytes, { networkId: NETWORK_ID })).not.toThrow()
      }),
      { numRuns: 2000 },
    )
    fc.assert(
      fc.property(fc.jsonValue(), fc.constantFrom(...FRAME_TYPE_NAMES), (value, t) => {
        const asFrame =
          typeof value === 'object' && value !== null && !Array.isArray(value) ? value : { value }
        const bytes = bytesOf({ v: 1, t, ...asFrame })
        expect(() => decodeFrame(bytes, { networkId: NETWORK_ID })).not.toThrow()
      }),
      { numRuns: 2000 },
    )
  })
})

const FRAME_TYPE_NAMES = [
  'hello',
  'want',
  'unwant',
  'msgs',
  'part',
  'ack',
  'have',
  'follow',
  'unfollow',
  'error',
  'x',
]
