/**
 * The replication engine of `/blockfin/replicate/1.0.0` (docs/replication.md), independent of the
 * transport: `addPeer(channel)` runs the protocol with one peer until the channel ends.
 *
 * Per feed it replicates (FollowGraph), the engine keeps ONE source peer at a time: it asks the
 * peer whose announced clock is ahead of ours (`want` from our head + 1, live), and moves the
 * request to another peer when the source makes no progress for `requestTimeoutMs` while some
 * peer is known to be ahead, when the source sends bad data, or when it disconnects. Everything
 * received goes through FeedStore.append, which verifies it; nothing else is stored.
 */
import createDebug from 'debug'
import type { FeedId } from '../../core/identity/ids'
import type { FeedStore } from '../../store/feed-store'
import type { FollowChange, FollowGraph } from '../follow-graph'
import type { PeerChannel } from './channel'
import { type ClockEntry, encodeSmallFrame, MAX_FRAME_BYTES, type ReceiveWindow } from './codec'
import {
  addTraffic,
  bump,
  cloneTraffic,
  newTrafficCounters,
  type PeerMetrics,
  type ReplicationMetrics,
  type TrafficCounters,
} from './metrics'
import type { Clock, TokenBucketOptions } from './rate-limit'
import { PeerSession, type SessionEnd, type SessionHost, type SessionLimits } from './session'

const log = createDebug('blockfin:net:replicate')

export interface ReplicationEngineOptions {
  /** The network id (docs/protocol.md section 2); peers of another network are refused. */
  readonly networkId: string
  /** A source that makes no progress for this long, while a peer is known to be ahead, is replaced. */
  readonly requestTimeoutMs: number
  /** Most connected peers; more are refused with TOO_MANY_PEERS. Default 64. */
  readonly maxPeers?: number
  /** Our receive window, announced in hello. Default 64 frames, 1 MiB: smaller windows left both ends idle while frames were in flight (relay to validator 5.0k against 8.1k msgs/s). */
  readonly window?: Partial<ReceiveWindow>
  /** Data frames handed to the store and not yet committed before we stop reading. Default 32. */
  readonly maxPendingDataFrames?: number
  /** Messages read from the store per batch when serving. Default 64. */
  readonly batchMessages?: number
  /** Control frames (all but data and acks) per peer. Default burst 2000, 500 per second. */
  readonly rateLimit?: TokenBucketOptions
  /** Violations after which a peer is disconnected. Default 10. */
  readonly maxViolations?: number
  /** Most feeds a peer may announce, and may request. Default 100,000. */
  readonly maxFeedsPerPeer?: number
  /** A peer must complete its hello within this. Default requestTimeoutMs. */
  readonly helloTimeoutMs?: number
  /** How long an ack waits to be coalesced with later ones (a quarter window goes at once). Default 10 ms. */
  readonly ackDelayMs?: number
  /** How long `have` frames of store advances are coalesced (answers to `follow` go at once). Default 200 ms. */
  readonly haveDelayMs?: number
  /**
   * Peers to pull feeds from first (e.g. a tab's relay, which every author pushes to: one hop from
   * any author, where another tab may be two or more). Called when a feed's source is chosen.
   */
  readonly preferSource?: (peer: string) => boolean
}

/** What the engine uses of a FeedStore. */
export type ReplicationStore = Pick<FeedStore, 'append' | 'head' | 'vectorClock' | 'range' | 'subscribe'>

export interface ReplicationEngineDeps {
  readonly store: ReplicationStore
  readonly follows: FollowGraph
  readonly clock: Clock
  /** When given, feeds of unknown authors are never requested nor announced (the store refuses them anyway). */
  readonly isKnownAuthor?: (feed: FeedId) => boolean
}

export interface ReplicationEngine {
  /** Runs the protocol with this peer until the channel ends; resolves with how it ended. */
  addPeer(channel: PeerChannel): Promise<SessionEnd>
  peers(): string[]
  /** The peer we currently request `feed` from (undefined: none). */
  sourceOf(feed: FeedId): string | undefined
  metrics(): ReplicationMetrics
  /** Ends every session (fatal ENGINE_CLOSED to each peer) and stops listening to the store. */
  close(): Promise<void>
}

interface FeedState {
  source: PeerSession | null
  timer: unknown
  lastProgress: number
  /** Sources that timed out on this feed (tried last). */
  readonly timedOut: Set<PeerSession>
  /** Sources that sent bad data for this feed (never tried again on this connection). */
  readonly bad: Set<PeerSession>
}

