/**
 * The validator: Tendermint's Algorithm 1 ("The latest gossip on BFT consensus", Buchman, Kwon,
 * Milosevic 2018) with its prevote as our precommit and its precommit as our commit, plus a seal
 * stage that signs the executed state. Line numbers in comments refer to Algorithm 1.
 *
 * Differences, each argued in docs/protocol.md:
 * - the proposer is the Messagenode assembler of (height, round); validators never propose;
 * - the step of a round is derived from the node's own signed votes, so a node rebuilt by replay
 *   is in exactly the step its feeds say, and never signs two votes for one (height, round, stage);
 * - a validator precommits round 0 of height c + 2 (pipelining) when its parent holds a precommit
 *   quorum at c + 1; it never commits a block whose parent is not committed;
 * - the round-0 propose timer starts only when there is work, so an idle network runs no rounds.
 */
import createDebug from 'debug'
import type { VerifiedMessage } from '../feed/message'
import type { ValidatorRole } from '../identity/roles'
import type { AppModule } from '../ledger/module'
import type { SignedItem } from '../ledger/signed-item'
import type { Digest } from '../merkle'
import { publishBindings } from './bindings'
import { CONTENT, parseVote, type Stage, VOTER_ROLE, voteContent, voteValue } from './content'
import { decodeItem, packTxContents, txItemsOf } from './items'
import type { MemberSet } from './membership'
import { type ConsensusGenesis, checkGenesis, timeoutFor } from './params'
import type { ConsensusIdentity, ConsensusInput, ConsensusNode, ConsensusOutput, CoreDeps } from './types'
import { ConsensusView, frontierAt } from './view'

const log = createDebug('blockfin:consensus:validator')

export interface ValidatorOptions<S, T> {
  readonly genesis: ConsensusGenesis
  readonly identity: ConsensusIdentity
  readonly app: AppModule<S, T>
}

type Step = 'propose' | 'precommit' | 'commit'

const ownKey = (stage: Stage, height: number, round: number) => `${stage}/${height}/${round}`

export class ValidatorNode<S = unknown, T = unknown> implements ConsensusNode {
  readonly view: ConsensusView<S, T>
  private replaying = false
  /** What this validator signed: (stage, height, round) → vote value. Rebuilt from its feeds on replay. */
  private readonly own = new Map<string, string>()
  /** height → lockedRound/lockedValue: its latest non-nil commit there. */
  private readonly locks = new Map<number, { round: number; block: Digest }>()
  private round = 0
  private roundHeight = 1
  /** Timers asked for in this process's life (a restarted node asks again). */
  private readonly timers = new Set<string>()
  private readonly ownTxIds = new Set<Digest>()
  private sealedHeight = 0
  private readonly ownRoleKeys: ReadonlySet<string>

  constructor(options: ValidatorOptions<S, T>, deps: CoreDeps = {}) {
    const problem = checkGenesis(options.genesis)
    if (problem) throw new Error(`invalid genesis: ${problem}`)
    this.view = new ConsensusView({ ...options, executeApp: true }, deps)
    this.view.onExecuted = (height, block, stateRoot, resultsRoot) =>
      this.castVote('seal', height, 0, block, stateRoot, resultsRoot)
    this.ownRoleKeys = new Set(Object.values(options.identity.roleKeys))
  }

  // ---------------------------------------------------------------- interface

  handle(input: ConsensusInput): ConsensusOutput[] {
    switch (input.kind) {
      case 'message':
        this.onMessage(input.message, input.txValidity)
        break
      case 'timeout':
        if (!this.replaying) this.onTimeout(input.key)
        break
      case 'fork':
        this.view.ingestFork(input.evidence)
        break
      case 'submit':
        this.onSubmit(input.items, input.valid)
        break
    }
    return this.finish()
  }

  beginReplay(): void {
    this.replaying = true
  }

  endReplay(): ConsensusOutput[] {
    this.replaying = false
    // Whatever replay re-derived (evidence already published before the crash) is not re-published.
    this.view.takeOutputs()
    publishBindings(this.view, ['transaction-validator', 'precommitter', 'committer', 'sealer'])
    return this.finish()
  }

  private finish(): ConsensusOutput[] {
    if (this.replaying) {
      // Nothing is published or timed while replaying; events (executions, seals) are kept so a
      // restarted runtime rebuilds what it shows (block index, balances).
      return this.view.takeOutputs().filter((o) => o.kind === 'event')
    }
    this.evaluate()
    return this.view.takeOutputs()
  }

