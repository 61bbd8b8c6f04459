import { createRequire } from 'node:module'
import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Ed25519Backend, VerifyRequest } from '../../src/core/crypto/ed25519'
import {
  isCanonicalPointEncoding,
  isCanonicalScalar,
  isSmallOrderEncoding,
  L,
  numberToBytesLE,
  P,
  passesEncodingRules,
} from '../../src/core/crypto/ed25519-rule'
import { createNobleBackend, publicKeyFromSeed, signWithNoble } from '../../src/core/crypto/noble'
import { createNodeBackend, createSodiumBackend } from '../../src/crypto/node'
import { createVerifyPool, type PoolBackend } from '../../src/crypto/node-verify-pool'
import { createWebCryptoBackend } from '../../src/crypto/webcrypto'
import {
  bareEquationHolds,
  bytesToHex,
  cofactoredEquationHolds,
  type EdgeVector,
  edgeVectors,
  hexToBytes,
  RFC8032_VECTORS,
  TORSION,
} from '../vectors/ed25519-edge'

const require = createRequire(import.meta.url)
const sodium = require('sodium-native') as {
  crypto_sign_verify_detached(signature: Buffer, message: Buffer, publicKey: Buffer): boolean
  crypto_sign_seed_keypair(publicKey: Buffer, secretKey: Buffer, seed: Buffer): void
  crypto_sign_detached(signature: Buffer, message: Buffer, secretKey: Buffer): void
}

/** The oracle: libsodium's crypto_sign_verify_detached, the verifier SSB itself uses. */
const libsodiumVerifies = (r: VerifyRequest) =>
  sodium.crypto_sign_verify_detached(
    Buffer.from(r.signature),
    Buffer.from(r.message),
    Buffer.from(r.publicKey),
  )

function libsodiumSign(seed: Uint8Array, message: Uint8Array): Uint8Array {
  const pk = Buffer.alloc(32)
  const sk = Buffer.alloc(64)
  sodium.crypto_sign_seed_keypair(pk, sk, Buffer.from(seed))
  const sig = Buffer.alloc(64)
  sodium.crypto_sign_detached(sig, Buffer.from(message), sk)
  return new Uint8Array(sig)
}

const vectors = edgeVectors()
let backends: Ed25519Backend[] = []
let pool: PoolBackend | undefined

beforeAll(async () => {
  const webcrypto = await createWebCryptoBackend()
  expect(webcrypto, "Node's WebCrypto must support Ed25519").toBeDefined()
  const sodiumBackend = createSodiumBackend()
  expect(sodiumBackend.name).toBe('libsodium')
  pool = createVerifyPool(2)
  expect(pool.name).toBe('libsodium x2 workers')
  backends = [createNodeBackend(), createNobleBackend(), webcrypto!, sodiumBackend, pool]
})
afterAll(async () => {
  await pool?.close()
})

const byName = (v: EdgeVector) => `${v.name} -> ${v.valid ? 'accept' : 'reject'}`

describe('edge vectors: libsodium is the reference', () => {
  it('covers every class the pinned rule names', () => {
    const names = vectors.map((v) => v.name).join('\n')
    for (const part of [
      'valid signature',
      'wrong message',
      'non-canonical S',
      'S >= 2^253',
      'small-order A',
      'with the sign bit set',
      'small-order R',
      'non-canonical A',
      'non-canonical R',
      'mixed-order A',
      'mixed-order R',
      'RFC 8032 test 1',
      'RFC 8032 test 2',
      'RFC 8032 test 3',
    ])
      expect(names).toContain(part)
    expect(vectors.filter((v) => v.name.startsWith('small-order A')).length).toBe(10)
    expect(vectors.filter((v) => v.name.startsWith('small-order R')).length).toBe(10)
  })

  it.each(vectors.map((v) => [byName(v), v] as const))('libsodium agrees: %s', (_, v) => {
    expect(libsodiumVerifies(v)).toBe(v.valid)
  })

  it.each(vectors.map((v) => [`${v.name}: ${v.equation}`, v] as const))(
    'the vector is built as described (equation %s)',
    (_, v) => {
      expect(bareEquationHolds(v)).toBe(v.equation === 'holds')
      expect(cofactoredEquationHolds(v)).toBe(v.equation !== 'fails')
    },
  )

  it('the RFC 8032 vectors are transcribed right: each secret derives its public key and signs to its signature', () => {
    for (const v of RFC8032_VECTORS) {
      const seed = hexToBytes(v.secret)
      expect(bytesToHex(publicKeyFromSeed(seed))).toBe(v.publicKey)
      expect(bytesToHex(signWithNoble(seed, hexToBytes(v.message)))).toBe(v.signature)
      expect(bytesToHex(libsodiumSign(seed, hexToBytes(v.message)))).toBe(v.signature)
    }
  })
})

