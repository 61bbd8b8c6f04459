/**
 * One seeded simulation run: builds the network of the seed's scenario (real keys, real
 * signatures, a FeedStore per node over a MemoryDisk), drives clients, faults and Byzantine nodes
 * on virtual time, checks the invariants as it goes and at the end, and returns the violations.
 * The same seed always gives the same run.
 */
import {
  CONTENT,
  type ConsensusEvent,
  type ConsensusEvidence,
  type ConsensusGenesis,
  createMemberItem,
  parseVote,
  txItemsOf,
  verifyEvidence,
  voteContent,
} from '../core/consensus'
import type { Ed25519Backend } from '../core/crypto/ed25519'
import { decodeMessage } from '../core/feed/decode'
import { createMessage, type VerifiedMessage } from '../core/feed/message'
import type { FeedId, MessageId } from '../core/identity/ids'
import { type KeyPair, keyPairFromSeed } from '../core/identity/keys'
import {
  deriveRoleKeys,
  MESSAGENODE_ROLES,
  type Role,
  type RoleKeyPair,
  VALIDATOR_ROLES,
} from '../core/identity/roles'
import type { AppModule } from '../core/ledger/module'
import { createPaymentsLedger, createTransfer } from '../core/ledger/payments'
import { itemId, type SignedItem } from '../core/ledger/signed-item'
import type { Digest } from '../core/merkle'
import { createNodeBackend, createNodeSha256, nativeSignedBytes } from '../crypto/node'
import {
  type Act,
  type ByzantineContext,
  censoringMessagenode,
  equivocating,
  forgingValidator,
  forking,
  gappingMessagenode,
  lyingMessagenode,
  withholdingMessagenode,
  withholdingValidator,
} from './byzantine'
import { CALM, SimNetwork } from './network'
import { type NodeHost, SimNode } from './node'
import { Prng } from './prng'
import { type Scenario, scenarioFor } from './scenario'
import { Scheduler } from './scheduler'
import { createVerifyCache } from './verify-cache'

export interface SimResult {
  readonly seed: number
  readonly theme: string
  readonly violations: string[]
  readonly stats: {
    readonly virtualMs: number
    readonly events: number
    readonly sealedHeight: number
    readonly acked: number
    readonly evidence: number
    readonly flagged: number
    readonly verified: number
    /** Transaction messages the honest validators published (pacing makes fewer, fuller ones). */
    readonly txMessages: number
  }
}

const NETWORK_ID = '%c2ltdWxhdGVkLW5ldHdvcmstZm9yLWJsb2NrZmluLXNpbT0=.sha256'

const keyCache = new Map<string, KeyPair>()
/** Keys are a pure function of a label, so runs reuse them (key generation is the slow part). */
function keyOf(label: string): KeyPair {
  let k = keyCache.get(label)
  if (!k) {
    const seed = new Uint8Array(32)
    for (let i = 0; i < label.length; i++) seed[i % 32] = (seed[i % 32]! * 31 + label.charCodeAt(i) + i) & 255
    k = keyPairFromSeed(seed)
    keyCache.set(label, k)
  }
  return k
}

const roleCache = new Map<string, Partial<Record<Role, RoleKeyPair>>>()
function rolesOf(label: string, kind: 'validator' | 'messagenode'): Partial<Record<Role, RoleKeyPair>> {
  let r = roleCache.get(label)
  if (!r) {
    r = {}
    for (const role of kind === 'validator' ? VALIDATOR_ROLES : MESSAGENODE_ROLES)
      r[role] = deriveRoleKeys(keyOf(label), role)
    roleCache.set(label, r)
  }
  return r
}

const sharedBackend = createNodeBackend()

export interface RunOptions {
  /** Override the scenario (tests). */
  readonly scenario?: (seed: number, prng: Prng) => Scenario
}

export async function runSeed(seed: number, options: RunOptions = {}): Promise<SimResult> {
  return new World(seed, options).run()
}

