/**
 * The simulated network: every send is delayed, and may be dropped, duplicated or reordered
 * (extra jitter); partitions drop everything between groups until healed. All randomness comes
 * from the seeded PRNG, all time from the scheduler.
 */
import type { FeedId, MessageId } from '../core/identity/ids'
import type { Prng } from './prng'
import type { Scheduler } from './scheduler'

export type Payload =
  | { readonly type: 'messages'; readonly texts: readonly string[] }
  | { readonly type: 'clock'; readonly clock: ReadonlyMap<FeedId, { sequence: number; id: MessageId }> }

export interface NetworkConditions {
  minDelayMs: number
  maxDelayMs: number
  /** Probability that a send is lost. */
  drop: number
  /** Probability that a send is delivered twice. */
  duplicate: number
  /** Probability that a send gets up to `reorderJitterMs` extra delay (so later sends overtake it). */
  reorder: number
  reorderJitterMs: number
}

export const CALM: NetworkConditions = {
  minDelayMs: 2,
  maxDelayMs: 20,
  drop: 0,
  duplicate: 0,
  reorder: 0,
  reorderJitterMs: 0,
}

export interface Endpoint {
  readonly index: number
  deliver(from: number, payload: Payload): Promise<void>
  readonly up: boolean
}

export class SimNetwork {
  conditions: NetworkConditions = CALM
  /** Group of each node while partitioned (undefined: connected). */
  private groups: Map<number, number> | undefined
  sent = 0
  dropped = 0

  constructor(
    private readonly scheduler: Scheduler,
    private readonly prng: Prng,
    private readonly endpoints: () => readonly Endpoint[],
  ) {}

  partition(groups: readonly (readonly number[])[]): void {
    this.groups = new Map()
    groups.forEach((g, i) => {
      for (const n of g) this.groups!.set(n, i)
    })
  }

  heal(): void {
    this.groups = undefined
  }

  connected(a: number, b: number): boolean {
    if (!this.groups) return true
    return this.groups.get(a) === this.groups.get(b)
  }

  send(from: number, to: number, payload: Payload): void {
    this.sent++
    const c = this.conditions
    if (!this.connected(from, to) || this.prng.chance(c.drop)) {
      this.dropped++
      return
    }
    const copies = this.prng.chance(c.duplicate) ? 2 : 1
    for (let i = 0; i < copies; i++) {
      let delay = this.prng.range(c.minDelayMs, c.maxDelayMs)
      if (this.prng.chance(c.reorder)) delay += this.prng.range(0, c.reorderJitterMs)
      this.scheduler.after(delay, async () => {
        const target = this.endpoints()[to]
        // A partition that started while the message was in flight cuts it too.
        if (!target?.up || !this.connected(from, to)) return
        await target.deliver(from, payload)
      })
    }
  }
}
