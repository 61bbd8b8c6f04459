/** The engine's time source, injected so that tests drive it (a fake clock) and assert no timings. */
export interface Clock {
  now(): number
  setTimeout(fn: () => void, ms: number): unknown
  clearTimeout(handle: unknown): void
}

/** The real clock, for the relay, the tab and benchmarks. */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
}

export interface TokenBucketOptions {
  /** Most tokens held (the burst). */
  readonly burst: number
  /** Tokens added per second of the injected clock. */
  readonly perSecond: number
}

/** A token bucket on an injected clock: `take()` is false when the bucket is empty. */
export class TokenBucket {
  private tokens: number
  private last: number

  constructor(
    private readonly options: TokenBucketOptions,
    private readonly clock: Pick<Clock, 'now'>,
  ) {
    this.tokens = options.burst
    this.last = clock.now()
  }

  take(cost = 1): boolean {
    const now = this.clock.now()
    if (now > this.last) {
      this.tokens = Math.min(
        this.options.burst,
        this.tokens + ((now - this.last) / 1000) * this.options.perSecond,
      )
      this.last = now
    }
    if (this.tokens < cost) return false
    this.tokens -= cost
    return true
  }
}
