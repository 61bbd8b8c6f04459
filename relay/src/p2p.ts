/**
 * The relay's libp2p node: WebSockets on the HTTP server's own port (browsers), TCP on a second
 * port (Node peers: headless validators, other relays), noise + yamux, identify, ping, and a circuit
 * relay v2 server through which tabs reserve a slot and signal WebRTC to each other.
 *
 * Limits are raised so that many tabs on one host work (STACK-NOTES note 4): loopback is
 * allow-listed (no per-host rate limit, no pending-upgrade cap), other hosts get a generous
 * threshold, and relayed connections get limits high enough for replication (they only carry
 * WebRTC signaling in practice, but a slow catch-up over one must not be cut after libp2p's default
 * two minutes / 128 KiB).
 */
import '../../src/node/polyfills'
import type { Server } from 'node:http'
import { circuitRelayServer } from '@libp2p/circuit-relay-v2'
import { identify } from '@libp2p/identify'
import type { Connection, PeerId, PrivateKey } from '@libp2p/interface'
import { noise } from '@libp2p/noise'
import { ping } from '@libp2p/ping'
import { tcp } from '@libp2p/tcp'
import { yamux } from '@libp2p/yamux'
import createDebug from 'debug'
import { createLibp2p, type Libp2p } from 'libp2p'
import { sharedPortWebSockets } from './shared-port-websockets'

const log = createDebug('blockfin:relay:p2p')

export const LOOPBACK_ALLOW_LIST = ['/ip4/127.0.0.0/ipcidr/8', '/ip6/::1/ipcidr/128']

export interface RelayP2pOptions {
  /** The interface the HTTP server (and so WebSockets) listens on; TCP listens on it too. */
  readonly host: string
  /** TCP port for Node peers; 0 picks a free one. */
  readonly tcpPort: number
  /** Extra multiaddrs to announce (e.g. a public DNS name in front of this relay). */
  readonly announce?: readonly string[]
  /** Circuit relay reservations held at once. */
  readonly maxReservations?: number
  readonly maxConnections?: number
  /** Extra networks (multiaddr with /ipcidr) exempt from per-host connection limits. */
  readonly allow?: readonly string[]
  /** How long a peer that misbehaved is refused, in ms. */
  readonly banMs?: number
}

export interface RelayP2pDeps {
  readonly privateKey: PrivateKey
  /** The relay's HTTP server, already listening: WebSockets share its port. */
  readonly httpServer: Server
  readonly now?: () => number
}

export type RelayLibp2p = Libp2p<{
  identify: ReturnType<ReturnType<typeof identify>>
  ping: ReturnType<ReturnType<typeof ping>>
  relay: ReturnType<ReturnType<typeof circuitRelayServer>>
}>

export interface PeerSummary {
  readonly peerId: string
  readonly connections: readonly {
    readonly remoteAddr: string
    readonly direction: 'inbound' | 'outbound'
    readonly transport: string
    readonly limited: boolean
  }[]
  /** True when the peer holds a circuit relay reservation here (tabs do). */
  readonly reserved: boolean
  /** Addresses the peer announced (identify) that other tabs can dial over WebRTC. */
  readonly webrtcAddrs: readonly string[]
}

export interface RelayP2p {
  readonly node: RelayLibp2p
  readonly peerId: string
  multiaddrs(): string[]
  /** Peers connected now, with their connections. */
  peers(): Promise<PeerSummary[]>
  /** Refuses this peer's connections for a while and closes the current ones. */
  ban(peer: PeerId, reason: string): Promise<void>
  stop(): Promise<void>
}

/** The transport a connection uses, from its remote multiaddr. */
export function transportOf(connection: Pick<Connection, 'remoteAddr'>): string {
  const names = connection.remoteAddr.getComponents().map((c) => c.name)
  if (names.includes('p2p-circuit')) return names.includes('webrtc') ? 'webrtc' : 'circuit'
  if (names.includes('webrtc') || names.includes('webrtc-direct')) return 'webrtc'
  if (names.includes('ws') || names.includes('wss') || names.includes('tls')) return 'websockets'
  if (names.includes('tcp')) return 'tcp'
  return names.at(-1) ?? 'unknown'
}