export class World {
  readonly prng: Prng
  readonly scheduler = new Scheduler()
  readonly scenario: Scenario
  readonly net: SimNetwork
  readonly nodes: SimNode[] = []
  readonly backend = createVerifyCache(sharedBackend)
  /** Native sha256 for the cores (item ids, Merkle roots): the same bytes as noble's, faster. */
  readonly sha256 = createNodeSha256()
  readonly networkKey: Uint8Array
  readonly genesis: ConsensusGenesis
  readonly app: AppModule<unknown, unknown>
  readonly violations: string[] = []
  readonly acts: Act[] = []
  readonly admin = keyOf('admin')
  readonly accounts: KeyPair[]
  /** Item id → who acknowledged it (an honest validator's durable append). */
  readonly acked = new Map<Digest, { node: number; at: number }>()
  private txMessages = 0
  readonly postHealItems = new Set<Digest>()
  readonly decided = new Map<number, Digest>()
  /** Heights whose referenced messages and items were captured (at the first node to execute them). */
  private readonly captured = new Set<number>()
  readonly executedRoots = new Map<number, string>()
  readonly itemResults = new Map<Digest, string>()
  readonly executedItems = new Map<number, Set<Digest>>()
  readonly sealedHeight = new Map<number, number>()
  readonly sealedAfterHeal = new Set<number>()
  readonly evidence: { node: number; culprit: FeedId; evidence: ConsensusEvidence }[] = []
  readonly flagged: { node: number; owner: FeedId; evidence: ConsensusEvidence }[] = []
  readonly published = new Set<MessageId>()
  readonly decidedBlocks: {
    height: number
    items: unknown[]
    messages: { id: MessageId; author: FeedId }[]
  }[] = []
  readonly forgedTexts: string[] = []
  events = 0
  healed = false

  constructor(
    readonly seed: number,
    options: RunOptions,
  ) {
    this.prng = new Prng(seed)
    this.scenario = (options.scenario ?? scenarioFor)(seed, this.prng)
    this.networkKey = this.prng.bytes(32)
    this.net = new SimNetwork(this.scheduler, this.prng, () => this.nodes)
    const s = this.scenario
    this.accounts = Array.from({ length: 6 }, (_, i) => keyOf(`account ${i}`))
    this.app = createPaymentsLedger({
      allocations: Object.fromEntries(this.accounts.map((a) => [a.id, 1000])),
      sha256: this.sha256,
    }) as AppModule<unknown, unknown>
    const validatorLabels = Array.from({ length: s.validators }, (_, i) => `validator ${i}`)
    const mnLabels = Array.from({ length: s.messagenodes }, (_, i) => `messagenode ${i}`)
    this.genesis = {
      networkId: NETWORK_ID,
      validators: validatorLabels.map((l) => keyOf(l).id),
      messagenodes: mnLabels.map((l) => keyOf(l).id),
      admins: [this.admin.id],
      params: s.params,
    }
    const host = this.host()
    for (const l of validatorLabels)
      this.nodes.push(
        new SimNode(
          this.nodes.length,
          'validator',
          { owner: keyOf(l), roles: rolesOf(l, 'validator') },
          host,
        ),
      )
    for (const l of mnLabels)
      this.nodes.push(
        new SimNode(
          this.nodes.length,
          'messagenode',
          { owner: keyOf(l), roles: rolesOf(l, 'messagenode') },
          host,
        ),
      )
    // The extra validator: not in the genesis registry; added by consensus in membership seeds.
    this.nodes.push(
      new SimNode(
        this.nodes.length,
        'validator',
        { owner: keyOf('extra validator'), roles: rolesOf('extra validator', 'validator') },
        host,
      ),
    )
    this.assignBehaviours()
  }

  get extra(): SimNode {
    return this.nodes[this.nodes.length - 1]!
  }

