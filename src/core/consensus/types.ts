/**
 * The interface between the pure consensus core and the runtime that hosts it (a tab, a Node
 * process, the simulator). The core does no IO, reads no clock and draws no randomness: every
 * call `node.handle(input)` returns outputs, and the runtime carries them out.
 *
 * Runtime contract:
 * 1. Start: open the node's FeedStore; `beginReplay()`; hand every stored message to
 *    `handle({kind: 'message'})` (the node's own role feeds first, then everything else, in
 *    sequence order per feed; transaction-feed messages with `verifyTransactions` results);
 *    then `endReplay()` and carry out its outputs. The node learns from its own vote feeds what it
 *    already signed, so it never signs two different votes for one (height, round, stage).
 * 2. `publish` outputs: sign and append with `FeedStore.publish(roleKeys[role] or the owner key,
 *    content, now)`, in output order. Only after the append is acknowledged (durable) replicate it,
 *    and hand the stored message back as a `message` input: a node counts its own vote exactly
 *    like anyone else's.
 * 3. Every message the store accepts from the network: a `message` input (after
 *    `verifyTransactions` for transaction feeds). A `FEED_FORK` outcome: a `fork` input, and the
 *    refused message as a `message` input; so are validly signed messages of a forked feed that the
 *    store refuses as gaps (verify their signatures first). Both branches of a fork must reach the
 *    core: honest nodes holding different branches must still be able to count the same votes.
 * 4. `set-timer` outputs: call `handle({kind: 'timeout', key})` after `delayMs`. Timers are never
 *    cancelled: the core ignores stale ones.
 * 5. `event` outputs: decisions, executions, seals, evidence, reports; for UIs, logs and tests.
 */
import type { Sha256 } from '../crypto/hash'
import type { ForkEvidence } from '../feed/evidence'
import type { MessageContent, VerifiedMessage } from '../feed/message'
import type { FeedId } from '../identity/ids'
import type { Role } from '../identity/roles'
import type { TxResult } from '../ledger/module'
import type { Digest } from '../merkle'
import type { Stage } from './content'
import type { ConsensusEvidence } from './evidence'

export type ConsensusInput =
  | {
      readonly kind: 'message'
      readonly message: VerifiedMessage
      /** For `blockfin/tx` messages: one boolean per item, from `verifyTransactions`. */
      readonly txValidity?: readonly boolean[]
    }
  | { readonly kind: 'timeout'; readonly key: string }
  | { readonly kind: 'fork'; readonly evidence: ForkEvidence }
  /** Validators only: items a client submitted, each with its signature check (`verifyTransactions`). */
  | { readonly kind: 'submit'; readonly items: readonly unknown[]; readonly valid: readonly boolean[] }

export type ConsensusOutput =
  /** Sign as `role` (or as the owner itself) and append to that feed. */
  | { readonly kind: 'publish'; readonly role: Role | 'owner'; readonly content: MessageContent }
  | { readonly kind: 'set-timer'; readonly key: string; readonly delayMs: number }
  | { readonly kind: 'event'; readonly event: ConsensusEvent }

export type IgnoredCode =
  | 'UNBOUND_ROLE_KEY'
  | 'NOT_A_MEMBER'
  | 'CONVICTED'
  | 'MALFORMED_CONTENT'
  | 'NOT_THE_ASSEMBLER'
  | 'TOO_OLD'

export type ConsensusEvent =
  | { readonly type: 'decided'; readonly height: number; readonly round: number; readonly block: Digest }
  | {
      readonly type: 'executed'
      readonly height: number
      readonly block: Digest
      readonly stateRoot: Digest
      readonly resultsRoot: Digest
      readonly results: readonly TxResult[]
    }
  | {
      readonly type: 'sealed'
      readonly height: number
      readonly block: Digest
      readonly stateRoot: Digest
      readonly resultsRoot: Digest
    }
  /** A quorum sealed roots different from this node's own execution: a determinism bug or a faulty node. */
  | { readonly type: 'seal-mismatch'; readonly height: number; readonly own: string; readonly quorum: string }
  | { readonly type: 'evidence'; readonly culprit: FeedId; readonly evidence: ConsensusEvidence }
  | { readonly type: 'messagenode-flagged'; readonly owner: FeedId; readonly evidence: ConsensusEvidence }
  | {
      readonly type: 'ignored'
      readonly code: IgnoredCode
      readonly author: FeedId
      readonly owner?: FeedId
      readonly height?: number
    }
  | {
      readonly type: 'block-invalid'
      readonly height: number
      readonly round: number
      readonly block: Digest
      readonly reason: string
    }
  | { readonly type: 'tx-rejected'; readonly index: number; readonly code: string; readonly reason: string }
  | {
      readonly type: 'vote'
      readonly stage: Stage
      readonly height: number
      readonly round: number
      readonly block: Digest | null
    }

/** What a core node is given besides its options: pure functions only (no IO, no clock). */
export interface CoreDeps {
  /** The platform's sha256 for item ids and Merkle roots (default: noble's; all give the same bytes). */
  readonly sha256?: Sha256
}

export interface ConsensusNode {
  handle(input: ConsensusInput): ConsensusOutput[]
  /** Until `endReplay`, inputs only rebuild state: no rule fires, nothing is published. */
  beginReplay(): void
  endReplay(): ConsensusOutput[]
}

/** The node's own keys, by id only: the core never holds a secret. */
export interface ConsensusIdentity {
  readonly owner: FeedId
  readonly roleKeys: Partial<Record<Role, FeedId>>
}
