/**
 * Test harness for the consensus core: parties with real keys, a signer that keeps feed heads,
 * and `MiniNet`, an in-process network that delivers every published message to every node
 * (no faults, manual timers). Real Ed25519 signatures throughout (Node's backend).
 */
import {
  assembledContent,
  type BlockHeader,
  blockIdOf,
  CONTENT,
  type ConsensusEvent,
  type ConsensusGenesis,
  type ConsensusIdentity,
  type ConsensusOutput,
  type ConsensusParams,
  DEFAULT_PARAMS,
  MessagenodeNode,
  txItemsOf,
  ValidatorNode,
  verifyTransactions,
} from '../../src/core/consensus'
import {
  createMessage,
  type FeedHead,
  type MessageContent,
  type VerifiedMessage,
} from '../../src/core/feed/message'
import type { FeedId } from '../../src/core/identity/ids'
import { type KeyPair, keyPairFromSeed } from '../../src/core/identity/keys'
import {
  deriveRoleKeys,
  MESSAGENODE_ROLES,
  type Role,
  type RoleKeyPair,
  VALIDATOR_ROLES,
} from '../../src/core/identity/roles'
import type { AppModule } from '../../src/core/ledger/module'
import { createPaymentsLedger, type PaymentsState, type Transfer } from '../../src/core/ledger/payments'
import { type Digest, merkleRootOfTexts } from '../../src/core/merkle'
import { createNodeBackend } from '../../src/crypto/node'
import { type ConsensusRuntimeOptions, roleKeysOf } from '../../src/runtime/consensus-runtime'

export const ed25519 = createNodeBackend()
export const NETWORK_KEY = Uint8Array.from({ length: 32 }, (_, i) => i + 7)
export const NETWORK_ID = '%bmV0d29yay1pZC1mb3ItdGVzdHMtb25seS0tLS0tLS0=.sha256'

const keyCache = new Map<number, KeyPair>()
export function keys(n: number): KeyPair {
  let k = keyCache.get(n)
  if (!k) {
    k = keyPairFromSeed(Uint8Array.from({ length: 32 }, (_, i) => (n * 37 + i * 11 + 1) & 255))
    keyCache.set(n, k)
  }
  return k
}

export interface Party {
  readonly owner: KeyPair
  readonly roles: Partial<Record<Role, RoleKeyPair>>
  readonly identity: ConsensusIdentity
}

export function party(n: number, kind: 'validator' | 'messagenode'): Party {
  const owner = keys(n)
  const roles: Partial<Record<Role, RoleKeyPair>> = {}
  for (const role of kind === 'validator' ? VALIDATOR_ROLES : MESSAGENODE_ROLES)
    roles[role] = deriveRoleKeys(owner, role)
  const roleKeys: Partial<Record<Role, FeedId>> = {}
  for (const [role, k] of Object.entries(roles)) roleKeys[role as Role] = k.id
  return { owner, roles, identity: { owner: owner.id, roleKeys } }
}

export const TEST_PARAMS: ConsensusParams = {
  ...DEFAULT_PARAMS,
  maxBlockTxs: 8,
  assemblyDelayMs: 10,
  timeoutProposeMs: 100,
  timeoutPrecommitMs: 100,
  timeoutCommitMs: 100,
}

export function genesisOf(
  validators: readonly Party[],
  messagenodes: readonly Party[],
  admins: readonly KeyPair[] = [],
  params: ConsensusParams = TEST_PARAMS,
): ConsensusGenesis {
  return {
    networkId: NETWORK_ID,
    validators: validators.map((p) => p.owner.id),
    messagenodes: messagenodes.map((p) => p.owner.id),
    admins: admins.map((a) => a.id),
    params,
  }
}

/** Signs messages as any key, keeping each feed's head (or forking it on request). */
export class Signer {
  readonly heads = new Map<FeedId, FeedHead>()
  timestamp = 1_700_000_000_000

  async sign(author: KeyPair, content: MessageContent, at?: FeedHead | null): Promise<VerifiedMessage> {
    const head = at === undefined ? (this.heads.get(author.id) ?? null) : at
    const m = await createMessage(
      { keys: author, head, content, timestamp: this.timestamp++, networkKey: NETWORK_KEY },
      ed25519,
    )
    if (!m.ok) throw new Error(`sign failed: ${m.error.code}`)
    if (at === undefined) this.heads.set(author.id, { sequence: m.value.value.sequence, id: m.value.id })
    return m.value
  }

  /** The owner certificate and the role-feed acceptance of every role key of `p`. */
  async bindings(p: Party): Promise<VerifiedMessage[]> {
    const out: VerifiedMessage[] = []
    for (const [role, k] of Object.entries(p.roles)) {
      out.push(
        await this.sign(p.owner, {
          type: 'blockfin/role',
          ownerid: p.owner.id,
          role,
          roleid: k.id,
          network: NETWORK_ID,
        }),
      )
      out.push(
        await this.sign(k, { type: CONTENT.roleOwner, ownerid: p.owner.id, role, network: NETWORK_ID }),
      )
    }
    return out
  }
}