  private host(): NodeHost {
    return {
      genesis: this.genesis,
      networkKey: this.networkKey,
      ed25519: this.backend,
      app: this.app,
      now: () => this.scheduler.now,
      after: (d, task) => this.scheduler.after(d, task),
      send: (from, to, payload) => this.net.send(from, to, payload),
      peers: (of) => this.nodes.filter((n) => n.index !== of).map((n) => n.index),
      signedBytesOf: nativeSignedBytes(this.networkKey),
      sha256: this.sha256,
      diskDelayMs: 1,
      syncIntervalMs: 100,
      txIntervalMs: this.scenario.txIntervalMs ?? 0,
      onEvent: (node, event) => this.onEvent(node, event),
      onPublished: (node, message) => this.onPublished(node, message),
      onRejected: () => {},
    }
  }

  private byzContext(): ByzantineContext {
    return {
      prng: this.prng,
      networkKey: this.networkKey,
      record: (act) => this.acts.push(act),
      peers: (of) => this.nodes.filter((n) => n.index !== of).map((n) => n.index),
      send: (from, to, texts) => this.net.send(from, to, { type: 'messages', texts }),
      now: () => this.scheduler.now,
    }
  }

  private assignBehaviours(): void {
    const s = this.scenario
    const ctx = this.byzContext()
    for (const b of s.byzantineValidators) {
      const node = this.nodes[b.index]!
      node.behaviour =
        b.behaviour === 'equivocate'
          ? equivocating(ctx)
          : b.behaviour === 'fork'
            ? forking(ctx)
            : b.behaviour === 'withhold'
              ? withholdingValidator()
              : forgingValidator(ctx, this.accounts[0]!.id, this.accounts[1]!.id)
    }
    for (const b of s.byzantineMessagenodes) {
      const node = this.nodes[s.validators + b.index]!
      const victim = this.honestValidators()[0]!
      node.behaviour =
        b.behaviour === 'withhold'
          ? withholdingMessagenode()
          : b.behaviour === 'censor'
            ? censoringMessagenode(ctx, victim.keys.roles['transaction-validator']!.id)
            : b.behaviour === 'lie'
              ? lyingMessagenode(ctx)
              : gappingMessagenode(ctx)
    }
  }

  honestValidators(): SimNode[] {
    return this.nodes.filter((n) => n.kind === 'validator' && !n.behaviour && n !== this.extra)
  }

  isHonest(node: SimNode): boolean {
    return !node.behaviour
  }

  private byzantineOwners(): Set<FeedId> {
    return new Set(this.nodes.filter((n) => n.behaviour).map((n) => n.owner))
  }

  violation(text: string): void {
    if (this.violations.length < 20) this.violations.push(`t=${this.scheduler.now}: ${text}`)
  }

  // ---------------------------------------------------------------- online invariants

  private onPublished(node: SimNode, message: VerifiedMessage): void {
    this.published.add(message.id)
    if (!this.isHonest(node) || node.kind !== 'validator') return
    // A validator outside the set (the extra one, unless it stays added) has no feed that counts.
    if (node === this.extra && this.scenario.extraValidator !== 'added') return
    const items = txItemsOf(message.value.content)
    if (items) this.txMessages++
    for (const item of items ?? []) {
      const id = itemId(item as SignedItem)
      if (!this.acked.has(id)) this.acked.set(id, { node: node.index, at: this.scheduler.now })
    }
  }

