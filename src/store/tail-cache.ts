import type { FeedId } from '../core/identity/ids'

/**
 * The newest committed texts of recently appended feeds, in memory. Live replication reads a
 * feed's latest messages right after they are appended, once per peer: without this, every push
 * to every peer is a storage read (a LevelDB iterator, an IndexedDB transaction). Only committed
 * texts go in, so whatever it answers is durable; bounded per feed and in total characters, the
 * feeds appended longest ago leave first.
 */
export class TailCache {
  /** Insertion order is recency: a feed moves to the end when it is appended to. */
  private readonly tails = new Map<FeedId, { first: number; texts: string[]; chars: number }>()
  private chars = 0

  constructor(
    private readonly perFeed: number,
    private readonly maxChars: number,
  ) {}

  /** Records a committed message; a sequence that does not follow the cached tail starts a new one. */
  add(author: FeedId, sequence: number, text: string): void {
    if (this.perFeed <= 0 || text.length > this.maxChars) return
    let tail = this.tails.get(author)
    if (tail) this.tails.delete(author)
    if (!tail || sequence !== tail.first + tail.texts.length) {
      if (tail) this.chars -= tail.chars
      tail = { first: sequence, texts: [], chars: 0 }
    }
    this.tails.set(author, tail)
    tail.texts.push(text)
    tail.chars += text.length
    this.chars += text.length
    while (tail.texts.length > this.perFeed) {
      const dropped = tail.texts.shift()!
      tail.first++
      tail.chars -= dropped.length
      this.chars -= dropped.length
    }
    for (const [feed, oldest] of this.tails) {
      if (this.chars <= this.maxChars) break
      this.tails.delete(feed)
      this.chars -= oldest.chars
    }
  }

  /** `first..last` of `author` when all of it is cached, else undefined (read the storage). */
  read(author: FeedId, first: number, last: number): string[] | undefined {
    const tail = this.tails.get(author)
    if (!tail || first < tail.first || last >= tail.first + tail.texts.length) return undefined
    return tail.texts.slice(first - tail.first, last - tail.first + 1)
  }
}
