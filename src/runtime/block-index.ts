/**
 * The block index: per height, what a dashboard or the relay's blocks API shows (the decided
 * block, its header, its transactions in execution order with their results, the roots, the three
 * quorum certificates with their vote links, and when each stage was first seen). Pure: no IO, no
 * clock (the runtime passes `at`), no randomness; the same code runs in a tab and in the relay.
 *
 * Inputs (from the consensus runtime that hosts a core):
 * - `onMessage(message, at)`: every message its store holds (as it hands them to the core, replay
 *   included; duplicates are harmless).
 * - `onEvent(event, at)`: the core's events (`decided`, `executed`, `sealed`, ...).
 *
 * What counts:
 * - A height's block is the one **decided** there: by a `decided` event, or by a commit QC whose
 *   votes this index checks itself (`checkQuorumCertificate` against the vote messages it holds and
 *   the runtime's member sets), so a runtime rebuilt by replay (which emits no events) still gets
 *   its records. Before a decision a record has `block: null`: proposals of rounds that did not
 *   decide are never reported as the block of the height (only counted, `proposals`).
 * - QCs are recorded as published, with the result of that check; for each stage the record shows
 *   a QC of the decided block (the decided round for precommit and commit), preferring one that
 *   checks. A QC proves nothing by itself, so a lying Messagenode's QC is shown only when no honest
 *   one is held, with its failed check.
 * - Stages: `assembled` (a proposal at the height), `precommitted` (a checked precommit QC of the
 *   height, or the decision), `committed` (the decision), `sealed` (a `sealed` event or a checked
 *   seal QC of the decided block). A Messagenode's core emits no `sealed` or `executed` events:
 *   there the seal comes from seal QCs and transaction results stay null (only validators
 *   execute the application; the roots come from the seal).
 *
 * Transactions: the index keeps the transaction-feed messages it is given until a decided block
 * claims them, and fills in a decided block's messages that arrive later. Design choice (instead
 * of a `txsOf(cut)` dependency on the store): store reads are asynchronous while the index is pure
 * and synchronous, and the runtime already hands it every stored message; the core's own view
 * holds the same pending messages, and claimed ones move into the record, so nothing is held
 * twice for long. Buffered messages are capped (`maxPendingTxMessages`).
 *
 * Memory: full records for the last `retainHeights` decided heights (default 1000); older heights
 * are **pruned**: `lookup(h)` says so (with the oldest height still held) and the relay answers 404
 * `BLOCK_PRUNED`. Re-deriving old heights from the store is left to a later version. Vote messages
 * (needed to check QCs) are kept only for heights not yet sealed (and a small margin).
 */
import createDebug from 'debug'
import {
  type BlockHeader,
  CONTENT,
  COUNTER_ROLE,
  parseAssembled,
  parseQc,
  parseVote,
  type QcContent,
  type Stage,
} from '../core/consensus/content'
import { RoleDirectory } from '../core/consensus/directory'
import { txItemsOf } from '../core/consensus/items'
import type { MemberSet } from '../core/consensus/membership'
import { checkQuorumCertificate, type QcError } from '../core/consensus/qc'
import type { ConsensusEvent } from '../core/consensus/types'
import type { VerifiedMessage } from '../core/feed/message'
import type { FeedId, MessageId } from '../core/identity/ids'
import type { TxResult } from '../core/ledger/module'
import { itemId, type SignedItem } from '../core/ledger/signed-item'
import { type Digest, merkleRootOfTexts } from '../core/merkle'

const log = createDebug('blockfin:runtime:block-index')

export type BlockStage = 'assembled' | 'precommitted' | 'committed' | 'sealed'
export const BLOCK_STAGES: readonly BlockStage[] = ['assembled', 'precommitted', 'committed', 'sealed']

/** The most heights one `range` call returns. */
export const MAX_BLOCK_RANGE = 100
export const DEFAULT_RETAIN_HEIGHTS = 1000