describe('every backend verifies exactly as libsodium does', () => {
  it.each(vectors.map((v) => [byName(v), v] as const))(
    'node-crypto, noble and webcrypto: %s',
    async (_, v) => {
      for (const backend of backends) {
        expect(await backend.verifyBatch([v]), backend.name).toEqual([v.valid])
      }
    },
  )

  it('keeps request order in one batch of every vector (twice, so cached keys are reused)', async () => {
    const expected = [...vectors, ...vectors].map((v) => v.valid)
    for (const backend of backends) {
      expect(await backend.verifyBatch([...vectors, ...vectors]), backend.name).toEqual(expected)
    }
  })

  it('never throws, and rejects, for wrong lengths of key or signature', async () => {
    const v = vectors[0]!
    const bad: VerifyRequest[] = [
      { ...v, publicKey: v.publicKey.subarray(0, 31) },
      { ...v, publicKey: new Uint8Array(33) },
      { ...v, signature: v.signature.subarray(0, 63) },
      { ...v, signature: new Uint8Array(65) },
      { ...v, publicKey: new Uint8Array(0), signature: new Uint8Array(0) },
    ]
    for (const backend of backends)
      expect(await backend.verifyBatch(bad), backend.name).toEqual(bad.map(() => false))
  })

  it('accepts any freshly signed message, as libsodium does (random keys and messages)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.uint8Array({ maxLength: 300 }),
        async (seed, message) => {
          const request = {
            publicKey: publicKeyFromSeed(seed),
            message,
            signature: signWithNoble(seed, message),
          }
          expect(libsodiumVerifies(request)).toBe(true)
          for (const backend of backends)
            expect(await backend.verifyBatch([request]), backend.name).toEqual([true])
        },
      ),
      { numRuns: 150 },
    )
  })

  it('signs deterministically and identically on every backend and in libsodium', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.uint8Array({ maxLength: 200 }),
        async (seed, message) => {
          const expected = bytesToHex(libsodiumSign(seed, message))
          for (const backend of backends)
            expect(bytesToHex(await backend.sign(seed, message)), backend.name).toBe(expected)
        },
      ),
      { numRuns: 60 },
    )
  })

  it('rejects any single-bit flip of the key, the signature or the message, as libsodium does', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.uint8Array({ minLength: 1, maxLength: 100 }),
        fc.constantFrom('publicKey', 'signature', 'message'),
        fc.nat(),
        async (seed, message, part, at) => {
          const request = {
            publicKey: publicKeyFromSeed(seed),
            message,
            signature: signWithNoble(seed, message),
          }
          const bytes = Uint8Array.from(request[part])
          const bit = at % (bytes.length * 8)
          bytes[bit >> 3]! ^= 1 << (bit & 7)
          const flipped = { ...request, [part]: bytes }
          expect(libsodiumVerifies(flipped)).toBe(false)
          for (const backend of backends)
            expect(await backend.verifyBatch([flipped]), backend.name).toEqual([false])
        },
      ),
      { numRuns: 300 },
    )
  })

  it('agrees with libsodium on random garbage keys and signatures (most keys are not on the curve)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.uint8Array({ minLength: 64, maxLength: 64 }),
        async (publicKey, signature) => {
          const request = { publicKey, message: new Uint8Array([1, 2, 3]), signature }
          const expected = libsodiumVerifies(request)
          for (const backend of backends)
            expect(await backend.verifyBatch([request]), backend.name).toEqual([expected])
        },
      ),
      { numRuns: 200 },
    )
  })
})

