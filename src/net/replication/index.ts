/** `/blockfin/replicate/1.0.0`: the replication protocol, independent of the transport (docs/replication.md). */
export { ChannelClosedError, type ChannelPair, createChannelPair, type PeerChannel } from './channel'
export {
  type CodecError,
  decodeFrame,
  type Frame,
  MAX_FRAME_BYTES,
  REPLICATION_PROTOCOL,
} from './codec'
export {
  createReplicationEngine,
  type ReplicationEngine,
  type ReplicationEngineDeps,
  type ReplicationEngineOptions,
  type ReplicationStore,
} from './engine'
export type { PeerMetrics, ReplicationMetrics } from './metrics'
export { type Clock, systemClock, TokenBucket } from './rate-limit'
export type { SessionEnd } from './session'
