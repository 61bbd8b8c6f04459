/**
 * Virtual time: events run in (time, insertion) order, each to completion (its promise awaited)
 * before the next, so a run depends only on the seed. Nothing here reads a real clock.
 */
export type SimTask = () => void | Promise<void>

interface Entry {
  readonly at: number
  readonly seq: number
  readonly task: SimTask
}

export class Scheduler {
  private heap: Entry[] = []
  private seq = 0
  now = 0
  executed = 0

  at(time: number, task: SimTask): void {
    this.push({ at: Math.max(time, this.now), seq: this.seq++, task })
  }

  after(delayMs: number, task: SimTask): void {
    this.at(this.now + Math.max(0, delayMs), task)
  }

  get pending(): number {
    return this.heap.length
  }

  /** Runs events until `until` (virtual ms) or until `stop()` says so, checked after each event. */
  async run(until: number, stop: () => boolean = () => false): Promise<void> {
    while (this.heap.length > 0) {
      const next = this.heap[0]!
      if (next.at > until) break
      this.pop()
      this.now = next.at
      this.executed++
      await next.task()
      if (stop()) return
    }
    this.now = Math.max(this.now, until)
  }

  private push(e: Entry): void {
    const h = this.heap
    h.push(e)
    let i = h.length - 1
    while (i > 0) {
      const p = (i - 1) >> 1
      if (!before(h[i]!, h[p]!)) break
      ;[h[i], h[p]] = [h[p]!, h[i]!]
      i = p
    }
  }

  private pop(): Entry | undefined {
    const h = this.heap
    const top = h[0]
    const last = h.pop()
    if (h.length > 0 && last) {
      h[0] = last
      let i = 0
      for (;;) {
        const l = 2 * i + 1
        const r = l + 1
        let m = i
        if (l < h.length && before(h[l]!, h[m]!)) m = l
        if (r < h.length && before(h[r]!, h[m]!)) m = r
        if (m === i) break
        ;[h[i], h[m]] = [h[m]!, h[i]!]
        i = m
      }
    }
    return top
  }
}

const before = (a: Entry, b: Entry) => a.at < b.at || (a.at === b.at && a.seq < b.seq)