  private onEvent(node: SimNode, event: ConsensusEvent): void {
    this.events++
    if (!this.isHonest(node)) return
    switch (event.type) {
      case 'decided': {
        const known = this.decided.get(event.height)
        // A node may learn a decision (q commit votes) before it holds the block's transactions:
        // what validity needs is captured when a node executes the block (it holds them then).
        if (known === undefined) this.decided.set(event.height, event.block)
        else if (known !== event.block)
          this.violation(`AGREEMENT: ${node.name} decided ${event.block} at ${event.height}, others ${known}`)
        break
      }
      case 'executed': {
        if (!this.captured.has(event.height)) {
          this.captured.add(event.height)
          this.captureBlock(node, event.height, event.block)
        }
        const value = `${event.block} ${event.stateRoot} ${event.resultsRoot}`
        const known = this.executedRoots.get(event.height)
        if (known === undefined) this.executedRoots.set(event.height, value)
        else if (known !== value) this.violation(`STATE ROOTS differ at ${event.height} (${node.name})`)
        let items = this.executedItems.get(node.index)
        if (!items) {
          items = new Set()
          this.executedItems.set(node.index, items)
        }
        for (const r of event.results) {
          items.add(r.id)
          const outcome = r.ok ? 'ok' : r.error.code
          const prior = this.itemResults.get(r.id)
          if (prior === undefined) this.itemResults.set(r.id, outcome)
        }
        break
      }
      case 'sealed': {
        const exec = this.executedRoots.get(event.height)
        const value = `${event.block} ${event.stateRoot} ${event.resultsRoot}`
        if (exec !== undefined && exec !== value)
          this.violation(`SEALED roots differ from execution at ${event.height}`)
        this.sealedHeight.set(node.index, Math.max(this.sealedHeight.get(node.index) ?? 0, event.height))
        if (this.healed) this.sealedAfterHeal.add(event.height)
        break
      }
      case 'seal-mismatch':
        this.violation(`SEAL MISMATCH at ${node.name} height ${event.height}`)
        break
      case 'evidence':
        if (!this.byzantineOwners().has(event.culprit))
          this.violation(`FALSE ACCUSATION by ${node.name} of ${event.culprit} (${event.evidence.type})`)
        this.evidence.push({ node: node.index, culprit: event.culprit, evidence: event.evidence })
        break
      case 'messagenode-flagged':
        if (!this.byzantineOwners().has(event.owner))
          this.violation(`HONEST MESSAGENODE FLAGGED by ${node.name}`)
        this.flagged.push({ node: node.index, owner: event.owner, evidence: event.evidence })
        break
      default:
        break
    }
  }

  /** Keeps what validity needs to be checked at the end: each referenced message and item. */
  private captureBlock(node: SimNode, height: number, block: Digest): void {
    const view = node.core!.view
    const header = view.headers.get(block)
    if (!header) {
      this.violation(`decided ${block} without a header at ${node.name}`)
      return
    }
    const messages: { id: MessageId; author: FeedId }[] = []
    const items: unknown[] = []
    for (const c of header.cuts)
      for (let s = c.from; s <= c.to; s++) {
        const e = view.txFeeds.get(c.feed)?.get(s)
        if (!e) {
          this.violation(`decided block ${height} references a missing message`)
          return
        }
        messages.push({ id: e.id, author: c.feed })
        for (const it of e.items) items.push(it?.tx)
      }
    this.decidedBlocks.push({ height, items, messages })
  }

  // ---------------------------------------------------------------- the run

  async run(): Promise<SimResult> {
    const s = this.scenario
    for (const node of this.nodes) await node.boot()
    this.net.conditions = s.conditions
    await this.scheduleClients()
    if (s.partition) {
      const p = s.partition
      this.scheduler.at(p.at, () => this.net.partition(p.groups))
    }
    for (const c of s.crashes) {
      const node = this.nodes[c.node]!
      this.scheduler.at(c.at, () => {
        if (node.up) node.crash()
      })
      this.scheduler.at(c.restartAt, async () => {
        if (!node.up) await node.restart()
      })
    }
    if (s.forgeries) this.scheduleForgeries()
    this.scheduler.at(s.healAt, async () => {
      this.healed = true
      this.net.heal()
      this.net.conditions = CALM
      for (const n of this.nodes) if (!n.up) await n.restart()
    })
    let done = false
    this.scheduler.at(s.healAt + 400, () => this.checkProgress(() => (done = true)))
    await this.scheduler.run(s.deadline, () => done)
    await this.finalChecks(done)
    return {
      seed: this.seed,
      theme: s.theme,
      violations: this.violations,
      stats: {
        virtualMs: this.scheduler.now,
        events: this.scheduler.executed,
        sealedHeight: Math.max(0, ...this.sealedHeight.values()),
        acked: this.acked.size,
        evidence: this.evidence.length,
        flagged: this.flagged.length,
        verified: this.backend.verified,
        txMessages: this.txMessages,
      },
    }
  }

