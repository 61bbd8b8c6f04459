/**
 * Direct WebRTC connections from a tab to a bounded number of other tabs (default 8).
 *
 * Peers are discovered from the relay (`GET /api/peers`: the peers holding a circuit reservation
 * there and announcing a WebRTC address). One worker dials one peer at a time (STACK-NOTES note 7:
 * concurrent WebRTC dials hang), through `<relay>/p2p-circuit/webrtc/p2p/<peer>`, with a timeout and
 * per-peer exponential backoff after failures. To avoid both ends dialing each other, a tab dials
 * peers whose id sorts after its own, and dials the others only while it has fewer than two direct
 * peers. Duplicate connections that still happen are closed (the one this side dialed goes). Direct
 * connections above the bound (inbound ones from other tabs) are closed, newest first.
 *
 * The relayed connection that carried the WebRTC signaling is closed once the direct one is up.
 *
 * Every dial attempt costs an RTCPeerConnection, and a tab may create at most 500 over its
 * lifetime: the mesh stops dialing when the RTC budget runs low (answers to others' dials then
 * still use what is left), so a long-lived tab degrades to the relayed path instead of breaking.
 */
import type { Connection, Libp2p } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'
import createDebug from 'debug'
import { backoffDelay } from './keep-connected'
import type { RtcBudget } from './rtc-budget'

const log = createDebug('blockfin:net:mesh')

export interface MeshPeer {
  readonly peerId: string
}

export interface PeerMeshOptions {
  readonly maxDirectPeers?: number
  /** How often the relay is asked for peers, in ms. */
  readonly pollIntervalMs?: number
  readonly dialTimeoutMs?: number
  readonly minBackoffMs?: number
  readonly maxBackoffMs?: number
  /** Stop dialing when fewer RTCPeerConnections than this remain in the budget. */
  readonly rtcReserve?: number
}

export interface PeerMeshDeps {
  readonly node: Pick<
    Libp2p,
    'peerId' | 'dial' | 'getConnections' | 'addEventListener' | 'removeEventListener'
  >
  /** The peers the relay knows (GET /api/peers). */
  readonly listPeers: (signal: AbortSignal) => Promise<MeshPeer[]>
  /** The relay connection's address with /p2p/<relay>, when connected to it. */
  readonly relayAddr: () => Multiaddr | undefined
  readonly rtc: RtcBudget | undefined
  readonly random?: () => number
  readonly onChange?: () => void
}

export interface PeerMeshStats {
  readonly directPeers: number
  readonly dialAttempts: number
  readonly dialFailures: number
  readonly duplicatesClosed: number
  readonly excessClosed: number
  /** Peers the relay listed last time. */
  readonly known: number
}

export interface PeerMesh {
  stats(): PeerMeshStats
  /** Look for peers now (e.g. right after the relay connection came up). */
  poke(): void
  stop(): void
}

export const isWebRtcConnection = (c: Connection): boolean =>
  c.limits === undefined && c.remoteAddr.getComponents().some((p) => p.name === 'webrtc')