describe('the byte rules of the pinned rule', () => {
  it('S is canonical exactly when S < L', () => {
    const sig = (s: bigint) => {
      const out = new Uint8Array(64)
      out.set(numberToBytesLE(s), 32)
      return out
    }
    expect(isCanonicalScalar(sig(0n), 32)).toBe(true)
    expect(isCanonicalScalar(sig(L - 1n), 32)).toBe(true)
    expect(isCanonicalScalar(sig(L), 32)).toBe(false)
    expect(isCanonicalScalar(sig(L + 1n), 32)).toBe(false)
    expect(isCanonicalScalar(sig(2n ** 253n), 32)).toBe(false)
    expect(isCanonicalScalar(sig(2n ** 256n - 1n), 32)).toBe(false)
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: 2n ** 256n - 1n }), (s) => {
        expect(isCanonicalScalar(numberToBytesLE(s))).toBe(s < L)
      }),
      { numRuns: 500 },
    )
  })

  it('a point encoding is canonical exactly when y < p, whatever the sign bit', () => {
    const withSign = (y: bigint, sign: boolean) => {
      const b = numberToBytesLE(y)
      if (sign) b[31]! |= 0x80
      return b
    }
    for (const sign of [false, true]) {
      expect(isCanonicalPointEncoding(withSign(0n, sign))).toBe(true)
      expect(isCanonicalPointEncoding(withSign(P - 1n, sign))).toBe(true)
      for (let d = 0n; d < 19n; d++) expect(isCanonicalPointEncoding(withSign(P + d, sign))).toBe(false)
    }
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: 2n ** 255n - 1n }), fc.boolean(), (y, sign) => {
        expect(isCanonicalPointEncoding(withSign(y, sign))).toBe(y < P)
      }),
      { numRuns: 500 },
    )
  })

  it('every encoding of every torsion point is small-order, with or without the sign bit; others are not', () => {
    for (const t of TORSION) {
      const bytes = t.toBytes()
      expect(isSmallOrderEncoding(bytes), bytesToHex(bytes)).toBe(true)
      const flipped = Uint8Array.from(bytes)
      flipped[31]! ^= 0x80
      expect(isSmallOrderEncoding(flipped), bytesToHex(flipped)).toBe(true)
    }
    expect(isSmallOrderEncoding(publicKeyFromSeed(new Uint8Array(32)))).toBe(false)
    expect(isSmallOrderEncoding(numberToBytesLE(2n))).toBe(false)
  })

  it('refuses, by bytes alone, every vector libsodium rejects although its equation holds', () => {
    const carried = vectors.filter((v) => !v.valid && v.equation === 'holds')
    expect(carried.length).toBeGreaterThan(20)
    for (const v of carried) expect(passesEncodingRules(v.publicKey, v.signature), v.name).toBe(false)
    for (const v of vectors.filter((v) => v.valid))
      expect(passesEncodingRules(v.publicKey, v.signature), v.name).toBe(true)
  })

  it('refuses keys and signatures of the wrong length', () => {
    const v = vectors[0]!
    expect(passesEncodingRules(v.publicKey, v.signature)).toBe(true)
    expect(passesEncodingRules(v.publicKey.subarray(0, 31), v.signature)).toBe(false)
    expect(passesEncodingRules(v.publicKey, v.signature.subarray(0, 63))).toBe(false)
  })
})
