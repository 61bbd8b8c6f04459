/**
 * Time series for the dashboard's charts, from what this tab saw: sealed blocks (time sealed,
 * transactions, assembled → sealed latency), this validator's own votes, and the sealed heights
 * where its vote is not among the seal QC's signers. Pure; the caller passes `now`.
 */
import type { MemberSet } from '../../core/consensus/membership'
import type { FeedId } from '../../core/identity/ids'
import type { BlockRecord } from '../../runtime/block-index'

export interface SealedSample {
  readonly height: number
  /** When this tab saw the seal (ms since epoch). */
  readonly sealedAt: number
  readonly transactions: number
  /** Assembled → sealed, ms (null: the proposal's time is not known). */
  readonly latency: number | null
}

export function sealedSample(record: BlockRecord): SealedSample | undefined {
  const { sealed, assembled } = record.at
  if (record.stage !== 'sealed' || sealed === null) return undefined
  return {
    height: record.height,
    sealedAt: sealed,
    transactions: record.transactions.length,
    latency: assembled === null ? null : Math.max(0, sealed - assembled),
  }
}

/** Did `me` miss the seal of this sealed block? Null when it cannot be told (not in the set, QC unchecked). */
export function missedSeal(
  record: BlockRecord,
  me: FeedId,
  setAt: (height: number) => MemberSet | undefined,
): boolean | null {
  if (record.stage !== 'sealed') return null
  const set = setAt(record.height)
  const check = record.qcs.seal?.check
  if (!set?.validatorSet.has(me) || !check?.ok) return null
  return !check.signers.includes(me)
}

/**
 * Keeps the latest `capacity` values by key (heights): a later value for a key replaces the
 * earlier one; the lowest keys go first when full.
 */
export class BoundedLog<T> {
  private readonly byKey = new Map<number, T>()
  constructor(private readonly capacity: number) {}

  put(key: number, value: T): void {
    this.byKey.set(key, value)
    if (this.byKey.size > this.capacity) {
      const keys = [...this.byKey.keys()].sort((a, b) => a - b)
      for (const k of keys.slice(0, this.byKey.size - this.capacity)) this.byKey.delete(k)
    }
  }

  delete(key: number): void {
    this.byKey.delete(key)
  }

  has(key: number): boolean {
    return this.byKey.has(key)
  }

  get size(): number {
    return this.byKey.size
  }

  /** Ascending by key. */
  values(): T[] {
    return [...this.byKey.entries()].sort((a, b) => a[0] - b[0]).map(([, v]) => v)
  }
}

/** Aligned columns for a chart: x in seconds since epoch (uPlot's time scale), then series. */
export type Columns = [number[], ...(number | null)[][]]

/**
 * Counts per bucket over the last `buckets` buckets of `bucketMs` ending at `now`: x is each
 * bucket's end (seconds); values are `weight` summed per bucket, divided by `per` (ms) when given
 * (a rate: per 1000 → per second).
 */
export function bucketed<T>(
  items: readonly T[],
  timeOf: (item: T) => number,
  weightOf: (item: T) => number,
  options: {
    readonly now: number
    readonly bucketMs: number
    readonly buckets: number
    readonly per?: number
  },
): [number[], number[]] {
  const { now, bucketMs, buckets } = options
  const end = Math.ceil(now / bucketMs) * bucketMs
  const start = end - buckets * bucketMs
  const sums = new Array<number>(buckets).fill(0)
  for (const item of items) {
    const t = timeOf(item)
    if (t < start || t >= end) continue
    sums[Math.floor((t - start) / bucketMs)]! += weightOf(item)
  }
  const xs = sums.map((_, i) => (start + (i + 1) * bucketMs) / 1000)
  const scale = options.per ? options.per / bucketMs : 1
  return [xs, sums.map((s) => s * scale)]
}

/** Sealed transactions per second, in buckets of `bucketMs`, over the last `buckets` buckets. */
export function throughputColumns(
  samples: readonly SealedSample[],
  now: number,
  bucketMs = 5_000,
  buckets = 60,
): Columns {
  const [x, y] = bucketed(
    samples,
    (s) => s.sealedAt,
    (s) => s.transactions,
    { now, bucketMs, buckets, per: 1000 },
  )
  return [x, y]
}

/** Per sealed block: when it sealed (x, seconds) and its assembled → sealed latency (seconds). */
export function latencyColumns(samples: readonly SealedSample[], last = 300): Columns {
  const known = samples.filter((s) => s.latency !== null).slice(-last)
  const sorted = [...known].sort((a, b) => a.sealedAt - b.sealedAt)
  // Two blocks sealed in the same millisecond would share an x; uPlot wants x ascending, which ties keep.
  return [sorted.map((s) => s.sealedAt / 1000), sorted.map((s) => (s.latency as number) / 1000)]
}

/** This validator's votes per minute and its missed seals per minute, over the last `minutes`. */
export function activityColumns(
  voteTimes: readonly number[],
  missedTimes: readonly number[],
  now: number,
  minutes = 15,
): Columns {
  const options = { now, bucketMs: 60_000, buckets: minutes }
  const [x, votes] = bucketed(
    voteTimes,
    (t) => t,
    () => 1,
    options,
  )
  const [, missed] = bucketed(
    missedTimes,
    (t) => t,
    () => 1,
    options,
  )
  // Empty minutes draw no bar (null), so the few bars there are stand out.
  const bars = (ys: number[]) => ys.map((y) => (y === 0 ? null : y))
  return [x, bars(votes), bars(missed)]
}

/** How many points of a chart's series carry a value (what the tests and the page count). */
export const pointsOf = (columns: Columns): number =>
  columns.slice(1).reduce((n, ys) => n + ys.filter((y) => y !== null && y !== 0).length, 0)
