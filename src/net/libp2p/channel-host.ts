/**
 * Runs one channel protocol (the replication protocol, or a test echo) over a libp2p node: every
 * direct, unlimited connection carries at most one channel per peer, handed to `onChannel`.
 *
 * Who opens: the side that dialed the connection opens the stream; the other side accepts it. When
 * two channels to one peer exist (both sides dialed, or a retried dial left a duplicate connection),
 * both sides agree on one to keep without talking: among the channels opened by the peer with the
 * lower peer id, the oldest; failing that, the oldest opened by the other. Each side only closes the
 * channels it opened itself (and the connection under it, when it dialed that connection and
 * another connection to the peer carries the kept channel), so the two never race.
 *
 * Relayed (circuit) connections carry no channel: between tabs they exist to signal WebRTC, and
 * data between two tabs without a direct connection still flows through the relay, which follows
 * every feed (the relayed fallback).
 */
import type { Connection, Libp2pEvents, PeerId, Stream, TypedEventTarget } from '@libp2p/interface'
import createDebug from 'debug'
import { createStreamChannel, MAX_FRAME_LENGTH, type StreamChannel } from './stream-channel'

const log = createDebug('blockfin:net:channels')

/** The parts of a libp2p node the host uses (a `Libp2p` satisfies it). */
export interface ChannelNode extends TypedEventTarget<Libp2pEvents> {
  readonly peerId: PeerId
  handle(
    protocol: string,
    handler: (stream: Stream, connection: Connection) => void | Promise<void>,
    options?: { maxInboundStreams?: number; maxOutboundStreams?: number; runOnLimitedConnection?: boolean },
  ): Promise<void>
  unhandle(protocol: string): Promise<void>
  getConnections(peerId?: PeerId): Connection[]
}

export interface ChannelHostOptions {
  readonly protocol: string
  readonly maxFrameLength?: number
  /** Which connections carry a channel. Default: direct and without relay limits. */
  readonly eligible?: (connection: Connection) => boolean
}

export interface ChannelInfo {
  readonly channel: StreamChannel
  readonly connection: Connection
  /** True when this side opened the stream. */
  readonly opened: boolean
}

export interface ChannelHostDeps {
  readonly node: ChannelNode
  readonly onChannel: (info: ChannelInfo) => void
  /** The peer broke the framing on a channel (an oversized or unparsable length prefix). */
  readonly onMisbehaviour?: (info: ChannelInfo, reason: string) => void
  readonly onBytes?: (direction: 'in' | 'out', bytes: number) => void
}

export interface ChannelHost {
  /** The channels in use, one per peer once duplicates are settled. */
  channels(): ChannelInfo[]
  /** Opens a channel on this connection if it has none (normally done on connection:open). */
  open(connection: Connection): Promise<void>
  stop(): Promise<void>
}

export const isDirectConnection = (c: Connection): boolean => c.direct && c.limits === undefined

interface Entry extends ChannelInfo {
  /** Arrival order on this side (the oldest of one opener's duplicates is kept). */
  readonly seq: number
}

export async function startChannelHost(
  options: ChannelHostOptions,
  deps: ChannelHostDeps,
): Promise<ChannelHost> {
  const { node } = deps
  const { protocol } = options
  const eligible = options.eligible ?? isDirectConnection
  const me = node.peerId.toString()
  const byPeer = new Map<string, Set<Entry>>()
  const opening = new Set<string>() // connection ids with a stream being opened
  let stopped = false
  let seq = 0

  const add = (stream: Stream, connection: Connection, opened: boolean) => {
    const peer = connection.remotePeer.toString()
    const channel = createStreamChannel(
      { peer, maxFrameLength: options.maxFrameLength ?? MAX_FRAME_LENGTH },
      { stream, ...(deps.onBytes ? { onBytes: deps.onBytes } : {}) },
    )
    const entry: Entry = { channel, connection, opened, seq: seq++ }
    let set = byPeer.get(peer)
    if (!set) {
      set = new Set()
      byPeer.set(peer, set)
    }
    set.add(entry)
    void channel.ended.then((end) => {
      set.delete(entry)
      if (set.size === 0 && byPeer.get(peer) === set) byPeer.delete(peer)
      log('channel %s %s ended%s', opened ? 'to' : 'from', peer, end.reason ? `: ${end.reason}` : '')
      if (end.violation && !stopped) deps.onMisbehaviour?.(entry, end.reason ?? 'bad frame')
    })
    log('channel %s %s on %s', opened ? 'to' : 'from', peer, connection.remoteAddr.toString())
    deps.onChannel(entry)
    settle(peer)
  }

  /** Keeps one channel per peer; closes this side's own surplus channels. */
  const settle = (peer: string) => {
    const set = byPeer.get(peer)
    if (!set || set.size < 2) return
    const entries = [...set]
    const lowerOpener = me < peer ? (e: Entry) => e.opened : (e: Entry) => !e.opened
    const pool = entries.some(lowerOpener) ? entries.filter(lowerOpener) : entries
    const keep = pool.reduce((a, b) => (b.seq < a.seq ? b : a))
    for (const e of entries) {
      if (e === keep || !e.opened) continue
      log('closing duplicate channel to %s', peer)
      set.delete(e)
      e.channel.close()
      if (e.connection !== keep.connection && e.connection.direction === 'outbound')
        void e.connection.close().catch(() => undefined)
    }
  }

  const open = async (connection: Connection): Promise<void> => {
    if (stopped || connection.status !== 'open' || !eligible(connection)) return
    if (opening.has(connection.id)) return
    const peer = connection.remotePeer.toString()
    for (const e of byPeer.get(peer) ?? []) if (e.connection.id === connection.id) return
    opening.add(connection.id)
    try {
      const stream = await connection.newStream(protocol, { signal: AbortSignal.timeout(10_000) })
      if (stopped) {
        stream.abort(new Error('channel host stopped'))
        return
      }
      add(stream, connection, true)
    } catch (e) {
      log('cannot open %s to %s: %s', protocol, peer, (e as Error).message)
    } finally {
      opening.delete(connection.id)
    }
  }

  const onOpen = (evt: CustomEvent<Connection>) => {
    const connection = evt.detail
    if (connection.direction === 'outbound') void open(connection)
  }

  await node.handle(
    protocol,
    (stream, connection) => {
      if (stopped || !eligible(connection)) {
        stream.abort(new Error('no channel on this connection'))
        return
      }
      add(stream, connection, false)
    },
    { maxInboundStreams: 4, maxOutboundStreams: 4 },
  )
  node.addEventListener('connection:open', onOpen)
  for (const connection of node.getConnections())
    if (connection.direction === 'outbound') void open(connection)

  return {
    channels: () => [...byPeer.values()].flatMap((set) => [...set]),
    open,
    async stop() {
      if (stopped) return
      stopped = true
      node.removeEventListener('connection:open', onOpen)
      await node.unhandle(protocol).catch(() => undefined)
      for (const set of byPeer.values()) for (const e of set) e.channel.close()
      byPeer.clear()
    },
  }
}
