/**
 * One connection of `/blockfin/replicate/1.0.0` (docs/replication.md): reads and checks the peer's
 * frames, serves its requests from the store within its receive window, hands received messages to
 * the store, and enforces limits (rate, window, violations). Which feed to request from which peer
 * is the engine's decision (engine.ts); this class only carries it out.
 */
import createDebug from 'debug'
import { MAX_MESSAGE_LENGTH } from '../../core/feed/message'
import type { FeedId } from '../../core/identity/ids'
import type { AppendOutcome } from '../../store/feed-store'
import type { PeerChannel } from './channel'
import {
  type ClockEntry,
  type CodecError,
  type DataFrame,
  decodeFrame,
  encodeSmallFrame,
  type Frame,
  type HelloFrame,
  MAX_ERROR_DETAIL,
  MAX_FRAME_BYTES,
  packClock,
  packHello,
  packMessages,
  packUnfollow,
  type ReceiveWindow,
} from './codec'
import { bump, newPeerMetrics, type PeerMetrics } from './metrics'
import { type Clock, TokenBucket, type TokenBucketOptions } from './rate-limit'

const log = createDebug('blockfin:net:replicate')

/** What a session needs from the engine. */
export interface SessionHost {
  readonly networkId: string
  readonly clock: Clock
  readonly limits: SessionLimits
  readonly store: {
    append(texts: readonly unknown[]): Promise<AppendOutcome[]>
    range(author: FeedId, from: number, to?: number): Promise<string[]>
  }
  ourHead(feed: FeedId): number
  /** Our hello: do we replicate every feed, and the clock of what we replicate. */
  helloContent(): { all: boolean; clock: ClockEntry[] }
  onReady(session: PeerSession): void
  /** The peer announced (hello, have, follow) or delivered these sequences. */
  onRemoteClock(session: PeerSession, entries: readonly ClockEntry[]): void
  /** Messages of `feed` requested from this session were stored. */
  onProgress(session: PeerSession, feed: FeedId): void
  /** The session can no longer deliver `feed` (bad data, or our store failed). */
  onSourceFailed(session: PeerSession, feed: FeedId, penalize: boolean): void
  onClosed(session: PeerSession, end: SessionEnd): void
}

export interface SessionLimits {
  readonly window: ReceiveWindow
  readonly maxPendingDataFrames: number
  readonly batchMessages: number
  readonly rateLimit: TokenBucketOptions
  readonly maxViolations: number
  readonly maxClockEntries: number
  readonly maxServedFeeds: number
  readonly helloTimeoutMs: number
  readonly closeTimeoutMs: number
  /** An ack waits this long for more processed frames, unless a quarter of our window is processed. */
  readonly ackDelayMs: number
  /**
   * `have` frames of store advances are coalesced over this long; the first of a feed on a
   * connection and answers to `follow` go at once. A peer that already asks someone for a feed
   * needs our later haves only to pick another source; one per commit per feed to every such peer
   * was four frames in ten of a live tab's.
   */
  readonly haveDelayMs: number
}

export interface SessionEnd {
  readonly peer: string
  /** CLOSED when the peer or the transport ended it; otherwise the code this side closed it with. */
  readonly code: string
  /** True when this side closed it. */
  readonly local: boolean
  readonly detail?: string
}

