import { hmac } from '@noble/hashes/hmac.js'
import { sha256 as nobleSha256, sha512 } from '@noble/hashes/sha2.js'

export const sha256 = (bytes: Uint8Array): Uint8Array => nobleSha256(bytes)

/**
 * HMAC-SHA-512-256: the first 32 bytes of HMAC-SHA-512. It is libsodium's crypto_auth, which
 * SSB uses to bind a message's signature to a network key (ssb-keys' hmac_key).
 */
export function networkHmac(networkKey: Uint8Array, bytes: Uint8Array): Uint8Array {
  return hmac(sha512, networkKey, bytes).subarray(0, 32)
}
