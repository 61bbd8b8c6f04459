import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { decodeBase64, encodeBase64 } from '../../src/core/encoding/base64'

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'
const nodeBase64 = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64')
/** Canonical by definition: Buffer's decoding, re-encoded, gives back the same text. */
const isCanonical = (text: string) =>
  /^[A-Za-z0-9+/]*={0,2}$/.test(text) &&
  text.length % 4 === 0 &&
  nodeBase64(Buffer.from(text, 'base64')) === text

describe('encodeBase64', () => {
  it('produces exactly what Buffer produces, for any bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        expect(encodeBase64(bytes)).toBe(nodeBase64(bytes))
      }),
      { numRuns: 500 },
    )
  })

  it('encodes the RFC 4648 test vectors', () => {
    const vectors: [string, string][] = [
      ['', ''],
      ['f', 'Zg=='],
      ['fo', 'Zm8='],
      ['foo', 'Zm9v'],
      ['foob', 'Zm9vYg=='],
      ['fooba', 'Zm9vYmE='],
      ['foobar', 'Zm9vYmFy'],
    ]
    for (const [plain, encoded] of vectors) {
      expect(encodeBase64(new TextEncoder().encode(plain))).toBe(encoded)
      expect(decodeBase64(encoded)).toEqual(new TextEncoder().encode(plain))
    }
  })
})

describe('decodeBase64', () => {
  it('round-trips any bytes (decode(encode(b)) = b), with and without the expected length', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        const text = encodeBase64(bytes)
        expect(decodeBase64(text)).toEqual(bytes)
        expect(decodeBase64(text, bytes.length)).toEqual(bytes)
      }),
      { numRuns: 500 },
    )
  })

  it('decodes what Buffer encodes (32- and 64-byte keys and signatures included)', () => {
    fc.assert(
      fc.property(fc.constantFrom(32, 64, 33, 1, 2), fc.integer({ min: 0, max: 2 ** 31 }), (length, seed) => {
        const bytes = Uint8Array.from({ length }, (_, i) => (seed * (i + 7) + i * 131) & 0xff)
        expect(decodeBase64(nodeBase64(bytes), length)).toEqual(bytes)
      }),
    )
  })

  it('accepts a string exactly when it is canonical base64 (random strings over the alphabet and =)', () => {
    const char = fc.constantFrom(...`${ALPHABET}=`)
    fc.assert(
      fc.property(fc.string({ unit: char, maxLength: 16 }), (text) => {
        const decoded = decodeBase64(text)
        expect(decoded !== undefined).toBe(isCanonical(text))
        if (decoded) expect(Buffer.from(decoded).equals(Buffer.from(text, 'base64'))).toBe(true)
      }),
      { numRuns: 2000 },
    )
  })

  it('rejects every one-character change of a canonical encoding that is not itself canonical', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 1, maxLength: 40 }),
        fc.nat(),
        fc.constantFrom(...`${ALPHABET}=-_ .\n\u00e9`),
        (bytes, at, replacement) => {
          const text = encodeBase64(bytes)
          const i = at % text.length
          const mutated = text.slice(0, i) + replacement + text.slice(i + 1)
          expect(decodeBase64(mutated) !== undefined).toBe(isCanonical(mutated))
        },
      ),
      { numRuns: 2000 },
    )
  })

  it('rejects non-zero bits hidden under one "=" (2-byte tail): every last char that is not a multiple of 4', () => {
    // "Zm8=" is canonical for "fo"; the last sextet's low 2 bits are padding and must be zero.
    for (const [i, c] of [...ALPHABET].entries()) {
      const text = `Zm${c}=`
      if (i % 4 === 0) expect(decodeBase64(text)).toBeDefined()
      else expect(decodeBase64(text), text).toBeUndefined()
    }
  })

  it('rejects non-zero bits hidden under "==" (1-byte tail): every second char that is not a multiple of 16', () => {
    for (const [i, c] of [...ALPHABET].entries()) {
      const text = `Z${c}==`
      if (i % 16 === 0) expect(decodeBase64(text)).toBeDefined()
      else expect(decodeBase64(text), text).toBeUndefined()
    }
  })

  it('rejects a 32-byte key whose last char hides non-zero bits (the same key spelled a second way)', () => {
    const key = Uint8Array.from({ length: 32 }, (_, i) => i * 7)
    const text = encodeBase64(key)
    expect(text.endsWith('=')).toBe(true)
    const last = text[42]!
    const sibling = ALPHABET[ALPHABET.indexOf(last) + 1]!
    const twin = `${text.slice(0, 42)}${sibling}=`
    expect(Buffer.from(twin, 'base64').equals(Buffer.from(key))).toBe(true) // Node's lenient decoder accepts it
    expect(decodeBase64(twin)).toBeUndefined()
    expect(decodeBase64(twin, 32)).toBeUndefined()
  })

  it('rejects characters outside the alphabet (URL-safe, whitespace, non-ASCII, NUL)', () => {
    for (const text of [
      'Zm9-',
      'Zm9_',
      'Zm9 ',
      ' Zm9v',
      'Zm9v\n',
      'Zm\u00e9v',
      'Zm9\u0000',
      'Zm9\u2028',
      'Z\u{1f600}v',
    ]) {
      expect(decodeBase64(text), JSON.stringify(text)).toBeUndefined()
    }
  })

  it('rejects wrong lengths and misplaced or excess padding', () => {
    for (const text of [
      'Z',
      'Zm',
      'Zm9',
      'Zm9vY',
      'Zg',
      'Zg=',
      'Zm8',
      'Zg===',
      '====',
      'A===',
      '=Zm8',
      'Z=m8',
      'Zg==Zm9v',
      'Zm8=Zm9v',
      'Zm9vYmFy=',
      'Zm9vYmFy====',
    ]) {
      expect(decodeBase64(text), text).toBeUndefined()
    }
  })

  it('decodes the empty string to zero bytes, and only when zero bytes are expected', () => {
    expect(decodeBase64('')).toEqual(new Uint8Array(0))
    expect(decodeBase64('', 0)).toEqual(new Uint8Array(0))
    expect(decodeBase64('', 32)).toBeUndefined()
  })

  it('rejects a valid encoding of the wrong length when a length is expected', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 80 }), fc.integer({ min: 0, max: 80 }), (bytes, expected) => {
        fc.pre(expected !== bytes.length)
        expect(decodeBase64(encodeBase64(bytes), expected)).toBeUndefined()
      }),
    )
  })
})
