import type { Ed25519Backend } from '../core/crypto/ed25519'
import { createNobleBackend } from '../core/crypto/noble'
import { type MessageHasher, nobleHasher } from '../core/feed/hasher'
import { createWebCryptoBackend, createWebCryptoHasher } from './webcrypto'

/** The fastest Ed25519 the page has: WebCrypto where it supports Ed25519, noble otherwise. */
export async function selectBrowserBackend(): Promise<Ed25519Backend> {
  return (await createWebCryptoBackend()) ?? createNobleBackend()
}

/** WebCrypto hashing (SHA-256 and HMAC-SHA-512 are in every secure context), noble outside one. */
export function selectBrowserHasher(): MessageHasher {
  return globalThis.crypto?.subtle ? createWebCryptoHasher() : nobleHasher
}
