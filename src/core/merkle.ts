/**
 * Merkle trees with domain-separated hashing (RFC 6962 shape): a leaf is sha256(0x00 || data),
 * an inner node sha256(0x01 || left || right), and a tree of n > 1 leaves splits at the largest
 * power of two below n. Domain separation stops a leaf from posing as an inner node (second
 * preimage); the RFC 6962 split, unlike duplicating the last leaf, gives every list its own root.
 */
import { sha256 } from './crypto/hash'
import { decodeBase64, encodeBase64 } from './encoding/base64'
import { bytesEqual, concatBytes, utf8Encode } from './encoding/bytes'

/** A sha256 digest as text: `&<base64>.sha256` (block ids, Merkle roots, transaction ids). */
export type Digest = `&${string}.sha256`

const DIGEST = /^&([A-Za-z0-9+/]{43}=)\.sha256$/

export const digestFromBytes = (hash: Uint8Array): Digest => `&${encodeBase64(hash)}.sha256`

export function bytesOfDigest(digest: string): Uint8Array | undefined {
  const m = DIGEST.exec(digest)
  return m ? decodeBase64(m[1]!, 32) : undefined
}

export const isDigest = (value: unknown): value is Digest =>
  typeof value === 'string' && bytesOfDigest(value) !== undefined

/** sha256 of the UTF-8 bytes of `text`, as a Digest. */
export const digestOfText = (text: string): Digest => digestFromBytes(sha256(utf8Encode(text)))

const LEAF_PREFIX = Uint8Array.of(0)
const NODE_PREFIX = Uint8Array.of(1)
/** The root of the empty list: sha256 of nothing, as in RFC 6962. */
const EMPTY_ROOT = sha256(new Uint8Array(0))

export const leafHash = (data: Uint8Array): Uint8Array => sha256(concatBytes(LEAF_PREFIX, data))
export const nodeHash = (left: Uint8Array, right: Uint8Array): Uint8Array =>
  sha256(concatBytes(NODE_PREFIX, left, right))

/** Largest power of two strictly below n (n >= 2). */
function splitPoint(n: number): number {
  let k = 1
  while (k * 2 < n) k *= 2
  return k
}

function rootOfHashes(hashes: readonly Uint8Array[], from: number, to: number): Uint8Array {
  const n = to - from
  if (n === 1) return hashes[from]!
  const k = splitPoint(n)
  return nodeHash(rootOfHashes(hashes, from, from + k), rootOfHashes(hashes, from + k, to))
}

/** The root over leaves given as bytes, in order. */
export function merkleRoot(leaves: readonly Uint8Array[]): Uint8Array {
  if (leaves.length === 0) return EMPTY_ROOT
  return rootOfHashes(leaves.map(leafHash), 0, leaves.length)
}

/** The root over leaves given as text (UTF-8), as a Digest: what protocol messages carry. */
export function merkleRootOfTexts(leaves: readonly string[]): Digest {
  return digestFromBytes(merkleRoot(leaves.map(utf8Encode)))
}

/** Sibling hashes from the leaf up to the root (RFC 6962 audit path). */
export function merkleProof(leaves: readonly Uint8Array[], index: number): Uint8Array[] {
  if (!Number.isInteger(index) || index < 0 || index >= leaves.length)
    throw new RangeError('leaf index out of range')
  const hashes = leaves.map(leafHash)
  const path: Uint8Array[] = []
  const walk = (from: number, to: number, i: number): void => {
    const n = to - from
    if (n === 1) return
    const k = splitPoint(n)
    if (i < from + k) {
      walk(from, from + k, i)
      path.push(rootOfHashes(hashes, from + k, to))
    } else {
      walk(from + k, to, i)
      path.push(rootOfHashes(hashes, from, from + k))
    }
  }
  walk(0, leaves.length, index)
  return path
}

/** Checks that `leaf` is at `index` of a list of `size` leaves whose root is `root`. */
export function verifyMerkleProof(
  leaf: Uint8Array,
  index: number,
  size: number,
  proof: readonly Uint8Array[],
  root: Uint8Array,
): boolean {
  if (!Number.isInteger(index) || !Number.isInteger(size) || index < 0 || index >= size) return false
  // Recompute the path shape top-down, then fold the siblings bottom-up.
  const sides: boolean[] = [] // true: the sibling is on the right
  let from = 0
  let to = size
  while (to - from > 1) {
    const k = splitPoint(to - from)
    if (index < from + k) {
      sides.push(true)
      to = from + k
    } else {
      sides.push(false)
      from = from + k
    }
  }
  if (sides.length !== proof.length) return false
  let hash = leafHash(leaf)
  for (let i = proof.length - 1, j = 0; i >= 0; i--, j++) {
    const sibling = proof[j]!
    hash = sides[i] ? nodeHash(hash, sibling) : nodeHash(sibling, hash)
  }
  return bytesEqual(hash, root)
}