/** A transaction's outcome, from this node's execution (`executed` event). */
export type TxOutcome =
  | { readonly ok: true }
  | { readonly ok: false; readonly error: { readonly code: string } & Record<string, unknown> }

export interface BlockTx {
  /** Item id: digest of the item's canonical text (what results name). */
  readonly id: Digest
  /** The item's `type` (`transfer`, `member`, `evidence`, ...). */
  readonly type: string
  /** The item exactly as it is in its transaction-feed message. */
  readonly item: unknown
  readonly feed: FeedId
  readonly sequence: number
  /** The transaction-feed message that carries it, and its position there. */
  readonly message: MessageId
  readonly index: number
  /** Null until this node executed the block (always null where the core does not execute: a Messagenode). */
  readonly result: TxOutcome | null
}

export type QcCheck =
  | { readonly ok: true; readonly signers: readonly FeedId[] }
  | { readonly ok: false; readonly code: QcError['code'] }

export interface QcRecord {
  readonly stage: Stage
  readonly height: number
  readonly round: number
  readonly block: Digest
  readonly stateRoot: Digest | null
  readonly resultsRoot: Digest | null
  /** Links to the vote messages (ids), as published. */
  readonly votes: readonly MessageId[]
  /** Merkle root of the linked votes' signatures, as published. */
  readonly sigRoot: Digest
  /** The QC message, its author (a counter role key) and that key's owner (null: binding not held). */
  readonly message: MessageId
  readonly counter: FeedId
  readonly messagenode: FeedId | null
  /** This index's check of the QC against the votes it holds and the member set of the height. */
  readonly check: QcCheck
  readonly at: number
}

export interface AssembledRecord {
  readonly message: MessageId
  readonly author: FeedId
  readonly messagenode: FeedId | null
  readonly round: number
  readonly validRound: number
  readonly at: number
}

export interface StageTimes {
  readonly assembled: number | null
  readonly precommitted: number | null
  readonly committed: number | null
  readonly sealed: number | null
  readonly executed: number | null
}

export interface BlockRecord {
  readonly height: number
  /** The decided block; null while the height is undecided. */
  readonly block: Digest | null
  /** The deciding round. */
  readonly round: number | null
  /** What told this index the decision: the core's `decided` event, or a checked commit QC. */
  readonly decidedBy: 'event' | 'qc' | null
  readonly header: BlockHeader | null
  /** The proposal of the decided block (the deciding round's when held). */
  readonly assembled: AssembledRecord | null
  /** Proposals seen at this height (all rounds, any block). */
  readonly proposals: number
  readonly stage: BlockStage
  /** First-seen times per stage (the runtime's clock, ms); precommitted is never after committed. */
  readonly at: StageTimes
  /** In execution order: (feed id, sequence, index in message). */
  readonly transactions: readonly BlockTx[]
  /** Messages of the block's cuts not held yet (they are filled in when they arrive). */
  readonly missing: readonly { readonly feed: FeedId; readonly sequence: number }[]
  readonly complete: boolean
  /** Whether the held messages' ids give the header's txRoot (null until complete). */
  readonly txRootOk: boolean | null
  readonly stateRoot: Digest | null
  readonly resultsRoot: Digest | null
  readonly executed: boolean
  readonly qcs: {
    readonly precommit: QcRecord | null
    readonly commit: QcRecord | null
    readonly seal: QcRecord | null
  }
}

export interface StageHeights {
  readonly assembled: number
  readonly precommitted: number
  readonly committed: number
  readonly sealed: number
}

export type BlockLookup =
  | { readonly status: 'found'; readonly record: BlockRecord }
  | { readonly status: 'pruned'; readonly height: number; readonly oldest: number }
  | { readonly status: 'unknown'; readonly height: number }

/** What a reader of the index needs (the relay's blocks API takes this). */
export interface BlockSource {
  heights(): StageHeights
  /** The lowest height held in full (lower ones are pruned). */
  readonly oldestHeight: number
  lookup(height: number): BlockLookup
  range(from: number, to: number): BlockRecord[]
  latest(limit: number): BlockRecord[]
}

