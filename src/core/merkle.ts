/**
 * Merkle trees with domain-separated hashing (RFC 6962 shape): a leaf is sha256(0x00 || data),
 * an inner node sha256(0x01 || left || right), and a tree of n > 1 leaves splits at the largest
 * power of two below n. Domain separation stops a leaf from posing as an inner node (second
 * preimage); the RFC 6962 split, unlike duplicating the last leaf, gives every list its own root.
 */
import { nobleSha256Hash, type Sha256 } from './crypto/hash'
import { decodeBase64, encodeBase64 } from './encoding/base64'
import { bytesEqual } from './encoding/bytes'

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

/**
 * sha256 of the UTF-8 bytes of `text`, as a Digest. Every function here takes the sha256 to use
 * last (noble's by default): a runtime passes its platform's, which gives the same bytes.
 */
export const digestOfText = (text: string, hash: Sha256 = nobleSha256Hash): Digest =>
  digestFromBytes(hash.text(text))

const LEAF_PREFIX = Uint8Array.of(0)
const NODE_PREFIX = Uint8Array.of(1)
/** The root of the empty list: sha256 of nothing, as in RFC 6962. */
const EMPTY_ROOT = nobleSha256Hash.bytes(new Uint8Array(0))

export const leafHash = (data: Uint8Array, hash: Sha256 = nobleSha256Hash): Uint8Array =>
  hash.bytes(LEAF_PREFIX, data)
export const nodeHash = (left: Uint8Array, right: Uint8Array, hash: Sha256 = nobleSha256Hash): Uint8Array =>
  hash.bytes(NODE_PREFIX, left, right)

/** Largest power of two strictly below n (n >= 2). */
function splitPoint(n: number): number {
  let k = 1
  while (k * 2 < n) k *= 2
  return k
}

function rootOfHashes(hashes: readonly Uint8Array[], from: number, to: number, hash: Sha256): Uint8Array {
  const n = to - from
  if (n === 1) return hashes[from]!
  const k = splitPoint(n)
  return nodeHash(rootOfHashes(hashes, from, from + k, hash), rootOfHashes(hashes, from + k, to, hash), hash)
}

/** The root over leaves given as bytes, in order. */
export function merkleRoot(leaves: readonly Uint8Array[], hash: Sha256 = nobleSha256Hash): Uint8Array {
  if (leaves.length === 0) return EMPTY_ROOT
  return rootOfHashes(
    leaves.map((l) => leafHash(l, hash)),
    0,
    leaves.length,
    hash,
  )
}

/** The root over leaves given as text (UTF-8), as a Digest: what protocol messages carry. */
export function merkleRootOfTexts(leaves: readonly string[], hash: Sha256 = nobleSha256Hash): Digest {
  if (leaves.length === 0) return digestFromBytes(EMPTY_ROOT)
  // Leaves hashed from their text: no UTF-8 copy of each first.
  const hashes = leaves.map((l) => hash.text(l, LEAF_PREFIX))
  return digestFromBytes(rootOfHashes(hashes, 0, hashes.length, hash))
}

/** Sibling hashes from the leaf up to the root (RFC 6962 audit path). */
export function merkleProof(leaves: readonly Uint8Array[], index: number): Uint8Array[] {
  if (!Number.isInteger(index) || index < 0 || index >= leaves.length)
    throw new RangeError('leaf index out of range')
  const hashes = leaves.map((l) => leafHash(l))
  const path: Uint8Array[] = []
  const walk = (from: number, to: number, i: number): void => {
    const n = to - from
    if (n === 1) return
    const k = splitPoint(n)
    if (i < from + k) {
      walk(from, from + k, i)
      path.push(rootOfHashes(hashes, from + k, to, nobleSha256Hash))
    } else {
      walk(from + k, to, i)
      path.push(rootOfHashes(hashes, from, from + k, nobleSha256Hash))
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

/**
 * A Merkle root over text leaves of which a few change between roots (the ledger's accounts):
 * leaf and subtree hashes are kept, and `root` rehashes only the subtrees above changed leaves.
 * The same root as `merkleRootOfTexts` over the same leaves. Positions are fixed: a list that
 * grows or reorders needs a new tree.
 */
export class MerkleTextTree {
  private readonly leaves: Uint8Array[]
  /** Subtree hashes by range, `from * (size + 1) + to`. */
  private readonly subtrees = new Map<number, Uint8Array>()
  private changed = new Set<number>()

  constructor(
    texts: readonly string[],
    private readonly hash: Sha256 = nobleSha256Hash,
  ) {
    this.leaves = texts.map((t) => hash.text(t, LEAF_PREFIX))
  }

  get size(): number {
    return this.leaves.length
  }

  update(index: number, text: string): void {
    if (!Number.isInteger(index) || index < 0 || index >= this.leaves.length)
      throw new RangeError('leaf index out of range')
    this.leaves[index] = this.hash.text(text, LEAF_PREFIX)
    this.changed.add(index)
  }

  root(): Digest {
    if (this.leaves.length === 0) return digestFromBytes(EMPTY_ROOT)
    const changed = [...this.changed].sort((a, b) => a - b)
    this.changed = new Set()
    return digestFromBytes(this.subtree(0, this.leaves.length, changed))
  }

  /** `changed`: the changed leaf indexes within [from, to), ascending. */
  private subtree(from: number, to: number, changed: readonly number[]): Uint8Array {
    if (to - from === 1) return this.leaves[from]!
    const key = from * (this.leaves.length + 1) + to
    const kept = this.subtrees.get(key)
    if (kept && changed.length === 0) return kept
    const mid = from + splitPoint(to - from)
    let split = 0
    while (split < changed.length && changed[split]! < mid) split++
    const value = nodeHash(
      this.subtree(from, mid, changed.slice(0, split)),
      this.subtree(mid, to, changed.slice(split)),
      this.hash,
    )
    this.subtrees.set(key, value)
    return value
  }
}
