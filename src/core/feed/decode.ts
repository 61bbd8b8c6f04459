import type { VerifyRequest } from '../crypto/ed25519'
import { decodeSignature, isFeedId, isMessageId, messageIdFromHash, publicKeyOfFeedId } from '../identity/ids'
import { err, ok, type Result } from '../result'
import type { FeedError } from './errors'
import { idHashSync, signedBytesSync } from './hasher'
import {
  checkContent,
  encodeCanonical,
  type FeedMessage,
  KEY_ORDER,
  MAX_MESSAGE_LENGTH,
  MAX_SEQUENCE,
  unsignedTextOf,
  type VerifiedMessage,
} from './message'

/** A message that passed every check but its signature; `verify` is what the signature check needs. */
export interface DecodedMessage extends VerifiedMessage {
  readonly verify: VerifyRequest
}

/** A message whose shape and bytes are checked, before any hashing: what a MessageHasher completes. */
export interface CheckedFields {
  readonly text: string
  /** The canonical text without the signature: what is HMACed and signed. */
  readonly unsigned: string
  readonly value: FeedMessage
  readonly signature: Uint8Array
}

/** Completes checked fields with their id and signed bytes (from a MessageHasher) into a DecodedMessage. */
export function completeDecoded(
  fields: CheckedFields,
  idHash: Uint8Array,
  signed: Uint8Array,
): DecodedMessage {
  return {
    id: messageIdFromHash(idHash),
    text: fields.text,
    value: fields.value,
    verify: {
      publicKey: publicKeyOfFeedId(fields.value.author)!,
      message: signed,
      signature: fields.signature,
    },
  }
}

/**
 * Decodes one message from the exact text received and runs every check that needs no state and
 * no curve arithmetic. The size limit is applied before parsing; the text must be the canonical
 * encoding of what it parses to, so the bytes we hash and verify are the bytes we were sent.
 */
export function decodeMessage(
  text: unknown,
  networkKey: Uint8Array | null,
): Result<DecodedMessage, FeedError> {
  const fields = checkMessageFields(text)
  if (!fields.ok) return fields
  return ok(
    completeDecoded(
      fields.value,
      idHashSync(fields.value.text),
      signedBytesSync(fields.value.unsigned, networkKey),
    ),
  )
}

/** Every stateless check of `decodeMessage`, without the hashing (which a batch hasher can do natively). */
export function checkMessageFields(text: unknown): Result<CheckedFields, FeedError> {
  if (typeof text !== 'string') return err({ code: 'MALFORMED_JSON', reason: 'a message is JSON text' })
  if (text.length > MAX_MESSAGE_LENGTH)
    return err({ code: 'MESSAGE_TOO_LARGE', size: text.length, limit: MAX_MESSAGE_LENGTH })
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch (e) {
    return err({ code: 'MALFORMED_JSON', reason: (e as Error).message })
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
    return err({ code: 'NOT_AN_OBJECT' })
  const msg = parsed as Record<string, unknown>
  for (const field of KEY_ORDER) if (!(field in msg)) return err({ code: 'MISSING_FIELD', field })
  const keys = Object.keys(msg)
  if (keys.length !== KEY_ORDER.length || keys.some((k, i) => k !== KEY_ORDER[i]))
    return err({ code: 'WRONG_KEY_ORDER', keys })

  const { previous, author, sequence, timestamp, hash, content, signature } = msg
  if (!isFeedId(author))
    return err({ code: 'INVALID_FIELD', field: 'author', reason: 'not an ed25519 feed id' })
  if (typeof sequence !== 'number' || !Number.isInteger(sequence) || sequence < 1 || sequence > MAX_SEQUENCE)
    return err({ code: 'INVALID_FIELD', field: 'sequence', reason: `an integer from 1 to ${MAX_SEQUENCE}` })
  if (sequence === 1 ? previous !== null : !isMessageId(previous))
    return err({
      code: 'INVALID_FIELD',
      field: 'previous',
      reason: sequence === 1 ? 'the first message has previous null' : 'not a sha256 message id',
    })
  if (typeof timestamp !== 'number' || !Number.isFinite(timestamp))
    return err({ code: 'INVALID_FIELD', field: 'timestamp', reason: 'must be a number' })
  if (hash !== 'sha256')
    return err({ code: 'INVALID_FIELD', field: 'hash', reason: 'only sha256 is supported' })
  const contentOk = checkContent(content)
  if (!contentOk.ok) return contentOk
  const signatureBytes = typeof signature === 'string' ? decodeSignature(signature) : undefined
  if (!signatureBytes)
    return err({
      code: 'INVALID_FIELD',
      field: 'signature',
      reason: 'expected <base64 of 64 bytes>.sig.ed25519',
    })
  if (encodeCanonical(msg) !== text) return err({ code: 'NON_CANONICAL_ENCODING' })

  const unsigned = unsignedTextOf(text)
  if (unsigned === undefined) return err({ code: 'NON_CANONICAL_ENCODING' }) // unreachable for canonical text
  return ok({ text, unsigned, value: msg as unknown as FeedMessage, signature: signatureBytes })
}