export interface BlockIndexOptions {
  readonly networkId: string
  /** The member set of a height (the runtime passes its core's `view.setAt`): QCs are checked against it. */
  readonly setAt: (height: number) => MemberSet | undefined
  /** Full records are kept for this many of the highest decided heights (default 1000). */
  readonly retainHeights?: number
  /** Transaction-feed messages held while no decided block claims them (default 100 000). */
  readonly maxPendingTxMessages?: number
  /** Vote messages held for QC checks (default 200 000). */
  readonly maxVotes?: number
}

interface TxMessage {
  readonly id: MessageId
  readonly items: readonly unknown[]
}

interface Proposal extends AssembledRecord {
  readonly block: Digest
  readonly header: BlockHeader
}

interface QcEntry {
  readonly content: QcContent
  readonly message: MessageId
  readonly counter: FeedId
  readonly at: number
  check: QcCheck
}

interface Slot {
  readonly feed: FeedId
  readonly sequence: number
  entry: TxMessage | undefined
}

interface HeightState {
  readonly height: number
  readonly proposals: Proposal[]
  readonly qcs: QcEntry[]
  decision?: { block: Digest; round: number; by: 'event' | 'qc'; at: number }
  /** Set once the decision's header is known. */
  slots?: Slot[]
  executed?: {
    block: Digest
    stateRoot: Digest
    resultsRoot: Digest
    results: readonly TxResult[]
    at: number
  }
  sealed?: { block: Digest; stateRoot: Digest; resultsRoot: Digest; at: number }
  record?: BlockRecord
}

/** Per height, more proposals or QCs than this are not kept (a faulty Messagenode could flood). */
const MAX_PER_HEIGHT = 64
/** Undecided heights further than this above the highest decision are ignored. */
const MAX_AHEAD = 1024

export class BlockIndex implements BlockSource {
  private readonly networkId: string
  private readonly setAt: (height: number) => MemberSet | undefined
  private readonly retain: number
  private readonly maxPending: number
  private readonly maxVotes: number
  private readonly directory: RoleDirectory
  private readonly states = new Map<number, HeightState>()
  /** Transaction-feed messages no decided block claimed yet. */
  private readonly pendingTx = new Map<FeedId, Map<number, TxMessage>>()
  private pendingCount = 0
  /** (feed, sequence) → the height whose decided block includes it. */
  private readonly claims = new Map<FeedId, Map<number, number>>()
  /** Per feed, sequences at or below belong to pruned heights. */
  private readonly prunedUpTo = new Map<FeedId, number>()
  private readonly votes = new Map<MessageId, { message: VerifiedMessage; height: number; stage: Stage }>()
  /** A missing vote id → the QCs (and their heights) waiting for it. */
  private readonly waiting = new Map<MessageId, Map<QcEntry, number>>()
  /** QCs to check again later (set of the height unknown, or a voter's binding not held yet). */
  private readonly retryLater = new Map<QcEntry, number>()
  private readonly max = { assembled: 0, precommitted: 0, committed: 0, sealed: 0 }
  private oldest = 1
  private votesPrunedAt = 0
  private readonly dirty = new Set<number>()
  private readonly listeners = new Set<(record: BlockRecord) => void>()

  constructor(options: BlockIndexOptions) {
    this.networkId = options.networkId
    this.setAt = options.setAt
    this.retain = Math.max(1, options.retainHeights ?? DEFAULT_RETAIN_HEIGHTS)
    this.maxPending = options.maxPendingTxMessages ?? 100_000
    this.maxVotes = options.maxVotes ?? 200_000
    this.directory = new RoleDirectory(this.networkId)
  }

  // ---------------------------------------------------------------- reading

  /** Highest height reached in each stage (not necessarily contiguous below). */
  heights(): StageHeights {
    return { ...this.max }
  }

  get(height: number): BlockRecord | undefined {
    const s = this.states.get(height)
    return s && this.recordOf(s)
  }