export const ledger = () =>
  createPaymentsLedger({ allocations: Object.fromEntries([1, 2, 3, 4].map((i) => [keys(900 + i).id, 1000])) })

export const account = (i: number) => keys(900 + i)

type AnyNode = ValidatorNode<PaymentsState, Transfer> | MessagenodeNode<PaymentsState, Transfer>

export interface NetNode {
  readonly party: Party
  readonly kind: 'validator' | 'messagenode'
  core: AnyNode
  readonly events: ConsensusEvent[]
  readonly published: VerifiedMessage[]
  /** Drop instead of delivering (a node cut off). */
  down: boolean
}

/**
 * Every node receives every message, in publication order, synchronously with respect to the
 * test (timers fire only when the test says so). `hold` lets a test keep messages of some kinds
 * from some nodes to build a precise situation.
 */
export class MiniNet {
  readonly signer = new Signer()
  readonly nodes: NetNode[] = []
  readonly timers: { node: NetNode; key: string; delayMs: number }[] = []
  readonly log: VerifiedMessage[] = []
  readonly app: AppModule<PaymentsState, Transfer> = ledger()
  hold: (message: VerifiedMessage, to: NetNode) => boolean = () => false

  constructor(
    readonly genesis: ConsensusGenesis,
    validators: readonly Party[],
    messagenodes: readonly Party[],
  ) {
    for (const p of validators)
      this.nodes.push({
        party: p,
        kind: 'validator',
        core: new ValidatorNode({ genesis, identity: p.identity, app: this.app }),
        events: [],
        published: [],
        down: false,
      })
    for (const p of messagenodes)
      this.nodes.push({
        party: p,
        kind: 'messagenode',
        core: new MessagenodeNode({ genesis, identity: p.identity, app: this.app }),
        events: [],
        published: [],
        down: false,
      })
  }

  validator(i: number): ValidatorNode<PaymentsState, Transfer> {
    return this.nodes.filter((n) => n.kind === 'validator')[i]!.core as ValidatorNode<PaymentsState, Transfer>
  }

  node(i: number): NetNode {
    return this.nodes[i]!
  }

  async start(): Promise<void> {
    for (const n of this.nodes) {
      n.core.beginReplay()
      await this.run(n, n.core.endReplay())
    }
  }

  async txValidity(message: VerifiedMessage): Promise<boolean[] | undefined> {
    const items = txItemsOf(message.value.content)
    return (
      items &&
      verifyTransactions(this.app, items, { networkKey: NETWORK_KEY, networkId: NETWORK_ID }, ed25519)
    )
  }

  /** Delivers `message` to every node (or `to`), and everything that follows from it. */
  async deliver(message: VerifiedMessage, to: readonly NetNode[] = this.nodes): Promise<void> {
    this.log.push(message)
    const txValidity = await this.txValidity(message)
    for (const n of to) {
      if (n.down || this.hold(message, n)) continue
      await this.run(n, n.core.handle({ kind: 'message', message, txValidity }))
    }
  }

  async run(node: NetNode, outputs: ConsensusOutput[]): Promise<void> {
    for (const o of outputs) {
      if (o.kind === 'event') node.events.push(o.event)
      else if (o.kind === 'set-timer') this.timers.push({ node, key: o.key, delayMs: o.delayMs })
      else {
        const k = o.role === 'owner' ? node.party.owner : node.party.roles[o.role]!
        const m = await this.signer.sign(k, o.content)
        node.published.push(m)
        await this.deliver(m)
      }
    }
  }

  /** Fires pending timers (matching `filter`) in the order they were set. */
  async fire(filter: (t: { node: NetNode; key: string }) => boolean = () => true): Promise<number> {
    const due = this.timers.filter(filter)
    for (const t of due) this.timers.splice(this.timers.indexOf(t), 1)
    for (const t of due)
      if (!t.node.down) await this.run(t.node, t.node.core.handle({ kind: 'timeout', key: t.key }))
    return due.length
  }

  async submit(validator: number, items: readonly unknown[]): Promise<void> {
    const n = this.nodes.filter((x) => x.kind === 'validator')[validator]!
    const valid = await verifyTransactions(
      this.app,
      items,
      { networkKey: NETWORK_KEY, networkId: NETWORK_ID },
      ed25519,
    )
    await this.run(n, n.core.handle({ kind: 'submit', items, valid }))
  }

  events<T extends ConsensusEvent['type']>(type: T, node?: NetNode): Extract<ConsensusEvent, { type: T }>[] {
    return (node ? [node] : this.nodes).flatMap((n) =>
      n.events.filter((e): e is Extract<ConsensusEvent, { type: T }> => e.type === type),
    )
  }
}

/**
 * One real validator core (validators[0]) among crafted peers: the test signs every other
 * message itself, so it can build any situation (a precise quorum, a lie, an equivocation).
 */
export class Lab {
  readonly signer = new Signer()
  readonly app = ledger()
  readonly genesis: ConsensusGenesis
  readonly node: ValidatorNode<PaymentsState, Transfer>
  readonly events: ConsensusEvent[] = []
  readonly timers: { key: string; delayMs: number }[] = []
  readonly published: VerifiedMessage[] = []

