import { createHmac } from 'node:crypto'
import type { SignedBytesOf } from '../core/ledger/signed-item'

/** The network HMAC (HMAC-SHA-512-256) of an item's unsigned text through Node's crypto. */
export function nativeSignedBytes(networkKey: Uint8Array): SignedBytesOf {
  return (text) =>
    new Uint8Array(createHmac('sha512', networkKey).update(text, 'utf8').digest().subarray(0, 32))
}
