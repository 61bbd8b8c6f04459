import type { Ed25519Backend } from '../core/crypto/ed25519'
import { createNobleBackend } from '../core/crypto/noble'
import { type MessageHasher, nobleHasher } from '../core/feed/hasher'
import { createBrowserVerifyPool } from './browser-verify-pool'
import { createWebCryptoBackend, createWebCryptoHasher } from './webcrypto'

/** The fastest Ed25519 the page has: WebCrypto where it supports Ed25519, noble otherwise. */
export async function selectBrowserBackend(): Promise<Ed25519Backend> {
  return (await createWebCryptoBackend()) ?? createNobleBackend()
}

/**
 * What a tab verifies with: WebCrypto on Web Workers where they start (Chromium verifies Ed25519
 * on the calling thread, so this keeps the page's main thread free), else `selectBrowserBackend`.
 * Call it once per page: each call starts its own workers.
 */
export async function selectBrowserVerifier(): Promise<Ed25519Backend> {
  const backend = await selectBrowserBackend()
  if (backend.name !== 'webcrypto') return backend
  return (await createBrowserVerifyPool({}, { backend })) ?? backend
}

/** WebCrypto hashing (SHA-256 and HMAC-SHA-512 are in every secure context), noble outside one. */
export function selectBrowserHasher(): MessageHasher {
  return globalThis.crypto?.subtle ? createWebCryptoHasher() : nobleHasher
}
