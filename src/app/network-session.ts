/**
 * The tab's network: its libp2p node (src/net/libp2p/browser-node.ts), the relay connection kept
 * up with backoff, direct WebRTC connections to a few other tabs (peer-mesh.ts), and the replication
 * engine over all of them. No UI here: `view()` is what the page shows, `subscribe` says when it
 * changed.
 *
 * Offline first: the feed store works without any of this. libp2p does not start without a
 * network (STACK-NOTES note 11), so starting is retried with backoff, at once when the browser says
 * it is online again. When the browser goes offline every connection is closed (they are dead
 * anyway) and dials pause; coming back, the relay is dialed at once and replication resumes from
 * the vector clocks.
 *
 * Following: the network's Messagenodes (the genesis', and the relay's own when it is a joined
 * relay), two hops deep, i.e. every feed a Messagenode follows: every validator and every other
 * Messagenode.
 */
import type { Connection, PrivateKey } from '@libp2p/interface'
import createDebug from 'debug'
import type { FeedId } from '../core/identity/ids'
import { type FollowGraph, openFollowGraph } from '../net/follow-graph'
import type { BrowserNode } from '../net/libp2p/browser-node'
import {
  backoffDelay,
  type KeepConnected,
  type KeepConnectedState,
  keepConnected,
} from '../net/libp2p/keep-connected'
import { fetchRelayPeers, isWebRtcConnection, type PeerMesh, startPeerMesh } from '../net/libp2p/peer-mesh'
import {
  fetchRelayP2p,
  httpUrlOfMultiaddr,
  parseRelayTarget,
  type RelayTarget,
  resolveRelayTarget,
} from '../net/libp2p/relay-address'
import { type ReplicationHost, startReplicationHost } from '../net/libp2p/replication-host'
import { createReplicationEngine, type ReplicationEngine } from '../net/replication/engine'
import type { ReplicationMetrics } from '../net/replication/metrics'
import { systemClock } from '../net/replication/rate-limit'
import type { FeedStore } from '../store/feed-store'

const log = createDebug('blockfin:app:net')

export type SyncState = 'appending locally' | 'syncing'

export interface ConnectionView {
  readonly id: string
  readonly peerId: string
  readonly addr: string
  readonly transport: 'websockets' | 'webrtc' | 'circuit' | 'other'
  readonly direction: 'inbound' | 'outbound'
  /** The relay put limits on it (a relayed connection). */
  readonly limited: boolean
  readonly isRelay: boolean
  /** Round-trip time in ms as libp2p's connection monitor last measured it (undefined until then). */
  readonly rtt?: number
}

export interface NetworkView {
  /** What the browser says (navigator.onLine). */
  readonly online: boolean
  readonly node: 'starting' | 'running' | 'retrying' | 'waiting for network' | 'stopped'
  readonly nodeError?: string
  readonly relayTarget: string
  readonly relay: 'connected' | 'connecting' | 'retrying' | 'offline'
  readonly relayError?: string
  readonly peerId?: string
  readonly sync: SyncState
  /** Peers we replicate with now (relay and direct). */
  readonly sessions: number
  readonly directPeers: number
  readonly connections: readonly ConnectionView[]
  /** RTCPeerConnections this tab created so far, and its cap. */
  readonly rtcCreated: number
  readonly rtcCap: number
  readonly feeds: readonly { readonly id: FeedId; readonly sequence: number }[]
}

export interface Connectivity {
  online(): boolean
  subscribe(listener: (online: boolean) => void): () => void
}

export interface NetworkSessionOptions {
  /** The relay: a multiaddr or an HTTP URL (the page's own origin by default). */
  readonly relay: string
  readonly networkId: string
  /** The network's Messagenodes (genesis). */
  readonly messagenodes: readonly FeedId[]
  readonly maxDirectPeers?: number
  readonly hops?: number
}

export interface NetworkSessionDeps {
  readonly store: FeedStore
  readonly identity: FeedId
  readonly peerKeySeed: Uint8Array
  readonly createPrivateKey: (seed: Uint8Array) => Promise<PrivateKey>
  readonly createNode: (privateKey: PrivateKey) => Promise<BrowserNode>
  readonly fetch: typeof fetch
  readonly connectivity: Connectivity
  readonly random?: () => number
}

