/**
 * Feed benchmarks that run unchanged in Node and in Chromium: the caller passes the platform's
 * Ed25519 backend and a storage adapter factory. Rates are messages per second.
 */
import type { Ed25519Backend, VerifyRequest } from '../src/core/crypto/ed25519'
import { decodeMessage } from '../src/core/feed/decode'
import type { MessageHasher } from '../src/core/feed/hasher'
import { keyPairFromSeed } from '../src/core/identity/keys'
import type { FeedStorageAdapter } from '../src/store/adapter'
import { FeedStore } from '../src/store/feed-store'
import { createMemoryAdapter } from '../src/store/memory-adapter'

export interface FeedBenchEnv {
  readonly ed25519: Ed25519Backend
  readonly hasher: MessageHasher
  readonly storeName: string
  /** A fresh, empty adapter on the platform's real store. */
  openAdapter(label: string): Promise<FeedStorageAdapter>
  readonly now: () => number
}

export interface FeedBenchResult {
  backend: string
  hasher: string
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

async function timed(now: () => number, work: () => Promise<void>): Promise<number> {
  const start = now()
  await work()
  return now() - start
}

const BATCH = 1000
/**
 * Raw verification and verify+store alternate in this many rounds over slices of the same
 * messages, so both see the same machine load: the ratio stays meaningful on a busy machine.
 */
const ROUNDS = 5

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

  const own = await FeedStore.open(
    { networkKey: NETWORK_KEY },
    { adapter: await env.openAdapter('sign'), ed25519, hasher: env.hasher },
  )
  const me = keyPairFromSeed(seed(99))
  const signMs = await timed(now, async () => {
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
    { adapter: await env.openAdapter('verify'), ed25519, hasher: env.hasher },
  )
  let rawMs = 0
  let storeMs = 0
  const perRound = Math.ceil(count / ROUNDS)
  for (let r = 0; r < count; r += perRound) {
    const end = Math.min(count, r + perRound)
    rawMs += await timed(now, async () => {
      for (let i = r; i < end; i += BATCH) {
        const results = await ed25519.verifyBatch(requests.slice(i, Math.min(end, i + BATCH)))
        if (!results.every(Boolean)) throw new Error('bench: a valid signature failed')
      }
    })
    storeMs += await timed(now, async () => {
      // Replication delivers ranges and keeps a few in flight, so the store's pipeline can
      // verify one chunk while the previous one commits.
      const IN_FLIGHT = 3
      const inFlight: Promise<void>[] = []
      for (let i = r; i < end; i += BATCH) {
        if (inFlight.length >= IN_FLIGHT) await inFlight.shift()
        inFlight.push(
          replica.append(texts.slice(i, Math.min(end, i + BATCH))).then((outcomes) => {
            if (!outcomes.every((o) => o.ok)) throw new Error('bench: replicated append failed')
          }),
        )
      }
      await Promise.all(inFlight)
    })
  }
  await replica.close()
  const rawVerifyPerSec = count / (rawMs / 1000)
  const verifyStorePerSec = count / (storeMs / 1000)
  const signAppendStorePerSec = count / (signMs / 1000)

  return {
    backend: ed25519.name,
    hasher: env.hasher.name,
    store: env.storeName,
    messages: count,
    rawVerifyPerSec,
    signAppendStorePerSec,
    verifyStorePerSec,
    verifyStoreRatio: verifyStorePerSec / rawVerifyPerSec,
  }
}
