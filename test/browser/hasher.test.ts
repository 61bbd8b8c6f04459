import { describe, it } from 'vitest'
import { createWebCryptoHasher } from '../../src/crypto/webcrypto'
import { checkHasherAgrees } from '../shared/hasher-agreement'

describe('message hashers in Chromium', () => {
  it('WebCrypto agrees with the pure-JavaScript reference', () => checkHasherAgrees(createWebCryptoHasher()))
})