  /** Transfers from six accounts, each account through one honest validator; a few invalid ones. */
  private async scheduleClients(): Promise<void> {
    const s = this.scenario
    const honest = this.honestValidators()
    const home = this.accounts.map(() => this.prng.pick(honest))
    const nonces = this.accounts.map(() => 0)
    const plan: { at: number; node: SimNode; item: SignedItem; postHeal: boolean }[] = []
    // Clients come in bursts (a few blocks' worth each), so a run has a handful of heights, not dozens.
    const bursts = Array.from({ length: this.prng.range(3, 6) }, () => this.prng.range(50, s.healAt - 300))
    for (let i = 0; i < s.transfers + 3; i++) {
      const postHeal = i >= s.transfers
      const a = this.prng.int(this.accounts.length)
      const roll = this.prng.next()
      // Mostly valid transfers; some overspend or reuse a nonce (they fail at execution, with a reason).
      const nonce = roll < 0.05 && nonces[a]! > 0 ? nonces[a]! : ++nonces[a]!
      const amount = roll > 0.95 ? 5000 : this.prng.range(1, 150)
      const to = this.accounts[(a + 1 + this.prng.int(this.accounts.length - 1)) % this.accounts.length]!.id
      const item = await createTransfer(
        { keys: this.accounts[a]!, to, amount, nonce },
        this.networkKey,
        sharedBackend,
      )
      const at = postHeal
        ? s.healAt + this.prng.range(50, 300)
        : this.prng.pick(bursts) + this.prng.range(0, 40)
      plan.push({ at, node: home[a]!, item, postHeal })
    }
    // A forged transfer: refused by the validator, never acknowledged.
    const forged = { ...plan[0]!.item, amount: 1 }
    plan.push({ at: 60, node: honest[0]!, item: forged as SignedItem, postHeal: false })
    if (s.extraValidator !== 'outsider') {
      const add = await createMemberItem(
        { admin: this.admin, action: 'add', kind: 'validator', owner: this.extra.owner, nonce: 1 },
        this.networkKey,
        sharedBackend,
      )
      plan.push({ at: 250, node: honest[0]!, item: add, postHeal: false })
      // An invite signed by someone who is not an admin: executes as failed, changes nothing.
      const rogue = await createMemberItem(
        {
          admin: keyOf('not an admin'),
          action: 'add',
          kind: 'validator',
          owner: keyOf('rogue').id,
          nonce: 1,
        },
        this.networkKey,
        sharedBackend,
      )
      plan.push({ at: 300, node: honest[0]!, item: rogue, postHeal: false })
      if (s.extraValidator === 'added-removed') {
        const remove = await createMemberItem(
          { admin: this.admin, action: 'remove', kind: 'validator', owner: this.extra.owner, nonce: 2 },
          this.networkKey,
          sharedBackend,
        )
        plan.push({ at: 1200, node: honest[0]!, item: remove, postHeal: false })
      }
    }
    for (const p of plan) {
      this.scheduler.at(p.at, async () => {
        if (!p.node.up) return
        if (p.postHeal) this.postHealItems.add(itemId(p.item))
        await p.node.submit([p.item])
      })
    }
  }

