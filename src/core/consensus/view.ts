/**
 * What validators and Messagenodes share: the replicated state read from feeds, and counting.
 * Role bindings, the membership of each height, transaction feeds, block headers, one vote per
 * owner per (stage, height, round), quorums, convictions (equivocation, forks, lying QCs), the
 * committed chain and execution. Pure and synchronous; the node classes add their own rules.
 */
import createDebug from 'debug'
import { nobleSha256Hash, type Sha256 } from '../crypto/hash'
import type { ForkEvidence } from '../feed/evidence'
import {
  encodeCanonical,
  MAX_MESSAGE_LENGTH,
  type MessageContent,
  type VerifiedMessage,
} from '../feed/message'
import type { FeedId, MessageId } from '../identity/ids'
import type { Role } from '../identity/roles'
import type { AppModule, TxResult } from '../ledger/module'
import type { SignedItem } from '../ledger/signed-item'
import { type Digest, merkleRootOfTexts } from '../merkle'
import {
  type AssembledContent,
  type BlockHeader,
  CONTENT,
  COUNTER_ROLE,
  type EmptyBlockContent,
  parseAssembled,
  parseQc,
  parseVote,
  type QcContent,
  type Stage,
  VOTER_ROLE,
  type VoteContent,
  voteValue,
} from './content'
import { RoleDirectory } from './directory'
import type { ConsensusEvidence, QcEvidence, QcLie, VoteEvidence } from './evidence'
import {
  checkEvidenceItem,
  decodeItem,
  type EvidenceItem,
  evidenceCulprit,
  packTxContents,
  type TxItem,
  txItemsOf,
} from './items'
import { type MemberSet, Membership, type MembershipItem } from './membership'
import { type ConsensusGenesis, EmptyBlockChain, genesisDigest } from './params'
import { checkQuorumCertificate, PROVABLE_QC_ERRORS, type QcError } from './qc'
import type { ConsensusEvent, ConsensusIdentity, ConsensusOutput, CoreDeps } from './types'

const log = createDebug('blockfin:consensus:view')

/** Per transaction feed: the last sequence included in a block's lineage. */
export type Frontier = ReadonlyMap<FeedId, number>

/**
 * A transaction feed's first message is its role-owner acceptance, so its transactions start at
 * sequence 2: a feed no block has cut from yet has frontier 1.
 */
export const frontierAt = (frontier: Frontier, feed: FeedId): number => frontier.get(feed) ?? 1

export interface TxEntry {
  readonly id: MessageId
  readonly items: readonly (TxItem<unknown> | undefined)[]
  readonly valid: readonly boolean[]
  /** Every item well-formed and validly signed: only such messages may be cut into a block. */
  readonly allValid: boolean
}

export type Validity = { readonly ok: true } | { readonly ok: false; readonly missing: true } | Invalid
type Invalid = { readonly ok: false; readonly missing?: false; readonly reason: string }

const VALID: Validity = { ok: true }
const MISSING: Validity = { ok: false, missing: true }
const invalid = (reason: string): Invalid => ({ ok: false, reason })

export interface VoteRecord {
  readonly owner: FeedId
  readonly value: string
  readonly vote: VoteContent
  readonly message: VerifiedMessage
}

/**
 * The votes of one (stage, height, round). An owner counts once per value; an owner that signed
 * two values (evidence is raised) counts under both, as in Algorithm 1, where a quorum is 2f + 1
 * messages from distinct senders for one value. That is safe (two quorums for different values
 * would share an honest validator) and it is what lets every honest node see the quorum another
 * honest node saw, whichever of an equivocator's votes reached it first.
 */
export class Tally {
  /** Each owner's first vote. */
  readonly byOwner = new Map<FeedId, VoteRecord>()
  readonly byValue = new Map<string, Set<FeedId>>()
  private readonly records = new Map<string, VoteRecord>()

  /** Adds a vote; false when this owner already voted this value. */
  add(record: VoteRecord): boolean {
    const key = `${record.owner} ${record.value}`
    if (this.records.has(key)) return false
    this.records.set(key, record)
    if (!this.byOwner.has(record.owner)) this.byOwner.set(record.owner, record)
    let owners = this.byValue.get(record.value)
    if (!owners) {
      owners = new Set()
      this.byValue.set(record.value, owners)
    }
    owners.add(record.owner)
    return true
  }