  lookup(height: number): BlockLookup {
    const record = this.get(height)
    if (record) return { status: 'found', record }
    if (height >= 1 && height < this.oldest) return { status: 'pruned', height, oldest: this.oldest }
    return { status: 'unknown', height }
  }

  /** Records of `from..to` inclusive that are held, ascending; at most 100 heights are looked at. */
  range(from: number, to: number): BlockRecord[] {
    const out: BlockRecord[] = []
    const last = Math.min(to, from + MAX_BLOCK_RANGE - 1)
    for (let h = Math.max(1, from); h <= last; h++) {
      const r = this.get(h)
      if (r) out.push(r)
    }
    return out
  }

  /** The `limit` (at most 100) highest records held, descending. */
  latest(limit: number): BlockRecord[] {
    const n = Math.max(0, Math.min(limit, MAX_BLOCK_RANGE))
    return [...this.states.keys()]
      .sort((a, b) => b - a)
      .slice(0, n)
      .map((h) => this.recordOf(this.states.get(h)!))
  }

  /** The lowest height still held in full (lower ones are pruned). */
  get oldestHeight(): number {
    return this.oldest
  }

  /** Called with the new record each time one changes (once per input). Returns the unsubscribe. */
  subscribe(listener: (record: BlockRecord) => void): () => void {
    this.listeners.add(listener)
    return () => {
      this.listeners.delete(listener)
    }
  }

  // ---------------------------------------------------------------- inputs

  onMessage(message: VerifiedMessage, at: number): void {
    const completed = this.directory.ingest(message)
    if (completed) this.retryChecks()
    const content = message.value.content
    switch (content.type) {
      case CONTENT.tx:
        this.takeTx(message)
        break
      case CONTENT.precommit:
      case CONTENT.commit:
      case CONTENT.seal:
        this.takeVote(message)
        break
      case CONTENT.assembled:
        this.takeAssembled(message, at)
        break
      case CONTENT.qc:
        this.takeQc(message, at)
        break
      default:
        break
    }
    this.flush()
  }

  onEvent(event: ConsensusEvent, at: number): void {
    switch (event.type) {
      case 'decided':
        this.decide(event.height, event.block, event.round, 'event', at)
        break
      case 'executed': {
        const s = this.state(event.height)
        if (s && !s.executed) {
          s.executed = { ...event, at }
          this.touch(s)
        }
        break
      }
      case 'sealed': {
        const s = this.state(event.height)
        if (s && !s.sealed) {
          s.sealed = { block: event.block, stateRoot: event.stateRoot, resultsRoot: event.resultsRoot, at }
          this.touch(s)
        }
        break
      }
      default:
        break
    }
    // Sets become known as blocks execute: QCs that waited for them can be checked now.
    if (this.retryLater.size > 0 && (event.type === 'executed' || event.type === 'decided'))
      this.retryChecks()
    this.flush()
  }

  /** Checks again the QCs that waited for a member set or a binding (call after replay). */
  recheck(): void {
    this.retryChecks()
    this.flush()
    this.sweepVotes()
  }

  // ---------------------------------------------------------------- state

  private state(height: number, create = true): HeightState | undefined {
    let s = this.states.get(height)
    if (s || !create) return s
    if (height < this.oldest || height > this.max.committed + MAX_AHEAD) return undefined
    s = { height, proposals: [], qcs: [] }
    this.states.set(height, s)
    return s
  }

  private touch(s: HeightState): void {
    s.record = undefined
    this.dirty.add(s.height)
  }

  private flush(): void {
    if (this.dirty.size === 0) return
    const heights = [...this.dirty].sort((a, b) => a - b)
    this.dirty.clear()
    for (const h of heights) {
      const s = this.states.get(h)
      if (!s) continue
      const record = this.recordOf(s)
      for (const stage of BLOCK_STAGES)
        if (BLOCK_STAGES.indexOf(record.stage) >= BLOCK_STAGES.indexOf(stage) && this.max[stage] < h)
          this.max[stage] = h
      for (const listener of this.listeners) listener(record)
    }
    this.prune()
  }

