/**
 * Runs the replication engine over libp2p: registers `/blockfin/replicate/1.0.0`, turns each
 * direct connection's stream into a PeerChannel (channel-host.ts) and hands it to the engine, and
 * reports how each session ended. A session the engine closed for a protocol violation (forged or
 * gapped data, garbage frames, floods, another network...) is misbehaviour: the caller decides what
 * to do with the peer (the relay disconnects and refuses it for a while; a tab disconnects).
 */
import type { Connection } from '@libp2p/interface'
import createDebug from 'debug'
import { REPLICATION_PROTOCOL } from '../replication/codec'
import type { ReplicationEngine } from '../replication/engine'
import type { SessionEnd } from '../replication/session'
import { type ChannelHost, type ChannelInfo, type ChannelNode, startChannelHost } from './channel-host'

const log = createDebug('blockfin:net:replication-host')

/** Session ends that say nothing bad about the peer. */
const BENIGN_ENDS = new Set([
  'CLOSED',
  'ENGINE_CLOSED',
  'TOO_MANY_PEERS',
  'REPLACED',
  'STORE_WRITE_FAILED',
  'STORE_CLOSED',
  'HELLO_TIMEOUT',
])

/** True when this side ended the session because of something the peer did. */
export const isMisbehaviour = (end: SessionEnd): boolean => end.local && !BENIGN_ENDS.has(end.code)

export interface ReplicationHostOptions {
  readonly protocol?: string
  /** Which connections carry replication (default: direct, unlimited ones). */
  readonly eligible?: (connection: Connection) => boolean
}

export interface ReplicationHostDeps {
  readonly node: ChannelNode
  readonly engine: Pick<ReplicationEngine, 'addPeer'>
  readonly onMisbehaviour?: (info: { connection: Connection; peer: string }, end: SessionEnd) => void
  readonly onSessionEnd?: (info: ChannelInfo, end: SessionEnd) => void
  readonly onBytes?: (direction: 'in' | 'out', bytes: number) => void
}

export interface ReplicationHost {
  readonly channels: ChannelHost
  /** Peers with a running session. */
  sessions(): number
  stop(): Promise<void>
}

export async function startReplicationHost(
  options: ReplicationHostOptions,
  deps: ReplicationHostDeps,
): Promise<ReplicationHost> {
  let running = 0
  const channels = await startChannelHost(
    {
      protocol: options.protocol ?? REPLICATION_PROTOCOL,
      ...(options.eligible ? { eligible: options.eligible } : {}),
    },
    {
      node: deps.node,
      ...(deps.onBytes ? { onBytes: deps.onBytes } : {}),
      onChannel: (info) => {
        running++
        deps.engine.addPeer(info.channel).then(
          (end) => {
            running--
            log('session with %s ended: %s%s', end.peer, end.code, end.detail ? ` (${end.detail})` : '')
            deps.onSessionEnd?.(info, end)
            if (isMisbehaviour(end))
              deps.onMisbehaviour?.({ connection: info.connection, peer: end.peer }, end)
          },
          (e: unknown) => {
            running--
            log('session with %s failed: %O', info.channel.peer, e)
          },
        )
      },
      onMisbehaviour: (info, reason) => {
        // A frame that broke the framing (too large, bad length prefix): the engine never saw it.
        deps.onMisbehaviour?.(
          { connection: info.connection, peer: info.channel.peer },
          { peer: info.channel.peer, code: 'FRAME_TOO_LARGE', local: true, detail: reason },
        )
      },
    },
  )
  return {
    channels,
    sessions: () => running,
    stop: () => channels.stop(),
  }
}