  count(value: string): number {
    return this.byValue.get(value)?.size ?? 0
  }

  /** Messages of the owners voting `value`, in ascending owner order. */
  messagesFor(value: string): VerifiedMessage[] {
    return [...(this.byValue.get(value) ?? [])].sort().map((o) => this.records.get(`${o} ${value}`)!.message)
  }
}

export interface QuorumReached {
  readonly stage: Stage
  readonly height: number
  readonly round: number
  readonly value: string
  readonly vote: VoteContent
}

export interface ViewOptions<S, T> {
  readonly genesis: ConsensusGenesis
  readonly identity: ConsensusIdentity
  /** Validators execute the application; Messagenodes execute membership only. */
  readonly app: AppModule<S, T>
  readonly executeApp: boolean
}

const tallyKey = (stage: Stage, height: number, round: number) => `${stage}/${height}/${round}`

export class ConsensusView<S = unknown, T = unknown> {
  readonly genesis: ConsensusGenesis
  readonly params: ConsensusGenesis['params']
  readonly genesisId: Digest
  readonly emptyChain: EmptyBlockChain
  readonly directory: RoleDirectory
  readonly membership: Membership
  readonly identity: ConsensusIdentity
  readonly app: AppModule<S, T>
  readonly sha256: Sha256

  readonly txFeeds = new Map<FeedId, Map<number, TxEntry>>()
  readonly headers = new Map<Digest, BlockHeader>()
  /** `${height}/${round}` → the designated assembler's proposal. */
  readonly proposals = new Map<string, AssembledContent>()
  readonly tallies = new Map<string, Tally>()
  /** height → rounds with a precommit or commit tally. */
  private readonly votedRounds = new Map<number, Set<number>>()
  /** Every vote message seen in the retained window, bound or not: QCs are checked against it. */
  readonly voteMessages = new Map<MessageId, VerifiedMessage>()
  readonly convicted = new Set<FeedId>()
  readonly committed = new Map<number, Digest>()
  committedHeight = 0
  readonly frontiers = new Map<Digest, Frontier>()
  /** height → round → block with q precommits. */
  readonly precommitQuorums = new Map<number, Map<number, Digest>>()
  /** height → the first commit quorum seen. */
  readonly commitQuorums = new Map<number, { round: number; block: Digest }>()
  /** height → sealed value (`block stateRoot resultsRoot`). */
  readonly sealQuorums = new Map<number, string>()
  /** Quorums reached since the node last looked (Messagenodes publish QCs for them). */
  newQuorums: QuorumReached[] = []
  appState: S
  /** height → `stateRoot resultsRoot` of this node's own execution. */
  readonly executedRoots = new Map<number, { block: Digest; stateRoot: Digest; resultsRoot: Digest }>()

  private out: ConsensusOutput[] = []
  private readonly parkedByKey = new Map<FeedId, VerifiedMessage[]>()
  private readonly parkedByHeight = new Map<number, VerifiedMessage[]>()
  private readonly assembledBy = new Map<string, VerifiedMessage>()
  private readonly pendingQcs = new Map<MessageId, VerifiedMessage[]>()
  private readonly validity = new Map<string, Validity>()
  private readonly reported = new Set<string>()
  private readonly evidenceKeys = new Set<string>()
  /** Owners already accused by an evidence item in some transaction feed: no need to add another. */
  private readonly evidenceIncluded = new Set<FeedId>()
  /** Owners this node published evidence against (one record each: the first that fits a message). */
  private readonly evidencePublished = new Set<FeedId>()
  private pruned = 0
  /** Called after the block of a height is executed (validators sign their seal there). */
  onExecuted?: (height: number, block: Digest, stateRoot: Digest, resultsRoot: Digest) => void

  constructor(options: ViewOptions<S, T>, deps: CoreDeps = {}) {
    this.sha256 = deps.sha256 ?? nobleSha256Hash
    this.genesis = options.genesis
    this.params = options.genesis.params
    this.identity = options.identity
    this.app = options.app
    this.executeApp = options.executeApp
    this.genesisId = genesisDigest(options.genesis)
    this.emptyChain = new EmptyBlockChain(options.genesis.networkId, this.genesisId)
    this.directory = new RoleDirectory(options.genesis.networkId)
    this.membership = new Membership(options.genesis, options.genesis.params.membershipDelay)
    this.committed.set(0, this.genesisId)
    this.frontiers.set(this.genesisId, new Map())
    this.appState = options.app.genesis()
  }

