/**
 * Test nodes for the replication engine: a real FeedStore over a memory adapter with real
 * signatures (node-crypto backend), a FollowGraph, an engine on a fake clock, and a record of every
 * message the store accepted (to prove no duplicate and no gap).
 */
import type { MessageContent } from '../../src/core/feed/message'
import type { FeedId } from '../../src/core/identity/ids'
import { type KeyPair, keyPairFromSeed } from '../../src/core/identity/keys'
import { createNodeBackend } from '../../src/crypto/node'
import { type FollowGraph, openFollowGraph } from '../../src/net/follow-graph'
import {
  type ChannelPair,
  type ChannelPairOptions,
  createChannelPair,
} from '../../src/net/replication/channel'
import {
  createReplicationEngine,
  type ReplicationEngine,
  type ReplicationEngineOptions,
} from '../../src/net/replication/engine'
import type { SessionEnd } from '../../src/net/replication/session'
import type { FeedStorageAdapter } from '../../src/store/adapter'
import { FeedStore } from '../../src/store/feed-store'
import { createMemoryAdapter, MemoryDisk } from '../../src/store/memory-adapter'
import { FakeClock } from './fake-clock'

export const ed25519 = createNodeBackend()
export const NETWORK_KEY = Uint8Array.from({ length: 32 }, (_, i) => (i * 7 + 3) & 255)
export const OTHER_NETWORK_KEY = Uint8Array.from({ length: 32 }, (_, i) => (i * 11 + 5) & 255)
export const NETWORK_ID = '%bmV0d29yay1pZC1mb3ItcmVwbGljYXRpb24tdGVzdHM=.sha256'
export const TIMEOUT_MS = 5000

export const seedOf = (n: number) => Uint8Array.from({ length: 32 }, (_, i) => (n * 13 + i * 7 + 1) & 255)
export const keysOf = (n: number): KeyPair => keyPairFromSeed(seedOf(n))

export interface TestNodeOptions {
  /** Seed number of this node's identity. */
  readonly seed: number
  readonly followEveryone?: boolean
  readonly hops?: number
  readonly engine?: Partial<ReplicationEngineOptions>
  readonly clock?: FakeClock
  readonly disk?: MemoryDisk
  readonly adapter?: FeedStorageAdapter
  readonly isKnownAuthor?: (feed: FeedId) => boolean
  /** Give the registry to the store only (the engine then requests unknown feeds). */
  readonly registryInStoreOnly?: boolean
  readonly networkKey?: Uint8Array
  readonly networkId?: string
}

export interface TestNode {
  readonly keys: KeyPair
  readonly id: FeedId
  readonly store: FeedStore
  readonly graph: FollowGraph
  readonly engine: ReplicationEngine
  readonly clock: FakeClock
  readonly disk: MemoryDisk
  /** Every (author, sequence) the store accepted, in order. */
  readonly accepted: Map<FeedId, number[]>
  publish(count: number, content?: (i: number) => MessageContent): Promise<void>
  publishAs(keys: KeyPair, count: number, content?: (i: number) => MessageContent): Promise<void>
  contact(feed: FeedId, following: boolean, blocking?: boolean): Promise<void>
  head(feed: FeedId): number
  close(): Promise<void>
}

let timestamp = 1_700_000_000_000

