/**
 * The Messagenode: keeps the empty-block chain ahead, assembles blocks when it is the assembler
 * of (height, round), and counts every stage, publishing a quorum certificate per quorum. It
 * never votes, and nothing it says is trusted: validators check blocks and count votes
 * themselves, and every node cross-checks its QCs (see view.ts).
 *
 * Assembly is deterministic in the cut: cuts are sorted by transaction-feed id, transactions
 * ordered by (feed id, sequence), and the Merkle root is over that order, so the same cut gives
 * the same block id on every Messagenode.
 */
import { MAX_MESSAGE_LENGTH, type VerifiedMessage } from '../feed/message'
import type { FeedId, MessageId } from '../identity/ids'
import type { MessagenodeRole } from '../identity/roles'
import type { AppModule } from '../ledger/module'
import { type Digest, merkleRootOfTexts } from '../merkle'
import { publishBindings } from './bindings'
import {
  assembledContent,
  type BlockHeader,
  blockIdOf,
  CONTENT,
  COUNTER_ROLE,
  type Cut,
  parseAssembled,
  parseEmptyBlock,
  parseQc,
  qcContent,
} from './content'
import { ENVELOPE_ALLOWANCE, nestedTextLength } from './items'
import type { MemberSet } from './membership'
import { type ConsensusGenesis, checkGenesis } from './params'
import { sigRootOf } from './qc'
import type { ConsensusIdentity, ConsensusInput, ConsensusNode, ConsensusOutput, CoreDeps } from './types'
import { ConsensusView, type Frontier, frontierAt, type QuorumReached } from './view'

export interface MessagenodeOptions<S, T> {
  readonly genesis: ConsensusGenesis
  readonly identity: ConsensusIdentity
  readonly app: AppModule<S, T>
}

const MESSAGENODE_ROLES: readonly MessagenodeRole[] = [
  'empty-block-producer',
  'block-assembler',
  'precommit-counter',
  'commit-counter',
  'seal-counter',
]

const LARGEST = Number.MAX_SAFE_INTEGER

/** A cut's share of the assembled message (at its largest numbers): it sits 8 spaces deep, then ",\n". */
const cutCost = (feed: FeedId): number => nestedTextLength({ feed, from: LARGEST, to: LARGEST }, 8) + 2

/** What the size limit leaves for cuts once the envelope and the rest of the assembled content are in. */
function cutRoom(network: string, height: number, parent: Digest): number {
  const header = { network, height, slot: parent, parent, cuts: [], txCount: LARGEST, txRoot: parent }
  const content = assembledContent({
    height,
    round: LARGEST,
    validRound: LARGEST,
    block: parent,
    header: header as BlockHeader,
  })
  return MAX_MESSAGE_LENGTH - ENVELOPE_ALLOWANCE - nestedTextLength(content, 2)
}

/** The block an assembler would propose from `frontier`: what `assemble` builds, exposed for tests and the simulator. */
export function buildHeader(
  view: ConsensusView<unknown, unknown>,
  height: number,
  parent: Digest,
  frontier: Frontier,
  set: MemberSet,
  exclude: ReadonlySet<FeedId> = new Set(),
): BlockHeader | undefined {
  const plan = planBlock(view, height, parent, frontier, set, exclude)
  return plan && headerOf(view, plan)
}

/** What a block would hold, without its transaction root (counted on every message; hashed once, to propose). */
interface BlockPlan {
  readonly height: number
  readonly parent: Digest
  readonly cuts: readonly Cut[]
  readonly ids: readonly MessageId[]
  readonly txCount: number
}

function headerOf(view: ConsensusView<unknown, unknown>, plan: BlockPlan): BlockHeader {
  return {
    network: view.genesis.networkId,
    height: plan.height,
    slot: view.emptyChain.slot(plan.height),
    parent: plan.parent,
    cuts: [...plan.cuts],
    txCount: plan.txCount,
    txRoot: merkleRootOfTexts(plan.ids, view.sha256),
  }
}

