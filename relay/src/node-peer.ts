/**
 * A libp2p node for Node processes that dial relays: the headless validator, tests and benchmarks.
 * It dials TCP and WebSockets (a relay offers both), listens on nothing by default.
 */
import '../../src/node/polyfills'
import { identify } from '@libp2p/identify'
import type { PrivateKey } from '@libp2p/interface'
import { noise } from '@libp2p/noise'
import { ping } from '@libp2p/ping'
import { tcp } from '@libp2p/tcp'
import { webSockets } from '@libp2p/websockets'
import { yamux } from '@libp2p/yamux'
import { createLibp2p, type Libp2p } from 'libp2p'

export interface NodePeerOptions {
  /** Multiaddrs to listen on (e.g. `/ip4/127.0.0.1/tcp/0`); none by default. */
  readonly listen?: readonly string[]
}

export interface NodePeerDeps {
  /** The node's key; a fresh one when absent. */
  readonly privateKey?: PrivateKey
}

export type NodePeer = Libp2p<{
  identify: ReturnType<ReturnType<typeof identify>>
  ping: ReturnType<ReturnType<typeof ping>>
}>

export function createNodePeer(options: NodePeerOptions, deps: NodePeerDeps): Promise<NodePeer> {
  return createLibp2p({
    ...(deps.privateKey ? { privateKey: deps.privateKey } : {}),
    addresses: { listen: [...(options.listen ?? [])] },
    transports: [tcp(), webSockets()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    connectionGater: { denyDialMultiaddr: () => false },
    services: { identify: identify(), ping: ping() },
  })
}
