/**
 * The tab's libp2p node: WebSockets (to the relay), WebRTC (direct to other tabs, signaled over a
 * circuit relay connection), the circuit relay transport (it reserves a slot on the relay, so
 * others can reach this tab), noise, yamux, identify and ping.
 *
 * It listens on `/p2p-circuit` and `/webrtc` (STACK-NOTES note 6): once connected to a relay it
 * holds a reservation there and announces `<relay>/p2p-circuit/webrtc/p2p/<self>`.
 *
 * libp2p is imported dynamically: the app shell (identity, own feed) starts without it, offline
 * too, and the RTCPeerConnection budget is installed before @libp2p/webrtc captures the global.
 */
import type { Libp2p, PrivateKey } from '@libp2p/interface'
import { installRtcBudget, type RtcBudget } from './rtc-budget'

export interface BrowserNodeOptions {
  /** Most connections libp2p keeps (relay, direct peers, relayed signaling). */
  readonly maxConnections?: number
  /** RTCPeerConnections the tab may create over its lifetime (Chromium's cap is 500). */
  readonly rtcHardCap?: number
}

export interface BrowserNodeDeps {
  readonly privateKey: PrivateKey
}

export interface BrowserNode {
  readonly node: Libp2p
  /** Undefined where the page has no RTCPeerConnection (then WebRTC is not used). */
  readonly rtc: RtcBudget | undefined
}

export async function createBrowserNode(
  options: BrowserNodeOptions,
  deps: BrowserNodeDeps,
): Promise<BrowserNode> {
  const rtc = installRtcBudget({ hardCap: options.rtcHardCap ?? 450 })
  const [
    { createLibp2p },
    { webSockets },
    { webRTC },
    { circuitRelayTransport },
    { noise },
    { yamux },
    { identify },
    { ping },
  ] = await Promise.all([
    import('libp2p'),
    import('@libp2p/websockets'),
    import('@libp2p/webrtc'),
    import('@libp2p/circuit-relay-v2'),
    import('@libp2p/noise'),
    import('@libp2p/yamux'),
    import('@libp2p/identify'),
    import('@libp2p/ping'),
  ])
  const node = await createLibp2p({
    privateKey: deps.privateKey,
    addresses: { listen: rtc ? ['/p2p-circuit', '/webrtc'] : ['/p2p-circuit'] },
    transports: [
      webSockets(),
      ...(rtc ? [webRTC()] : []),
      circuitRelayTransport({ reservationCompletionTimeout: 10_000 }),
    ],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    // The default browser gater refuses private addresses and plain ws://, i.e. every relay on a
    // laptop or a LAN (STACK-NOTES note 5). The relay is chosen by the page, so dial what it names.
    connectionGater: { denyDialMultiaddr: () => false },
    connectionManager: {
      maxConnections: options.maxConnections ?? 64,
      // Our own loop dials the relay and peers (with backoff); libp2p's reconnects would double it.
      reconnectRetries: 0,
    },
    services: { identify: identify(), ping: ping() },
  })
  return { node, rtc }
}