  // ---------------------------------------------------------------- messages

  private takeTx(message: VerifiedMessage): void {
    const items = txItemsOf(message.value.content)
    if (!items) return
    const feed = message.value.author
    const sequence = message.value.sequence
    const entry: TxMessage = { id: message.id, items }
    const height = this.claims.get(feed)?.get(sequence)
    if (height !== undefined) {
      const s = this.states.get(height)
      const slot = s?.slots?.find((x) => x.feed === feed && x.sequence === sequence)
      if (s && slot && !slot.entry) {
        slot.entry = entry
        this.touch(s)
      }
      return
    }
    if (sequence <= (this.prunedUpTo.get(feed) ?? 0)) return
    let byFeed = this.pendingTx.get(feed)
    if (byFeed?.has(sequence)) return
    if (this.pendingCount >= this.maxPending) {
      log('pending transaction messages at the cap (%d): %s not kept', this.maxPending, message.id)
      return
    }
    if (!byFeed) {
      byFeed = new Map()
      this.pendingTx.set(feed, byFeed)
    }
    byFeed.set(sequence, entry)
    this.pendingCount++
  }

  private takeVote(message: VerifiedMessage): void {
    const vote = parseVote(message.value.content)
    if (!vote || this.votes.has(message.id)) return
    const waiting = this.waiting.get(message.id)
    if (!waiting && !this.voteNeeded(vote.height, vote.stage)) return
    if (this.votes.size >= this.maxVotes) {
      log('vote messages at the cap (%d): %s not kept', this.maxVotes, message.id)
      return
    }
    this.votes.set(message.id, { message, height: vote.height, stage: vote.stage })
    if (!waiting) return
    this.waiting.delete(message.id)
    for (const [qc, height] of waiting) this.checkQc(height, qc)
  }

  /**
   * Votes are kept only to check QCs: until the decided block of their height shows a checked QC
   * of their stage. (Not by height alone: a replay may bring a height's votes long after later
   * heights sealed, and its QCs after that.)
   */
  private voteNeeded(height: number, stage: Stage): boolean {
    if (height < this.oldest) return false
    const s = this.states.get(height)
    const d = s?.decision
    if (!s || !d) return true
    return this.pickQc(s, stage, d.block, stage === 'seal' ? 0 : d.round)?.check.ok !== true
  }

  private takeAssembled(message: VerifiedMessage, at: number): void {
    const a = parseAssembled(message.value.content)
    if (!a) return
    const s = this.state(a.height)
    if (!s || s.proposals.length >= MAX_PER_HEIGHT || s.proposals.some((p) => p.message === message.id))
      return
    s.proposals.push({
      message: message.id,
      author: message.value.author,
      messagenode: null,
      round: a.round,
      validRound: a.validRound,
      block: a.block,
      header: a.header,
      at,
    })
    if (s.decision && !s.slots && s.decision.block === a.block) this.claim(s, a.header)
    this.touch(s)
  }

  private takeQc(message: VerifiedMessage, at: number): void {
    const content = parseQc(message.value.content)
    if (!content) return
    const s = this.state(content.height)
    if (!s || s.qcs.length >= MAX_PER_HEIGHT || s.qcs.some((q) => q.message === message.id)) return
    const qc: QcEntry = {
      content,
      message: message.id,
      counter: message.value.author,
      at,
      check: { ok: false, code: 'QC_VOTE_MISSING' },
    }
    s.qcs.push(qc)
    this.checkQc(s.height, qc)
    this.touch(s)
  }

