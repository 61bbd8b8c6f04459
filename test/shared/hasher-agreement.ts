/** One agreement check for every MessageHasher, run in Node (test/unit) and in Chromium (test/browser). */
import fc from 'fast-check'
import { expect } from 'vitest'
import { idHashSync, type MessageHasher, signedBytesSync } from '../../src/core/feed/hasher'

const KEY = Uint8Array.from({ length: 32 }, (_, i) => i * 7)

/** Strings that exercise the latin1 quirk: ASCII, accents, CJK, emoji, lone surrogates. */
export const textArbitrary = fc.oneof(
  fc.string({ unit: 'grapheme', maxLength: 300 }),
  fc.string({ unit: 'binary', maxLength: 300 }),
  fc.constantFrom('', 'é', '✓ 🎉', '\ud800', 'x'.repeat(9000)),
)

export async function checkHasherAgrees(hasher: MessageHasher): Promise<void> {
  await fc.assert(
    fc.asyncProperty(fc.array(textArbitrary, { maxLength: 20 }), async (texts) => {
      const ids = await hasher.idHashes(texts)
      const keyed = await hasher.signedBytes(texts, KEY)
      const plain = await hasher.signedBytes(texts, null)
      texts.forEach((t, i) => {
        expect(ids[i]).toEqual(idHashSync(t))
        expect(keyed[i]).toEqual(signedBytesSync(t, KEY))
        expect(plain[i]).toEqual(signedBytesSync(t, null))
      })
    }),
    { numRuns: 60 },
  )
}
