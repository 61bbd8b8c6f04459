import * as cryptoModule from 'node:crypto'
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
import { isAscii } from '../core/encoding/bytes'
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
  crypto_auth(out: Uint8Array, input: Uint8Array, key: Uint8Array): void
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

/** `crypto.hash` (Node 20.12+): a one-shot digest without a Hash object, half the cost on short inputs. */
const oneShot = (
  cryptoModule as { hash?: (algorithm: string, data: string | Uint8Array, encoding: 'buffer') => Buffer }
).hash

function sha256Of(data: string | Uint8Array): Buffer {
  return oneShot ? oneShot('sha256', data, 'buffer') : createHash('sha256').update(data).digest()
}

/**
 * The network HMAC (HMAC-SHA-512 truncated to 32 bytes, SSB's sign-cap) of a text: libsodium's
 * `crypto_auth` is exactly that function for a 32-byte key, and costs about 2.8 µs against 3.9 µs
 * for a `createHmac` object on a 0.4 KB text; OpenSSL where the addon is missing.
 */
function networkHmacOf(networkKey: Uint8Array): (text: string) => Uint8Array {
  const lib = loadSodium()
  if (lib && networkKey.length === 32) {
    const key = Buffer.from(networkKey)
    return (text) => {
      const out = new Uint8Array(32)
      lib.crypto_auth(out, Buffer.from(text, 'utf8'), key)
      return out
    }
  }
  return (text) =>
    new Uint8Array(createHmac('sha512', networkKey).update(text, 'utf8').digest().subarray(0, 32))
}

/** Message hashing with node:crypto (OpenSSL) and libsodium: several times faster than pure JavaScript. */
export function createNodeHasher(): MessageHasher {
  return {
    name: 'node-crypto',
    async idHashes(texts) {
      // 'latin1' keeps the low byte of each UTF-16 unit: ssb-keys' Buffer.from(text, 'binary').
      // For ASCII text (nearly every message) that is its UTF-8, which the one-shot digest takes.
      return texts.map((t) => new Uint8Array(sha256Of(isAscii(t) ? t : Buffer.from(t, 'latin1'))))
    },
    async signedBytes(unsignedTexts, networkKey) {
      if (!networkKey) return unsignedTexts.map((t) => new Uint8Array(Buffer.from(t, 'utf8')))
      return unsignedTexts.map(networkHmacOf(networkKey))
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
      if (parts.length === 1) return sha256Of(parts[0]!)
      if (oneShot) return sha256Of(Buffer.concat(parts))
      const h = createHash('sha256')
      for (const p of parts) h.update(p)
      return h.digest()
    },
    text(text, prefix) {
      if (!prefix) return sha256Of(text)
      return createHash('sha256').update(prefix).update(text, 'utf8').digest()
    },
  }
}

/** The network HMAC (HMAC-SHA-512-256) of an item's unsigned text, natively. */
export function nativeSignedBytes(networkKey: Uint8Array): SignedBytesOf {
  return networkHmacOf(networkKey)
}