  private checkQc(height: number, qc: QcEntry): void {
    const result = checkQuorumCertificate(qc.content, {
      vote: (id) => this.votes.get(id)?.message,
      ownerOf: (key, role) => this.directory.ownerOf(key, role),
      setAt: this.setAt,
    })
    this.retryLater.delete(qc)
    if (result.ok) qc.check = { ok: true, signers: result.value.signers }
    else {
      qc.check = { ok: false, code: result.error.code }
      if (result.error.code === 'QC_VOTE_MISSING') {
        for (const id of result.error.ids) {
          let waiting = this.waiting.get(id)
          if (!waiting) {
            waiting = new Map()
            this.waiting.set(id, waiting)
          }
          waiting.set(qc, height)
        }
      } else if (result.error.code === 'QC_UNKNOWN_SET' || result.error.code === 'QC_UNBOUND_VOTER')
        this.retryLater.set(qc, height)
    }
    const s = this.states.get(height)
    if (!s) return
    this.touch(s)
    const c = qc.content
    if (qc.check.ok && c.stage === 'commit' && !s.decision) this.decide(height, c.block, c.round, 'qc', qc.at)
  }

  private retryChecks(): void {
    for (const [qc, height] of [...this.retryLater]) this.checkQc(height, qc)
  }

  // ---------------------------------------------------------------- decisions

  private decide(height: number, block: Digest, round: number, by: 'event' | 'qc', at: number): void {
    const s = this.state(height)
    if (!s) return
    const d = s.decision
    if (d) {
      if (d.block === block) {
        if (by === 'event' && d.by === 'qc') s.decision = { ...d, by }
        this.touch(s)
        return
      }
      if (by === 'qc' || d.by === 'event') {
        log('decision at %d: %s by %s, but a %s says %s (kept the first)', height, d.block, d.by, by, block)
        return
      }
      // The core's own decision wins over a QC (they can only differ if safety is broken).
      log('decision at %d: core decided %s, a commit QC said %s', height, block, d.block)
      this.release(s)
    }
    s.decision = { block, round, by, at }
    const header = s.proposals.find((p) => p.block === block)?.header
    if (header) this.claim(s, header)
    this.touch(s)
  }

  /** Takes the decided block's transaction messages out of the pending buffer into slots. */
  private claim(s: HeightState, header: BlockHeader): void {
    const slots: Slot[] = []
    for (const c of header.cuts) {
      let claims = this.claims.get(c.feed)
      if (!claims) {
        claims = new Map()
        this.claims.set(c.feed, claims)
      }
      const pending = this.pendingTx.get(c.feed)
      for (let sequence = c.from; sequence <= c.to; sequence++) {
        const entry = pending?.get(sequence)
        if (entry) {
          pending!.delete(sequence)
          this.pendingCount--
        }
        claims.set(sequence, s.height)
        slots.push({ feed: c.feed, sequence, entry })
      }
    }
    s.slots = slots
  }

  /** Undoes `claim` (a decision replaced): the messages go back to the pending buffer. */
  private release(s: HeightState): void {
    for (const slot of s.slots ?? []) {
      this.claims.get(slot.feed)?.delete(slot.sequence)
      if (!slot.entry) continue
      let byFeed = this.pendingTx.get(slot.feed)
      if (!byFeed) {
        byFeed = new Map()
        this.pendingTx.set(slot.feed, byFeed)
      }
      byFeed.set(slot.sequence, slot.entry)
      this.pendingCount++
    }
    s.slots = undefined
  }

  // ---------------------------------------------------------------- records

  private recordOf(s: HeightState): BlockRecord {
    if (!s.record) s.record = this.build(s)
    return s.record
  }

  private qcRecord(q: QcEntry): QcRecord {
    const c = q.content
    return {
      stage: c.stage,
      height: c.height,
      round: c.round,
      block: c.block,
      stateRoot: c.stateRoot,
      resultsRoot: c.resultsRoot,
      votes: c.votes,
      sigRoot: c.sigRoot,
      message: q.message,
      counter: q.counter,
      messagenode: this.directory.ownerOf(q.counter, COUNTER_ROLE[c.stage]) ?? null,
      check: q.check,
      at: q.at,
    }
  }

  /** The QC shown for a stage: of the decided block (and round), one that checks first, then the earliest. */
  private pickQc(
    s: HeightState,
    stage: Stage,
    block: Digest,
    round: number | undefined,
  ): QcEntry | undefined {
    const matching = s.qcs.filter(
      (q) =>
        q.content.stage === stage &&
        q.content.block === block &&
        (round === undefined || q.content.round === round),
    )
    return matching.find((q) => q.check.ok) ?? matching[0]
  }

