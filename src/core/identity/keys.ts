import { publicKeyFromSeed } from '../crypto/noble'
import { decodeBase64, encodeBase64 } from '../encoding/base64'
import { bytesEqual, concatBytes } from '../encoding/bytes'
import { err, ok, type Result } from '../result'
import { type FeedId, feedIdFromPublicKey } from './ids'

/** An identity in memory. `seed` is the 32-byte Ed25519 secret; never log it. */
export interface KeyPair {
  readonly id: FeedId
  readonly publicKey: Uint8Array
  readonly seed: Uint8Array
}

/** The export shape of seed 001, listing 1. `private` is base64(seed || public key), as libsodium keeps it. */
export interface KeysJson {
  curve: 'ed25519'
  public: string
  private: string
  id: FeedId
}

export type IdentityError =
  | { code: 'IDENTITY_MALFORMED'; field: string; reason: string }
  | { code: 'IDENTITY_KEY_MISMATCH'; reason: string }

/** Randomness is passed in (the core has none of its own): `seed` must be 32 uniformly random bytes. */
export function keyPairFromSeed(seed: Uint8Array): KeyPair {
  if (seed.length !== 32) throw new RangeError('an Ed25519 seed is 32 bytes')
  const publicKey = publicKeyFromSeed(seed)
  return { id: feedIdFromPublicKey(publicKey), publicKey, seed: Uint8Array.from(seed) }
}

export function exportKeys(keys: KeyPair): KeysJson {
  const pub = `${encodeBase64(keys.publicKey)}.ed25519`
  return {
    curve: 'ed25519',
    public: pub,
    private: `${encodeBase64(concatBytes(keys.seed, keys.publicKey))}.ed25519`,
    id: keys.id,
  }
}

const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v)

/** Imports listing-1 JSON (already parsed), checking that every field agrees with the secret key. */
export function importKeys(json: unknown): Result<KeyPair, IdentityError> {
  if (!isRecord(json)) return err({ code: 'IDENTITY_MALFORMED', field: '', reason: 'not a JSON object' })
  if (json.curve !== 'ed25519')
    return err({ code: 'IDENTITY_MALFORMED', field: 'curve', reason: 'curve must be "ed25519"' })
  for (const field of ['public', 'private', 'id'] as const) {
    if (typeof json[field] !== 'string')
      return err({ code: 'IDENTITY_MALFORMED', field, reason: `${field} must be a string` })
  }
  const pubText = json.public as string
  const privText = json.private as string
  const publicKey = pubText.endsWith('.ed25519') ? decodeBase64(pubText.slice(0, -8), 32) : undefined
  if (!publicKey)
    return err({
      code: 'IDENTITY_MALFORMED',
      field: 'public',
      reason: 'expected <base64 of 32 bytes>.ed25519',
    })
  const secret = privText.endsWith('.ed25519') ? decodeBase64(privText.slice(0, -8), 64) : undefined
  if (!secret)
    return err({
      code: 'IDENTITY_MALFORMED',
      field: 'private',
      reason: 'expected <base64 of 64 bytes>.ed25519',
    })
  const keys = keyPairFromSeed(secret.subarray(0, 32))
  if (!bytesEqual(keys.publicKey, publicKey) || !bytesEqual(secret.subarray(32), publicKey))
    return err({ code: 'IDENTITY_KEY_MISMATCH', reason: 'the private key does not belong to the public key' })
  if (json.id !== keys.id)
    return err({ code: 'IDENTITY_KEY_MISMATCH', reason: `id must be "@" + public (${keys.id})` })
  return ok(keys)
}

/** Parses the text of an identity file; a JSON syntax error is an IDENTITY_MALFORMED result too. */
export function importKeysText(text: string): Result<KeyPair, IdentityError> {
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch (e) {
    return err({ code: 'IDENTITY_MALFORMED', field: '', reason: `not JSON: ${(e as Error).message}` })
  }
  return importKeys(json)
}