function planBlock(
  view: ConsensusView<unknown, unknown>,
  height: number,
  parent: Digest,
  frontier: Frontier,
  set: MemberSet,
  exclude: ReadonlySet<FeedId>,
): BlockPlan | undefined {
  const max = view.params.maxBlockTxs
  const feeds = [...view.txFeeds.keys()]
    .filter((feed) => {
      const owner = view.directory.ownerOf(feed, 'transaction-validator')
      return owner !== undefined && set.validatorSet.has(owner) && !exclude.has(feed)
    })
    .sort()
  // Round-robin over feeds, one message at a time, so no validator's backlog starves the others.
  const cursors = feeds.map((feed) => ({
    feed,
    from: frontierAt(frontier, feed) + 1,
    next: frontierAt(frontier, feed) + 1,
  }))
  // The assembled message must fit the message size limit: about 60 cuts do. Past that, feeds
  // wait for the next block, and which feeds go first rotates with the height, so none waits long.
  let room = cutRoom(view.genesis.networkId, height, parent)
  const order = cursors.map((_, i) => cursors[(i + height) % cursors.length]!)
  let count = 0
  for (let progress = true; progress && count < max; ) {
    progress = false
    for (const c of order) {
      const e = view.txFeeds.get(c.feed)?.get(c.next)
      if (!e?.allValid || count + e.items.length > max) continue
      if (c.next === c.from) {
        const cost = cutCost(c.feed)
        if (cost > room) continue
        room -= cost
      }
      count += e.items.length
      c.next++
      progress = true
    }
  }
  // No block for nothing, except to carry a membership change to the height it takes effect at:
  // a validator admitted while the network is idle becomes active without anyone's traffic.
  if (count === 0 && !(view.membership.latest().from > height)) return undefined
  const cuts: Cut[] = []
  const ids: MessageId[] = []
  for (const c of cursors) {
    if (c.next === c.from) continue
    cuts.push({ feed: c.feed, from: c.from, to: c.next - 1 })
    for (let s = c.from; s < c.next; s++) ids.push(view.txFeeds.get(c.feed)!.get(s)!.id)
  }
  return { height, parent, cuts, ids, txCount: count }
}

export class MessagenodeNode<S = unknown, T = unknown> implements ConsensusNode {
  readonly view: ConsensusView<S, T>
  private replaying = false
  private readonly ownRoleKeys: ReadonlySet<string>
  /** `${height}/${round}` → block this node proposed (from its assembled feed on replay). */
  private readonly proposed = new Map<string, Digest>()
  /** `${stage}/${height}/${round}/${block}` of QCs this node published. */
  private readonly published = new Set<string>()
  private sealQcHeight = 0
  private emptyHeight = 0
  private readonly timers = new Set<string>()
  private readonly assemblyDue = new Set<string>()

  constructor(options: MessagenodeOptions<S, T>, deps: CoreDeps = {}) {
    const problem = checkGenesis(options.genesis)
    if (problem) throw new Error(`invalid genesis: ${problem}`)
    this.view = new ConsensusView({ ...options, executeApp: false }, deps)
    this.ownRoleKeys = new Set(Object.values(options.identity.roleKeys))
  }

  handle(input: ConsensusInput): ConsensusOutput[] {
    switch (input.kind) {
      case 'message':
        this.onMessage(input.message, input.txValidity)
        break
      case 'timeout':
        if (input.key.startsWith('assemble:')) this.assemblyDue.add(input.key.slice('assemble:'.length))
        break
      case 'fork':
        this.view.ingestFork(input.evidence)
        break
      case 'submit':
        break
    }
    return this.finish()
  }

  beginReplay(): void {
    this.replaying = true
  }

  endReplay(): ConsensusOutput[] {
    this.replaying = false
    this.view.takeOutputs()
    publishBindings(this.view, MESSAGENODE_ROLES)
    return this.finish()
  }