  private readonly executeApp: boolean

  // ---------------------------------------------------------------- outputs

  takeOutputs(): ConsensusOutput[] {
    const out = this.out
    this.out = []
    return out
  }

  emit(event: ConsensusEvent): void {
    this.out.push({ kind: 'event', event })
  }

  publish(role: Role | 'owner', content: MessageContent): void {
    this.out.push({ kind: 'publish', role, content })
  }

  setTimer(key: string, delayMs: number): void {
    this.out.push({ kind: 'set-timer', key, delayMs })
  }

  private malformed(message: VerifiedMessage): void {
    const author = message.value.author
    this.report(`malformed ${message.id}`, { type: 'ignored', code: 'MALFORMED_CONTENT', author })
  }

  /** Reports something ignored, once per key. */
  report(key: string, event: Extract<ConsensusEvent, { type: 'ignored' }>): void {
    if (this.reported.has(key)) return
    this.reported.add(key)
    this.emit(event)
  }

  // ---------------------------------------------------------------- membership

  setAt(height: number): MemberSet | undefined {
    return this.membership.setAt(height)
  }

  committedId(height: number): Digest | undefined {
    return this.committed.get(height)
  }

  /** The lowest height still kept in memory. */
  get lowWatermark(): number {
    return Math.max(1, this.committedHeight - this.params.retainHeights)
  }

  isConvicted = (owner: FeedId): boolean => this.convicted.has(owner)

  // ---------------------------------------------------------------- ingest

  /** Takes one stored message (any feed) into the replicated state. */
  ingest(message: VerifiedMessage, txValidity?: readonly boolean[]): void {
    const { content } = message.value
    const completed = this.directory.ingest(message)
    if (completed) this.retry(this.parkedByKey, completed)
    switch (content.type) {
      case CONTENT.tx:
        this.ingestTx(message, txValidity)
        // A node may commit a block (q commit votes) before it holds the block's transactions:
        // execution then waits for them, and must go on when they arrive, not only at the next
        // commit (which itself may wait for the member set that this execution provides).
        if (this.membership.executedHeight < this.committedHeight) this.execute()
        return
      case CONTENT.precommit:
      case CONTENT.commit:
      case CONTENT.seal: {
        const vote = parseVote(content)
        if (!vote) {
          this.malformed(message)
          return
        }
        if (vote.height < this.lowWatermark) return
        this.voteMessages.set(message.id, message)
        this.ingestVote(message, vote)
        this.recheckQcsAwaiting(message.id)
        return
      }
      case CONTENT.assembled:
        this.ingestAssembled(message)
        return
      case CONTENT.qc:
        this.ingestQc(message)
        return
      default:
        return
    }
  }

  private parkKey(roleKey: FeedId, m: VerifiedMessage): void {
    const list = this.parkedByKey.get(roleKey) ?? []
    list.push(m)
    this.parkedByKey.set(roleKey, list)
  }

  private parkHeight(height: number, m: VerifiedMessage): void {
    // Far-future heights are dropped, not parked: a lagging node gets them again by replication.
    if (height > this.committedHeight + 10 * this.params.retainHeights) return
    const list = this.parkedByHeight.get(height) ?? []
    list.push(m)
    this.parkedByHeight.set(height, list)
  }

  private retry<K>(map: Map<K, VerifiedMessage[]>, key: K): void {
    const list = map.get(key)
    if (!list) return
    map.delete(key)
    for (const m of list) this.ingest(m)
  }

  /** Retries what waited for the sets of heights that just became known. */
  private retryHeights(): void {
    const known = this.membership.executedHeight + this.params.membershipDelay
    for (const h of [...this.parkedByHeight.keys()].sort((a, b) => a - b))
      if (h <= known) this.retry(this.parkedByHeight, h)
  }

