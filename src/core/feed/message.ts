import type { Ed25519Backend } from '../crypto/ed25519'
import { encodeSignature, type FeedId, type MessageId, messageIdFromHash } from '../identity/ids'
import type { KeyPair } from '../identity/keys'
import { err, ok, type Result } from '../result'
import type { FeedError } from './errors'
import { idHashSync, type MessageHasher, nobleHasher, signedBytesSync } from './hasher'

/** SSB's limit: the canonical JSON (with signature) may have at most 8192 UTF-16 code units. */
export const MAX_MESSAGE_LENGTH = 8192
/** ssb-validate checks sequences with `~~n === n`, so larger ones are invalid there too. */
export const MAX_SEQUENCE = 2 ** 31 - 1

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue }
export interface MessageContent {
  type: string
  [key: string]: JsonValue
}

/** A Secure Scuttlebutt "classic" message (seed 001, listing 3), keys in exactly this order. */
export interface FeedMessage<C extends MessageContent = MessageContent> {
  previous: MessageId | null
  author: FeedId
  sequence: number
  timestamp: number
  hash: 'sha256'
  content: C
  signature: string
}

/** A message whose bytes, shape and signature have been checked. `text` is exactly what was signed and hashed. */
export interface VerifiedMessage<C extends MessageContent = MessageContent> {
  readonly id: MessageId
  readonly text: string
  readonly value: FeedMessage<C>
}

/** What a feed needs to know about its last message to accept the next one. */
export interface FeedHead {
  readonly sequence: number
  readonly id: MessageId
}

export const KEY_ORDER = [
  'previous',
  'author',
  'sequence',
  'timestamp',
  'hash',
  'content',
  'signature',
] as const

/** The canonical text: JSON.stringify with two-space indentation, as SSB signs and hashes it. */
export const encodeCanonical = (value: unknown): string => JSON.stringify(value, null, 2)

/** Message id: sha256 of the canonical text taken as latin1 (ssb-keys' hashing quirk, kept for compatibility). */
export function messageIdOfText(text: string): MessageId {
  return messageIdFromHash(idHashSync(text))
}

/** The bytes the author's key signs: the UTF-8 canonical text without the signature, HMACed with the network key. */
export const signedBytes = signedBytesSync

/**
 * The unsigned text of a canonical signed message: the signature is always the last key, so
 * cutting it off textually gives exactly JSON.stringify of the message without it.
 */
export function unsignedTextOf(signedText: string): string | undefined {
  const at = signedText.lastIndexOf(',\n  "signature": ')
  return at < 0 ? undefined : `${signedText.slice(0, at)}\n}`
}

export function checkContent(content: unknown): Result<MessageContent, FeedError> {
  if (typeof content !== 'object' || content === null || Array.isArray(content))
    return err({ code: 'INVALID_CONTENT', reason: 'content must be a JSON object' })
  const type = (content as { type?: unknown }).type
  if (typeof type !== 'string' || type.length < 3 || type.length > 52)
    return err({ code: 'INVALID_CONTENT', reason: 'content.type must be a string of 3 to 52 characters' })
  return ok(content as MessageContent)
}

export interface CreateMessageInput<C extends MessageContent> {
  readonly keys: KeyPair
  readonly head: FeedHead | null
  readonly content: C
  /** Passed in: the core has no clock. */
  readonly timestamp: number
  readonly networkKey: Uint8Array | null
}

/** Builds and signs the next message of a feed. Fails (typed) for bad content or a message over the size limit. */
export async function createMessage<C extends MessageContent>(
  input: CreateMessageInput<C>,
  ed25519: Ed25519Backend,
  hasher: MessageHasher = nobleHasher,
): Promise<Result<VerifiedMessage<C>, FeedError>> {
  const checked = checkContent(input.content)
  if (!checked.ok) return checked
  if (!Number.isFinite(input.timestamp))
    return err({ code: 'INVALID_FIELD', field: 'timestamp', reason: 'must be a finite number' })
  const sequence = input.head ? input.head.sequence + 1 : 1
  if (sequence > MAX_SEQUENCE)
    return err({ code: 'INVALID_FIELD', field: 'sequence', reason: 'feed is full' })
  const unsigned = {
    previous: input.head ? input.head.id : null,
    author: input.keys.id,
    sequence,
    timestamp: input.timestamp,
    hash: 'sha256' as const,
    content: input.content,
  }
  const unsignedText = encodeCanonical(unsigned)
  // The signature does not change the unsigned text's size class: check the limit before signing.
  const signatureLength = ',\n  "signature": ""'.length + 88 + '.sig.ed25519'.length
  if (unsignedText.length + signatureLength > MAX_MESSAGE_LENGTH)
    return err({
      code: 'MESSAGE_TOO_LARGE',
      size: unsignedText.length + signatureLength,
      limit: MAX_MESSAGE_LENGTH,
    })
  const [toSign] = await hasher.signedBytes([unsignedText], input.networkKey)
  const signature = await ed25519.sign(input.keys.seed, toSign!)
  const value: FeedMessage<C> = { ...unsigned, signature: encodeSignature(signature) }
  const text = encodeCanonical(value)
  const [idHash] = await hasher.idHashes([text])
  return ok({ id: messageIdFromHash(idHash!), text, value })
}