export function startPeerMesh(options: PeerMeshOptions, deps: PeerMeshDeps): PeerMesh {
  const maxDirect = options.maxDirectPeers ?? 8
  const pollInterval = options.pollIntervalMs ?? 5_000
  const dialTimeout = options.dialTimeoutMs ?? 15_000
  const minBackoff = options.minBackoffMs ?? 2_000
  const maxBackoff = options.maxBackoffMs ?? 120_000
  const rtcReserve = options.rtcReserve ?? 50
  const random = deps.random ?? Math.random
  const me = deps.node.peerId.toString()
  const backoff = new Map<string, { failures: number; until: number }>()
  const stop = new AbortController()
  let wake: (() => void) | undefined
  let known = 0
  const counters = { dialAttempts: 0, dialFailures: 0, duplicatesClosed: 0, excessClosed: 0 }

  const direct = (): Connection[] => deps.node.getConnections().filter(isWebRtcConnection)
  const directPeers = () => new Set(direct().map((c) => c.remotePeer.toString()))

  /** Closes duplicate direct connections (keeping the oldest) and the ones above the bound. */
  const prune = () => {
    const byPeer = new Map<string, Connection[]>()
    for (const c of direct()) {
      const id = c.remotePeer.toString()
      byPeer.set(id, [...(byPeer.get(id) ?? []), c])
    }
    for (const [peer, conns] of byPeer) {
      if (conns.length < 2) continue
      conns.sort((a, b) => a.timeline.open - b.timeline.open)
      // The peer with the lower id keeps the connection it dialed, when there is one.
      const preferMine = me < peer
      const keep = conns.find((c) => (c.direction === 'outbound') === preferMine) ?? conns[0]!
      for (const c of conns)
        if (c !== keep && c.direction === 'outbound') {
          counters.duplicatesClosed++
          log('closing duplicate connection to %s', peer)
          void c.close().catch(() => undefined)
        }
    }
    // The relayed connection a dial used to signal WebRTC is of no more use once the direct one is
    // up; the side that dialed it closes it (it would hold a relay slot for an hour).
    for (const c of deps.node.getConnections())
      if (c.limits !== undefined && c.direction === 'outbound' && byPeer.has(c.remotePeer.toString()))
        void c.close().catch(() => undefined)
    const peers = [...byPeer.entries()]
    const excess = peers.length - (maxDirect + 2)
    if (excess > 0) {
      const inbound = peers
        .map(([, conns]) => conns[0]!)
        .filter((c) => c.direction === 'inbound')
        .sort((a, b) => b.timeline.open - a.timeline.open)
      for (const c of inbound.slice(0, excess)) {
        counters.excessClosed++
        log('closing inbound connection from %s: above %d direct peers', c.remotePeer.toString(), maxDirect)
        void c.close().catch(() => undefined)
      }
    }
  }

  const dialOne = async (peer: string, relay: Multiaddr): Promise<boolean> => {
    const target = relay.encapsulate(`/p2p-circuit/webrtc/p2p/${peer}`)
    counters.dialAttempts++
    log('dialing %s', target.toString())
    try {
      const signal = AbortSignal.any([stop.signal, AbortSignal.timeout(dialTimeout)])
      const connection = await deps.node.dial(target, { signal })
      if (!isWebRtcConnection(connection)) {
        log('dial to %s came back over %s, not WebRTC', peer, connection.remoteAddr.toString())
        return false
      }
      backoff.delete(peer)
      return true
    } catch (e) {
      counters.dialFailures++
      const failures = (backoff.get(peer)?.failures ?? 0) + 1
      const delay = backoffDelay(failures, minBackoff, maxBackoff, random)
      backoff.set(peer, { failures, until: Date.now() + delay })
      log('dial to %s failed (%s); next try in %d ms', peer, (e as Error).message, delay)
      return false
    } finally {
      deps.onChange?.()
    }
  }

  const pick = (peers: MeshPeer[]): string | undefined => {
    const connected = directPeers()
    const now = Date.now()
    const eligible = peers
      .map((p) => p.peerId)
      .filter((p) => p !== me && !connected.has(p) && (backoff.get(p)?.until ?? 0) <= now)
    const preferred = eligible.filter((p) => p > me)
    const pool = preferred.length > 0 ? preferred : connected.size < 2 ? eligible : []
    if (pool.length === 0) return undefined
    return pool[Math.floor(random() * pool.length)]
  }

  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(done, ms)
      function done() {
        clearTimeout(timer)
        stop.signal.removeEventListener('abort', done)
        wake = undefined
        resolve()
      }
      wake = done
      stop.signal.addEventListener('abort', done)
    })

  const onConnectionChange = () => {
    prune()
    deps.onChange?.()
  }
  deps.node.addEventListener('connection:open', onConnectionChange)
  deps.node.addEventListener('connection:close', onConnectionChange)

  const run = async () => {
    while (!stop.signal.aborted) {
      try {
        const relay = deps.relayAddr()
        if (relay && directPeers().size < maxDirect) {
          const peers = await deps.listPeers(AbortSignal.any([stop.signal, AbortSignal.timeout(10_000)]))
          known = peers.length
          // One dial at a time, until the bound or no candidate is left.
          while (!stop.signal.aborted && directPeers().size < maxDirect) {
            if (deps.rtc && deps.rtc.remaining() < rtcReserve) {
              log('RTC budget low (%d left): not dialing', deps.rtc.remaining())
              break
            }
            const peer = pick(peers)
            const current = deps.relayAddr()
            if (!peer || !current) break
            await dialOne(peer, current)
          }
        }
      } catch (e) {
        log('peer discovery failed: %s', (e as Error).message)
      }
      prune()
      await sleep(pollInterval)
    }
  }
  void run()

  return {
    stats: () => ({ directPeers: directPeers().size, known, ...counters }),
    poke: () => wake?.(),
    stop() {
      stop.abort()
      deps.node.removeEventListener('connection:open', onConnectionChange)
      deps.node.removeEventListener('connection:close', onConnectionChange)
    },
  }
}

/** The relay's peer list, from `GET <relay http>/api/peers`. */
export async function fetchRelayPeers(
  options: { readonly httpUrl: string },
  deps: { readonly fetch: typeof fetch },
  signal: AbortSignal,
): Promise<MeshPeer[]> {
  const response = await deps.fetch(new URL('/api/peers', options.httpUrl), { signal, cache: 'no-store' })
  if (!response.ok) throw new Error(`GET /api/peers: HTTP ${response.status}`)
  const body = (await response.json()) as { peers?: { peerId?: unknown; addrs?: unknown }[] }
  return (body.peers ?? [])
    .filter((p): p is { peerId: string; addrs: string[] } => typeof p.peerId === 'string')
    .map((p) => ({ peerId: p.peerId }))
}
