/**
 * Items that travel inside transaction-feed messages (transfers, membership items) are signed by
 * their own author, the same way feed messages are: Ed25519 over the network-keyed HMAC of the
 * canonical text of the item without its `signature` (always the last key). So an item signed for
 * one network is invalid on another, and one item has one spelling and one id.
 */
import type { Ed25519Backend, VerifyRequest } from '../crypto/ed25519'
import type { Sha256 } from '../crypto/hash'
import { encodeCanonical, signedBytes, unsignedTextOf } from '../feed/message'
import { decodeSignature, encodeSignature, type FeedId, publicKeyOfFeedId } from '../identity/ids'
import type { KeyPair } from '../identity/keys'
import { type Digest, digestOfText } from '../merkle'

/** An item as signed: `signature` is the last key, `<base64 of 64 bytes>.sig.ed25519`. */
export interface SignedItem {
  readonly type: string
  readonly signature: string
}

/**
 * Signs `unsigned` (keys in their canonical order, no signature) with `keys`. `bytesOf`, the same
 * network HMAC from a native library, saves the JavaScript one (a wallet signs every transfer).
 */
export async function signItem<T extends Record<string, unknown>>(
  unsigned: T,
  keys: KeyPair,
  networkKey: Uint8Array | null,
  ed25519: Ed25519Backend,
  bytesOf?: SignedBytesOf,
): Promise<T & { signature: string }> {
  const text = encodeCanonical(unsigned)
  const signature = await ed25519.sign(keys.seed, bytesOf ? bytesOf(text) : signedBytes(text, networkKey))
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

/**
 * What the signature check needs, or undefined when the signer id or signature is malformed.
 * `signedText`, the item's canonical text when the caller has it, saves encoding it again.
 */
export function itemVerifyRequest(
  item: SignedItem,
  signer: FeedId,
  bytesOf: SignedBytesOf,
  signedText?: string,
): VerifyRequest | undefined {
  const publicKey = publicKeyOfFeedId(signer)
  const signature = decodeSignature(item.signature)
  if (!publicKey || !signature) return undefined
  return { publicKey, message: bytesOf(unsignedItemText(item, signedText)), signature }
}

/**
 * The canonical text of the item without its signature. With `signature` the last key it is the
 * signed text cut before that key (JSON escapes every newline inside a string, so the cut is
 * exact); otherwise it is encoded again without the key.
 */
function unsignedItemText(item: SignedItem, signedText: string | undefined): string {
  const keys = Object.keys(item)
  if (signedText !== undefined && keys[keys.length - 1] === 'signature') {
    const cut = unsignedTextOf(signedText)
    if (cut !== undefined) return cut
  }
  const { signature: _, ...unsigned } = item as unknown as Record<string, unknown>
  return encodeCanonical(unsigned)
}

const ids = new WeakMap<object, Digest>()

/**
 * The id of an item: sha256 of its canonical text, signature included (remembered per object).
 * `hash` is the platform's sha256 (noble's by default; all give the same id).
 */
export function itemId(item: SignedItem, hash?: Sha256): Digest {
  let id = ids.get(item)
  if (!id) {
    id = digestOfText(encodeCanonical(item), hash)
    ids.set(item, id)
  }
  return id
}

/** The id and the canonical text of an item: a check needs both, and the text costs an encoding. */
export function itemIdAndText(item: SignedItem, hash?: Sha256): { id: Digest; text: string } {
  const text = encodeCanonical(item)
  let id = ids.get(item)
  if (!id) {
    id = digestOfText(text, hash)
    ids.set(item, id)
  }
  return { id, text }
}

/** True when `value`'s own keys are exactly `keys`, in that order (one spelling per item). */
export function hasExactKeys(value: unknown, keys: readonly string[]): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false
  const own = Object.keys(value)
  return own.length === keys.length && own.every((k, i) => k === keys[i])
}

export const isPositiveSafeInteger = (v: unknown): v is number =>
  typeof v === 'number' && Number.isSafeInteger(v) && v >= 1
