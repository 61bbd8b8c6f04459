/**
 * Chromium side of the network benchmarks (bench/network.ts): a tab's parts (IndexedDB FeedStore
 * with WebCrypto, the browser libp2p node, the replication engine) driven directly, so a run
 * controls who replicates with whom. Every received message is verified by the store.
 */
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { Connection } from '@libp2p/interface'
import { multiaddr } from '@multiformats/multiaddr'
import { decodeBase64 } from '../../src/core/encoding/base64'
import type { FeedId } from '../../src/core/identity/ids'
import { keyPairFromSeed } from '../../src/core/identity/keys'
import { selectBrowserHasher, selectBrowserVerifier } from '../../src/crypto/browser'
import { openFollowGraph } from '../../src/net/follow-graph'
import { createBrowserNode } from '../../src/net/libp2p/browser-node'
import { isWebRtcConnection } from '../../src/net/libp2p/peer-mesh'
import { startReplicationHost } from '../../src/net/libp2p/replication-host'
import { createReplicationEngine } from '../../src/net/replication/engine'
import { systemClock } from '../../src/net/replication/rate-limit'
import { FeedStore } from '../../src/store/feed-store'
import { openIndexedDbAdapter } from '../../src/store/indexeddb-adapter'

export interface NetBenchSetup {
  readonly relayAddr: string
  readonly networkId: string
  /** base64 of the network key. */
  readonly networkKey: string
}

declare global {
  interface Window {
    netBench: {
      /** Publishes `count` messages locally, then serves them over WebRTC only. Returns its peer id and feed. */
      author(
        setup: NetBenchSetup,
        count: number,
      ): Promise<{ peerId: string; feed: FeedId; publishMs: number }>
      /** Replicates `expected` from the relay into IndexedDB; ms from the relay connection to the last message. */
      fromRelay(setup: NetBenchSetup, expected: Record<string, number>): Promise<number>
      /** Dials the author over WebRTC and replicates its feed; ms from the direct connection to the last message. */
      fromTab(setup: NetBenchSetup, author: { peerId: string; feed: FeedId }, count: number): Promise<number>
    }
  }
}

const onlyWebRtc = (c: Connection) => isWebRtcConnection(c)

async function parts(setup: NetBenchSetup, follows: { self: FeedId; follow?: FeedId[]; everyone?: boolean }) {
  const [ed25519, node] = await Promise.all([
    selectBrowserVerifier(),
    generateKeyPair('Ed25519').then((privateKey) => createBrowserNode({}, { privateKey })),
  ])
  const store = await FeedStore.open(
    { networkKey: decodeBase64(setup.networkKey, 32)! },
    {
      adapter: await openIndexedDbAdapter({ name: `net-bench-${crypto.randomUUID()}` }),
      ed25519,
      hasher: selectBrowserHasher(),
    },
  )
  const graph = await openFollowGraph(
    { self: [follows.self], follow: follows.follow ?? [], followEveryone: follows.everyone === true },
    { store },
  )
  const engine = createReplicationEngine(
    { networkId: setup.networkId, requestTimeoutMs: 30_000 },
    { store, follows: graph, clock: systemClock },
  )
  return { store, node: node.node, engine }
}

const until = (store: FeedStore, expected: Record<string, number>) =>
  new Promise<void>((resolve) => {
    const check = () => {
      for (const [feed, seq] of Object.entries(expected))
        if ((store.head(feed as FeedId)?.sequence ?? 0) < seq) return
      resolve()
    }
    store.subscribe(check)
    check()
  })

window.netBench = {
  async author(setup, count) {
    const keys = keyPairFromSeed(crypto.getRandomValues(new Uint8Array(32)))
    const { store, node, engine } = await parts(setup, { self: keys.id })
    const t0 = performance.now()
    for (let i = 0; i < count; i += 500) {
      const batch = Array.from({ length: Math.min(500, count - i) }, (_, j) =>
        store.publish(
          keys,
          { type: 'blockfin/bench', text: `tab message ${i + j} ${'x'.repeat(160)}` },
          Date.now(),
        ),
      )
      for (const o of await Promise.all(batch)) if (!o.ok) throw new Error(o.error.code)
    }
    const publishMs = performance.now() - t0
    await startReplicationHost({ eligible: onlyWebRtc }, { node, engine })
    await node.dial(multiaddr(setup.relayAddr))
    // Wait for the circuit reservation, so the reader can reach us.
    while (!node.getMultiaddrs().some((a) => a.toString().includes('/p2p-circuit/webrtc')))
      await new Promise((r) => setTimeout(r, 50))
    return { peerId: node.peerId.toString(), feed: keys.id, publishMs }
  },

  async fromRelay(setup, expected) {
    const self = keyPairFromSeed(crypto.getRandomValues(new Uint8Array(32))).id
    const { store, node, engine } = await parts(setup, { self, everyone: true })
    await startReplicationHost({}, { node, engine })
    const t0 = performance.now()
    await node.dial(multiaddr(setup.relayAddr))
    await until(store, expected)
    return performance.now() - t0
  },

  async fromTab(setup, author, count) {
    const self = keyPairFromSeed(crypto.getRandomValues(new Uint8Array(32))).id
    const { store, node, engine } = await parts(setup, { self, follow: [author.feed] })
    await startReplicationHost({ eligible: onlyWebRtc }, { node, engine })
    const relay = await node.dial(multiaddr(setup.relayAddr))
    const target = relay.remoteAddr.encapsulate(`/p2p-circuit/webrtc/p2p/${author.peerId}`)
    let direct: Connection | undefined
    for (let attempt = 1; !direct; attempt++) {
      try {
        direct = await node.dial(target, { signal: AbortSignal.timeout(15_000) })
      } catch (e) {
        if (attempt >= 5) throw e
      }
    }
    if (!isWebRtcConnection(direct))
      throw new Error(`not a WebRTC connection: ${direct.remoteAddr.toString()}`)
    const t0 = performance.now()
    await until(store, { [author.feed]: count })
    return performance.now() - t0
  },
}