export async function startRelayP2p(options: RelayP2pOptions, deps: RelayP2pDeps): Promise<RelayP2p> {
  const address = deps.httpServer.address()
  if (!address || typeof address === 'string') throw new Error('the HTTP server must be listening first')
  const now = deps.now ?? Date.now
  const banMs = options.banMs ?? 60_000
  const banned = new Map<string, number>()
  const isBanned = (peer: PeerId) => {
    const until = banned.get(peer.toString())
    if (until === undefined) return false
    if (until > now()) return true
    banned.delete(peer.toString())
    return false
  }
  const ip = options.host.includes(':') ? 'ip6' : 'ip4'

  const node: RelayLibp2p = await createLibp2p({
    privateKey: deps.privateKey,
    addresses: {
      listen: [
        `/${ip}/${options.host}/tcp/${address.port}/ws`,
        `/${ip}/${options.host}/tcp/${options.tcpPort}`,
      ],
      announce: options.announce ? [...options.announce] : [],
    },
    transports: [sharedPortWebSockets({ server: deps.httpServer }), tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    connectionGater: {
      // Relays dial other relays, which may well be on private or loopback addresses.
      denyDialMultiaddr: () => false,
      denyInboundEncryptedConnection: (peer) => isBanned(peer),
      denyOutboundEncryptedConnection: (peer) => isBanned(peer),
    },
    connectionManager: {
      maxConnections: options.maxConnections ?? 2048,
      inboundConnectionThreshold: 100,
      maxIncomingPendingConnections: 256,
      allow: [...LOOPBACK_ALLOW_LIST, ...(options.allow ?? [])],
    },
    services: {
      identify: identify(),
      ping: ping(),
      relay: circuitRelayServer({
        reservations: {
          maxReservations: options.maxReservations ?? 1024,
          applyDefaultLimit: true,
          // 1 hour and 1 GiB per relayed connection: a tab re-dials after that.
          defaultDurationLimit: 60 * 60 * 1000,
          defaultDataLimit: 1n << 30n,
        },
        maxInboundHopStreams: 1024,
        maxOutboundHopStreams: 1024,
        maxOutboundStopStreams: 1024,
      }),
    },
  })
  log('peer %s listening on %o', node.peerId.toString(), node.getMultiaddrs().map(String))

  return {
    node,
    peerId: node.peerId.toString(),
    multiaddrs: () => node.getMultiaddrs().map((ma) => ma.toString()),
    async peers() {
      const byPeer = new Map<string, Connection[]>()
      for (const c of node.getConnections()) {
        const id = c.remotePeer.toString()
        byPeer.set(id, [...(byPeer.get(id) ?? []), c])
      }
      const reservations = node.services.relay.reservations
      const out: PeerSummary[] = []
      for (const [peerId, connections] of byPeer) {
        const remote = connections[0]!.remotePeer
        let webrtcAddrs: string[] = []
        try {
          const peer = await node.peerStore.get(remote)
          webrtcAddrs = peer.addresses
            .map((a) => a.multiaddr.toString())
            .filter((a) => a.includes('/p2p-circuit/webrtc'))
        } catch {
          // not identified yet
        }
        out.push({
          peerId,
          reserved: reservations.has(remote),
          webrtcAddrs,
          connections: connections.map((c) => ({
            remoteAddr: c.remoteAddr.toString(),
            direction: c.direction,
            transport: transportOf(c),
            limited: c.limits !== undefined,
          })),
        })
      }
      return out
    },
    async ban(peer, reason) {
      log('banning %s for %d ms: %s', peer.toString(), banMs, reason)
      banned.set(peer.toString(), now() + banMs)
      await node.hangUp(peer).catch(() => undefined)
    },
    async stop() {
      await node.stop()
    },
  }
}
