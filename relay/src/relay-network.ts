/**
 * The relay's network side, composed: its libp2p node (p2p.ts), the replication engine over it
 * (every feed it is offered, every signature verified by the store), the contacts that make its
 * Messagenode follow every validator and every other Messagenode (contacts.ts), and the peer relays
 * it keeps connected to (BLOCKFIN_PEER_RELAYS). Peers that break the protocol are disconnected and
 * refused for a minute; the others keep being served.
 */
import '../../src/node/polyfills'
import type { Server } from 'node:http'
import type { PeerId, PrivateKey } from '@libp2p/interface'
import createDebug from 'debug'
import type { FeedId } from '../../src/core/identity/ids'
import type { KeyPair } from '../../src/core/identity/keys'
import { type FollowGraph, openFollowGraph } from '../../src/net/follow-graph'
import { type KeepConnected, keepConnected } from '../../src/net/libp2p/keep-connected'
import { parseRelayTarget, type RelayTarget, resolveRelayTarget } from '../../src/net/libp2p/relay-address'
import { type ReplicationHost, startReplicationHost } from '../../src/net/libp2p/replication-host'
import {
  createReplicationEngine,
  type ReplicationEngine,
  type ReplicationStore,
} from '../../src/net/replication/engine'
import { systemClock } from '../../src/net/replication/rate-limit'
import type { FeedStore } from '../../src/store/feed-store'
import { type ContactPublisher, startContactPublisher } from './contacts'
import type { P2pStatus, PeersResponse } from './http'
import type { MetricsSource, RelayMetrics } from './metrics'
import { type RelayP2p, startRelayP2p, transportOf } from './p2p'

const log = createDebug('blockfin:relay:network')

export interface RelayNetworkOptions {
  readonly networkId: string
  readonly host: string
  readonly tcpPort: number
  /** Other relays to keep connected to: multiaddrs or HTTP URLs. */
  readonly peerRelays: readonly string[]
  readonly announce?: readonly string[]
  /** Replication: a source that makes no progress for this long is replaced. */
  readonly requestTimeoutMs?: number
  readonly maxPeers?: number
}

export interface RelayNetworkDeps {
  readonly privateKey: PrivateKey
  readonly httpServer: Server
  readonly store: FeedStore
  /** The relay's Messagenode identity, and its role feeds. */
  readonly relayKeys: KeyPair
  readonly roleIds: readonly FeedId[]
  readonly metrics?: RelayMetrics
  readonly fetch?: typeof fetch
  readonly now: () => number
}

export interface RelayNetwork {
  readonly p2p: RelayP2p
  readonly engine: ReplicationEngine
  readonly follows: FollowGraph
  readonly contacts: ContactPublisher
  status(): Promise<P2pStatus>
  peers(): Promise<PeersResponse>
  metricsSource(): MetricsSource
  /** Messagenode ids of peer relays reached by URL (for the feed directory). */
  peerMessagenodes(): FeedId[]
  stop(): Promise<void>
}

export type RelayNetworkError = { code: 'PEER_RELAY_INVALID'; target: string; reason: string }

/** Parses BLOCKFIN_PEER_RELAYS-style lists; throws a typed error naming the bad entry. */
export function parsePeerRelays(list: readonly string[]): RelayTarget[] {
  return list.map((text) => {
    const parsed = parseRelayTarget(text)
    if (!parsed.ok) {
      const e = new Error(`peer relay "${text}": ${parsed.error.reason}`) as Error & RelayNetworkError
      Object.assign(e, { code: 'PEER_RELAY_INVALID', target: text, reason: parsed.error.reason })
      throw e
    }
    return parsed.value
  })
}