  /**
   * The owner `author` speaks for in `role` at `height`, or undefined after parking or reporting
   * the message (unbound key, set not known yet, not a member, convicted).
   */
  private ownerFor(message: VerifiedMessage, role: Role, height: number, kind: 'validator' | 'messagenode') {
    const author = message.value.author
    const owner = this.directory.ownerOf(author, role)
    if (!owner) {
      // The binding may still be on its way (reordering): keep the message and report the key once.
      if (this.directory.binding(author) === undefined) this.parkKey(author, message)
      this.report(`unbound ${author}`, { type: 'ignored', code: 'UNBOUND_ROLE_KEY', author })
      return undefined
    }
    const set = this.setAt(height)
    if (!set) {
      this.parkHeight(height, message)
      return undefined
    }
    const members = kind === 'validator' ? set.validatorSet : set.messagenodeSet
    if (!members.has(owner)) {
      this.report(`non-member ${owner} ${height}`, {
        type: 'ignored',
        code: 'NOT_A_MEMBER',
        author,
        owner,
        height,
      })
      return undefined
    }
    return { owner, set }
  }

  private ingestTx(message: VerifiedMessage, txValidity?: readonly boolean[]): void {
    const raw = txItemsOf(message.value.content)
    if (!raw) return
    const items = raw.map((v) => {
      const d = decodeItem(this.app as AppModule<unknown, unknown>, v, this.sha256)
      return d.ok ? d.value : undefined
    })
    const valid = raw.map((_, i) => txValidity?.[i] === true && items[i] !== undefined)
    items.forEach((item, i) => {
      if (item?.kind !== 'evidence' || !valid[i]) return
      const culprit = evidenceCulprit(item.tx, this.genesis.networkId)
      if (culprit) this.evidenceIncluded.add(culprit)
    })
    let feed = this.txFeeds.get(message.value.author)
    if (!feed) {
      feed = new Map()
      this.txFeeds.set(message.value.author, feed)
    }
    feed.set(message.value.sequence, {
      id: message.id,
      items,
      valid,
      allValid: valid.length > 0 && valid.every(Boolean),
    })
  }

  private ingestVote(message: VerifiedMessage, vote: VoteContent): void {
    const found = this.ownerFor(message, VOTER_ROLE[vote.stage], vote.height, 'validator')
    if (!found) return
    const { owner, set } = found
    const key = tallyKey(vote.stage, vote.height, vote.round)
    let tally = this.tallies.get(key)
    if (!tally) {
      tally = new Tally()
      this.tallies.set(key, tally)
      if (vote.stage !== 'seal') {
        const rounds = this.votedRounds.get(vote.height) ?? new Set<number>()
        rounds.add(vote.round)
        this.votedRounds.set(vote.height, rounds)
      }
    }
    const value = voteValue(vote)
    const previous = tally.byOwner.get(owner)
    if (!tally.add({ owner, value, vote, message })) return
    if (previous && previous.value !== value)
      this.convict(
        owner,
        this.voteEvidence(owner, vote.stage, vote.height, vote.round, previous.message, message),
      )
    if (tally.count(value) === set.q) this.quorumReached(vote, value)
  }

  private quorumReached(vote: VoteContent, value: string): void {
    const { stage, height, round } = vote
    if (stage === 'precommit' && vote.block !== null) {
      let rounds = this.precommitQuorums.get(height)
      if (!rounds) {
        rounds = new Map()
        this.precommitQuorums.set(height, rounds)
      }
      rounds.set(round, vote.block)
    } else if (stage === 'commit' && vote.block !== null) {
      if (!this.commitQuorums.has(height)) this.commitQuorums.set(height, { round, block: vote.block })
    } else if (stage === 'seal') {
      if (!this.sealQuorums.has(height)) this.sealQuorums.set(height, value)
    }
    if (vote.block !== null) this.newQuorums.push({ stage, height, round, value, vote })
  }