  get status() {
    return {
      committedHeight: this.view.committedHeight,
      sealQcHeight: this.sealQcHeight,
      emptyHeight: this.emptyHeight,
    }
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

  private onMessage(message: VerifiedMessage, txValidity?: readonly boolean[]): void {
    this.view.ingest(message, txValidity)
    if (!this.ownRoleKeys.has(message.value.author)) return
    const content = message.value.content
    if (content.type === CONTENT.assembled) {
      const a = parseAssembled(content)
      if (a) this.proposed.set(`${a.height}/${a.round}`, a.block)
    } else if (content.type === CONTENT.qc) {
      const qc = parseQc(content)
      if (qc) {
        this.published.add(`${qc.stage}/${qc.height}/${qc.round}/${qc.block}`)
        if (qc.stage === 'seal') this.sealQcHeight = Math.max(this.sealQcHeight, qc.height)
      }
    } else if (content.type === CONTENT.emptyBlock) {
      const e = parseEmptyBlock(content)
      if (e) this.emptyHeight = Math.max(this.emptyHeight, e.height)
    }
  }

  private canSign(role: MessagenodeRole): boolean {
    const key = this.view.identity.roleKeys[role]
    return key !== undefined && this.view.directory.ownerOf(key, role) === this.view.identity.owner
  }

  private evaluate(): void {
    for (let pass = 0; pass < 64; pass++) {
      const before = `${this.view.committedHeight} ${this.proposed.size} ${this.published.size} ${this.emptyHeight}`
      this.follow()
      this.emptyBlocks()
      this.assemble(this.view.committedHeight + 1)
      this.assemble(this.view.committedHeight + 2)
      this.publishQcs()
      if (
        before ===
        `${this.view.committedHeight} ${this.proposed.size} ${this.published.size} ${this.emptyHeight}`
      )
        return
    }
  }

  /** Follows decisions: a commit quorum (counted here) on a block whose header is held. */
  private follow(): void {
    for (;;) {
      const height = this.view.committedHeight + 1
      const quorum = this.view.commitQuorums.get(height)
      if (!quorum || !this.view.headers.has(quorum.block)) return
      this.view.commit(height, quorum.block)
      this.view.emit({ type: 'decided', height, round: quorum.round, block: quorum.block })
    }
  }

  /** The blocks feed: empty blocks linked back to genesis, kept ahead of the heights in progress. */
  private emptyBlocks(): void {
    if (!this.canSign('empty-block-producer')) return
    const target = this.view.committedHeight + 2 + this.view.params.emptyBlocksAhead
    while (this.emptyHeight < target) {
      const height = this.emptyHeight + 1
      const { previous } = this.view.emptyChain.content(height)
      this.view.publish('empty-block-producer', {
        type: CONTENT.emptyBlock,
        height,
        previous,
        slot: this.view.emptyChain.slot(height),
      })
      this.emptyHeight = height
    }
  }

  /**
   * The round validators are in at `height`, as far as this node can tell: a round whose commit
   * stage reached q votes is over; f + 1 owners voting in a round prove honest ones are there.
   */
  private startedRound(height: number, set: MemberSet): number {
    let round = 0
    for (const r of this.view.roundsWithVotes(height)) {
      const commits = this.view.tally('commit', height, r)
      if (commits && commits.byOwner.size >= set.q) round = Math.max(round, r + 1)
      if (this.view.votersAt(height, r) >= set.f + 1) round = Math.max(round, r)
    }
    return round
  }

  private assemble(height: number): void {
    const view = this.view
    const set = view.setAt(height)
    const me = view.identity.owner
    if (!set?.messagenodeSet.has(me) || view.convicted.has(me) || !this.canSign('block-assembler')) return
    if (view.commitQuorums.has(height)) return
    const pipelined = height === view.committedHeight + 2
    const round = pipelined ? 0 : this.startedRound(height, set)
    if (set.messagenodes[(height + round) % set.messagenodes.length] !== me) return
    const key = `${height}/${round}`
    if (this.proposed.has(key)) return

    // The parent: the committed block, or (pipelining) the block holding a precommit quorum at c + 1.
    let parent: Digest | undefined
    let frontier: Frontier | undefined
    if (!pipelined) {
      parent = view.committedId(height - 1)
      frontier = parent && view.frontierOf(parent)
    } else {
      const grand = view.committedId(height - 2)
      const quorums = [...(view.precommitQuorums.get(height - 1) ?? new Map<number, Digest>())].sort(
        (a, b) => b[0] - a[0],
      )
      for (const [, block] of quorums) {
        const header = view.headers.get(block)
        const grandFrontier = grand && view.frontierOf(grand)
        if (header && header.parent === grand && grandFrontier) {
          parent = block
          frontier = ConsensusView.frontierAfter(grandFrontier, header)
          break
        }
      }
    }
    if (!parent || !frontier) return

    // Re-propose the block of the newest precommit quorum at this height (Tendermint's validValue).
    const quorums = [...(view.precommitQuorums.get(height) ?? new Map<number, Digest>())]
      .filter(([r]) => r < round)
      .sort((a, b) => b[0] - a[0])
    for (const [validRound, block] of quorums) {
      const header = view.headers.get(block)
      if (header?.parent !== parent) continue
      this.propose(height, round, validRound, header)
      return
    }

    const plan = planBlock(view as ConsensusView<unknown, unknown>, height, parent, frontier, set, new Set())
    if (!plan) return
    if (plan.txCount < view.params.maxBlockTxs && !this.assemblyDue.has(key)) {
      // Not full yet: wait for the assembly delay, then go with what there is.
      if (!this.timers.has(key)) {
        this.timers.add(key)
        view.setTimer(`assemble:${key}`, view.params.assemblyDelayMs)
      }
      return
    }
    this.propose(height, round, -1, headerOf(view as ConsensusView<unknown, unknown>, plan))
  }

  private propose(height: number, round: number, validRound: number, header: BlockHeader): void {
    const block = blockIdOf(header)
    this.proposed.set(`${height}/${round}`, block)
    this.view.publish('block-assembler', assembledContent({ height, round, validRound, block, header }))
  }

  /** A QC for every quorum counted here; seal QCs in height order (seal h + 1 follows seal h). */
  private publishQcs(): void {
    const view = this.view
    const reached = view.newQuorums
    view.newQuorums = []
    for (const q of reached) if (q.stage !== 'seal') this.publishQc(q)
    for (;;) {
      if (this.sealQcHeight + 1 < view.lowWatermark) this.sealQcHeight = view.lowWatermark - 1
      const height = this.sealQcHeight + 1
      const value = view.sealQuorums.get(height)
      if (!value) return
      const [block, stateRoot, resultsRoot] = value.split(' ') as [Digest, Digest, Digest]
      const vote = { stage: 'seal' as const, height, round: 0, block, stateRoot, resultsRoot }
      if (!this.publishQc({ stage: 'seal', height, round: 0, value, vote })) return
      this.sealQcHeight = height
    }
  }

  private publishQc(q: QuorumReached): boolean {
    const view = this.view
    const role = COUNTER_ROLE[q.stage] as MessagenodeRole
    if (!this.canSign(role) || q.height < view.lowWatermark) return false
    const key = `${q.stage}/${q.height}/${q.round}/${q.vote.block}`
    if (this.published.has(key)) return true
    const set = view.setAt(q.height)
    const tally = view.tally(q.stage, q.height, q.round)
    if (!set || !tally) return false
    const messages = tally.messagesFor(q.value).slice(0, set.q)
    if (messages.length < set.q) return false
    this.published.add(key)
    view.publish(
      role,
      qcContent({
        stage: q.stage,
        height: q.height,
        round: q.round,
        block: q.vote.block!,
        stateRoot: q.vote.stateRoot,
        resultsRoot: q.vote.resultsRoot,
        votes: messages.map((m) => m.id),
        sigRoot: sigRootOf(messages, view.sha256),
      }),
    )
    return true
  }
}

export function createMessagenode<S, T>(
  options: MessagenodeOptions<S, T>,
  deps: CoreDeps = {},
): MessagenodeNode<S, T> {
  return new MessagenodeNode(options, deps)
}
