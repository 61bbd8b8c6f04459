import { decodeBase64, encodeBase64 } from '../encoding/base64'

/** `@<base64 of the 32-byte public key>.ed25519`: an identity, and the id of the feed it signs. */
export type FeedId = `@${string}.ed25519`
/** `%<base64 of sha256>.sha256`: the id of one message. */
export type MessageId = `%${string}.sha256`

const FEED_ID = /^@([A-Za-z0-9+/]{43}=)\.ed25519$/
const MESSAGE_ID = /^%([A-Za-z0-9+/]{43}=)\.sha256$/
const SIGNATURE = /^([A-Za-z0-9+/]{86}==)\.sig\.ed25519$/

export function feedIdFromPublicKey(publicKey: Uint8Array): FeedId {
  return `@${encodeBase64(publicKey)}.ed25519`
}

export function messageIdFromHash(hash: Uint8Array): MessageId {
  return `%${encodeBase64(hash)}.sha256`
}

/**
 * Public keys of recently seen feed ids. The same few hundred ids (authors, senders, recipients)
 * are checked on every message and item; the regular expression and base64 decoding were 3% of a
 * validator's time at its peak. A memo of a pure function, bounded; callers never write to a key.
 */
const KNOWN_KEYS = new Map<string, Uint8Array>()
const KNOWN_KEYS_MAX = 8192

/** The public key of a feed id, or undefined when the id is not canonical. Do not modify it. */
export function publicKeyOfFeedId(id: string): Uint8Array | undefined {
  const known = KNOWN_KEYS.get(id)
  if (known) return known
  const m = FEED_ID.exec(id)
  const key = m ? decodeBase64(m[1]!, 32) : undefined
  if (key) {
    if (KNOWN_KEYS.size >= KNOWN_KEYS_MAX) KNOWN_KEYS.clear()
    KNOWN_KEYS.set(id, key)
  }
  return key
}

export function isFeedId(id: unknown): id is FeedId {
  return typeof id === 'string' && publicKeyOfFeedId(id) !== undefined
}

export function isMessageId(id: unknown): id is MessageId {
  if (typeof id !== 'string') return false
  const m = MESSAGE_ID.exec(id)
  return m !== null && decodeBase64(m[1]!, 32) !== undefined
}

export function encodeSignature(signature: Uint8Array): string {
  return `${encodeBase64(signature)}.sig.ed25519`
}

export function decodeSignature(text: string): Uint8Array | undefined {
  const m = SIGNATURE.exec(text)
  return m ? decodeBase64(m[1]!, 64) : undefined
}
