import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { nobleSha256Hash } from '../../src/core/crypto/hash'
import { concatBytes, utf8Encode } from '../../src/core/encoding/bytes'
import { encodeCanonical } from '../../src/core/feed/message'
import { keyPairFromSeed } from '../../src/core/identity/keys'
import { createTransfer } from '../../src/core/ledger/payments'
import { itemId, itemVerifyRequest, type SignedItem } from '../../src/core/ledger/signed-item'
import { digestOfText, merkleRoot, merkleRootOfTexts } from '../../src/core/merkle'
import { createNodeBackend, createNodeSha256, nativeSignedBytes } from '../../src/crypto/node'

const native = createNodeSha256()
const bytes = fc.uint8Array({ maxLength: 300 })
const text = fc.oneof(
  fc.string({ unit: 'grapheme', maxLength: 200 }),
  fc.string({ unit: 'binary', maxLength: 100 }), // lone surrogates: both encode them as U+FFFD
)

describe('the core sha256: native and noble give identical bytes', () => {
  it('bytes of one part or several', () => {
    fc.assert(
      fc.property(fc.array(bytes, { minLength: 1, maxLength: 4 }), (parts) => {
        expect(Buffer.from(native.bytes(...parts))).toEqual(Buffer.from(nobleSha256Hash.bytes(...parts)))
        expect(Buffer.from(native.bytes(...parts))).toEqual(
          Buffer.from(nobleSha256Hash.bytes(concatBytes(...parts))),
        )
      }),
    )
  })

  it('text, with and without a prefix, as its UTF-8 bytes', () => {
    fc.assert(
      fc.property(text, fc.option(bytes, { nil: undefined }), (t, prefix) => {
        const expected = nobleSha256Hash.bytes(...(prefix ? [prefix] : []), utf8Encode(t))
        expect(Buffer.from(native.text(t, prefix))).toEqual(Buffer.from(expected))
        expect(Buffer.from(nobleSha256Hash.text(t, prefix))).toEqual(Buffer.from(expected))
      }),
    )
  })

  it('Merkle roots and digests: the same with either', () => {
    fc.assert(
      fc.property(fc.array(text, { maxLength: 40 }), (leaves) => {
        expect(merkleRootOfTexts(leaves, native)).toBe(merkleRootOfTexts(leaves))
        // The text form hashes leaves from their text: the same root as from their bytes.
        const fromBytes = merkleRoot(leaves.map(utf8Encode))
        expect(merkleRootOfTexts(leaves)).toBe(`&${Buffer.from(fromBytes).toString('base64')}.sha256`)
        for (const leaf of leaves.slice(0, 3)) expect(digestOfText(leaf, native)).toBe(digestOfText(leaf))
      }),
    )
  })
})

describe('item ids and signed bytes from one canonical text', () => {
  const key = Uint8Array.from({ length: 32 }, (_, i) => i)
  const keys = keyPairFromSeed(new Uint8Array(32).fill(9))

  it('an item id is the same with either sha256 (a fresh object each time: ids are remembered)', async () => {
    const make = () =>
      createTransfer(
        { keys, to: keys.id, amount: 7, nonce: 3 },
        key,
        createNodeBackend(),
      ) as Promise<SignedItem>
    const a = await make()
    const b = JSON.parse(JSON.stringify(a)) as SignedItem
    expect(itemId(a, native)).toBe(itemId(b))
  })

  it('the unsigned text cut from the signed text is exactly the re-encoding without the signature', () => {
    fc.assert(
      fc.property(
        fc.dictionary(
          fc.string({ minLength: 1, maxLength: 8 }).filter((k) => k !== 'signature' && k !== '__proto__'),
          fc.oneof(text, fc.integer(), fc.array(text, { maxLength: 3 })),
          { maxKeys: 5 },
        ),
        fc.uint8Array({ minLength: 64, maxLength: 64 }),
        (fields, sig) => {
          const signature = `${Buffer.from(sig).toString('base64')}.sig.ed25519`
          const item = { ...fields, signature } as unknown as SignedItem
          const { signature: _, ...unsigned } = item as unknown as Record<string, unknown>
          const fromCut = itemVerifyRequest(item, keys.id, utf8Encode, encodeCanonical(item))
          const reEncoded = itemVerifyRequest(item, keys.id, utf8Encode)
          expect(fromCut).toBeDefined()
          expect(fromCut?.message).toEqual(reEncoded?.message)
          expect(new TextDecoder().decode(fromCut!.message)).toBe(encodeCanonical(unsigned))
          // With the network HMAC: the same bytes as before the cut was used.
          const bytesOf = nativeSignedBytes(key)
          expect(itemVerifyRequest(item, keys.id, bytesOf, encodeCanonical(item))?.message).toEqual(
            bytesOf(encodeCanonical(unsigned)),
          )
        },
      ),
    )
  })
})
