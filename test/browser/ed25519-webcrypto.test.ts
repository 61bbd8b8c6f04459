import { beforeAll, describe, expect, it } from 'vitest'
import type { Ed25519Backend } from '../../src/core/crypto/ed25519'
import { createNobleBackend, publicKeyFromSeed, signWithNoble } from '../../src/core/crypto/noble'
import { selectBrowserBackend, selectBrowserVerifier } from '../../src/crypto/browser'
import { createWebCryptoBackend } from '../../src/crypto/webcrypto'
import {
  bytesToHex,
  type EdgeVector,
  edgeVectors,
  hexToBytes,
  RFC8032_VECTORS,
} from '../vectors/ed25519-edge'

// The expectations are libsodium's (checked in test/unit/ed25519-rule.test.ts); here Chromium's
// own WebCrypto Ed25519 and the pure-JavaScript fallback must give the same answers.
const vectors = edgeVectors()
let webcrypto: Ed25519Backend
let noble: Ed25519Backend
let pool: Ed25519Backend

beforeAll(async () => {
  const backend = await createWebCryptoBackend()
  expect(backend, "Chromium's WebCrypto must support Ed25519").toBeDefined()
  webcrypto = backend!
  noble = createNobleBackend()
  pool = await selectBrowserVerifier()
})

const byName = (v: EdgeVector) => `${v.name} -> ${v.valid ? 'accept' : 'reject'}`

describe("Chromium's WebCrypto and noble follow the pinned rule", () => {
  it('runs in a real browser, and selectBrowserBackend picks WebCrypto there', async () => {
    expect(typeof window).toBe('object')
    expect((await selectBrowserBackend()).name).toBe('webcrypto')
    // The tab verifies on Web Workers (WebCrypto there too).
    expect(pool.name).toMatch(/^webcrypto x[1-4] workers$/)
  })

  it.each(vectors.map((v) => [byName(v), v] as const))('%s', async (_, v) => {
    expect(await webcrypto.verifyBatch([v]), 'webcrypto').toEqual([v.valid])
    expect(await noble.verifyBatch([v]), 'noble').toEqual([v.valid])
    expect(await pool.verifyBatch([v]), 'worker pool').toEqual([v.valid])
  })

  it('keeps request order in one batch of every vector (twice, so cached keys are reused)', async () => {
    const all = [...vectors, ...vectors]
    const expected = all.map((v) => v.valid)
    expect(await webcrypto.verifyBatch(all)).toEqual(expected)
    expect(await noble.verifyBatch(all)).toEqual(expected)
    expect(await pool.verifyBatch(all)).toEqual(expected)
  })

  it('the worker pool answers many concurrent callers, each in its own order', async () => {
    const calls = Array.from({ length: 40 }, (_, k) =>
      vectors.slice(k % vectors.length).concat(vectors.slice(0, k % 3)),
    )
    const answers = await Promise.all(calls.map((c) => pool.verifyBatch(c)))
    for (const [k, a] of answers.entries()) expect(a).toEqual(calls[k]!.map((v) => v.valid))
  })

  it('signs the RFC 8032 vectors to their published signatures', async () => {
    for (const v of RFC8032_VECTORS) {
      const seed = hexToBytes(v.secret)
      expect(bytesToHex(await webcrypto.sign(seed, hexToBytes(v.message)))).toBe(v.signature)
      expect(bytesToHex(await noble.sign(seed, hexToBytes(v.message)))).toBe(v.signature)
    }
  })

  it('accepts fresh signatures and rejects every single-bit flip of them, on both backends', async () => {
    for (let i = 0; i < 8; i++) {
      const seed = Uint8Array.from({ length: 32 }, (_, j) => (i * 31 + j * 7) & 0xff)
      const message = Uint8Array.from({ length: 1 + i * 13 }, (_, j) => (i + j * 3) & 0xff)
      const base = { publicKey: publicKeyFromSeed(seed), message, signature: signWithNoble(seed, message) }
      expect(bytesToHex(await webcrypto.sign(seed, message))).toBe(bytesToHex(base.signature))
      const flips = []
      for (const part of ['publicKey', 'signature', 'message'] as const) {
        for (let bit = i; bit < base[part].length * 8; bit += 11) {
          const bytes = Uint8Array.from(base[part])
          bytes[bit >> 3]! ^= 1 << (bit & 7)
          flips.push({ ...base, [part]: bytes })
        }
      }
      expect(await webcrypto.verifyBatch([base, ...flips])).toEqual([true, ...flips.map(() => false)])
      expect(await noble.verifyBatch([base, ...flips])).toEqual([true, ...flips.map(() => false)])
      expect(await pool.verifyBatch([base, ...flips])).toEqual([true, ...flips.map(() => false)])
    }
  })
})
