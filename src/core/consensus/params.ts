/**
 * Genesis and parameters of the consensus: who may vote (the registry), how long to wait, how
 * big a block may be. Every node of a network must use the same genesis; its digest is the parent
 * of block 1 and the root of the empty-block chain.
 */
import { encodeCanonical } from '../feed/message'
import type { FeedId } from '../identity/ids'
import { type Digest, digestOfText } from '../merkle'

export interface ConsensusParams {
  /** A block is ready as soon as this many items are pending (and never holds more). */
  readonly maxBlockTxs: number
  /** Or, with at least one item pending, this long after the assembler could start the block. */
  readonly assemblyDelayMs: number
  /** Round timeouts: base × 2^min(round, maxTimeoutExponent). */
  readonly timeoutProposeMs: number
  readonly timeoutPrecommitMs: number
  readonly timeoutCommitMs: number
  readonly maxTimeoutExponent: number
  /** K: a membership item in the block of height S takes effect at height S + K (K >= 2, see docs). */
  readonly membershipDelay: number
  /** Empty blocks a Messagenode keeps pre-created beyond the highest height in progress. */
  readonly emptyBlocksAhead: number
  /** Items per transaction-feed message (also bounded by the 8192-character message limit). */
  readonly maxTxsPerMessage: number
  /** Heights of votes, blocks and transactions kept in memory below the committed height. */
  readonly retainHeights: number
}

export const DEFAULT_PARAMS: ConsensusParams = {
  maxBlockTxs: 500,
  assemblyDelayMs: 20,
  timeoutProposeMs: 1000,
  timeoutPrecommitMs: 500,
  timeoutCommitMs: 500,
  maxTimeoutExponent: 6,
  membershipDelay: 2,
  emptyBlocksAhead: 8,
  maxTxsPerMessage: 16,
  retainHeights: 32,
}

/** The registry at genesis (owner ids) and the parameters. Admins sign membership invites. */
export interface ConsensusGenesis {
  readonly networkId: string
  readonly validators: readonly FeedId[]
  readonly messagenodes: readonly FeedId[]
  readonly admins: readonly FeedId[]
  readonly params: ConsensusParams
}

/** f = floor((n - 1) / 3): the Byzantine validators tolerated among n. */
export const faultTolerance = (n: number): number => Math.floor((n - 1) / 3)
/** q = n - f: any two quorums share at least f + 1 validators, so at least one honest one. */
export const quorumSize = (n: number): number => n - faultTolerance(n)

export function timeoutFor(base: number, round: number, params: ConsensusParams): number {
  return base * 2 ** Math.min(round, params.maxTimeoutExponent)
}

export function checkGenesis(genesis: ConsensusGenesis): string | undefined {
  const p = genesis.params
  if (genesis.validators.length === 0) return 'no validators'
  if (genesis.messagenodes.length === 0) return 'no Messagenodes'
  if (new Set(genesis.validators).size !== genesis.validators.length) return 'duplicate validator'
  if (new Set(genesis.messagenodes).size !== genesis.messagenodes.length) return 'duplicate Messagenode'
  if (!Number.isInteger(p.membershipDelay) || p.membershipDelay < 2) return 'membershipDelay must be >= 2'
  if (!Number.isInteger(p.maxBlockTxs) || p.maxBlockTxs < 1) return 'maxBlockTxs must be >= 1'
  if (!Number.isInteger(p.maxTxsPerMessage) || p.maxTxsPerMessage < 1) return 'maxTxsPerMessage must be >= 1'
  if (!Number.isInteger(p.retainHeights) || p.retainHeights < 4) return 'retainHeights must be >= 4'
  return undefined
}

/** The digest of the genesis registry: the parent of block 1 and empty block 0. */
export function genesisDigest(genesis: ConsensusGenesis): Digest {
  return digestOfText(
    encodeCanonical({
      type: 'blockfin/genesis',
      network: genesis.networkId,
      validators: [...genesis.validators].sort(),
      messagenodes: [...genesis.messagenodes].sort(),
      admins: [...genesis.admins].sort(),
    }),
  )
}

/**
 * The empty-block chain (seed 001's blocks feed): empty block h is `{network, height, previous}`
 * with `previous` the digest of empty block h - 1 (the genesis digest for h = 1). It is fully
 * determined by the genesis, so every Messagenode pre-creates the same chain and every block
 * names its slot (the digest of its empty block) without trusting whoever created it.
 */
export class EmptyBlockChain {
  private readonly digests: Digest[]

  constructor(
    private readonly networkId: string,
    genesis: Digest,
  ) {
    this.digests = [genesis]
  }

  content(height: number): { network: string; height: number; previous: Digest } {
    return { network: this.networkId, height, previous: this.slot(height - 1) }
  }

  /** Digest of empty block `height` (0 is the genesis digest). */
  slot(height: number): Digest {
    if (!Number.isInteger(height) || height < 0) throw new RangeError('height must be a natural number')
    while (this.digests.length <= height) {
      const h = this.digests.length
      this.digests.push(
        digestOfText(encodeCanonical({ network: this.networkId, height: h, previous: this.digests[h - 1]! })),
      )
    }
    return this.digests[height]!
  }
}
