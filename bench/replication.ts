/**
 * In-process replication benchmark: `count` messages (over 8 feeds) replicated from one engine to
 * another over an in-memory channel pair, every signature verified by the receiving FeedStore
 * (node-crypto backend, memory stores). Signing the messages is setup and is not timed. Returns
 * messages per second, from the connection until the receiver holds every message.
 */
import { performance } from 'node:perf_hooks'
import type { FeedId } from '../src/core/identity/ids'
import { keyPairFromSeed } from '../src/core/identity/keys'
import { createNodeBackend, createNodeHasher } from '../src/crypto/node'
import { openFollowGraph } from '../src/net/follow-graph'
import { createChannelPair } from '../src/net/replication/channel'
import { createReplicationEngine } from '../src/net/replication/engine'
import { systemClock } from '../src/net/replication/rate-limit'
import { FeedStore } from '../src/store/feed-store'
import { createMemoryAdapter } from '../src/store/memory-adapter'

const NETWORK_KEY = new Uint8Array(32).fill(42)
const NETWORK_ID = '%YmVuY2gtbmV0d29yaw==.sha256'
const AUTHORS = 8
const seed = (n: number) => Uint8Array.from({ length: 32 }, (_, i) => (n * 31 + i) & 255)

export async function runReplicationBench(count: number): Promise<number> {
  const ed25519 = createNodeBackend()
  const hasher = createNodeHasher()
  const authors = Array.from({ length: AUTHORS }, (_, a) => keyPairFromSeed(seed(a + 1)))
  const open = () =>
    FeedStore.open({ networkKey: NETWORK_KEY }, { adapter: createMemoryAdapter(), ed25519, hasher })
  const source = await open()
  const sink = await open()
  await Promise.all(
    Array.from({ length: count }, (_, i) =>
      source.publish(
        authors[i % AUTHORS]!,
        { type: 'blockfin/bench', block: `%${'x'.repeat(43)}=.sha256`, height: i, round: 0 },
        1_700_000_000_000 + i,
      ),
    ),
  )
  // Both replicate every feed (relay-like), so no contact messages are needed.
  const graphOf = (store: FeedStore, self: FeedId) =>
    openFollowGraph({ self: [self], followEveryone: true }, { store })
  const engine = async (store: FeedStore, self: FeedId) =>
    createReplicationEngine(
      { networkId: NETWORK_ID, requestTimeoutMs: 30_000 },
      { store, follows: await graphOf(store, self), clock: systemClock },
    )
  const a = await engine(source, authors[0]!.id)
  const b = await engine(sink, keyPairFromSeed(seed(99)).id)
  const target = new Map([...source.vectorClock()].map(([f, h]) => [f, h.sequence]))
  const done = new Promise<void>((resolve) => {
    const check = () => {
      for (const [f, s] of target) if ((sink.head(f)?.sequence ?? 0) < s) return
      resolve()
    }
    sink.subscribe(check)
  })
  const pair = createChannelPair({ names: ['source', 'sink'] })
  const start = performance.now()
  void a.addPeer(pair.a)
  void b.addPeer(pair.b)
  await done
  const seconds = (performance.now() - start) / 1000
  await a.close()
  await b.close()
  await source.close()
  await sink.close()
  return count / seconds
}
