import { networkHmac, sha256 } from '../crypto/hash'
import { latin1Bytes, utf8Encode } from '../encoding/bytes'

/**
 * Message hashing for whole batches, so a platform can use native code: node:crypto in Node,
 * WebCrypto (off the main thread) in the browser. The pure-JavaScript one is the default and the
 * reference; all give identical bytes (test/unit/hasher.test.ts, test/browser/hasher.test.ts).
 */
export interface MessageHasher {
  readonly name: string
  /** sha256 of each signed text's latin1 bytes: the message ids, before base64. */
  idHashes(texts: readonly string[]): Promise<Uint8Array[]>
  /** What the author signs: HMAC-SHA-512-256(network key, UTF-8 unsigned text), or just the UTF-8 bytes without a key. */
  signedBytes(unsignedTexts: readonly string[], networkKey: Uint8Array | null): Promise<Uint8Array[]>
}

export const idHashSync = (text: string): Uint8Array => sha256(latin1Bytes(text))

export function signedBytesSync(unsignedText: string, networkKey: Uint8Array | null): Uint8Array {
  const bytes = utf8Encode(unsignedText)
  return networkKey ? networkHmac(networkKey, bytes) : bytes
}

export const nobleHasher: MessageHasher = {
  name: 'noble',
  async idHashes(texts) {
    return texts.map(idHashSync)
  },
  async signedBytes(unsignedTexts, networkKey) {
    return unsignedTexts.map((t) => signedBytesSync(t, networkKey))
  },
}