  /** Broken signatures on copies of honest messages, and votes by a key nobody certified. */
  private scheduleForgeries(): void {
    const rogue = keyOf('rogue role key')
    let rogueHead: { sequence: number; id: MessageId } | null = null
    for (let i = 0; i < 6; i++) {
      this.scheduler.at(this.prng.range(200, 1800), async () => {
        const honest = this.honestValidators().filter((n) => n.up && n.store)
        const node = honest[this.prng.int(honest.length)]
        const key = node?.keys.roles.precommitter?.id
        const head = key && node.store!.head(key)
        if (!node || !key || !head) return
        const text = await node.store!.get(key, head.sequence)
        if (!text) return
        const d = decodeMessage(text, this.networkKey)
        if (!d.ok) return
        const bad = text.replace(
          /"signature": "(.)/,
          (_m, c: string) => `"signature": "${c === 'A' ? 'B' : 'A'}`,
        )
        this.forgedTexts.push(bad)
        for (const peer of this.nodes)
          if (peer !== node) this.net.send(node.index, peer.index, { type: 'messages', texts: [bad] })
        // An unbound key votes for a block nobody proposed.
        const height = Math.max(1, ...[...this.decided.keys()].map((h) => h + 1))
        const vote = await createMessage(
          {
            keys: rogue,
            head: rogueHead,
            content: voteContent({
              stage: 'precommit',
              height,
              round: 0,
              block: this.fakeBlock(),
              stateRoot: null,
              resultsRoot: null,
            }),
            timestamp: this.scheduler.now,
            networkKey: this.networkKey,
          },
          sharedBackend,
        )
        if (!vote.ok) return
        rogueHead = { sequence: vote.value.value.sequence, id: vote.value.id }
        for (const peer of this.nodes)
          this.net.send(node.index, peer.index, { type: 'messages', texts: [vote.value.text] })
      })
    }
  }

  private fakeBlock(): Digest {
    return `&${Buffer.from(this.prng.bytes(32)).toString('base64')}.sha256`
  }

  /** After heal: stop once every acknowledged item is executed and sealed at every honest validator. */
  private checkProgress(stop: () => void): void {
    if (this.allSettled()) {
      stop()
      return
    }
    this.scheduler.after(200, () => this.checkProgress(stop))
  }

  private activeHonestValidators(): SimNode[] {
    const extraActive = this.scenario.extraValidator === 'added'
    return this.nodes.filter(
      (n) => n.kind === 'validator' && this.isHonest(n) && (n !== this.extra || extraActive) && n.up,
    )
  }

  private allSettled(): boolean {
    if (this.postHealItems.size === 0 || this.sealedAfterHeal.size === 0) return false
    for (const id of this.postHealItems) if (!this.acked.has(id)) return false
    const validators = this.activeHonestValidators()
    for (const id of this.acked.keys()) {
      for (const v of validators) if (!this.executedItems.get(v.index)?.has(id)) return false
    }
    const needed = this.heightOfLastItem()
    return validators.every((v) => (this.sealedHeight.get(v.index) ?? 0) >= needed)
  }

  private heightOfLastItem(): number {
    let h = 0
    const acked = new Set(this.acked.keys())
    for (const b of this.decidedBlocks) {
      for (const it of b.items) if (it && acked.has(itemId(it as SignedItem))) h = Math.max(h, b.height)
    }
    return h
  }

  // ---------------------------------------------------------------- final checks

