/**
 * A Web Worker that checks Ed25519 signatures with WebCrypto for the page's verifying pool
 * (browser-verify-pool.ts). Chromium runs WebCrypto's Ed25519 verify on the calling thread, so
 * checks made by the page take its main thread; here they take a worker's.
 *
 * In: `{ task, buf }`, requests packed by verify-packing.ts.
 * Out: `{ ready }` once at start (false where WebCrypto lacks Ed25519), then `{ task, result }`
 * with one byte per request (1 valid).
 */
import { unpackRequests } from './verify-packing'
import { createWebCryptoBackend } from './webcrypto'

interface WorkerScope {
  postMessage(message: unknown, transfer?: Transferable[]): void
  onmessage: ((event: MessageEvent<{ task: number; buf: ArrayBuffer }>) => void) | null
}
const scope = globalThis as unknown as WorkerScope

const backend = createWebCryptoBackend()
void backend.then((b) => scope.postMessage({ ready: b !== undefined }))
scope.onmessage = async ({ data }) => {
  const b = await backend
  if (!b) return // said not ready: the pool never sends work here
  const valid = await b.verifyBatch(unpackRequests(data.buf))
  const result = Uint8Array.from(valid, (v) => (v ? 1 : 0))
  scope.postMessage({ task: data.task, result }, [result.buffer])
}
