import type { ForkEvidence } from '../core/feed/evidence'
import type { FeedId } from '../core/identity/ids'
import type { CommitBatch, FeedStorageAdapter, HeadRecord } from './adapter'

/**
 * The simulated adapter: everything in memory, but with the same commit semantics as a disk.
 * `MemoryDisk` outlives adapters, so a simulated crash (drop the adapter, open a new one on the
 * same disk) keeps exactly what was committed.
 */
export class MemoryDisk {
  readonly messages = new Map<string, string>()
  readonly heads = new Map<FeedId, HeadRecord>()
  readonly evidence: ForkEvidence[] = []
}

const key = (author: FeedId, sequence: number) => `${author}\u0000${sequence}`

export function createMemoryAdapter(disk: MemoryDisk = new MemoryDisk()): FeedStorageAdapter {
  let closed = false
  const live = () => {
    if (closed) throw new Error('memory adapter used after close')
  }
  return {
    name: 'memory',
    async readHeads() {
      live()
      return [...disk.heads.values()]
    },
    async readMessage(author, sequence) {
      live()
      return disk.messages.get(key(author, sequence))
    },
    async readRange(author, from, to) {
      live()
      const out: string[] = []
      for (let s = from; s <= to; s++) {
        const text = disk.messages.get(key(author, s))
        if (text === undefined) break
        out.push(text)
      }
      return out
    },
    async readEvidence() {
      live()
      return [...disk.evidence]
    },
    async commit(batch: CommitBatch) {
      live()
      for (const m of batch.messages) disk.messages.set(key(m.author, m.sequence), m.text)
      for (const h of batch.heads) disk.heads.set(h.author, h)
      disk.evidence.push(...batch.evidence)
    },
    async close() {
      closed = true
    },
  }
}
