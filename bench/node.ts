/** Node side of `npm run bench`: feed rates on the relay's LevelDB store with libsodium and Node's crypto. */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { openLevelAdapter } from '../relay/src/store/level-adapter'
import { createNobleBackend } from '../src/core/crypto/noble'
import { nobleHasher } from '../src/core/feed/hasher'
import { createNodeBackend, createNodeHasher, createSodiumBackend } from '../src/crypto/node'
import { type FeedBenchResult, runFeedBench } from './feed-bench'

export async function runNodeFeedBench(count: number): Promise<{ results: FeedBenchResult[] }> {
  const dir = await mkdtemp(join(tmpdir(), 'blockfin-bench-'))
  try {
    let n = 0
    const openAdapter = async (label: string) => openLevelAdapter({ path: join(dir, `${label}-${n++}`) })
    const now = () => performance.now()
    const results = [
      // What the relay and headless validators use (on worker threads there; one thread here).
      await runFeedBench(
        {
          ed25519: createSodiumBackend(),
          hasher: createNodeHasher(),
          storeName: 'leveldb',
          openAdapter,
          now,
        },
        count,
      ),
      // OpenSSL: the fallback where the sodium-native addon does not load.
      await runFeedBench(
        { ed25519: createNodeBackend(), hasher: createNodeHasher(), storeName: 'leveldb', openAdapter, now },
        count,
      ),
      // The pure-JavaScript fallback, for scale (fewer messages: it is slow).
      await runFeedBench(
        { ed25519: createNobleBackend(), hasher: nobleHasher, storeName: 'leveldb', openAdapter, now },
        Math.min(count, 2000),
      ),
    ]
    return { results }
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}