  private ingestAssembled(message: VerifiedMessage): void {
    const a = parseAssembled(message.value.content)
    const author = message.value.author
    if (!a) {
      this.malformed(message)
      return
    }
    if (a.height < this.lowWatermark) return
    const found = this.ownerFor(message, 'block-assembler', a.height, 'messagenode')
    if (!found) return
    const { owner, set } = found
    const slot = `${owner} ${a.height}/${a.round}`
    const first = this.assembledBy.get(slot)
    if (first) {
      if (first.id !== message.id && (parseAssembled(first.value.content)?.block ?? '') !== a.block)
        this.convict(owner, this.voteEvidence(owner, 'assembled', a.height, a.round, first, message), true)
      return
    }
    this.assembledBy.set(slot, message)
    this.headers.set(a.block, a.header)
    const designated = set.messagenodes[(a.height + a.round) % set.messagenodes.length]
    if (designated !== owner) {
      this.report(`not-assembler ${owner} ${a.height}/${a.round}`, {
        type: 'ignored',
        code: 'NOT_THE_ASSEMBLER',
        author,
        owner,
        height: a.height,
      })
      return
    }
    const key = `${a.height}/${a.round}`
    if (!this.proposals.has(key)) this.proposals.set(key, a)
  }

  // ---------------------------------------------------------------- QC cross-check

  private ingestQc(message: VerifiedMessage): void {
    const qc = parseQc(message.value.content)
    const _author = message.value.author
    if (!qc) {
      this.malformed(message)
      return
    }
    if (qc.height < this.lowWatermark) return
    const found = this.ownerFor(message, COUNTER_ROLE[qc.stage], qc.height, 'messagenode')
    if (!found) return
    this.checkQc(message, qc, found.owner)
  }

  private checkQc(message: VerifiedMessage, qc: QcContent, counter: FeedId): void {
    const result = checkQuorumCertificate(qc, {
      vote: (id) => this.voteMessages.get(id),
      ownerOf: (k, r) => this.directory.ownerOf(k, r),
      setAt: (h) => this.setAt(h),
      sha256: this.sha256,
    })
    if (result.ok) return
    const e = result.error
    if (e.code === 'QC_VOTE_MISSING') {
      // Votes may still be on their way; look again when the first missing one arrives.
      const id = e.ids[0]!
      const list = this.pendingQcs.get(id) ?? []
      list.push(message)
      this.pendingQcs.set(id, list)
      return
    }
    if (!PROVABLE_QC_ERRORS.has(e.code)) {
      log('QC %s not usable: %s', message.id, e.code)
      return
    }
    this.convict(counter, this.qcEvidence(counter, message, qc, e), true)
  }

  private recheckQcsAwaiting(voteId: MessageId): void {
    const list = this.pendingQcs.get(voteId)
    if (!list) return
    this.pendingQcs.delete(voteId)
    for (const m of list) this.ingest(m)
  }

  // ---------------------------------------------------------------- evidence

  private bindingTexts(roleKey: FeedId): string[] {
    const b = this.directory.binding(roleKey)
    return b ? [b.certificate, b.acceptance] : []
  }

  private voteEvidence(
    owner: FeedId,
    stage: VoteEvidence['stage'],
    height: number,
    round: number,
    a: VerifiedMessage,
    b: VerifiedMessage,
  ): VoteEvidence {
    const keys = [...new Set([a.value.author, b.value.author])]
    return {
      type: 'blockfin/vote-evidence',
      version: 1,
      owner,
      stage,
      height,
      round,
      messages: [a.text, b.text],
      bindings: keys.flatMap((k) => this.bindingTexts(k)),
    }
  }

  private qcEvidence(counter: FeedId, message: VerifiedMessage, qc: QcContent, e: QcError): QcEvidence {
    const text = (id: MessageId) => this.voteMessages.get(id)!
    let lie: QcLie
    let votes: VerifiedMessage[] = []
    switch (e.code) {
      case 'QC_TOO_FEW_VOTES':
        lie = 'too-few-votes'
        break
      case 'QC_VOTE_MISMATCH':
        lie = 'vote-mismatch'
        votes = [text(e.id)]
        break
      case 'QC_NOT_A_MEMBER':
        lie = 'not-a-member'
        votes = [text(e.id)]
        break
      case 'QC_DUPLICATE_OWNER':
        lie = 'duplicate-owner'
        votes = e.ids.map(text)
        break
      default:
        lie = 'sig-root'
        votes = [...new Set(qc.votes)].map(text)
    }
    return {
      type: 'blockfin/qc-evidence',
      version: 1,
      counter,
      lie,
      qc: message.text,
      votes: votes.map((v) => v.text),
      bindings: [
        ...this.bindingTexts(message.value.author),
        ...[...new Set(votes.map((v) => v.value.author))].flatMap((k) => this.bindingTexts(k)),
      ],
    }
  }