export interface NetworkSession {
  view(): NetworkView
  /** The replication engine's counters (frames, messages stored, duplicates, per peer). */
  replication(): ReplicationMetrics
  subscribe(listener: (view: NetworkView) => void): () => void
  stop(): Promise<void>
}

const transportOf = (c: Connection): ConnectionView['transport'] => {
  const names = c.remoteAddr.getComponents().map((p) => p.name)
  if (names.includes('webrtc') && c.limits === undefined) return 'webrtc'
  if (names.includes('p2p-circuit')) return 'circuit'
  if (names.includes('ws') || names.includes('wss')) return 'websockets'
  return 'other'
}

export async function startNetworkSession(
  options: NetworkSessionOptions,
  deps: NetworkSessionDeps,
): Promise<NetworkSession> {
  const random = deps.random ?? Math.random
  const parsed = parseRelayTarget(options.relay)
  const target: RelayTarget | undefined = parsed.ok ? parsed.value : undefined
  const relayHttp = !target
    ? undefined
    : target.kind === 'http'
      ? target.url
      : httpUrlOfMultiaddr(target.addr)
  const listeners = new Set<(view: NetworkView) => void>()
  let stopped = false
  let nodeState: NetworkView['node'] = 'starting'
  let nodeError: string | undefined = parsed.ok ? undefined : parsed.error.reason
  let browserNode: BrowserNode | undefined
  let relay: KeepConnected | undefined
  let relayState: KeepConnectedState | undefined
  let relayPeerId: string | undefined
  let mesh: PeerMesh | undefined
  let replication: ReplicationHost | undefined
  let wake: (() => void) | undefined

  // The relay's own Messagenode (a joined relay is not in the genesis): asked once, briefly.
  const messagenodes = new Set(options.messagenodes)
  if (relayHttp && deps.connectivity.online()) {
    try {
      const p2p = await fetchRelayP2p(relayHttp, deps, AbortSignal.timeout(3_000))
      if (p2p.relayId) messagenodes.add(p2p.relayId as FeedId)
    } catch (e) {
      log('relay status unavailable: %s', (e as Error).message)
    }
  }
  const follows: FollowGraph = await openFollowGraph(
    { self: [deps.identity], follow: [...messagenodes], hops: options.hops ?? 2 },
    { store: deps.store },
  )
  const engine: ReplicationEngine = createReplicationEngine(
    {
      networkId: options.networkId,
      requestTimeoutMs: 10_000,
      maxPeers: 32,
      // Every validator pushes to the relay and the Messagenode lives there: pulling from it keeps
      // each consensus message one hop from its author. Other tabs are the fallback (relay down).
      preferSource: (peer) => peer === relayPeerId,
    },
    { store: deps.store, follows, clock: systemClock },
  )

  // Store churn (every replicated batch) is coalesced; connection changes are told at once. A
  // catch-up starts in the same turn as the relay connection and can keep a slow tab's main thread
  // busy for a second: a timer armed by the connection then fired only after the catch-up, and the
  // page said "connecting" all through it.
  let pending: ReturnType<typeof setTimeout> | undefined
  const notify = () => {
    clearTimeout(pending)
    pending = undefined
    if (stopped) return
    const v = view()
    for (const l of listeners) l(v)
  }
  const changed = () => {
    if (pending || stopped) return
    pending = setTimeout(notify, 150)
  }
  const unsubscribeStore = deps.store.subscribe(changed)

  const view = (): NetworkView => {
    const node = browserNode?.node
    const connections: ConnectionView[] = (node?.getConnections() ?? []).map((c) => ({
      id: c.id,
      peerId: c.remotePeer.toString(),
      addr: c.remoteAddr.toString(),
      transport: transportOf(c),
      direction: c.direction,
      limited: c.limits !== undefined,
      isRelay: c.remotePeer.toString() === relayPeerId,
      ...(c.rtt !== undefined ? { rtt: c.rtt } : {}),
    }))
    const relayView: NetworkView['relay'] = !deps.connectivity.online()
      ? 'offline'
      : relayState?.kind === 'connected'
        ? 'connected'
        : relayState?.kind === 'waiting'
          ? 'retrying'
          : 'connecting'
    const sessions = engine.peers().length
    const directPeers = new Set(
      (node?.getConnections() ?? []).filter(isWebRtcConnection).map((c) => c.remotePeer.toString()),
    ).size
    return {
      online: deps.connectivity.online(),
      node: nodeState,
      ...(nodeError ? { nodeError } : {}),
      relayTarget: options.relay,
      relay: relayView,
      ...(relayState?.kind === 'waiting' ? { relayError: relayState.error } : {}),
      ...(node ? { peerId: node.peerId.toString() } : {}),
      sync: sessions > 0 ? 'syncing' : 'appending locally',
      sessions,
      directPeers,
      connections,
      rtcCreated: browserNode?.rtc?.created() ?? 0,
      rtcCap: browserNode?.rtc?.hardCap ?? 0,
      feeds: [...deps.store.vectorClock()].map(([id, head]) => ({ id, sequence: head.sequence })),
    }
  }

  const startParts = async (bn: BrowserNode) => {
    const { node } = bn
    node.addEventListener('connection:open', notify)
    node.addEventListener('connection:close', notify)
    replication = await startReplicationHost(
      {},
      {
        node,
        engine,
        onSessionEnd: changed,
        onMisbehaviour: ({ connection }, end) => {
          log('peer %s misbehaved (%s): disconnecting', end.peer, end.code)
          void connection.close().catch(() => undefined)
        },
      },
    )
    if (!target) return
    relay = keepConnected(
      {
        name: 'relay',
        resolve: ({ signal }) => resolveRelayTarget(target, { prefer: 'websockets' }, deps, signal),
        maxDelayMs: 15_000,
      },
      {
        node,
        random,
        onState: (state) => {
          relayState = state
          if (state.kind === 'connected') {
            relayPeerId = state.connection.remotePeer.toString()
            mesh?.poke()
          }
          notify()
        },
      },
    )
    if (relayHttp && bn.rtc)
      mesh = startPeerMesh(
        { maxDirectPeers: options.maxDirectPeers ?? 8 },
        {
          node,
          rtc: bn.rtc,
          random,
          listPeers: (signal) => fetchRelayPeers({ httpUrl: relayHttp }, deps, signal),
          relayAddr: () => (relayState?.kind === 'connected' ? relayState.connection.remoteAddr : undefined),
          onChange: changed,
        },
      )
  }

  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(done, ms)
      function done() {
        clearTimeout(timer)
        wake = undefined
        resolve()
      }
      wake = done
    })

  // Start libp2p, retrying while it cannot (offline, no WebSocket...).
  const run = async () => {
    const privateKey = await deps.createPrivateKey(deps.peerKeySeed)
    for (let attempt = 1; !stopped; attempt++) {
      if (!deps.connectivity.online()) {
        nodeState = 'waiting for network'
        changed()
        await sleep(60_000) // woken by the online event
        continue
      }
      try {
        nodeState = 'starting'
        changed()
        const bn = await deps.createNode(privateKey)
        if (stopped) {
          await bn.node.stop()
          return
        }
        browserNode = bn
        nodeState = 'running'
        nodeError = undefined
        await startParts(bn)
        changed()
        return
      } catch (e) {
        nodeError = (e as Error).message
        const delay = backoffDelay(attempt, 1_000, 30_000, random)
        log('libp2p did not start (%s); retrying in %d ms', nodeError, delay)
        nodeState = 'retrying'
        changed()
        await sleep(delay)
      }
    }
  }
  void run()

  const unsubscribeConnectivity = deps.connectivity.subscribe((online) => {
    log('browser is %s', online ? 'online' : 'offline')
    if (!online) {
      // The connections are dead; close them now instead of waiting for timeouts.
      for (const c of browserNode?.node.getConnections() ?? []) c.abort(new Error('the browser went offline'))
    } else {
      wake?.()
      relay?.kick()
      mesh?.poke()
    }
    notify()
  })

  return {
    view,
    replication: () => engine.metrics(),
    subscribe(listener) {
      listeners.add(listener)
      return () => listeners.delete(listener)
    },
    async stop() {
      if (stopped) return
      stopped = true
      wake?.()
      clearTimeout(pending)
      unsubscribeConnectivity()
      unsubscribeStore()
      mesh?.stop()
      relay?.stop()
      await replication?.stop()
      await engine.close()
      follows.close()
      await browserNode?.node.stop()
      nodeState = 'stopped'
    },
  }
}
