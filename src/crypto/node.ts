import {
  createHash,
  createHmac,
  createPrivateKey,
  createPublicKey,
  type KeyObject,
  sign,
  verify,
} from 'node:crypto'
import type { Ed25519Backend, VerifyRequest } from '../core/crypto/ed25519'
import { passesEncodingRules } from '../core/crypto/ed25519-rule'
import type { MessageHasher } from '../core/feed/hasher'
import type { SignedBytesOf } from '../core/ledger/signed-item'

const SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex')
const PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex')
const MAX_CACHED_KEYS = 20_000

/**
 * Ed25519 through Node's crypto (OpenSSL), synchronous and without a native addon. OpenSSL does
 * the cofactorless check and S < L; `passesEncodingRules` adds the rest of the pinned rule.
 */
export function createNodeBackend(): Ed25519Backend {
  const publicKeys = new Map<string, KeyObject | null>()
  const privateKeys = new Map<string, KeyObject>()

  const publicKey = (bytes: Uint8Array): KeyObject | null => {
    const k = Buffer.from(bytes).toString('latin1')
    let key = publicKeys.get(k)
    if (key === undefined) {
      if (publicKeys.size >= MAX_CACHED_KEYS) publicKeys.clear()
      try {
        key = createPublicKey({ key: Buffer.concat([SPKI_PREFIX, bytes]), format: 'der', type: 'spki' })
      } catch {
        key = null
      }
      publicKeys.set(k, key)
    }
    return key
  }

  const verifyOne = (r: VerifyRequest): boolean => {
    if (!passesEncodingRules(r.publicKey, r.signature)) return false
    const key = publicKey(r.publicKey)
    if (!key) return false
    try {
      return verify(null, r.message, key, r.signature)
    } catch {
      return false
    }
  }

  return {
    name: 'node-crypto',
    async verifyBatch(requests) {
      return requests.map(verifyOne)
    },
    async sign(seed, message) {
      const k = Buffer.from(seed).toString('latin1')
      let key = privateKeys.get(k)
      if (!key) {
        key = createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, seed]), format: 'der', type: 'pkcs8' })
        privateKeys.set(k, key)
      }
      return new Uint8Array(sign(null, message, key))
    },
  }
}

/** Message hashing with node:crypto (OpenSSL): several times faster than pure JavaScript. */
export function createNodeHasher(): MessageHasher {
  return {
    name: 'node-crypto',
    async idHashes(texts) {
      // 'latin1' keeps the low byte of each UTF-16 unit: ssb-keys' Buffer.from(text, 'binary').
      return texts.map((t) => new Uint8Array(createHash('sha256').update(t, 'latin1').digest()))
    },
    async signedBytes(unsignedTexts, networkKey) {
      if (!networkKey) return unsignedTexts.map((t) => new Uint8Array(Buffer.from(t, 'utf8')))
      return unsignedTexts.map(
        (t) => new Uint8Array(createHmac('sha512', networkKey).update(t, 'utf8').digest().subarray(0, 32)),
      )
    },
  }
}

/** The network HMAC (HMAC-SHA-512-256) of an item's unsigned text through Node's crypto. */
export function nativeSignedBytes(networkKey: Uint8Array): SignedBytesOf {
  return (text) =>
    new Uint8Array(createHmac('sha512', networkKey).update(text, 'utf8').digest().subarray(0, 32))
}