  /** Read-only facts for runtimes and tests. */
  get status() {
    return {
      committedHeight: this.view.committedHeight,
      executedHeight: this.view.membership.executedHeight,
      sealedHeight: this.sealedHeight,
      height: this.view.committedHeight + 1,
      round: this.round,
      lock: this.locks.get(this.view.committedHeight + 1),
    }
  }

  ownVote(stage: Stage, height: number, round: number): string | undefined {
    return this.own.get(ownKey(stage, height, round))
  }

  // ---------------------------------------------------------------- inputs

  private onMessage(message: VerifiedMessage, txValidity?: readonly boolean[]): void {
    this.view.ingest(message, txValidity)
    if (!this.ownRoleKeys.has(message.value.author)) return
    const content = message.value.content
    const vote = parseVote(content)
    if (vote) {
      this.recordOwn(vote.stage, vote.height, vote.round, voteValue(vote), vote.block)
      return
    }
    if (content.type === CONTENT.tx)
      for (const item of txItemsOf(content) ?? []) {
        const d = decodeItem(this.view.app as AppModule<unknown, unknown>, item, this.view.sha256)
        if (d.ok) this.ownTxIds.add(d.value.id)
      }
  }

  private recordOwn(stage: Stage, height: number, round: number, value: string, block: Digest | null): void {
    const key = ownKey(stage, height, round)
    const known = this.own.get(key)
    if (known !== undefined && known !== value)
      log('own feed holds %s for %s, memory had %s', value, key, known)
    this.own.set(key, value)
    if (stage === 'commit' && block !== null) {
      const lock = this.locks.get(height)
      if (!lock || lock.round < round) this.locks.set(height, { round, block })
    }
    if (stage !== 'seal' && height === this.view.committedHeight + 1 && round > this.round) this.round = round
  }

  private onTimeout(key: string): void {
    const [kind, h, r] = key.split(':')
    const height = Number(h)
    const round = Number(r)
    if (height !== this.view.committedHeight + 1 || round !== this.round) return // stale
    const step = this.step(height, round)
    if (kind === 'propose' && step === 'propose')
      this.castVote('precommit', height, round, null) // line 57
    else if (kind === 'precommit' && step === 'precommit')
      this.castVote('commit', height, round, null) // line 61
    else if (kind === 'commit') this.startRound(round + 1) // line 65
  }

  private onSubmit(items: readonly unknown[], valid: readonly boolean[]): void {
    const accepted: SignedItem[] = []
    const reject = (index: number, code: string, reason: string) =>
      this.view.emit({ type: 'tx-rejected', index, code, reason })
    for (const [index, item] of items.entries()) {
      const d = decodeItem(this.view.app as AppModule<unknown, unknown>, item, this.view.sha256)
      if (!d.ok) reject(index, d.error.code, d.error.reason)
      else if (valid[index] !== true) reject(index, 'BAD_SIGNATURE', 'signature invalid')
      else if (this.ownTxIds.has(d.value.id)) reject(index, 'TX_DUPLICATE', 'already in this feed')
      else {
        this.ownTxIds.add(d.value.id)
        accepted.push(item as SignedItem)
      }
    }
    const { contents, tooLarge } = packTxContents(accepted, this.view.params.maxTxsPerMessage)
    for (const item of tooLarge)
      this.view.emit({
        type: 'tx-rejected',
        index: items.indexOf(item),
        code: 'TX_TOO_LARGE',
        reason: 'over 8192',
      })
    for (const content of contents) this.view.publish('transaction-validator', content)
  }

  // ---------------------------------------------------------------- voting

  private canSign(role: ValidatorRole): boolean {
    const key = this.view.identity.roleKeys[role]
    return key !== undefined && this.view.directory.ownerOf(key, role) === this.view.identity.owner
  }

  /** Signs a vote unless one was already signed for this (stage, height, round). Never two. */
  private castVote(
    stage: Stage,
    height: number,
    round: number,
    block: Digest | null,
    stateRoot: Digest | null = null,
    resultsRoot: Digest | null = null,
  ): void {
    const vote = { stage, height, round, block, stateRoot, resultsRoot }
    const key = ownKey(stage, height, round)
    if (this.own.has(key) || !this.canSign(VOTER_ROLE[stage] as ValidatorRole)) return
    // A validator outside the set of that height (not yet added, or removed) does not vote.
    if (!this.view.setAt(height)?.validatorSet.has(this.view.identity.owner)) return
    this.recordOwn(stage, height, round, voteValue(vote), block)
    this.view.publish(VOTER_ROLE[stage], voteContent(vote))
    this.view.emit({ type: 'vote', stage, height, round, block })
  }

