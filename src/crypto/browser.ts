import type { Ed25519Backend } from '../core/crypto/ed25519'
import { createNobleBackend } from '../core/crypto/noble'
import { createWebCryptoBackend } from './webcrypto'

/** The fastest Ed25519 the page has: WebCrypto where it supports Ed25519, noble otherwise. */
export async function selectBrowserBackend(): Promise<Ed25519Backend> {
  return (await createWebCryptoBackend()) ?? createNobleBackend()
}
