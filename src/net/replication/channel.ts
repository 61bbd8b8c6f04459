/**
 * The transport seam of `/blockfin/replicate/1.0.0`: the replication engine speaks to a peer only
 * through a `PeerChannel`. The libp2p adapter wraps one stream of that protocol (length-prefixed
 * messages, e.g. `lpStream` of `@libp2p/utils`); tests use `createChannelPair`.
 *
 * The shape is exactly the one agreed with the transport side. What the engine relies on:
 * - **reliable, ordered, framed**: each `send(frame)` arrives as exactly one item of the peer's
 *   `frames`, in order, or the channel ends. A lost frame is a broken connection, not a thing the
 *   protocol retries: end the channel instead (the engine resumes from vector clocks on reconnect).
 * - **backpressure**: `send` resolves when the transport has accepted the frame (its buffer has
 *   room), not when the peer has read it. The engine awaits it and never has two sends pending.
 * - **frames** is iterated once, by the engine; it ends when the peer or the transport closes.
 *   A frame can be at most `MAX_FRAME_BYTES` (16 KiB, libp2p's WebRTC message limit); the
 *   transport's own length prefix is not counted.
 * - **close(reason)** is idempotent. Frames already accepted by `send` before `close` are still
 *   delivered to the peer (so an error frame sent just before closing reaches it); after `close`,
 *   `send` rejects and the local `frames` ends.
 */
export interface PeerChannel {
  /** The remote peer's id (a libp2p peer id string); one engine keeps one session per id. */
  readonly peer: string
  /** Resolves when the transport accepted the frame: this is the backpressure. Rejects once closed. */
  send(frame: Uint8Array): Promise<void>
  readonly frames: AsyncIterable<Uint8Array>
  close(reason?: string): void
}

export class ChannelClosedError extends Error {
  constructor(readonly reason: string) {
    super(`channel closed: ${reason}`)
    this.name = 'ChannelClosedError'
  }
}

/** 0: sent by `a` (to `b`); 1: sent by `b` (to `a`). */
export type Direction = 0 | 1

export interface ChannelPairOptions {
  /** The two ends' own ids: `a.peer` is names[1] and `b.peer` is names[0]. */
  readonly names?: readonly [string, string]
  /** Frames a direction holds (in transit and unread) before `send` waits. Default 16. */
  readonly capacity?: number
  /** Sees every frame accepted by `send`, before drop or delay. */
  readonly observe?: (frame: Uint8Array, from: Direction) => void
  /** Return true to lose the frame silently (a broken transport: see the seam's contract). */
  readonly drop?: (frame: Uint8Array, from: Direction) => boolean
  /** Delays delivery of a frame (e.g. a fake clock's sleep); order is kept. */
  readonly latency?: (frame: Uint8Array, from: Direction) => Promise<void> | undefined
}

export interface ChannelPair {
  readonly a: PeerChannel
  readonly b: PeerChannel
  /** Most frames a direction has held at once (for asserting on transport backpressure). */
  maxHeld(from: Direction): number
}

/** One direction of an in-memory pair. */
class Pipe {
  private readonly buffer: Uint8Array[] = []
  private inTransit = 0
  private delivery: Promise<void> = Promise.resolve()
  private reader: (() => void) | null = null
  private readonly spaceWaiters: Array<() => void> = []
  /** The writer closed: deliver what is accepted, then end. */
  private ended = false
  /** The reader closed: nothing more is accepted or delivered. */
  private aborted = false
  private closeReason = 'closed'
  maxHeld = 0

  constructor(
    private readonly capacity: number,
    private readonly from: Direction,
    private readonly options: ChannelPairOptions,
  ) {}

  private held(): number {
    return this.buffer.length + this.inTransit
  }

  async push(frame: Uint8Array): Promise<void> {
    while (!this.ended && !this.aborted && this.held() >= this.capacity)
      await new Promise<void>((resolve) => this.spaceWaiters.push(resolve))
    if (this.ended || this.aborted) throw new ChannelClosedError(this.closeReason)
    this.options.observe?.(frame, this.from)
    if (this.options.drop?.(frame, this.from)) return
    this.inTransit++
    this.maxHeld = Math.max(this.maxHeld, this.held())
    const delay = this.options.latency?.(frame, this.from)
    this.delivery = this.delivery
      .then(() => delay)
      .then(() => {
        this.inTransit--
        if (this.aborted) return
        this.buffer.push(frame)
        this.notifyReader()
      })
  }

  private notifyReader(): void {
    const r = this.reader
    this.reader = null
    r?.()
  }

  private releaseSpace(): void {
    for (const w of this.spaceWaiters.splice(0)) w()
  }

  /** Writer side closed: already accepted frames still arrive. */
  end(reason: string): void {
    if (this.ended) return
    this.ended = true
    this.closeReason = reason
    this.releaseSpace()
    // Wake the reader once everything in transit has been delivered.
    void this.delivery.then(() => this.notifyReader())
  }

  /** Reader side closed: drop everything. */
  abort(reason: string): void {
    if (this.aborted) return
    this.aborted = true
    this.closeReason = reason
    this.buffer.length = 0
    this.releaseSpace()
    this.notifyReader()
  }

  async *frames(): AsyncGenerator<Uint8Array> {
    while (true) {
      if (this.aborted) return
      const frame = this.buffer.shift()
      if (frame !== undefined) {
        this.releaseSpace()
        yield frame
        continue
      }
      if (this.ended && this.inTransit === 0) return
      await new Promise<void>((resolve) => {
        this.reader = resolve
      })
    }
  }
}

/**
 * Two connected in-memory channels, with real backpressure (`send` waits while the direction holds
 * `capacity` frames) and optional hooks to observe, drop or delay frames.
 */
export function createChannelPair(options: ChannelPairOptions = {}): ChannelPair {
  const [nameA, nameB] = options.names ?? ['a', 'b']
  const capacity = Math.max(1, options.capacity ?? 16)
  const aToB = new Pipe(capacity, 0, options)
  const bToA = new Pipe(capacity, 1, options)
  const end = (peer: string, out: Pipe, incoming: Pipe): PeerChannel => {
    const iterable = incoming.frames()
    return {
      peer,
      send: (frame) => out.push(frame),
      frames: { [Symbol.asyncIterator]: () => iterable },
      close(reason = 'closed') {
        out.end(reason)
        incoming.abort(reason)
      },
    }
  }
  return {
    a: end(nameB, aToB, bToA),
    b: end(nameA, bToA, aToB),
    maxHeld: (from) => (from === 0 ? aToB : bToA).maxHeld,
  }
}