export async function makeNode(options: TestNodeOptions): Promise<TestNode> {
  const keys = keysOf(options.seed)
  const disk = options.disk ?? new MemoryDisk()
  const clock = options.clock ?? new FakeClock()
  const store = await FeedStore.open(
    { networkKey: options.networkKey ?? NETWORK_KEY },
    {
      adapter: options.adapter ?? createMemoryAdapter(disk),
      ed25519,
      ...(options.isKnownAuthor ? { isKnownAuthor: options.isKnownAuthor } : {}),
    },
  )
  const accepted = new Map<FeedId, number[]>()
  store.subscribe((messages) => {
    for (const m of messages) {
      const list = accepted.get(m.value.author) ?? []
      list.push(m.value.sequence)
      accepted.set(m.value.author, list)
    }
  })
  const graph = await openFollowGraph(
    { self: [keys.id], hops: options.hops ?? 1, followEveryone: options.followEveryone ?? false },
    { store },
  )
  const engine = createReplicationEngine(
    { networkId: options.networkId ?? NETWORK_ID, requestTimeoutMs: TIMEOUT_MS, ...options.engine },
    {
      store,
      follows: graph,
      clock,
      ...(options.isKnownAuthor && !options.registryInStoreOnly
        ? { isKnownAuthor: options.isKnownAuthor }
        : {}),
    },
  )
  const publishAs = async (as: KeyPair, count: number, content?: (i: number) => MessageContent) => {
    const outcomes = await Promise.all(
      Array.from({ length: count }, (_, i) =>
        store.publish(
          as,
          content ? content(i) : { type: 'post', text: `message ${i} of ${as.id}` },
          timestamp++,
        ),
      ),
    )
    for (const o of outcomes) if (!o.ok) throw new Error(`publish failed: ${o.error.code}`)
  }
  return {
    keys,
    id: keys.id,
    store,
    graph,
    engine,
    clock,
    disk,
    accepted,
    publish: (count, content) => publishAs(keys, count, content),
    publishAs,
    async contact(feed, following, blocking) {
      const content: MessageContent = { type: 'contact', contact: feed, following }
      if (blocking !== undefined) content.blocking = blocking
      const o = await store.publish(keys, content, timestamp++)
      if (!o.ok) throw new Error(`contact failed: ${o.error.code}`)
      await graph.settled()
    },
    head: (feed) => store.head(feed)?.sequence ?? 0,
    async close() {
      await engine.close()
      graph.close()
      await store.close()
    },
  }
}

export interface Link {
  readonly pair: ChannelPair
  /** How each side's session ended: [x's view, y's view]. */
  readonly ended: Promise<[SessionEnd, SessionEnd]>
  close(): Promise<void>
}

/** Connects two nodes' engines over an in-memory channel pair (x's channel names y, and back). */
export function connect(x: TestNode, y: TestNode, options: ChannelPairOptions = {}): Link {
  const pair = createChannelPair({ names: [x.id, y.id], ...options })
  const ended = Promise.all([x.engine.addPeer(pair.a), y.engine.addPeer(pair.b)])
  return {
    pair,
    ended,
    async close() {
      pair.a.close('test disconnect')
      await ended
    },
  }
}

/**
 * Waits, by event-loop turns (never by time), until `condition` holds; fails after `turns` turns.
 * Each turn runs every pending promise continuation, so work settles long before the limit.
 */
export async function until(condition: () => boolean, what: string, turns = 100_000): Promise<void> {
  for (let i = 0; i < turns; i++) {
    if (condition()) return
    await new Promise<void>((resolve) => setImmediate(resolve))
  }
  throw new Error(`never happened: ${what}`)
}

/** Lets everything that can happen without the clock moving happen. */
export async function settle(turns = 50): Promise<void> {
  for (let i = 0; i < turns; i++) await new Promise<void>((resolve) => setImmediate(resolve))
}

/** Both nodes hold the same head for each of `feeds`. */
export const converged = (nodes: readonly TestNode[], feeds: readonly FeedId[]) => () =>
  feeds.every((f) => nodes.every((n) => n.head(f) === nodes[0]!.head(f)))

/** Every feed a node accepted, accepted exactly once per sequence and without a gap from 1 (or `from`). */
export function expectNoDuplicateNoGap(node: TestNode, feed: FeedId, from = 1): void {
  const seqs = node.accepted.get(feed) ?? []
  const expected = Array.from({ length: seqs.length }, (_, i) => from + i)
  if (JSON.stringify(seqs) !== JSON.stringify(expected))
    throw new Error(`feed ${feed} accepted out of order or twice: ${seqs.slice(0, 20).join(',')}...`)
}

/** A memory adapter whose commits can be held (a slow disk): nothing commits until released. */
export function gatedAdapter(disk = new MemoryDisk()) {
  const inner = createMemoryAdapter(disk)
  let gate: Promise<void> | null = null
  let open: (() => void) | null = null
  const control = { commits: 0, waiting: 0 }
  const adapter: FeedStorageAdapter = {
    ...inner,
    async commit(batch) {
      if (gate) {
        control.waiting++
        await gate
        control.waiting--
      }
      control.commits++
      return inner.commit(batch)
    },
  }
  return {
    adapter,
    disk,
    control,
    hold() {
      gate ??= new Promise<void>((resolve) => {
        open = resolve
      })
    },
    release() {
      open?.()
      gate = null
      open = null
    },
  }
}
