/**
 * The block pipeline's rows, from the block index's records: stage, transactions, signatures per
 * stage against the quorum of the set at that height, and how long each stage took. Pure.
 */
import type { MemberSet } from '../../core/consensus/membership'
import type { BlockRecord, BlockStage, QcRecord } from '../../runtime/block-index'

export type QcStage = 'precommit' | 'commit' | 'seal'
export const QC_STAGES: readonly QcStage[] = ['precommit', 'commit', 'seal']

/** Signatures of one stage's QC against the quorum (null: no QC held, or the set is not known). */
export interface Signatures {
  /** Votes the QC links. */
  readonly votes: number
  /** Quorum of the validator set at the height (null: set not known here yet). */
  readonly quorum: number | null
  /** This tab checked the QC against the votes it holds. */
  readonly checked: boolean
  /** Why it did not check (a code), when it did not. */
  readonly problem: string | null
}

export interface PipelineRow {
  readonly height: number
  readonly stage: BlockStage
  readonly block: string | null
  readonly round: number | null
  /** Transactions held of the decided block (null: undecided). */
  readonly transactions: number | null
  /** Messages of the block's cuts not held yet. */
  readonly missing: number
  readonly signatures: Readonly<Record<QcStage, Signatures | null>>
  /** Milliseconds from the previous stage (assembled → precommitted → committed → sealed). */
  readonly durations: {
    readonly precommitted: number | null
    readonly committed: number | null
    readonly sealed: number | null
  }
  /** Assembled → sealed, milliseconds (null until sealed). */
  readonly latency: number | null
  /** When the tab first saw the height's proposal (ms since epoch). */
  readonly assembledAt: number | null
}

const diff = (later: number | null, earlier: number | null): number | null =>
  later === null || earlier === null ? null : Math.max(0, later - earlier)

function signatures(qc: QcRecord | null, set: MemberSet | undefined): Signatures | null {
  if (!qc) return null
  return {
    votes: qc.votes.length,
    quorum: set ? set.q : null,
    checked: qc.check.ok,
    problem: qc.check.ok ? null : qc.check.code,
  }
}

export function pipelineRow(
  record: BlockRecord,
  setAt: (height: number) => MemberSet | undefined,
): PipelineRow {
  const set = setAt(record.height)
  const at = record.at
  return {
    height: record.height,
    stage: record.stage,
    block: record.block,
    round: record.round,
    transactions: record.block === null ? null : record.transactions.length,
    missing: record.missing.length,
    signatures: {
      precommit: signatures(record.qcs.precommit, set),
      commit: signatures(record.qcs.commit, set),
      seal: signatures(record.qcs.seal, set),
    },
    durations: {
      precommitted: diff(at.precommitted, at.assembled),
      committed: diff(at.committed, at.precommitted),
      sealed: diff(at.sealed, at.committed),
    },
    latency: diff(at.sealed, at.assembled),
    assembledAt: at.assembled,
  }
}

/** Whether a stage's signatures reach the quorum (false when either is not known). */
export const reachesQuorum = (s: Signatures | null): boolean =>
  s !== null && s.quorum !== null && s.checked && s.votes >= s.quorum

export interface PageOfHeights {
  /** Highest and lowest height of the page, inclusive (from ≤ to; empty when to < from). */
  readonly from: number
  readonly to: number
  readonly page: number
  readonly pages: number
}

/**
 * Page `page` (0 = newest) of `size` heights, from `top` down to `oldest` (the lowest height the
 * index still holds). The page number is clamped to the pages there are.
 */
export function pageOfHeights(top: number, oldest: number, page: number, size: number): PageOfHeights {
  const low = Math.max(1, oldest)
  const count = Math.max(0, top - low + 1)
  const pages = Math.max(1, Math.ceil(count / size))
  const p = Math.min(Math.max(0, Math.floor(page)), pages - 1)
  const to = top - p * size
  return { from: Math.max(low, to - size + 1), to, page: p, pages }
}

/** "850 ms", "2.4 s", "3 min 05 s"; "—" when unknown. */
export function formatDuration(ms: number | null): string {
  if (ms === null || !Number.isFinite(ms)) return '—'
  if (ms < 1000) return `${Math.round(ms)} ms`
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`
  const s = Math.round(ms / 1000)
  return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, '0')} s`
}