  private build(s: HeightState): BlockRecord {
    const d = s.decision
    const firstProposal = s.proposals.reduce<number | null>(
      (t, p) => (t === null || p.at < t ? p.at : t),
      null,
    )
    if (!d) {
      const precommitQcs = s.qcs.filter((q) => q.content.stage === 'precommit' && q.check.ok)
      const precommitted = precommitQcs.length > 0 ? Math.min(...precommitQcs.map((q) => q.at)) : null
      return {
        height: s.height,
        block: null,
        round: null,
        decidedBy: null,
        header: null,
        assembled: null,
        proposals: s.proposals.length,
        stage: precommitted !== null ? 'precommitted' : 'assembled',
        at: { assembled: firstProposal, precommitted, committed: null, sealed: null, executed: null },
        transactions: [],
        missing: [],
        complete: false,
        txRootOk: null,
        stateRoot: null,
        resultsRoot: null,
        executed: false,
        qcs: { precommit: null, commit: null, seal: null },
      }
    }
    const proposal =
      s.proposals.find((p) => p.block === d.block && p.round === d.round) ??
      s.proposals.find((p) => p.block === d.block)
    const precommit =
      this.pickQc(s, 'precommit', d.block, d.round) ?? this.pickQc(s, 'precommit', d.block, undefined)
    const commit = this.pickQc(s, 'commit', d.block, d.round)
    const seal = this.pickQc(s, 'seal', d.block, 0)
    const executed = s.executed?.block === d.block ? s.executed : undefined
    const sealedEvent = s.sealed?.block === d.block ? s.sealed : undefined
    const sealedAt = sealedEvent?.at ?? (seal?.check.ok ? seal.at : undefined)

    // Transactions in execution order, with this node's results when it executed the block.
    const transactions: BlockTx[] = []
    const missing: { feed: FeedId; sequence: number }[] = []
    for (const slot of s.slots ?? []) {
      if (!slot.entry) {
        missing.push({ feed: slot.feed, sequence: slot.sequence })
        continue
      }
      slot.entry.items.forEach((item, index) => {
        const type = typeof item === 'object' && item !== null ? (item as { type?: unknown }).type : undefined
        transactions.push({
          id: itemId(item as SignedItem),
          type: typeof type === 'string' ? type : 'unknown',
          item,
          feed: slot.feed,
          sequence: slot.sequence,
          message: slot.entry!.id,
          index,
          result: null,
        })
      })
    }
    const complete = s.slots !== undefined && missing.length === 0
    const txs = executed && complete ? withResults(transactions, executed.results) : transactions
    const header = proposal?.header ?? null
    const txRootOk =
      complete && header ? merkleRootOfTexts(s.slots!.map((x) => x.entry!.id)) === header.txRoot : null
    const committed = d.at
    const precommitAt = precommit?.check.ok ? Math.min(precommit.at, committed) : committed
    const stage: BlockStage = sealedAt !== undefined ? 'sealed' : 'committed'
    return {
      height: s.height,
      block: d.block,
      round: d.round,
      decidedBy: d.by,
      header,
      assembled: proposal
        ? {
            message: proposal.message,
            author: proposal.author,
            messagenode: this.directory.ownerOf(proposal.author, 'block-assembler') ?? null,
            round: proposal.round,
            validRound: proposal.validRound,
            at: proposal.at,
          }
        : null,
      proposals: s.proposals.length,
      stage,
      at: {
        assembled: proposal ? Math.min(proposal.at, precommitAt) : null,
        precommitted: precommitAt,
        committed,
        sealed: sealedAt ?? null,
        executed: executed?.at ?? null,
      },
      transactions: txs,
      missing,
      complete,
      txRootOk,
      stateRoot:
        sealedEvent?.stateRoot ??
        (seal?.check.ok ? seal.content.stateRoot : null) ??
        executed?.stateRoot ??
        null,
      resultsRoot:
        sealedEvent?.resultsRoot ??
        (seal?.check.ok ? seal.content.resultsRoot : null) ??
        executed?.resultsRoot ??
        null,
      executed: executed !== undefined,
      qcs: {
        precommit: precommit ? this.qcRecord(precommit) : null,
        commit: commit ? this.qcRecord(commit) : null,
        seal: seal ? this.qcRecord(seal) : null,
      },
    }
  }