export async function startRelayNetwork(
  options: RelayNetworkOptions,
  deps: RelayNetworkDeps,
): Promise<RelayNetwork> {
  const fetchFn = deps.fetch ?? fetch
  const targets = parsePeerRelays(options.peerRelays)
  const { store, metrics } = deps
  const p2p = await startRelayP2p(
    {
      host: options.host,
      tcpPort: options.tcpPort,
      ...(options.announce ? { announce: options.announce } : {}),
    },
    { privateKey: deps.privateKey, httpServer: deps.httpServer },
  )
  const follows = await openFollowGraph(
    { self: [deps.relayKeys.id, ...deps.roleIds], followEveryone: true },
    { store },
  )
  const counted: ReplicationStore = {
    append: async (texts) => {
      const outcomes = await store.append(texts)
      metrics?.countOutcomes(outcomes)
      return outcomes
    },
    head: (author) => store.head(author),
    vectorClock: () => store.vectorClock(),
    range: (author, from, to) => store.range(author, from, to),
    subscribe: (listener) => store.subscribe(listener),
  }
  const engine = createReplicationEngine(
    {
      networkId: options.networkId,
      requestTimeoutMs: options.requestTimeoutMs ?? 10_000,
      maxPeers: options.maxPeers ?? 1024,
    },
    { store: counted, follows, clock: systemClock },
  )
  const replication: ReplicationHost = await startReplicationHost(
    {},
    {
      node: p2p.node,
      engine,
      ...(metrics ? { onBytes: (d: 'in' | 'out', n: number) => metrics.countBytes(d, n) } : {}),
      onMisbehaviour: ({ connection }, end) => {
        log('peer %s misbehaved (%s %s): disconnecting', end.peer, end.code, end.detail ?? '')
        metrics?.countDisconnect(end.code)
        void p2p.ban(connection.remotePeer as PeerId, end.code)
      },
    },
  )
  const contacts = await startContactPublisher(
    { owner: deps.relayKeys, skip: deps.roleIds },
    { store, now: deps.now },
  )

  const peerMessagenodes = new Map<string, FeedId>()
  const keepers: { target: RelayTarget; keeper: KeepConnected }[] = targets.map((target) => ({
    target,
    keeper: keepConnected(
      {
        name: `peer relay ${target.text}`,
        resolve: async ({ signal }) => {
          if (target.kind === 'http') {
            // Learn its Messagenode while at it (for /api/feeds roles).
            const status = await fetchFn(new URL('/api/status', target.url), signal ? { signal } : {})
            const body = (await status.json()) as { relay?: { id?: FeedId } }
            if (body.relay?.id) peerMessagenodes.set(target.url, body.relay.id)
          }
          return resolveRelayTarget(target, { prefer: 'tcp' }, { fetch: fetchFn }, signal)
        },
        maxDelayMs: 30_000,
      },
      { node: p2p.node },
    ),
  }))

  return {
    p2p,
    engine,
    follows,
    contacts,
    async status() {
      const peers = await p2p.peers()
      return {
        peerId: p2p.peerId,
        multiaddrs: p2p.multiaddrs(),
        peers: peers.map((p) => ({
          peerId: p.peerId,
          transports: [...new Set(p.connections.map((c) => c.transport))],
          reserved: p.reserved,
        })),
        follows: { all: true, feeds: contacts.followed() },
        peerRelays: keepers.map(({ target, keeper }) => ({
          target: target.text,
          state: keeper.state().kind,
        })),
      }
    },
    async peers() {
      const peers = await p2p.peers()
      return {
        peers: peers
          // Every peer with a reservation can be reached through this relay; tabs also answer
          // WebRTC there (their identify addresses do not always reach the peer store in time).
          .filter((p) => p.reserved)
          .map((p) => ({ peerId: p.peerId, addrs: [...p.webrtcAddrs] })),
      }
    },
    metricsSource: () => ({
      connections: () =>
        p2p.node.getConnections().map((c) => ({ transport: transportOf(c), direction: c.direction })),
      reservations: () => p2p.node.services.relay.reservations.size,
      feeds: () => {
        let messages = 0
        const clock = store.vectorClock()
        for (const head of clock.values()) messages += head.sequence
        return { count: clock.size, messages }
      },
    }),
    peerMessagenodes: () => [...peerMessagenodes.values()],
    async stop() {
      for (const { keeper } of keepers) keeper.stop()
      contacts.stop()
      await replication.stop()
      await engine.close()
      follows.close()
      await p2p.stop()
    },
  }
}