export function createReplicationEngine(
  options: ReplicationEngineOptions,
  deps: ReplicationEngineDeps,
): ReplicationEngine {
  const { store, follows, clock } = deps
  const timeout = options.requestTimeoutMs
  const window: ReceiveWindow = {
    frames: Math.max(1, options.window?.frames ?? 64),
    bytes: Math.max(MAX_FRAME_BYTES, options.window?.bytes ?? 1024 * 1024),
  }
  const limits: SessionLimits = {
    window,
    maxPendingDataFrames: Math.max(1, options.maxPendingDataFrames ?? 32),
    batchMessages: Math.max(1, options.batchMessages ?? 64),
    rateLimit: options.rateLimit ?? { burst: 2000, perSecond: 500 },
    maxViolations: Math.max(1, options.maxViolations ?? 10),
    maxClockEntries: options.maxFeedsPerPeer ?? 100_000,
    maxServedFeeds: options.maxFeedsPerPeer ?? 100_000,
    helloTimeoutMs: options.helloTimeoutMs ?? timeout,
    closeTimeoutMs: timeout,
    ackDelayMs: Math.max(0, options.ackDelayMs ?? 10),
    haveDelayMs: Math.max(0, options.haveDelayMs ?? 200),
  }
  const maxPeers = options.maxPeers ?? 64
  const known = (feed: FeedId) => deps.isKnownAuthor?.(feed) ?? true
  const replicates = (feed: FeedId) => known(feed) && follows.replicates(feed)
  const ourHead = (feed: FeedId) => store.head(feed)?.sequence ?? 0

  const sessions = new Map<string, PeerSession>()
  const feeds = new Map<FeedId, FeedState>()
  const totals: TrafficCounters = newTrafficCounters()
  const extra = {
    sessionsOpened: 0,
    sessionsClosed: 0,
    sessionsRefused: {} as Record<string, number>,
    requestTimeouts: 0,
    sourceSwitches: 0,
  }
  let closed = false

  const stateOf = (feed: FeedId): FeedState => {
    let st = feeds.get(feed)
    if (!st) {
      st = { source: null, timer: undefined, lastProgress: 0, timedOut: new Set(), bad: new Set() }
      feeds.set(feed, st)
    }
    return st
  }

  const live = (s: PeerSession) => s.ready && !s.closing && sessions.get(s.peer) === s

  /** Some connected peer announced more of `feed` than we hold. */
  const behind = (feed: FeedId) => {
    const head = ourHead(feed)
    for (const s of sessions.values()) if (live(s) && s.remoteSeq(feed) > head) return true
    return false
  }

  const ensureTimer = (feed: FeedId, st: FeedState) => {
    if (st.timer !== undefined || !st.source || !behind(feed)) return
    st.timer = clock.setTimeout(() => onTimeout(feed), timeout)
  }

  const clearTimer = (st: FeedState) => {
    if (st.timer !== undefined) clock.clearTimeout(st.timer)
    st.timer = undefined
  }

  /** Makes sure that, if some peer is ahead on `feed`, exactly one of them is asked for it. */
  const schedule = (feed: FeedId) => {
    if (closed || !replicates(feed)) return
    const st = stateOf(feed)
    if (st.source && live(st.source)) return ensureTimer(feed, st)
    st.source = null
    const head = ourHead(feed)
    const candidates = [...sessions.values()].filter(
      (s) => live(s) && s.remoteSeq(feed) > head && !st.bad.has(s),
    )
    if (candidates.length === 0) return
    let pool = candidates.filter((s) => !st.timedOut.has(s))
    if (pool.length === 0) {
      st.timedOut.clear()
      pool = candidates
    }
    // A preferred peer first (fewest hops from the authors), then spread feeds over peers: the
    // least loaded, then the furthest ahead.
    const preferred = (s: (typeof pool)[number]) => (options.preferSource?.(s.peer) ? 0 : 1)
    pool.sort(
      (x, y) =>
        preferred(x) - preferred(y) || x.wants.size - y.wants.size || y.remoteSeq(feed) - x.remoteSeq(feed),
    )
    const source = pool[0]!
    st.source = source
    st.lastProgress = clock.now()
    log('%s: want %s from %d', source.peer, feed, head + 1)
    source.want(feed, head + 1)
    ensureTimer(feed, st)
  }

  const onTimeout = (feed: FeedId) => {
    const st = feeds.get(feed)
    if (!st) return
    st.timer = undefined
    if (!st.source || !live(st.source)) return schedule(feed)
    if (!behind(feed)) return
    const idle = clock.now() - st.lastProgress
    if (idle < timeout) {
      st.timer = clock.setTimeout(() => onTimeout(feed), timeout - idle)
      return
    }
    const old = st.source
    extra.requestTimeouts++
    log('%s: no progress on %s for %d ms', old.peer, feed, idle)
    st.timedOut.add(old)
    old.cancelWant(feed)
    st.source = null
    schedule(feed)
    if (st.source && st.source !== old) extra.sourceSwitches++
  }

  const host: SessionHost = {
    networkId: options.networkId,
    clock,
    limits,
    store,
    ourHead,
    helloContent() {
      const set = new Set(follows.replicated().filter(known))
      if (follows.followEveryone)
        for (const feed of store.vectorClock().keys()) if (replicates(feed)) set.add(feed)
      const clockEntries: ClockEntry[] = [...set].map((f) => [f, ourHead(f)])
      return { all: follows.followEveryone, clock: clockEntries }
    },
    onReady(session) {
      log('%s: ready (%s)', session.peer, session.remoteAll ? 'replicates all' : 'follows')
    },
    onRemoteClock(session, entries) {
      if (!live(session)) return
      for (const [feed, seq] of entries) if (seq > ourHead(feed)) schedule(feed)
    },
    onProgress(session, feed) {
      const st = feeds.get(feed)
      if (st?.source === session) st.lastProgress = clock.now()
    },
    onSourceFailed(session, feed, penalize) {
      session.cancelWant(feed)
      const st = feeds.get(feed)
      if (!st) return
      if (penalize) st.bad.add(session)
      if (st.source === session) {
        st.source = null
        clearTimer(st)
        schedule(feed)
        if (st.source) extra.sourceSwitches++
      }
    },
    onClosed(session, end) {
      extra.sessionsClosed++
      if (end.local) bump(extra.sessionsRefused, end.code)
      addTraffic(totals, session.metrics)
      if (sessions.get(session.peer) === session) sessions.delete(session.peer)
      log('%s: closed (%s%s)', session.peer, end.local ? 'by us: ' : '', end.code)
      for (const [feed, st] of feeds) {
        st.bad.delete(session)
        st.timedOut.delete(session)
        if (st.source === session) {
          st.source = null
          clearTimer(st)
          schedule(feed)
        }
      }
    },
  }

  const unsubscribeStore = store.subscribe((messages) => {
    const heads = new Map<FeedId, number>()
    for (const m of messages) {
      const { author, sequence } = m.value
      if (sequence > (heads.get(author) ?? 0)) heads.set(author, sequence)
    }
    for (const s of sessions.values()) for (const [feed, seq] of heads) s.onLocalAdvance(feed, seq)
  })

  const onFollowChange = (change: FollowChange) => {
    for (const feed of change.removed) {
      for (const s of sessions.values()) s.unfollow(feed)
      const st = feeds.get(feed)
      if (st) {
        st.source?.cancelWant(feed)
        clearTimer(st)
        feeds.delete(feed)
      }
    }
    for (const feed of change.added) {
      if (!replicates(feed)) continue
      const head = ourHead(feed)
      for (const s of sessions.values()) s.follow(feed, head)
      schedule(feed)
    }
  }
  const unsubscribeFollows = follows.subscribe(onFollowChange)

  const refuse = (channel: PeerChannel, code: string): Promise<SessionEnd> => {
    bump(extra.sessionsRefused, code)
    const end: SessionEnd = { peer: channel.peer, code, local: true }
    return channel
      .send(encodeSmallFrame({ t: 'error', code, fatal: true }))
      .catch(() => undefined)
      .then(() => {
        channel.close(code)
        return end
      })
  }

  return {
    addPeer(channel) {
      if (closed) return refuse(channel, 'ENGINE_CLOSED')
      const existing = sessions.get(channel.peer)
      if (existing) {
        // A reconnect (or a duplicate connection): the newest channel wins.
        sessions.delete(channel.peer)
        existing.close('REPLACED', 'a newer connection to this peer')
      } else if (sessions.size >= maxPeers) {
        return refuse(channel, 'TOO_MANY_PEERS')
      }
      extra.sessionsOpened++
      const session = new PeerSession(channel, host)
      sessions.set(channel.peer, session)
      return session.done
    },
    peers: () => [...sessions.keys()],
    sourceOf: (feed) => feeds.get(feed)?.source?.peer,
    metrics() {
      const sum = cloneTraffic(totals)
      const perPeer: Record<string, PeerMetrics> = {}
      for (const s of sessions.values()) {
        addTraffic(sum, s.metrics)
        perPeer[s.peer] = {
          ...s.metrics,
          messagesRejected: { ...s.metrics.messagesRejected },
          violations: { ...s.metrics.violations },
          errorsReceived: { ...s.metrics.errorsReceived },
        }
      }
      return {
        ...sum,
        peersConnected: sessions.size,
        ...extra,
        sessionsRefused: { ...extra.sessionsRefused },
        perPeer,
      }
    },
    async close() {
      if (closed) return
      closed = true
      unsubscribeStore()
      unsubscribeFollows()
      for (const st of feeds.values()) clearTimer(st)
      const ending = [...sessions.values()].map((s) => {
        s.close('ENGINE_CLOSED')
        return s.done
      })
      await Promise.all(ending)
    },
  }
}