  private async finalChecks(settled: boolean): Promise<void> {
    const validators = this.activeHonestValidators()
    if (!settled) {
      const missing = [...this.acked.keys()].filter((id) =>
        validators.some((v) => !this.executedItems.get(v.index)?.has(id)),
      )
      this.violation(
        `LIVENESS/NO-LOSS: by the deadline ${missing.length} of ${this.acked.size} acknowledged items are not executed everywhere; sealed heights ${validators.map((v) => `${v.name}:${this.sealedHeight.get(v.index) ?? 0}`).join(' ')}, post-heal seals ${this.sealedAfterHeal.size}`,
      )
    }
    // Every executed item has a result: ok, or failed with a reason.
    for (const [id, outcome] of this.itemResults) if (!outcome) this.violation(`item ${id} has no result`)
    // Validity: every item of every decided block is signed by its signer, in a validator's feed.
    const txFeeds = new Set(
      this.nodes.filter((n) => n.kind === 'validator').map((n) => n.keys.roles['transaction-validator']!.id),
    )
    for (const b of this.decidedBlocks) {
      for (const m of b.messages) {
        if (!this.published.has(m.id))
          this.violation(`VALIDITY: block ${b.height} cites an unpublished message`)
        if (!txFeeds.has(m.author)) this.violation(`VALIDITY: block ${b.height} cites a non-validator feed`)
      }
      const { verifyTransactions } = await import('../core/consensus')
      const ok = await verifyTransactions(
        this.app,
        b.items,
        { networkKey: this.networkKey, networkId: NETWORK_ID },
        sharedBackend,
      )
      if (!ok.every(Boolean)) this.violation(`VALIDITY: block ${b.height} holds an item with a bad signature`)
    }
    // Evidence for every equivocation and fork, and a flag for every lying QC; all of it verifiable.
    const verifyCtx = {
      networkKey: this.networkKey,
      networkId: NETWORK_ID,
      quorumAt: (h: number) => this.nodes[0]!.core?.view.setAt(h)?.q,
      isValidator: (o: FeedId, h: number) => this.nodes[0]!.core?.view.setAt(h)?.validatorSet.has(o),
    }
    const checked = new Map<string, boolean>()
    const verified = async (e: ConsensusEvidence) => {
      const key = JSON.stringify(e)
      let v = checked.get(key)
      if (v === undefined) {
        v = (await verifyEvidence(e, verifyCtx, sharedBackend)).ok
        checked.set(key, v)
      }
      return v
    }
    for (const e of this.evidence)
      if (!(await verified(e.evidence)))
        this.violation(`EVIDENCE from ${e.node} does not verify (${e.evidence.type})`)
    for (const e of this.flagged)
      if (!(await verified(e.evidence))) this.violation(`FLAG EVIDENCE from ${e.node} does not verify`)
    const convicted = new Set(this.evidence.map((e) => e.culprit))
    const flaggedOwners = new Set(this.flagged.map((e) => e.owner))
    for (const act of this.acts) {
      if ((act.kind === 'equivocation' || act.kind === 'fork') && !convicted.has(act.owner))
        this.violation(`ACCOUNTABILITY: ${act.kind} by ${act.owner} left no evidence`)
      if (act.kind === 'lie' && !flaggedOwners.has(act.owner))
        this.violation(`ACCOUNTABILITY: a lying QC by ${act.owner} was not flagged`)
    }
    // No honest validator ever signed two votes for one (stage, height, round), crashes included.
    for (const node of this.nodes.filter((n) => n.kind === 'validator' && this.isHonest(n) && n.store)) {
      for (const role of ['precommitter', 'committer', 'sealer'] as const) {
        const seen = new Map<string, string>()
        for (const text of await node.store!.range(node.keys.roles[role]!.id, 1)) {
          const d = decodeMessage(text, this.networkKey)
          const v = d.ok ? parseVote(d.value.value.content) : undefined
          if (!v) continue
          const key = `${v.stage}/${v.height}/${v.round}`
          if (seen.has(key)) this.violation(`DOUBLE VOTE by honest ${node.name} at ${key}`)
          seen.set(key, text)
        }
      }
    }
    // Forged signatures were never stored anywhere.
    for (const bad of this.forgedTexts) {
      const d = decodeMessage(bad, this.networkKey)
      if (!d.ok) continue
      for (const node of this.nodes)
        if (node.store && (await node.store.get(d.value.value.author, d.value.value.sequence)) === bad)
          this.violation(`FORGED message stored by ${node.name}`)
    }
    void CONTENT
  }
}

export type { Ed25519Backend, RoleKeyPair }