  /**
   * Records evidence against an owner: reported (once per record), and published once per owner
   * (the first record that fits one message: a later, smaller one still gets out): a validator
   * puts it into its transaction feed as a consensus item (the culprit leaves the set K blocks
   * after it commits), a Messagenode into its own feed. Votes are not struck here:
   * exclusion is a consensus decision, or honest nodes would disagree on who counts.
   */
  convict(owner: FeedId, evidence: ConsensusEvidence, messagenode = false): void {
    const key = encodeCanonical(evidence)
    if (this.evidenceKeys.has(key)) return
    this.evidenceKeys.add(key)
    this.convicted.add(owner)
    this.emit({ type: 'evidence', culprit: owner, evidence })
    if (messagenode) this.emit({ type: 'messagenode-flagged', owner, evidence })
    if (this.evidencePublished.has(owner)) return
    const member = this.setAt(this.committedHeight + 1)?.validatorSet.has(this.identity.owner) === true
    if (this.executeApp && member) {
      // Only a member's transaction feed is cut into blocks.
      if (this.evidenceIncluded.has(owner)) return
      const bindings = evidence.type === 'blockfin/fork-evidence' ? this.bindingTexts(evidence.author) : []
      const item: EvidenceItem = { type: 'evidence', record: evidence, bindings }
      if (!checkEvidenceItem(item).ok) return // needs the registry to check: reported only
      const { contents } = packTxContents([item as unknown as SignedItem], 1)
      for (const content of contents) this.publish('transaction-validator', content)
      if (contents.length > 0) this.evidencePublished.add(owner)
    } else {
      const content: MessageContent = {
        type: CONTENT.evidence,
        evidence: evidence as unknown as MessageContent,
      }
      // Evidence too big for one message (a QC with many links) is reported but not published.
      if (encodeCanonical(content).length + 700 <= MAX_MESSAGE_LENGTH) {
        this.publish('owner', content)
        this.evidencePublished.add(owner)
      }
    }
  }

  /** A forked feed (from the store): its owner (or the owner of the forked role key) is convicted. */
  ingestFork(evidence: ForkEvidence): void {
    const b = this.directory.binding(evidence.author)
    const owner = b ? b.owner : evidence.author
    const set = this.setAt(Math.max(1, this.committedHeight + 1))
    this.convict(owner, evidence, set?.messagenodeSet.has(owner) === true && !set.validatorSet.has(owner))
  }

  // ---------------------------------------------------------------- blocks

  frontierOf(block: Digest): Frontier | undefined {
    return this.frontiers.get(block)
  }

  static frontierAfter(parent: Frontier, header: BlockHeader): Frontier {
    const next = new Map(parent)
    for (const c of header.cuts) next.set(c.feed, c.to)
    return next
  }

  /** Transaction-feed message ids of a block in canonical order, or undefined if one is missing. */
  messageIdsOf(header: BlockHeader): MessageId[] | undefined {
    const ids: MessageId[] = []
    for (const c of header.cuts) {
      const feed = this.txFeeds.get(c.feed)
      for (let s = c.from; s <= c.to; s++) {
        const e = feed?.get(s)
        if (!e) return undefined
        ids.push(e.id)
      }
    }
    return ids
  }

  /**
   * Is `block` a valid block for `height`? `committed`: its parent is the committed block of
   * height - 1. `pipelined`: its parent holds a precommit quorum at height - 1 and extends the
   * committed block of height - 2 (a validator may precommit one height ahead, never commit).
   */
  validate(block: Digest, height: number, mode: 'committed' | 'pipelined'): Validity {
    const cacheKey = `${block} ${height} ${mode}`
    const cached = this.validity.get(cacheKey)
    if (cached) return cached
    const result = this.computeValidity(block, height, mode)
    if (result.ok || !result.missing) this.validity.set(cacheKey, result)
    return result
  }

