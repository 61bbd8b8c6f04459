import type { ForkEvidence } from '../core/feed/evidence'
import type { FeedId, MessageId } from '../core/identity/ids'

export interface HeadRecord {
  readonly author: FeedId
  readonly sequence: number
  readonly id: MessageId
}

export interface MessageRecord extends HeadRecord {
  /** The message exactly as signed. */
  readonly text: string
}

export interface CommitBatch {
  readonly messages: readonly MessageRecord[]
  /** The new head of every feed that `messages` extend. */
  readonly heads: readonly HeadRecord[]
  readonly evidence: readonly ForkEvidence[]
}

/**
 * The storage a FeedStore needs: an ordered key-value shape that IndexedDB, LevelDB and memory
 * all provide. Adapters do no validation; the FeedStore never hands them anything unverified.
 * Every adapter passes the shared contract suite (test/contract/feed-store.contract.ts).
 */
export interface FeedStorageAdapter {
  readonly name: string
  readHeads(): Promise<HeadRecord[]>
  readMessage(author: FeedId, sequence: number): Promise<string | undefined>
  /** Messages `from..to` inclusive, in sequence order; stops early at the first missing one. */
  readRange(author: FeedId, from: number, to: number): Promise<string[]>
  readEvidence(): Promise<ForkEvidence[]>
  /** Writes the whole batch atomically; resolves only once it is durable. */
  commit(batch: CommitBatch): Promise<void>
  close(): Promise<void>
}
