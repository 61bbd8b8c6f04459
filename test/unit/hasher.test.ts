import { createRequire } from 'node:module'
import { describe, expect, it } from 'vitest'
import { idHashSync, signedBytesSync } from '../../src/core/feed/hasher'
import { createNodeHasher, nativeSignedBytes } from '../../src/crypto/node'
import { createWebCryptoHasher } from '../../src/crypto/webcrypto'
import { checkHasherAgrees } from '../shared/hasher-agreement'

const require = createRequire(import.meta.url)
const ssbKeys = require('ssb-keys') as { hash(data: string): string }
const sodium = require('sodium-native') as {
  crypto_auth(out: Buffer, input: Buffer, key: Buffer): void
  crypto_auth_BYTES: number
}

describe('message hashers give identical bytes', () => {
  it('node-crypto agrees with the pure-JavaScript reference', () => checkHasherAgrees(createNodeHasher()))
  it('WebCrypto (Node) agrees with the pure-JavaScript reference', () =>
    checkHasherAgrees(createWebCryptoHasher()))

  it("the items' native network HMAC agrees with the reference", () => {
    const key = Buffer.alloc(32, 7)
    const native = nativeSignedBytes(key)
    for (const text of ['{"a": 1}', 'héllo ✓ 🎉', '\ud800 lone', '', 'x'.repeat(5000)])
      expect(native(text)).toEqual(signedBytesSync(text, key))
  })

  it('the reference agrees with ssb-keys (ids, latin1 quirk) and libsodium crypto_auth (network HMAC)', () => {
    const key = Buffer.alloc(32, 5)
    for (const text of ['{"a": 1}', 'héllo ✓ 🎉', '\ud800 lone', '中文']) {
      expect(`${Buffer.from(idHashSync(text)).toString('base64')}.sha256`).toBe(ssbKeys.hash(text))
      const mac = Buffer.alloc(sodium.crypto_auth_BYTES)
      sodium.crypto_auth(mac, Buffer.from(text, 'utf8'), key)
      expect(Buffer.from(signedBytesSync(text, key))).toEqual(mac)
    }
  })
})