/** The canonical text's first three keys; a text that does not start so is refused by the store. */
const HEADER =
  /^\{\n {2}"previous": (?:null|"[^"\\]*"),\n {2}"author": "([^"\\]*)",\n {2}"sequence": (\d{1,16}),\n/

type Served = { readonly rid: number; next: number }
type Want = { readonly rid: number; next: number; broken: boolean }
type QueuedData = { readonly feed: FeedId; readonly bytes: Uint8Array }
type Assembly = { rid: number; feed: FeedId; seq: number; n: number; chunks: string[]; length: number }

export class PeerSession {
  readonly peer: string
  readonly metrics: PeerMetrics
  /** The peer's hello is complete. */
  ready = false
  closing = false
  remoteAll = false
  private remoteWin: ReceiveWindow = { frames: 1, bytes: MAX_FRAME_BYTES }
  private helloStarted = false
  private readonly remoteClock = new Map<FeedId, number>()
  private readonly remoteWants = new Set<FeedId>()
  /** Highest sequence of each feed we told the peer we hold (hello, have, follow). */
  private readonly announced = new Map<FeedId, number>()
  private readonly advancedBeforeReady = new Set<FeedId>()
  private clockOverflow = false

  // Serving the peer's requests.
  private readonly served = new Map<FeedId, Served>()
  /** Served feeds with messages to send (insertion order: round robin). */
  private readonly servable = new Set<FeedId>()
  private dataQueue: QueuedData[] = []
  private readonly inflight: number[] = []
  private inflightBytes = 0
  private dataSent = 0
  private dataAcked = 0

  // Frames out, other than data.
  private control: Uint8Array[] = []
  private readonly pendingHaves = new Map<FeedId, number>()
  private readonly pendingFollows = new Map<FeedId, number>()
  private readonly pendingUnfollows = new Set<FeedId>()
  private ackSent = 0
  /** Bytes of the frames processed since the last ack, and the timer of a delayed ack. */
  private unackedBytes = 0
  private ackTimer: unknown
  private ackDue = false
  private haveTimer: unknown
  private haveDue = false
  /** Feeds we sent a `have` for on this connection: the first one of a feed goes at once. */
  private readonly haved = new Set<FeedId>()

  // Our requests to the peer.
  readonly wants = new Map<FeedId, Want>()
  private readonly ridFeeds = new Map<number, FeedId>()
  private nextRid = 1

  // Receiving data.
  private dataReceived = 0
  private dataProcessed = 0
  private readonly receivedSizes: number[] = []
  private unprocessedBytes = 0
  private assembly: Assembly | null = null
  private tail: Promise<void> = Promise.resolve()
  private readonly inProcess: Promise<void>[] = []

  private readonly bucket: TokenBucket
  private violationCount = 0
  private helloTimer: unknown
  private closeTimer: unknown
  private wakeup: (() => void) | null = null
  private dirty = false
  private end: SessionEnd | null = null
  readonly done: Promise<SessionEnd>

  constructor(
    private readonly channel: PeerChannel,
    private readonly host: SessionHost,
  ) {
    this.peer = channel.peer
    this.metrics = newPeerMetrics(channel.peer)
    this.bucket = new TokenBucket(host.limits.rateLimit, host.clock)
    this.done = this.run()
  }

  // ------------------------------------------------------------------------------------------
  // Engine-facing

  remoteSeq(feed: FeedId): number {
    return this.remoteClock.get(feed) ?? 0
  }

  /** Asks the peer for `feed` from `from` on (live: new messages follow as the peer gets them). */
  want(feed: FeedId, from: number): void {
    if (this.closing) return
    if (this.wants.has(feed)) this.cancelWant(feed)
    const rid = this.nextRid++
    this.ridFeeds.set(rid, feed)
    this.wants.set(feed, { rid, next: from, broken: false })
    this.control.push(encodeSmallFrame({ t: 'want', rid, feed, from }))
    this.metrics.wantsSent++
    this.wake()
  }

  cancelWant(feed: FeedId): void {
    if (!this.wants.delete(feed)) return
    if (this.assembly?.feed === feed) this.assembly = null
    if (!this.closing) this.control.push(encodeSmallFrame({ t: 'unwant', feed }))
    this.wake()
  }

  /** We now replicate `feed` (and hold `seq`): tell the peer, so that it sends us `have`s. */
  follow(feed: FeedId, seq: number): void {
    this.pendingUnfollows.delete(feed)
    this.pendingFollows.set(feed, seq)
    this.wake()
  }

  unfollow(feed: FeedId): void {
    this.pendingFollows.delete(feed)
    this.pendingUnfollows.add(feed)
    this.wake()
  }

  /** Our store committed `feed` up to `seq`. */
  onLocalAdvance(feed: FeedId, seq: number): void {
    if (this.closing) return
    if (!this.ready) {
      this.advancedBeforeReady.add(feed)
      return
    }
    const sub = this.served.get(feed)
    if (sub) {
      if (sub.next <= seq) this.servable.add(feed)
    } else if (
      (this.remoteAll || this.remoteWants.has(feed)) &&
      seq > this.remoteSeq(feed) &&
      seq > (this.announced.get(feed) ?? 0)
    ) {
      this.pendingHaves.set(feed, seq)
      // The first news of a feed may be what makes the peer ask for it at all (it asks only a peer
      // known to hold more); after that it has a live request somewhere, and ours are hints.
      if (!this.haved.has(feed)) this.haveDue = true
    }
    this.wake()
  }

  /** Closes with a fatal error frame to the peer. */
  close(code: string, detail?: string): void {
    this.fatal(code, detail)
  }

  // ------------------------------------------------------------------------------------------
  // Lifecycle

  private async run(): Promise<SessionEnd> {
    const { all, clock } = this.host.helloContent()
    for (const [feed, seq] of clock) this.announced.set(feed, seq)
    this.control.push(...packHello({ net: this.host.networkId, all, win: this.host.limits.window }, clock))
    this.helloTimer = this.host.clock.setTimeout(() => {
      if (!this.ready) this.fatal('HELLO_TIMEOUT', 'no complete hello in time')
    }, this.host.limits.helloTimeoutMs)
    // The writer ends once closing and flushed (a fatal error frame last), then closes the
    // channel, which ends the reader; or the reader ends first (the peer closed).
    const writer = this.writeLoop().then(() => this.channel.close(this.end?.code ?? 'closed'))
    await this.readLoop()
    this.closing = true
    this.closeTimer ??= this.host.clock.setTimeout(
      () => this.channel.close('close timeout'),
      this.host.limits.closeTimeoutMs,
    )
    this.wake()
    await writer
    this.host.clock.clearTimeout(this.helloTimer)
    this.host.clock.clearTimeout(this.closeTimer)
    if (this.ackTimer !== undefined) this.host.clock.clearTimeout(this.ackTimer)
    if (this.haveTimer !== undefined) this.host.clock.clearTimeout(this.haveTimer)
    const end = this.end ?? { peer: this.peer, code: 'CLOSED', local: false }
    this.end = end
    this.host.onClosed(this, end)
    return end
  }

  private fatal(code: string, detail?: string): void {
    if (this.closing) return
    log('%s: closing with %s %s', this.peer, code, detail ?? '')
    this.end = { peer: this.peer, code, local: true, ...(detail ? { detail } : {}) }
    this.closing = true
    this.control = [encodeSmallFrame({ t: 'error', code, fatal: true, ...detailField(detail) })]
    this.dataQueue = []
    this.pendingHaves.clear()
    this.pendingFollows.clear()
    this.pendingUnfollows.clear()
    this.ackSent = this.dataProcessed
    this.closeTimer = this.host.clock.setTimeout(
      () => this.channel.close(code),
      this.host.limits.closeTimeoutMs,
    )
    this.wake()
  }

  private violation(code: string, detail?: string, feed?: FeedId): void {
    if (this.closing) return
    bump(this.metrics.violations, code)
    this.violationCount++
    log('%s: violation %s %s', this.peer, code, detail ?? '')
    if (this.violationCount >= this.host.limits.maxViolations) {
      this.fatal('TOO_MANY_VIOLATIONS', `${this.violationCount} violations, last ${code}`)
      return
    }
    this.control.push(
      encodeSmallFrame({ t: 'error', code, fatal: false, ...(feed ? { feed } : {}), ...detailField(detail) }),
    )
    this.wake()
  }

  private wake(): void {
    this.dirty = true
    const w = this.wakeup
    this.wakeup = null
    w?.()
  }

  private idle(): Promise<void> {
    if (this.dirty) {
      this.dirty = false
      return Promise.resolve()
    }
    return new Promise((resolve) => {
      this.wakeup = () => {
        this.dirty = false
        resolve()
      }
    })
  }

  // ------------------------------------------------------------------------------------------
  // Writing

  private async writeLoop(): Promise<void> {
    try {
      while (true) {
        this.dirty = false
        let bytes = this.nextControl()
        let isData = false
        if (!bytes && !this.closing) {
          bytes = await this.nextData()
          isData = bytes !== undefined
        }
        if (!bytes) {
          if (this.control.length > 0) continue // queued while nextData was reading (a fatal error)
          if (this.closing) return
          await this.idle()
          continue
        }
        if (isData) {
          this.dataSent++
          this.inflight.push(bytes.length)
          this.inflightBytes += bytes.length
          const m = this.metrics
          m.dataFramesInFlight = this.inflight.length
          m.dataBytesInFlight = this.inflightBytes
          m.maxDataFramesInFlight = Math.max(m.maxDataFramesInFlight, this.inflight.length)
          m.maxDataBytesInFlight = Math.max(m.maxDataBytesInFlight, this.inflightBytes)
        }
        this.metrics.framesOut++
        this.metrics.bytesOut += bytes.length
        await this.channel.send(bytes)
      }
    } catch (e) {
      log('%s: send failed: %s', this.peer, (e as Error).message)
      this.closing = true
    }
  }

  private nextControl(): Uint8Array | undefined {
    const queued = this.control.shift()
    if (queued) return queued
    if (this.closing) return undefined
    const ack = this.nextAck()
    if (ack) return ack
    if (this.pendingUnfollows.size > 0) {
      this.control.push(...packUnfollow(this.pendingUnfollows))
      this.pendingUnfollows.clear()
      return this.control.shift()
    }
    for (const [kind, pending] of [
      ['follow', this.pendingFollows],
      ['have', this.pendingHaves],
    ] as const) {
      if (pending.size === 0 || (kind === 'have' && !this.haveIsDue())) continue
      for (const [feed, seq] of pending) {
        this.announced.set(feed, Math.max(seq, this.announced.get(feed) ?? 0))
        if (kind === 'have') this.haved.add(feed)
      }
      this.control.push(...packClock(kind, pending))
      pending.clear()
      return this.control.shift()
    }
    return undefined
  }

  /** Whether pending haves go now; otherwise a timer wakes the writer once they are due. */
  private haveIsDue(): boolean {
    const { haveDelayMs } = this.host.limits
    if (this.haveDue || haveDelayMs <= 0) {
      this.haveDue = false
      return true
    }
    this.haveTimer ??= this.host.clock.setTimeout(() => {
      this.haveTimer = undefined
      this.haveDue = true
      this.wake()
    }, haveDelayMs)
    return false
  }

  /**
   * Acks are delayed (ackDelayMs) and coalesced: one ack per processed frame doubled the frames on
   * a live connection (and the muxer's window updates with them). A quarter of our window
   * processed is acked at once, so a sender never waits on a delayed ack for room.
   */
  private nextAck(): Uint8Array | undefined {
    const unacked = this.dataProcessed - this.ackSent
    if (unacked <= 0) return undefined
    const { window, ackDelayMs } = this.host.limits
    const now =
      this.ackDue ||
      ackDelayMs <= 0 ||
      unacked >= Math.max(1, Math.floor(window.frames / 4)) ||
      this.unackedBytes >= window.bytes / 4
    if (!now) {
      this.ackTimer ??= this.host.clock.setTimeout(() => {
        this.ackTimer = undefined
        this.ackDue = true
        this.wake()
      }, ackDelayMs)
      return undefined
    }
    if (this.ackTimer !== undefined) this.host.clock.clearTimeout(this.ackTimer)
    this.ackTimer = undefined
    this.ackDue = false
    this.unackedBytes = 0
    this.ackSent = this.dataProcessed
    return encodeSmallFrame({ t: 'ack', n: this.ackSent })
  }

  private windowFits(size: number): boolean {
    return this.inflight.length < this.remoteWin.frames && this.inflightBytes + size <= this.remoteWin.bytes
  }

  private async nextData(): Promise<Uint8Array | undefined> {
    if (!this.ready || this.inflight.length >= this.remoteWin.frames) return undefined
    if (this.dataQueue.length === 0) await this.fillData()
    const next = this.dataQueue[0]
    if (!next || !this.windowFits(next.bytes.length)) return undefined
    this.dataQueue.shift()
    return next.bytes
  }

  /** Reads the next batch of one servable feed (round robin) from the store into data frames. */
  private async fillData(): Promise<void> {
    for (const feed of this.servable) {
      const sub = this.served.get(feed)
      const head = this.host.ourHead(feed)
      this.servable.delete(feed)
      if (!sub || sub.next > head) continue
      const to = Math.min(head, sub.next + this.host.limits.batchMessages - 1)
      const texts = await this.host.store.range(feed, sub.next, to)
      if (this.served.get(feed) !== sub || this.closing) return
      if (texts.length === 0) continue
      for (const packed of packMessages(sub.rid, feed, sub.next, texts))
        this.dataQueue.push({ feed, bytes: packed.bytes })
      sub.next += texts.length
      if (sub.next <= this.host.ourHead(feed)) this.servable.add(feed) // more: back of the queue
      return
    }
  }

  // ------------------------------------------------------------------------------------------
  // Reading

  private async readLoop(): Promise<void> {
    try {
      for await (const bytes of this.channel.frames) {
        if (this.closing) break
        this.metrics.framesIn++
        this.metrics.bytesIn += bytes.length
        const decoded = decodeFrame(bytes, { networkId: this.host.networkId })
        if (!decoded.ok) {
          this.onCodecError(decoded.error)
          continue
        }
        await this.handle(decoded.value, bytes.length)
        if (this.closing) break
      }
    } catch (e) {
      log('%s: read failed: %s', this.peer, (e as Error).message)
    }
  }

  private onCodecError(e: CodecError): void {
    const detail =
      e.code === 'FRAME_TOO_LARGE'
        ? `${e.size} > ${e.limit}`
        : e.code === 'FRAME_MALFORMED'
          ? `${e.type ?? ''}${e.field ? `.${e.field}` : ''}: ${e.reason}`
          : e.code === 'UNKNOWN_FRAME'
            ? e.type
            : e.code === 'WRONG_NETWORK'
              ? `expected ${e.expected}`
              : `version ${String(e.version)}`
    // A peer of another network, or one that speaks another version from its hello on, is closed
    // at once; later, an unreadable frame is one violation.
    const atOnce = e.code === 'WRONG_NETWORK' || (e.code === 'UNSUPPORTED_VERSION' && !this.ready)
    if (atOnce) this.fatal(e.code, detail)
    else this.violation(e.code, detail)
  }

  private async handle(frame: Frame, size: number): Promise<void> {
    if (!this.ready && frame.t !== 'hello') return this.violation('PROTOCOL_VIOLATION', 'hello first')
    if (frame.t === 'msgs' || frame.t === 'part') return this.onData(frame, size)
    if (frame.t === 'ack') return this.onAck(frame.n)
    if (!this.bucket.take()) return this.violation('RATE_LIMITED', frame.t)
    switch (frame.t) {
      case 'hello':
        return this.onHello(frame)
      case 'want': {
        this.metrics.wantsReceived++
        if (!this.served.has(frame.feed) && this.served.size >= this.host.limits.maxServedFeeds)
          return this.violation('TOO_MANY_WANTS', `more than ${this.host.limits.maxServedFeeds} feeds`)
        this.dropQueued(frame.feed)
        this.served.set(frame.feed, { rid: frame.rid, next: frame.from })
        if (frame.from <= this.host.ourHead(frame.feed)) this.servable.add(frame.feed)
        this.wake()
        return
      }
      case 'unwant':
        this.served.delete(frame.feed)
        this.servable.delete(frame.feed)
        this.dropQueued(frame.feed)
        return
      case 'have':
        return this.onClockFrame(frame.clock, false)
      case 'follow':
        return this.onClockFrame(frame.clock, true)
      case 'unfollow':
        for (const feed of frame.feeds) {
          this.remoteWants.delete(feed)
          this.pendingHaves.delete(feed)
        }
        return
      case 'error':
        bump(this.metrics.errorsReceived, frame.code)
        log(
          '%s: peer reports %s%s %s',
          this.peer,
          frame.fatal ? 'fatal ' : '',
          frame.code,
          frame.detail ?? '',
        )
        return
    }
  }

  private onHello(frame: HelloFrame): void {
    if (this.ready) {
      this.violation('PROTOCOL_VIOLATION', 'hello after hello')
      return
    }
    if (!this.helloStarted) {
      this.helloStarted = true
      this.remoteAll = frame.all
      this.remoteWin = frame.win
    }
    this.learnClock(frame.clock, !this.remoteAll)
    if (frame.more) return
    this.ready = true
    this.host.clock.clearTimeout(this.helloTimer)
    this.host.onReady(this)
    // Feeds we advanced between our hello and theirs: announce now that we know what they want.
    for (const feed of this.advancedBeforeReady) this.onLocalAdvance(feed, this.host.ourHead(feed))
    this.advancedBeforeReady.clear()
    this.host.onRemoteClock(this, [...this.remoteClock])
    this.wake()
  }

  private learnClock(entries: readonly ClockEntry[], wanted: boolean): void {
    for (const [feed, seq] of entries) {
      if (!this.remoteClock.has(feed) && this.remoteClock.size >= this.host.limits.maxClockEntries) {
        if (!this.clockOverflow) {
          this.clockOverflow = true
          this.violation('CLOCK_TOO_LARGE', `more than ${this.host.limits.maxClockEntries} feeds`)
        }
        continue
      }
      if (seq > this.remoteSeq(feed) || !this.remoteClock.has(feed)) this.remoteClock.set(feed, seq)
      if (wanted) this.remoteWants.add(feed)
    }
  }

  private onClockFrame(entries: readonly ClockEntry[], follow: boolean): void {
    this.learnClock(entries, follow)
    if (follow) {
      // The peer now replicates these: if we hold more than it does, say so.
      for (const [feed, seq] of entries) {
        const ours = this.host.ourHead(feed)
        if (ours > seq && !this.served.has(feed)) {
          this.pendingHaves.set(feed, ours)
          this.haveDue = true // an answer: the peer waits for it to pick a source
        }
      }
      this.wake()
    }
    this.host.onRemoteClock(this, entries)
  }

  private onAck(n: number): void {
    if (n <= this.dataAcked || n > this.dataSent) {
      this.violation('BAD_ACK', `ack ${n}`)
      return
    }
    while (this.dataAcked < n) {
      this.inflightBytes -= this.inflight.shift() ?? 0
      this.dataAcked++
    }
    this.metrics.dataFramesInFlight = this.inflight.length
    this.metrics.dataBytesInFlight = this.inflightBytes
    this.wake()
  }

  private dropQueued(feed: FeedId): void {
    if (this.dataQueue.some((d) => d.feed === feed))
      this.dataQueue = this.dataQueue.filter((d) => d.feed !== feed)
  }

  /** Runs `work` after every earlier data frame's work, then counts the frame processed (acked). */
  private process(work?: () => Promise<void>): void {
    const done = this.tail
      .then(work)
      .catch((e) => log('%s: processing failed: %O', this.peer, e))
      .then(() => {
        this.dataProcessed++
        const size = this.receivedSizes.shift() ?? 0
        this.unprocessedBytes -= size
        this.unackedBytes += size
        this.inProcess.shift()
        this.wake()
      })
    this.tail = done
    this.inProcess.push(done)
    this.metrics.maxPendingDataFrames = Math.max(this.metrics.maxPendingDataFrames, this.inProcess.length)
  }

  private async onData(frame: DataFrame, size: number): Promise<void> {
    this.dataReceived++
    this.metrics.dataFramesIn++
    this.receivedSizes.push(size)
    this.unprocessedBytes += size
    const unacked = this.dataReceived - this.dataProcessed
    this.metrics.maxUnackedReceived = Math.max(this.metrics.maxUnackedReceived, unacked)
    const drop = (count: number) => {
      this.metrics.messagesDropped += count
      this.process()
    }
    const texts = frame.t === 'msgs' ? frame.texts.length : 1
    const { window } = this.host.limits
    if (unacked > window.frames || this.unprocessedBytes > window.bytes) {
      drop(texts)
      return this.violation(
        'WINDOW_EXCEEDED',
        `${unacked} frames, ${this.unprocessedBytes} bytes unacknowledged`,
      )
    }
    const want = this.wants.get(frame.feed)
    if (!want || want.rid !== frame.rid) {
      drop(texts)
      // Frames of a request we cancelled may still be on the way: drop them quietly.
      if (this.ridFeeds.get(frame.rid) === frame.feed) return
      return this.violation('UNSOLICITED', `rid ${frame.rid}`, frame.feed)
    }
    if (want.broken) return drop(texts)

    let seq = frame.seq
    let batch: string[]
    if (frame.t === 'part') {
      const a = this.assembly
      const fresh = frame.i === 0 && !a
      const continues =
        a && a.rid === frame.rid && a.seq === frame.seq && a.n === frame.n && frame.i === a.chunks.length
      if (!fresh && !continues) {
        this.assembly = null
        drop(1)
        return this.rejectStream(
          want,
          frame.feed,
          'FRAME_MISMATCH',
          `part ${frame.i}/${frame.n} out of order`,
        )
      }
      if (fresh && frame.seq !== want.next) {
        drop(1)
        return this.rejectStream(want, frame.feed, seqCode(frame.seq, want.next), `part at ${frame.seq}`)
      }
      const assembly = a ?? {
        rid: frame.rid,
        feed: frame.feed,
        seq: frame.seq,
        n: frame.n,
        chunks: [],
        length: 0,
      }
      assembly.chunks.push(frame.chunk)
      assembly.length += frame.chunk.length
      if (assembly.length > MAX_MESSAGE_LENGTH) {
        this.assembly = null
        drop(1)
        return this.rejectStream(want, frame.feed, 'MESSAGE_TOO_LARGE', `over ${MAX_MESSAGE_LENGTH}`)
      }
      if (frame.i < frame.n - 1) {
        this.assembly = assembly
        return this.process()
      }
      this.assembly = null
      seq = assembly.seq
      batch = [assembly.chunks.join('')]
    } else {
      if (this.assembly) {
        this.assembly = null
        drop(texts)
        return this.rejectStream(want, frame.feed, 'FRAME_MISMATCH', 'msgs inside a split message')
      }
      batch = frame.texts
    }
    if (seq !== want.next) {
      drop(batch.length)
      return this.rejectStream(
        want,
        frame.feed,
        seqCode(seq, want.next),
        `frame at ${seq}, expected ${want.next}`,
      )
    }
    // Only texts of the requested feed, in order, reach the store (which verifies everything else).
    for (let i = 0; i < batch.length; i++) {
      const header = HEADER.exec(batch[i]!)
      if (!header) continue // not canonical: the store refuses it with the precise code
      const [author, sequence] = [header[1], Number(header[2])]
      if (author !== frame.feed || sequence !== seq + i) {
        drop(batch.length)
        const code = author === frame.feed && sequence > seq + i ? 'FEED_GAP' : 'FRAME_MISMATCH'
        return this.rejectStream(want, frame.feed, code, `text ${i}: ${author} ${sequence}`)
      }
    }
    want.next += batch.length
    const last = seq + batch.length - 1
    if (last > this.remoteSeq(frame.feed)) this.remoteClock.set(frame.feed, last)
    this.metrics.messagesReceived += batch.length
    const appended = this.host.store.append(batch)
    this.process(async () => this.onOutcomes(want, frame.feed, await appended))
    while (this.inProcess.length >= this.host.limits.maxPendingDataFrames && !this.closing)
      await this.inProcess[0]
  }

  private onOutcomes(want: Want, feed: FeedId, outcomes: AppendOutcome[]): void {
    let stored = 0
    let failure: AppendOutcome | undefined
    for (const o of outcomes) {
      if (o.ok) stored++
      else {
        bump(this.metrics.messagesRejected, o.error.code)
        if (o.error.code !== 'FEED_DUPLICATE') failure ??= o
      }
    }
    this.metrics.messagesStored += stored
    if (stored > 0) this.host.onProgress(this, feed)
    if (!failure || failure.ok || want.broken) return
    const e = failure.error
    if (e.code === 'STORE_WRITE_FAILED' || e.code === 'STORE_CLOSED') {
      // Our fault, not the peer's: ask again from what is durable.
      want.broken = true
      this.host.onSourceFailed(this, feed, false)
      return
    }
    const at = 'sequence' in e ? ` at ${e.sequence}` : ''
    this.rejectStream(want, feed, e.code, `${e.code}${at}`)
  }

  /** The peer sent bad data for `feed`: one violation, and the feed is requested elsewhere. */
  private rejectStream(want: Want, feed: FeedId, code: string, detail: string): void {
    if (want.broken) return
    want.broken = true
    this.violation(code, detail, feed)
    this.host.onSourceFailed(this, feed, true)
  }
}

const seqCode = (got: number, expected: number) => (got > expected ? 'FEED_GAP' : 'FRAME_MISMATCH')

const detailField = (detail?: string) => (detail ? { detail: detail.slice(0, MAX_ERROR_DETAIL) } : {})
