/** Chromium side of `npm run bench`: loaded into a page by bench/chromium.ts. */
import { createNobleBackend } from '../../src/core/crypto/noble'
import { nobleHasher } from '../../src/core/feed/hasher'
import { createWebCryptoBackend, createWebCryptoHasher } from '../../src/crypto/webcrypto'
import { deleteIndexedDbDatabase, openIndexedDbAdapter } from '../../src/store/indexeddb-adapter'
import { type FeedBenchResult, runFeedBench } from '../feed-bench'

declare global {
  interface Window {
    runBench(count: number): Promise<FeedBenchResult[]>
  }
}

window.runBench = async (count) => {
  const names: string[] = []
  const openAdapter = async (label: string) => {
    const name = `bench-${label}-${names.length}`
    names.push(name)
    await deleteIndexedDbDatabase(name)
    return openIndexedDbAdapter({ name })
  }
  const now = () => performance.now()
  const webcrypto = await createWebCryptoBackend()
  if (!webcrypto) throw new Error('this Chromium has no WebCrypto Ed25519')
  const results = [
    await runFeedBench(
      { ed25519: webcrypto, hasher: createWebCryptoHasher(), storeName: 'indexeddb', openAdapter, now },
      count,
    ),
    await runFeedBench(
      { ed25519: createNobleBackend(), hasher: nobleHasher, storeName: 'indexeddb', openAdapter, now },
      Math.min(count, 2000),
    ),
  ]
  for (const name of names) await deleteIndexedDbDatabase(name)
  return results
}