  private computeValidity(block: Digest, height: number, mode: 'committed' | 'pipelined'): Validity {
    const header = this.headers.get(block)
    if (!header) return MISSING
    if (header.network !== this.genesis.networkId) return invalid('WRONG_NETWORK')
    if (header.height !== height) return invalid('WRONG_HEIGHT')
    if (header.slot !== this.emptyChain.slot(height)) return invalid('WRONG_SLOT')
    let parentFrontier: Frontier | undefined
    if (mode === 'committed') {
      const parent = this.committed.get(height - 1)
      if (parent === undefined) return MISSING
      if (header.parent !== parent) return invalid('PARENT_NOT_COMMITTED')
      parentFrontier = this.frontiers.get(parent)
    } else {
      const grand = this.committed.get(height - 2)
      if (grand === undefined) return MISSING
      const quorums = this.precommitQuorums.get(height - 1)
      if (!quorums || ![...quorums.values()].includes(header.parent)) return MISSING
      const parentHeader = this.headers.get(header.parent)
      if (!parentHeader) return MISSING
      if (parentHeader.parent !== grand) return invalid('PARENT_NOT_ON_CHAIN')
      const grandFrontier = this.frontiers.get(grand)
      parentFrontier = grandFrontier && ConsensusView.frontierAfter(grandFrontier, parentHeader)
    }
    if (!parentFrontier) return MISSING
    const set = this.setAt(height)
    if (!set) return MISSING
    let count = 0
    const ids: MessageId[] = []
    let previousFeed = ''
    for (const c of header.cuts) {
      if (c.feed <= previousFeed) return invalid('CUTS_NOT_SORTED')
      previousFeed = c.feed
      const owner = this.directory.ownerOf(c.feed, 'transaction-validator')
      if (!owner) return MISSING
      if (!set.validatorSet.has(owner)) return invalid('CUT_OF_NON_MEMBER')
      if (c.from !== frontierAt(parentFrontier, c.feed) + 1) return invalid('CUT_NOT_CONTIGUOUS')
      const feed = this.txFeeds.get(c.feed)
      for (let s = c.from; s <= c.to; s++) {
        const e = feed?.get(s)
        if (!e) return MISSING
        if (!e.allValid) return invalid('INVALID_TRANSACTION')
        count += e.items.length
        ids.push(e.id)
      }
      if (count > this.params.maxBlockTxs) return invalid('TOO_MANY_TRANSACTIONS')
    }
    if (count !== header.txCount) return invalid('WRONG_TX_COUNT')
    if (merkleRootOfTexts(ids, this.sha256) !== header.txRoot) return invalid('WRONG_TX_ROOT')
    return VALID
  }

  /** Records the decision of `height` (the caller checked the commit quorum and validity). */
  commit(height: number, block: Digest): void {
    if (height !== this.committedHeight + 1) throw new Error(`commit ${height} after ${this.committedHeight}`)
    const header = this.headers.get(block)
    const parentFrontier = this.frontiers.get(this.committed.get(height - 1)!)
    if (!header || !parentFrontier) throw new Error('commit without header or parent frontier')
    this.committed.set(height, block)
    this.committedHeight = height
    this.frontiers.set(block, ConsensusView.frontierAfter(parentFrontier, header))
    this.execute()
    this.prune()
  }

  // ---------------------------------------------------------------- execution

  /** Items of a committed block in canonical order (feed id, sequence, index), if all are held. */
  private itemsOf(header: BlockHeader): TxItem<unknown>[] | undefined {
    const items: TxItem<unknown>[] = []
    for (const c of header.cuts) {
      const feed = this.txFeeds.get(c.feed)
      for (let s = c.from; s <= c.to; s++) {
        const e = feed?.get(s)
        if (!e) return undefined
        for (const item of e.items) if (item) items.push(item)
      }
    }
    return items
  }

