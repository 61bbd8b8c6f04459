import * as ed from '@noble/ed25519'
import { sha512 } from '@noble/hashes/sha2.js'
import { bytesEqual, concatBytes } from '../encoding/bytes'
import type { Ed25519Backend, VerifyRequest } from './ed25519'
import { bytesToNumberLE, L, passesEncodingRules } from './ed25519-rule'

// noble's synchronous API needs a SHA-512; setting it is idempotent.
ed.hashes.sha512 = sha512

export function publicKeyFromSeed(seed: Uint8Array): Uint8Array {
  return ed.getPublicKey(seed)
}

export function signWithNoble(seed: Uint8Array, message: Uint8Array): Uint8Array {
  return ed.sign(message, seed)
}

/**
 * The pinned rule in pure JavaScript: rules 1-3 as byte checks, then the cofactorless equation
 * compared by bytes. noble's own `verify` uses the cofactored equation, which accepts a few
 * signatures that libsodium, OpenSSL and WebCrypto reject, so it is not used here.
 */
export function verifyPinned(request: VerifyRequest): boolean {
  const { publicKey, message, signature } = request
  if (!passesEncodingRules(publicKey, signature)) return false
  let A: ed.Point
  try {
    A = ed.Point.fromBytes(publicKey, false)
  } catch {
    return false
  }
  const R = signature.subarray(0, 32)
  const s = bytesToNumberLE(signature.subarray(32, 64))
  const k = bytesToNumberLE(sha512(concatBytes(R, publicKey, message))) % L
  const SB = s === 0n ? ed.Point.ZERO : ed.Point.BASE.multiply(s, false)
  const kA = k === 0n ? ed.Point.ZERO : A.multiply(k, false)
  return bytesEqual(SB.subtract(kA).toBytes(), R)
}

/** Fallback backend where WebCrypto lacks Ed25519, and the test oracle for the others. */
export function createNobleBackend(): Ed25519Backend {
  return {
    name: 'noble',
    async verifyBatch(requests) {
      return requests.map(verifyPinned)
    },
    async sign(seed, message) {
      return signWithNoble(seed, message)
    },
  }
}
