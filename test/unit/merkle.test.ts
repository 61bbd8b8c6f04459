import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { sha256 } from '../../src/core/crypto/hash'
import { concatBytes, utf8Encode } from '../../src/core/encoding/bytes'
import {
  bytesOfDigest,
  digestFromBytes,
  digestOfText,
  isDigest,
  leafHash,
  MerkleTextTree,
  merkleProof,
  merkleRoot,
  merkleRootOfTexts,
  nodeHash,
  verifyMerkleProof,
} from '../../src/core/merkle'

const leaves = (n: number) => Array.from({ length: n }, (_, i) => utf8Encode(`leaf ${i}`))

describe('merkle', () => {
  it('empty list: sha256 of nothing; one leaf: its domain-separated hash', () => {
    expect(merkleRoot([])).toEqual(sha256(new Uint8Array(0)))
    const [a] = leaves(1)
    expect(merkleRoot([a!])).toEqual(sha256(concatBytes(Uint8Array.of(0), a!)))
  })

  it('splits at the largest power of two below n (RFC 6962 shape)', () => {
    const l = leaves(3).map((l) => leafHash(l))
    expect(merkleRoot(leaves(3))).toEqual(nodeHash(nodeHash(l[0]!, l[1]!), l[2]!))
    const l5 = leaves(5).map((l) => leafHash(l))
    const left = nodeHash(nodeHash(l5[0]!, l5[1]!), nodeHash(l5[2]!, l5[3]!))
    expect(merkleRoot(leaves(5))).toEqual(nodeHash(left, l5[4]!))
  })

  it('domain separation: a leaf equal to an inner node encoding gives a different root', () => {
    const [a, b] = leaves(2)
    const inner = concatBytes(leafHash(a!), leafHash(b!))
    expect(merkleRoot([inner])).not.toEqual(merkleRoot([a!, b!]))
  })

  it('no duplicate-last-leaf ambiguity: [a, b, c] and [a, b, c, c] differ', () => {
    const l = leaves(3)
    expect(merkleRoot(l)).not.toEqual(merkleRoot([...l, l[2]!]))
  })

  it('order matters', () => {
    const l = leaves(4)
    expect(merkleRoot(l)).not.toEqual(merkleRoot([l[1]!, l[0]!, l[2]!, l[3]!]))
  })

  it('proofs verify for every leaf of every size up to 17, and fail when tampered', () => {
    for (let n = 1; n <= 17; n++) {
      const l = leaves(n)
      const root = merkleRoot(l)
      for (let i = 0; i < n; i++) {
        const proof = merkleProof(l, i)
        expect(verifyMerkleProof(l[i]!, i, n, proof, root)).toBe(true)
        expect(verifyMerkleProof(utf8Encode('other'), i, n, proof, root)).toBe(false)
        if (n > 1) expect(verifyMerkleProof(l[i]!, (i + 1) % n, n, proof, root)).toBe(false)
        if (proof.length > 0) {
          const bad = proof.map((p) => Uint8Array.from(p))
          bad[0]![0]! ^= 1
          expect(verifyMerkleProof(l[i]!, i, n, bad, root)).toBe(false)
        }
      }
    }
    expect(verifyMerkleProof(utf8Encode('x'), 0, 0, [], merkleRoot([]))).toBe(false)
    expect(() => merkleProof(leaves(2), 2)).toThrow(RangeError)
  })

  it('digests: text form round-trips and rejects non-canonical text', () => {
    const d = digestFromBytes(sha256(utf8Encode('x')))
    expect(isDigest(d)).toBe(true)
    expect(bytesOfDigest(d)).toEqual(sha256(utf8Encode('x')))
    expect(digestOfText('x')).toBe(d)
    expect(isDigest(d.replace('&', '%'))).toBe(false)
    expect(isDigest('&abc.sha256')).toBe(false)
    expect(merkleRootOfTexts(['a', 'b'])).toBe(
      digestFromBytes(merkleRoot([utf8Encode('a'), utf8Encode('b')])),
    )
  })

  it('a kept tree with leaves changed in place has the root of the whole list, after every change', () => {
    fc.assert(
      fc.property(
        fc.array(fc.string({ maxLength: 12 }), { minLength: 0, maxLength: 70 }),
        fc.array(fc.array(fc.tuple(fc.nat(), fc.string({ maxLength: 12 })), { maxLength: 6 }), {
          maxLength: 6,
        }),
        (initial, batches) => {
          const texts = [...initial]
          const tree = new MerkleTextTree(texts)
          expect(tree.root()).toBe(merkleRootOfTexts(texts))
          for (const batch of batches) {
            if (texts.length === 0) break
            for (const [at, text] of batch) {
              texts[at % texts.length] = text
              tree.update(at % texts.length, text)
            }
            expect(tree.root()).toBe(merkleRootOfTexts(texts))
          }
        },
      ),
    )
    expect(() => new MerkleTextTree(['a']).update(1, 'b')).toThrow(RangeError)
  })
})