  /** The step of (height, round), from what this validator signed there. */
  private step(height: number, round: number): Step {
    if (this.own.has(ownKey('commit', height, round))) return 'commit'
    if (this.own.has(ownKey('precommit', height, round))) return 'precommit'
    return 'propose'
  }

  private startRound(round: number): void {
    if (round > this.round) this.round = round
  }

  private timer(kind: 'propose' | 'precommit' | 'commit', height: number, round: number, base: number): void {
    const key = `${kind}:${height}:${round}`
    if (this.timers.has(key)) return
    this.timers.add(key)
    this.view.setTimer(key, timeoutFor(base, round, this.view.params))
  }

  // ---------------------------------------------------------------- rules

  private evaluate(): void {
    for (let pass = 0; pass < 64; pass++) {
      const before = `${this.view.committedHeight} ${this.round} ${this.own.size} ${this.sealedHeight}`
      this.decide()
      this.lateCommits()
      this.currentHeight()
      this.pipelined()
      this.sealed()
      if (before === `${this.view.committedHeight} ${this.round} ${this.own.size} ${this.sealedHeight}`)
        return
    }
  }

  /** Line 49: a commit quorum on a valid block decides the height (any round). */
  private decide(): void {
    for (;;) {
      const height = this.view.committedHeight + 1
      const quorum = this.view.commitQuorums.get(height)
      if (!quorum) return
      const validity = this.view.validate(quorum.block, height, 'committed')
      if (!validity.ok) {
        if (!validity.missing)
          this.view.emit({
            type: 'block-invalid',
            height,
            round: quorum.round,
            block: quorum.block,
            reason: validity.reason,
          })
        return
      }
      this.view.commit(height, quorum.block)
      this.view.emit({ type: 'decided', height, round: quorum.round, block: quorum.block })
    }
  }

  /**
   * Line 36, late: a validator that decided a height before it saw the precommit quorum of the
   * deciding round still signs that commit once it does (if it precommitted there). Nodes behind
   * it then find the commit quorum among honest votes, not only through a Byzantine's.
   */
  private lateCommits(): void {
    const c = this.view.committedHeight
    for (let height = Math.max(1, c - 2); height <= c; height++) {
      const decided = this.view.commitQuorums.get(height)
      if (!decided || this.view.committedId(height) !== decided.block) continue
      const r = decided.round
      if (!this.own.has(ownKey('precommit', height, r)) || this.own.has(ownKey('commit', height, r))) continue
      if (this.view.precommitQuorums.get(height)?.get(r) === decided.block)
        this.castVote('commit', height, r, decided.block)
    }
  }

  private currentHeight(): void {
    const height = this.view.committedHeight + 1
    if (this.roundHeight !== height) {
      this.roundHeight = height
      this.round = 0
      for (const r of this.view.roundsWithVotes(height))
        if (this.own.has(ownKey('precommit', height, r)) || this.own.has(ownKey('commit', height, r)))
          this.round = Math.max(this.round, r)
    }
    const set = this.view.setAt(height)
    if (!set) return
    // Line 55: f + 1 owners already in a later round pull this validator there.
    for (const r of this.view.roundsWithVotes(height))
      if (r > this.round && this.view.votersAt(height, r) >= set.f + 1) this.startRound(r)
    const round = this.round
    const params = this.view.params

    if (this.step(height, round) === 'propose') {
      if (round > 0 || this.workExists(height, set))
        this.timer('propose', height, round, params.timeoutProposeMs)
      this.onProposal(height, round)
    }
    const precommits = this.view.tally('precommit', height, round)
    if (precommits && this.step(height, round) !== 'propose') {
      // Line 34: q precommits of any kind start the precommit timeout.
      if (this.step(height, round) === 'precommit' && precommits.byOwner.size >= set.q)
        this.timer('precommit', height, round, params.timeoutPrecommitMs)
      // Line 36: q precommits for a valid block: lock on it and commit it.
      for (const [value, owners] of precommits.byValue) {
        if (value === 'nil' || owners.size < set.q || this.step(height, round) !== 'precommit') continue
        const block = value as Digest
        if (this.view.validate(block, height, 'committed').ok) {
          this.castVote('commit', height, round, block)
        }
      }
      // Line 44: q nil precommits: commit nil.
      if (this.step(height, round) === 'precommit' && precommits.count('nil') >= set.q)
        this.castVote('commit', height, round, null)
    }
    // Line 47: q commits of any kind start the commit timeout (then the next round).
    const commits = this.view.tally('commit', height, round)
    if (commits && commits.byOwner.size >= set.q) this.timer('commit', height, round, params.timeoutCommitMs)
  }