  constructor(
    readonly validators: readonly Party[],
    readonly messagenodes: readonly Party[],
    options: { admins?: readonly KeyPair[]; params?: ConsensusParams } = {},
  ) {
    this.genesis = genesisOf(validators, messagenodes, options.admins, options.params)
    this.node = new ValidatorNode({ genesis: this.genesis, identity: validators[0]!.identity, app: this.app })
  }

  /** Bindings of every party, then the node's start. */
  async init(): Promise<void> {
    this.node.beginReplay()
    await this.run(this.node.endReplay())
    for (const p of [...this.validators.slice(1), ...this.messagenodes])
      for (const m of await this.signer.bindings(p)) await this.feed(m)
  }

  async run(outputs: ConsensusOutput[]): Promise<void> {
    for (const o of outputs) {
      if (o.kind === 'event') this.events.push(o.event)
      else if (o.kind === 'set-timer') this.timers.push({ key: o.key, delayMs: o.delayMs })
      else {
        const p = this.validators[0]!
        const k = o.role === 'owner' ? p.owner : p.roles[o.role]!
        const m = await this.signer.sign(k, o.content)
        this.published.push(m)
        await this.feed(m)
      }
    }
  }

  async feed(message: VerifiedMessage): Promise<void> {
    const items = txItemsOf(message.value.content)
    const txValidity =
      items &&
      (await verifyTransactions(this.app, items, { networkKey: NETWORK_KEY, networkId: NETWORK_ID }, ed25519))
    await this.run(this.node.handle({ kind: 'message', message, txValidity }))
  }

  async timeout(key: string): Promise<void> {
    await this.run(this.node.handle({ kind: 'timeout', key }))
  }

  /** A vote signed by validator `i`'s role key (not fed). */
  vote(i: number, stage: 'precommit' | 'commit', height: number, round: number, block: string | null) {
    const role = stage === 'precommit' ? 'precommitter' : 'committer'
    return this.signer.sign(this.validators[i]!.roles[role]!, { type: CONTENT[stage], height, round, block })
  }

  /** Votes of validators `who` fed to the node. */
  async votes(
    who: readonly number[],
    stage: 'precommit' | 'commit',
    height: number,
    round: number,
    block: string | null,
  ) {
    for (const i of who) await this.feed(await this.vote(i, stage, height, round, block))
  }

  /** A transaction-feed message of validator `i` with `items`. */
  tx(i: number, items: readonly unknown[]) {
    return this.signer.sign(this.validators[i]!.roles['transaction-validator']!, {
      type: CONTENT.tx,
      txs: items as MessageContent[],
    })
  }

  /** An assembled block signed by Messagenode `j` (the designated assembler unless the test says otherwise). */
  assembled(j: number, height: number, round: number, header: BlockHeader, validRound = -1) {
    return this.signer.sign(
      this.messagenodes[j]!.roles['block-assembler']!,
      assembledContent({ height, round, validRound, block: blockIdOf(header), header }),
    )
  }

  /** The node's own votes (from what it published). */
  ownVotes(): string[] {
    return this.published
      .map((m) => m.value.content)
      .filter((c) => c.type === CONTENT.precommit || c.type === CONTENT.commit)
      .map(
        (c) =>
          `${c.type.slice(9)} ${c.height}/${c.round} ${c.block === null ? 'nil' : String(c.block).slice(0, 8)}`,
      )
  }

  /** A block over the given transaction-feed messages (cuts built from them), on `parent`. */
  header(
    height: number,
    parent: string,
    messages: readonly VerifiedMessage[],
    from?: Record<string, number>,
  ): BlockHeader {
    const byFeed = new Map<FeedId, VerifiedMessage[]>()
    for (const m of messages) byFeed.set(m.value.author, [...(byFeed.get(m.value.author) ?? []), m])
    const feeds = [...byFeed.keys()].sort()
    const ids: string[] = []
    let txCount = 0
    const cuts = feeds.map((feed) => {
      const ms = byFeed.get(feed)!.sort((a, b) => a.value.sequence - b.value.sequence)
      for (const m of ms) {
        ids.push(m.id)
        txCount += (txItemsOf(m.value.content) ?? []).length
      }
      return { feed, from: from?.[feed] ?? ms[0]!.value.sequence, to: ms[ms.length - 1]!.value.sequence }
    })
    return {
      network: NETWORK_ID,
      height,
      slot: this.node.view.emptyChain.slot(height),
      parent: parent as Digest,
      cuts,
      txCount,
      txRoot: merkleRootOfTexts(ids),
    }
  }
}

/** Options of a live runtime (ConsensusRuntime.start) for `owner` with every role key of its kind. */
export function runtimeOptions(
  kind: 'validator' | 'messagenode',
  owner: KeyPair,
  genesis: ConsensusGenesis,
): ConsensusRuntimeOptions {
  const roles = roleKeysOf(owner, kind === 'validator' ? VALIDATOR_ROLES : MESSAGENODE_ROLES)
  return { kind, genesis, networkKey: NETWORK_KEY, keys: { owner, roles } }
}
