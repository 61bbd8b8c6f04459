/**
 * Feed benchmarks that run unchanged in Node and in Chromium: the caller passes the platform's
 * Ed25519 backend and a storage adapter factory. Rates are messages per second.
 */
import type { Ed25519Backend, VerifyRequest } from '../src/core/crypto/ed25519'
import { decodeMessage } from '../src/core/feed/decode'
import { keyPairFromSeed } from '../src/core/identity/keys'
import type { FeedStorageAdapter } from '../src/store/adapter'
import { FeedStore } from '../src/store/feed-store'
import { createMemoryAdapter } from '../src/store/memory-adapter'

export interface FeedBenchEnv {
  readonly ed25519: Ed25519Backend
  readonly storeName: string
  /** A fresh, empty adapter on the platform's real store. */
  openAdapter(label: string): Promise<FeedStorageAdapter>
  readonly now: () => number
}

export interface FeedBenchResult {
  backend: string
  store: string
  messages: number
  rawVerifyPerSec: number
  signAppendStorePerSec: number
  verifyStorePerSec: number
  verifyStoreRatio: number
}

const NETWORK_KEY = new Uint8Array(32).fill(42)
const AUTHORS = 8
/** Content of about the size of a consensus vote. */
const content = (i: number) => ({
  type: 'blockfin/bench',
  block: `%${'x'.repeat(43)}=.sha256`,
  height: i,
  round: 0,
  note: 'a payload of roughly vote size',
})

const seed = (n: number) => Uint8Array.from({ length: 32 }, (_, i) => (n * 31 + i) & 255)

/** Signs `count` messages spread over AUTHORS feeds, in an in-memory store (not timed). */
export async function makeSignedFeeds(ed25519: Ed25519Backend, count: number): Promise<string[]> {
  const store = await FeedStore.open({ networkKey: NETWORK_KEY }, { adapter: createMemoryAdapter(), ed25519 })
  const authors = Array.from({ length: AUTHORS }, (_, a) => keyPairFromSeed(seed(a + 1)))
  const outcomes = await Promise.all(
    Array.from({ length: count }, (_, i) =>
      store.publish(authors[i % AUTHORS]!, content(i), 1_700_000_000_000 + i),
    ),
  )
  return outcomes.map((o) => {
    if (!o.ok) throw new Error(`bench setup failed: ${o.error.code}`)
    return o.value.text
  })
}

async function rate(count: number, now: () => number, work: () => Promise<void>): Promise<number> {
  const start = now()
  await work()
  return count / ((now() - start) / 1000)
}

export async function runFeedBench(env: FeedBenchEnv, count: number): Promise<FeedBenchResult> {
  const { ed25519, now } = env
  const texts = await makeSignedFeeds(ed25519, count)
  const requests: VerifyRequest[] = texts.map((t) => {
    const d = decodeMessage(t, NETWORK_KEY)
    if (!d.ok) throw new Error('bench setup failed')
    return d.value.verify
  })
  // Warm up key caches and JIT on a separate slice.
  await ed25519.verifyBatch(requests.slice(0, 200))

  const BATCH = 1000
  const rawVerifyPerSec = await rate(count, now, async () => {
    for (let i = 0; i < requests.length; i += BATCH) {
      const results = await ed25519.verifyBatch(requests.slice(i, i + BATCH))
      if (!results.every(Boolean)) throw new Error('bench: a valid signature failed')
    }
  })

  const own = await FeedStore.open(
    { networkKey: NETWORK_KEY },
    { adapter: await env.openAdapter('sign'), ed25519 },
  )
  const me = keyPairFromSeed(seed(99))
  const signAppendStorePerSec = await rate(count, now, async () => {
    // A burst of publishes, as a busy validator makes: group commit batches them.
    for (let i = 0; i < count; i += BATCH) {
      const n = Math.min(BATCH, count - i)
      const outcomes = await Promise.all(
        Array.from({ length: n }, (_, j) => own.publish(me, content(i + j), 1_700_000_000_000 + i + j)),
      )
      if (!outcomes.every((o) => o.ok)) throw new Error('bench: publish failed')
    }
  })
  await own.close()

  const replica = await FeedStore.open(
    { networkKey: NETWORK_KEY },
    { adapter: await env.openAdapter('verify'), ed25519 },
  )
  const verifyStorePerSec = await rate(count, now, async () => {
    // Replication delivers ranges; each chunk is decoded, verified and written in one commit.
    for (let i = 0; i < texts.length; i += BATCH) {
      const outcomes = await replica.append(texts.slice(i, i + BATCH))
      if (!outcomes.every((o) => o.ok)) throw new Error('bench: replicated append failed')
    }
  })
  await replica.close()

  return {
    backend: ed25519.name,
    store: env.storeName,
    messages: count,
    rawVerifyPerSec,
    signAppendStorePerSec,
    verifyStorePerSec,
    verifyStoreRatio: verifyStorePerSec / rawVerifyPerSec,
  }
}
