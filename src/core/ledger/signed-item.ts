/**
 * Items that travel inside transaction-feed messages (transfers, membership items) are signed by
 * their own author, the same way feed messages are: Ed25519 over the network-keyed HMAC of the
 * canonical text of the item without its `signature` (always the last key). So an item signed for
 * one network is invalid on another, and one item has one spelling and one id.
 */
import type { Ed25519Backend, VerifyRequest } from '../crypto/ed25519'
import { encodeCanonical, signedBytes } from '../feed/message'
import { decodeSignature, encodeSignature, type FeedId, publicKeyOfFeedId } from '../identity/ids'
import type { KeyPair } from '../identity/keys'
import { type Digest, digestOfText } from '../merkle'

/** An item as signed: `signature` is the last key, `<base64 of 64 bytes>.sig.ed25519`. */
export interface SignedItem {
  readonly type: string
  readonly signature: string
}

/** Signs `unsigned` (keys in their canonical order, no signature) with `keys`. */
export async function signItem<T extends Record<string, unknown>>(
  unsigned: T,
  keys: KeyPair,
  networkKey: Uint8Array | null,
  ed25519: Ed25519Backend,
): Promise<T & { signature: string }> {
  const signature = await ed25519.sign(keys.seed, signedBytes(encodeCanonical(unsigned), networkKey))
  return { ...unsigned, signature: encodeSignature(signature) }
}

/**
 * The bytes an item's signer signed, from the canonical text without the signature. The default
 * is the feed layer's (HMAC-SHA-512-256 with the network key, in JavaScript); a runtime may pass
 * the same function from a native library.
 */
export type SignedBytesOf = (unsignedText: string) => Uint8Array

export const defaultSignedBytes =
  (networkKey: Uint8Array | null): SignedBytesOf =>
  (text) =>
    signedBytes(text, networkKey)

/** What the signature check needs, or undefined when the signer id or signature is malformed. */
export function itemVerifyRequest(
  item: SignedItem,
  signer: FeedId,
  bytesOf: SignedBytesOf,
): VerifyRequest | undefined {
  const publicKey = publicKeyOfFeedId(signer)
  const signature = decodeSignature(item.signature)
  if (!publicKey || !signature) return undefined
  const { signature: _, ...unsigned } = item as unknown as Record<string, unknown>
  return { publicKey, message: bytesOf(encodeCanonical(unsigned)), signature }
}

const ids = new WeakMap<object, Digest>()

/** The id of an item: sha256 of its canonical text, signature included (remembered per object). */
export function itemId(item: SignedItem): Digest {
  let id = ids.get(item)
  if (!id) {
    id = digestOfText(encodeCanonical(item))
    ids.set(item, id)
  }
  return id
}

/** True when `value`'s own keys are exactly `keys`, in that order (one spelling per item). */
export function hasExactKeys(value: unknown, keys: readonly string[]): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false
  const own = Object.keys(value)
  return own.length === keys.length && own.every((k, i) => k === keys[i])
}

export const isPositiveSafeInteger = (v: unknown): v is number =>
  typeof v === 'number' && Number.isSafeInteger(v) && v >= 1
