import {
  createHash,
  createHmac,
  createPrivateKey,
  createPublicKey,
  type KeyObject,
  sign,
  verify,
} from 'node:crypto'
import { createRequire } from 'node:module'
import type { Ed25519Backend, VerifyRequest } from '../core/crypto/ed25519'
import { passesEncodingRules } from '../core/crypto/ed25519-rule'
import type { Sha256 } from '../core/crypto/hash'
import type { MessageHasher } from '../core/feed/hasher'
import type { SignedBytesOf } from '../core/ledger/signed-item'

const SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex')
const PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex')
const MAX_CACHED_KEYS = 20_000

/** A signing key made once per seed: a node signs with the same few keys over and over. */
function cachedBySeed<K>(make: (seed: Uint8Array) => K): (seed: Uint8Array) => K {
  const keys = new Map<string, K>()
  return (seed) => {
    const k = Buffer.from(seed).toString('latin1')
    let key = keys.get(k)
    if (key === undefined) {
      key = make(seed)
      keys.set(k, key)
    }
    return key
  }
}

/**
 * Ed25519 through Node's crypto (OpenSSL), synchronous and without a native addon. OpenSSL does
 * the cofactorless check and S < L; `passesEncodingRules` adds the rest of the pinned rule.
 */
export function createNodeBackend(): Ed25519Backend {
  const publicKeys = new Map<string, KeyObject | null>()
  const privateKey = cachedBySeed((seed) =>
    createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, seed]), format: 'der', type: 'pkcs8' }),
  )

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
      return new Uint8Array(sign(null, message, privateKey(seed)))
    },
  }
}

interface Sodium {
  crypto_sign_verify_detached(signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array): boolean
  crypto_sign_seed_keypair(publicKey: Uint8Array, secretKey: Uint8Array, seed: Uint8Array): void
  crypto_sign_detached(signature: Uint8Array, message: Uint8Array, secretKey: Uint8Array): void
}

const requireHere = createRequire(import.meta.url)
let sodium: Sodium | null | undefined

/** libsodium through sodium-native (a prebuilt native addon), or null where it cannot load. */
export function loadSodium(): Sodium | null {
  if (sodium === undefined) {
    try {
      sodium = requireHere('sodium-native') as Sodium
    } catch {
      sodium = null
    }
  }
  return sodium
}

/** Where the sodium-native package is, for worker threads that load it themselves. */
export function sodiumPath(): string | null {
  try {
    return requireHere.resolve('sodium-native')
  } catch {
    return null
  }
}

/**
 * Ed25519 through libsodium: the pinned rule's own verifier (SSB verifies with it), and on our
 * machines twice as fast as OpenSSL's (15k against 7k verifies per second per core). The byte
 * rules still run first, as for every backend. Falls back to `createNodeBackend` (OpenSSL) where
 * the addon does not load.
 */
export function createSodiumBackend(): Ed25519Backend {
  const lib = loadSodium()
  if (!lib) return createNodeBackend()
  const secretKeyOf = cachedBySeed((seed) => {
    const secretKey = Buffer.alloc(64)
    lib.crypto_sign_seed_keypair(Buffer.alloc(32), secretKey, seed)
    return secretKey
  })
  const verifyOne = (r: VerifyRequest): boolean =>
    passesEncodingRules(r.publicKey, r.signature) &&
    lib.crypto_sign_verify_detached(r.signature, r.message, r.publicKey)
  return {
    name: 'libsodium',
    async verifyBatch(requests) {
      return requests.map(verifyOne)
    },
    async sign(seed, message) {
      const secretKey = secretKeyOf(seed)
      const signature = new Uint8Array(64)
      lib.crypto_sign_detached(signature, message, secretKey)
      return signature
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

/**
 * The consensus core's sha256 through Node's crypto: three to four times noble's speed on the
 * core's short inputs (item texts, Merkle nodes), and text goes in without a UTF-8 copy first.
 */
export function createNodeSha256(): Sha256 {
  return {
    name: 'node-crypto',
    bytes(...parts) {
      const h = createHash('sha256')
      for (const p of parts) h.update(p)
      return h.digest()
    },
    text(text, prefix) {
      const h = createHash('sha256')
      if (prefix) h.update(prefix)
      return h.update(text, 'utf8').digest()
    },
  }
}

/** The network HMAC (HMAC-SHA-512-256) of an item's unsigned text through Node's crypto. */
export function nativeSignedBytes(networkKey: Uint8Array): SignedBytesOf {
  return (text) =>
    new Uint8Array(createHmac('sha512', networkKey).update(text, 'utf8').digest().subarray(0, 32))
}
