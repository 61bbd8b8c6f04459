import { hmac } from '@noble/hashes/hmac.js'
import { sha256 as nobleSha256, sha512 } from '@noble/hashes/sha2.js'
import { concatBytes, utf8Encode } from '../encoding/bytes'

export const sha256 = (bytes: Uint8Array): Uint8Array => nobleSha256(bytes)

/**
 * The sha256 behind the consensus core's digests (item ids, Merkle roots), passed in so a platform
 * can use native code: a tenth of an in-process validator's time went to hashing in JavaScript.
 * noble's is the default and the reference; every implementation gives the same bytes
 * (test/unit/sha256.test.ts). Pure: no state between calls.
 */
export interface Sha256 {
  readonly name: string
  /** sha256 of the bytes of `parts`, one after the other. */
  bytes(...parts: readonly Uint8Array[]): Uint8Array
  /** sha256 of `prefix` (when given) followed by the UTF-8 bytes of `text`. */
  text(text: string, prefix?: Uint8Array): Uint8Array
}

export const nobleSha256Hash: Sha256 = {
  name: 'noble',
  bytes: (...parts) => nobleSha256(parts.length === 1 ? parts[0]! : concatBytes(...parts)),
  text: (text, prefix) => nobleSha256(prefix ? concatBytes(prefix, utf8Encode(text)) : utf8Encode(text)),
}

/**
 * HMAC-SHA-512-256: the first 32 bytes of HMAC-SHA-512. It is libsodium's crypto_auth, which
 * SSB uses to bind a message's signature to a network key (ssb-keys' hmac_key).
 */
export function networkHmac(networkKey: Uint8Array, bytes: Uint8Array): Uint8Array {
  return hmac(sha512, networkKey, bytes).subarray(0, 32)
}