  // ---------------------------------------------------------------- pruning

  private prune(): void {
    const low = this.max.committed - this.retain + 1
    if (low > this.oldest) {
      for (const [h, s] of this.states) {
        if (h >= low) continue
        for (const slot of s.slots ?? []) {
          this.claims.get(slot.feed)?.delete(slot.sequence)
          if (slot.sequence > (this.prunedUpTo.get(slot.feed) ?? 0))
            this.prunedUpTo.set(slot.feed, slot.sequence)
        }
        for (const q of s.qcs) this.retryLater.delete(q)
        this.states.delete(h)
      }
      this.oldest = low
      for (const [feed, upTo] of this.prunedUpTo) {
        const byFeed = this.pendingTx.get(feed)
        if (!byFeed) continue
        for (const sequence of byFeed.keys())
          if (sequence <= upTo) {
            byFeed.delete(sequence)
            this.pendingCount--
          }
      }
    }
    // Votes whose stage has a checked QC shown (or whose height is pruned) are not needed any more.
    if (this.max.committed - this.votesPrunedAt >= 8 || this.votes.size > this.maxVotes / 2) this.sweepVotes()
  }

  private sweepVotes(): void {
    this.votesPrunedAt = this.max.committed
    for (const [id, v] of this.votes) if (!this.voteNeeded(v.height, v.stage)) this.votes.delete(id)
    for (const [id, waiting] of this.waiting) {
      for (const [qc, height] of waiting) if (!this.states.has(height)) waiting.delete(qc)
      if (waiting.size === 0) this.waiting.delete(id)
    }
  }
}

/** Results in block order, one per item (matched by id when the counts differ). */
function withResults(txs: BlockTx[], results: readonly TxResult[]): BlockTx[] {
  const outcome = (r: TxResult): TxOutcome => (r.ok ? { ok: true } : { ok: false, error: r.error })
  if (results.length === txs.length && results.every((r, i) => r.id === txs[i]!.id))
    return txs.map((t, i) => ({ ...t, result: outcome(results[i]!) }))
  const byId = new Map<Digest, TxResult[]>()
  for (const r of results) byId.set(r.id, [...(byId.get(r.id) ?? []), r])
  return txs.map((t) => {
    const r = byId.get(t.id)?.shift()
    return r ? { ...t, result: outcome(r) } : t
  })
}

/** What `followRuntime` needs of a consensus runtime (ConsensusRuntime has it). */
export interface IndexableRuntime {
  onEvent(listener: (event: ConsensusEvent & { readonly at: number }) => void): () => void
  onMessage(listener: (message: VerifiedMessage, at: number) => void): () => void
  readonly view: { setAt(height: number): MemberSet | undefined }
}

/**
 * An index fed by `runtime`: call it from `ConsensusRuntime.start`'s `attach`, so it sees the
 * replay too, then call `index.recheck()` once the runtime is live. A validator runtime gives
 * transaction results; a Messagenode runtime gives everything else.
 */
export function followRuntime(
  runtime: IndexableRuntime,
  options: Omit<BlockIndexOptions, 'setAt'>,
): { index: BlockIndex; stop(): void } {
  const index = new BlockIndex({ ...options, setAt: (h) => runtime.view.setAt(h) })
  const offEvent = runtime.onEvent((event) => index.onEvent(event, event.at))
  const offMessage = runtime.onMessage((message, at) => index.onMessage(message, at))
  return {
    index,
    stop: () => {
      offEvent()
      offMessage()
    },
  }
}