  /** Executes committed blocks in order, as far as their transactions are held. */
  execute(): void {
    let advanced = false
    for (;;) {
      const height = this.membership.executedHeight + 1
      const block = this.committed.get(height)
      if (!block) break
      const header = this.headers.get(block)
      const items = header && this.itemsOf(header)
      if (!items) break
      const members: (MembershipItem & { at: number })[] = []
      const txs: { id: Digest; tx: T; at: number }[] = []
      items.forEach((item, at) => {
        if (item.kind === 'member') members.push({ kind: 'member', id: item.id, tx: item.tx, at })
        else if (item.kind === 'evidence') {
          const culprit = evidenceCulprit(item.tx, this.genesis.networkId)
          members.push({ kind: 'evidence', id: item.id, culprit, at })
        } else txs.push({ id: item.id, tx: item.tx as T, at })
      })
      const results: TxResult[] = new Array(items.length)
      const memberResults = this.membership.execute(height, members)
      members.forEach((m, i) => {
        results[m.at] = memberResults[i]!
      })
      advanced = true
      if (!this.executeApp) continue
      const executed = this.app.executeBlock(this.appState, txs)
      this.appState = executed.state
      txs.forEach((t, i) => {
        results[t.at] = executed.results[i]!
      })
      const stateRoot = merkleRootOfTexts(
        [`${this.app.name} ${this.app.stateRoot(this.appState)}`, `membership ${this.membership.root()}`],
        this.sha256,
      )
      const resultsRoot = merkleRootOfTexts(
        results.map((r) => encodeCanonical(r)),
        this.sha256,
      )
      this.executedRoots.set(height, { block, stateRoot, resultsRoot })
      this.emit({ type: 'executed', height, block, stateRoot, resultsRoot, results })
      this.onExecuted?.(height, block, stateRoot, resultsRoot)
    }
    if (advanced) this.retryHeights()
  }

  // ---------------------------------------------------------------- counting helpers

  tally(stage: Stage, height: number, round: number): Tally | undefined {
    return this.tallies.get(tallyKey(stage, height, round))
  }

  /** Owners with any precommit or commit at (height, round): for round skipping. */
  votersAt(height: number, round: number): number {
    const owners = new Set<FeedId>()
    for (const stage of ['precommit', 'commit'] as const)
      for (const o of this.tally(stage, height, round)?.byOwner.keys() ?? []) owners.add(o)
    return owners.size
  }

  /** Rounds of `height` with any precommit or commit, ascending. */
  roundsWithVotes(height: number): number[] {
    const rounds = this.votedRounds.get(height)
    return rounds ? [...rounds].sort((a, b) => a - b) : []
  }

  // ---------------------------------------------------------------- pruning

  private prune(): void {
    const low = this.lowWatermark
    if (low - this.pruned < 8) return
    this.pruned = low
    const executed = this.membership.executedHeight
    for (const key of this.tallies.keys()) if (Number(key.split('/')[1]) < low) this.tallies.delete(key)
    for (const [id, m] of this.voteMessages) {
      const v = parseVote(m.value.content)
      if (!v || v.height < low) this.voteMessages.delete(id)
    }
    for (const [key] of this.proposals) if (Number(key.split('/')[0]) < low) this.proposals.delete(key)
    for (const [key] of this.assembledBy)
      if (Number(key.split(' ')[1]!.split('/')[0]) < low) this.assembledBy.delete(key)
    for (const [h] of this.precommitQuorums) if (h < low) this.precommitQuorums.delete(h)
    for (const [h] of this.votedRounds) if (h < low) this.votedRounds.delete(h)
    for (const [h] of this.parkedByHeight) if (h < low) this.parkedByHeight.delete(h)
    for (const [id, h] of this.headers) if (h.height < low) this.headers.delete(id)
    for (const k of this.validity.keys()) if (Number(k.split(' ')[1]) < low) this.validity.delete(k)
    for (const [h, id] of this.committed) {
      if (h < low - 2 && h > 0) {
        this.committed.delete(h)
        this.frontiers.delete(id)
      }
    }
    // Transactions included at or below the executed height that fell out of the window.
    const base = this.committed.get(Math.min(executed, low))
    const frontier = base && this.frontiers.get(base)
    if (frontier)
      for (const [feed, entries] of this.txFeeds) {
        const upTo = frontierAt(frontier, feed)
        for (const s of entries.keys()) if (s <= upTo) entries.delete(s)
      }
    for (const [h] of this.executedRoots) if (h < low) this.executedRoots.delete(h)
    for (const [h] of this.commitQuorums) if (h < low) this.commitQuorums.delete(h)
    for (const [h] of this.sealQuorums) if (h < low) this.sealQuorums.delete(h)
  }
}

export type { EmptyBlockContent }