  /** Lines 22 and 28: the assembler's proposal for this round. */
  private onProposal(height: number, round: number): void {
    const proposal = this.view.proposals.get(`${height}/${round}`)
    if (!proposal) return
    const lock = this.locks.get(height)
    const vr = proposal.validRound
    if (vr >= round) return
    if (vr >= 0 && this.view.precommitQuorums.get(height)?.get(vr) !== proposal.block) return // wait for the quorum
    const validity = this.view.validate(proposal.block, height, 'committed')
    if (!validity.ok && validity.missing) return // wait for the data; the timeout bounds the wait
    const unlockedFor = !lock || lock.block === proposal.block || (vr >= 0 && lock.round <= vr) // lockedRound <= vr (line 29)
    if (validity.ok && unlockedFor) this.castVote('precommit', height, round, proposal.block)
    else {
      if (!validity.ok)
        this.view.emit({
          type: 'block-invalid',
          height,
          round,
          block: proposal.block,
          reason: validity.reason,
        })
      this.castVote('precommit', height, round, null)
    }
  }

  /**
   * Pipelining: precommit the round-0 block of height c + 2 while c + 1 commits, when its parent
   * already holds a precommit quorum. Only a precommit; commit waits for the parent's commit.
   */
  private pipelined(): void {
    const height = this.view.committedHeight + 2
    const proposal = this.view.proposals.get(`${height}/0`)
    if (!proposal || proposal.validRound !== -1 || this.own.has(ownKey('precommit', height, 0))) return
    if (this.view.validate(proposal.block, height, 'pipelined').ok)
      this.castVote('precommit', height, 0, proposal.block)
  }

  /** Work at this height: a proposal, a vote, or a valid transaction past the committed frontier. */
  private workExists(height: number, set: MemberSet): boolean {
    for (let r = 0; r <= this.round; r++) if (this.view.proposals.has(`${height}/${r}`)) return true
    // A membership change waits for the heights up to the one it takes effect at (empty blocks).
    if (this.view.membership.latest().from > height) return true
    if (this.view.roundsWithVotes(height).length > 0) return true
    const frontier = this.view.frontierOf(this.view.committedId(height - 1)!)
    if (!frontier) return false
    for (const [feed, entries] of this.view.txFeeds) {
      const next = entries.get(frontierAt(frontier, feed) + 1)
      if (!next?.allValid) continue
      const owner = this.view.directory.ownerOf(feed, 'transaction-validator')
      if (owner && set.validatorSet.has(owner)) return true
    }
    return false
  }

  /** A seal quorum seals a height once the one before is sealed. */
  private sealed(): void {
    for (;;) {
      // Heights that fell out of the retained window while this node lagged are not reported.
      if (this.sealedHeight + 1 < this.view.lowWatermark) this.sealedHeight = this.view.lowWatermark - 1
      const height = this.sealedHeight + 1
      const value = this.view.sealQuorums.get(height)
      if (!value) return
      const [block, stateRoot, resultsRoot] = value.split(' ') as [Digest, Digest, Digest]
      this.sealedHeight = height
      this.view.emit({ type: 'sealed', height, block, stateRoot, resultsRoot })
      const own = this.view.executedRoots.get(height)
      if (own && `${own.block} ${own.stateRoot} ${own.resultsRoot}` !== value)
        this.view.emit({
          type: 'seal-mismatch',
          height,
          own: `${own.block} ${own.stateRoot} ${own.resultsRoot}`,
          quorum: value,
        })
    }
  }
}

export function createValidator<S, T>(
  options: ValidatorOptions<S, T>,
  deps: CoreDeps = {},
): ValidatorNode<S, T> {
  return new ValidatorNode(options, deps)
}
