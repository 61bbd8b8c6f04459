/**
 * One simulated node: the runtime a tab or a relay would be, around the pure core. It owns a
 * FeedStore over a MemoryDisk (what survives a crash), replays that store into a fresh core on
 * (re)start, carries out the core's outputs (sign and append through FeedStore.publish, send only
 * after the append is durable, timers on the virtual clock), and replicates by push plus
 * anti-entropy over vector clocks (heads with ids, so a fork at the head is seen too).
 */

import {
  type ConsensusEvent,
  type ConsensusGenesis,
  type ConsensusNode,
  type ConsensusOutput,
  MessagenodeNode,
  txItemsOf,
  ValidatorNode,
  verifyTransactions,
} from '../core/consensus'
import type { Ed25519Backend } from '../core/crypto/ed25519'
import type { Sha256 } from '../core/crypto/hash'
import { decodeMessage } from '../core/feed/decode'
import type { ForkEvidence } from '../core/feed/evidence'
import type { MessageHasher } from '../core/feed/hasher'
import type { VerifiedMessage } from '../core/feed/message'
import type { FeedId } from '../core/identity/ids'
import type { KeyPair } from '../core/identity/keys'
import type { Role, RoleKeyPair } from '../core/identity/roles'
import type { AppModule } from '../core/ledger/module'
import { itemId, type SignedBytesOf, type SignedItem } from '../core/ledger/signed-item'
import type { Digest } from '../core/merkle'
import { txGroupDelay } from '../runtime/tx-pacing'
import { FeedStore } from '../store/feed-store'
import { createMemoryAdapter, MemoryDisk } from '../store/memory-adapter'
import type { Endpoint, Payload } from './network'

export type NodeKind = 'validator' | 'messagenode'

export interface PartyKeys {
  readonly owner: KeyPair
  readonly roles: Partial<Record<Role, RoleKeyPair>>
}

export type Publish = Extract<ConsensusOutput, { kind: 'publish' }>

/** What the node's host gives it: the shared clock, network, app, and hooks for the world. */
export interface NodeHost {
  readonly genesis: ConsensusGenesis
  readonly networkKey: Uint8Array
  readonly ed25519: Ed25519Backend
  readonly app: AppModule<unknown, unknown>
  now(): number
  after(delayMs: number, task: () => Promise<void> | void): void
  send(from: number, to: number, payload: Payload): void
  peers(of: number): readonly number[]
  readonly diskDelayMs: number
  readonly syncIntervalMs: number
  /** A native network HMAC for item signatures (the same bytes as the JavaScript default). */
  readonly signedBytesOf?: SignedBytesOf
  /** A native sha256 for item ids and Merkle roots (the same bytes as the JavaScript default). */
  readonly sha256?: Sha256
  /** False: do not keep each node's events (long benchmark runs). */
  readonly keepEvents?: boolean
  /** Message ids and signed bytes (a bench uses the native one, as the live Node runtime does). */
  readonly hasher?: MessageHasher
  /**
   * Pacing of each validator's transaction messages, as in the live runtime
   * (ConsensusRuntimeOptions.txIntervalMs). Default 0: every group at once.
   */
  readonly txIntervalMs?: number
  /** Hooks for invariants and Byzantine behaviour. */
  onEvent(node: SimNode, event: ConsensusEvent): void
  onPublished(node: SimNode, message: VerifiedMessage): void
  onRejected(node: SimNode, code: string, text: string): void
}

/** A Byzantine node's deviations; an honest node has none. */
export interface Behaviour {
  readonly name: string
  /** Rewrites what the honest core wanted to publish (drop, alter, add). */
  transform?(node: SimNode, publishes: Publish[]): Promise<Publish[]> | Publish[]
  /** Sends a published message; returns false to let the node send it normally. */
  send?(node: SimNode, message: VerifiedMessage): Promise<boolean> | boolean
  /** Answers anti-entropy requests (withholding nodes do not). */
  readonly relays: boolean
}

const MAX_SYNC_BATCH = 200
/** Author and sequence of a canonical message text, without parsing it. */
const SEQUENCE_OF = /^\{\n {2}"previous": [^\n]*\n {2}"author": "([^"]+)",\n {2}"sequence": (\d+),/
const MAX_GAP_BUFFER = 4000

export class SimNode implements Endpoint {
  readonly disk = new MemoryDisk()
  store: FeedStore | undefined
  core: (ConsensusNode & (ValidatorNode | MessagenodeNode)) | undefined
  up = false
  private epoch = 0
  readonly events: ConsensusEvent[] = []
  /** Items this validator prevalidated: its own transaction messages need no second check. */
  private readonly prevalidated = new Set<Digest>()
  private readonly gapBuffer = new Map<string, string>()
  private readonly otherBranchSeen = new Set<string>()
  behaviour: Behaviour | undefined
  private readonly submissions: { readonly items: readonly SignedItem[]; readonly resolve: () => void }[] = []
  private committingSubmissions = false
  /** When the last group went to the core, and whether a paced group is waiting for its timer. */
  private lastGroupAt = Number.NEGATIVE_INFINITY
  private pacing = false
  restarts = 0

  constructor(
    readonly index: number,
    readonly kind: NodeKind,
    readonly keys: PartyKeys,
    private readonly host: NodeHost,
  ) {}

  get owner(): FeedId {
    return this.keys.owner.id
  }

  private get txContext() {
    const { networkKey, genesis, signedBytesOf, sha256 } = this.host
    return { networkKey, networkId: genesis.networkId, signedBytesOf, sha256 }
  }

  get ed25519(): Ed25519Backend {
    return this.host.ed25519
  }

  get name(): string {
    return `${this.kind === 'validator' ? 'V' : 'M'}${this.index}`
  }

  roleKey(role: Role | 'owner'): KeyPair {
    if (role === 'owner') return this.keys.owner
    const k = this.keys.roles[role]
    if (!k) throw new Error(`${this.name} has no ${role} key`)
    return k
  }

  // ---------------------------------------------------------------- life cycle

  /** Opens the store and rebuilds the core by replaying it: own role feeds first. */
  async boot(): Promise<void> {
    const host = this.host
    this.store = await FeedStore.open(
      { networkKey: host.networkKey },
      {
        adapter: createMemoryAdapter(this.disk),
        ed25519: host.ed25519,
        ...(host.hasher ? { hasher: host.hasher } : {}),
      },
    )
    const roleKeys: Partial<Record<Role, FeedId>> = {}
    for (const [role, k] of Object.entries(this.keys.roles)) roleKeys[role as Role] = k.id
    const options = { genesis: host.genesis, identity: { owner: this.owner, roleKeys }, app: host.app }
    const deps = host.sha256 ? { sha256: host.sha256 } : {}
    const core =
      this.kind === 'validator' ? new ValidatorNode(options, deps) : new MessagenodeNode(options, deps)
    this.core = core
    this.up = true
    const epoch = ++this.epoch
    core.beginReplay()
    const own = new Set<string>([...Object.values(roleKeys), this.owner])
    const feeds = [...this.store.vectorClock().keys()].sort((a, b) => Number(own.has(b)) - Number(own.has(a)))
    // The store verified every message when it was appended: replay only parses and ids them.
    for (const feed of feeds)
      for (const message of await this.store.rangeVerified(feed, 1))
        core.handle({ kind: 'message', message, txValidity: await this.txValidity(message) })
    for (const evidence of this.store.evidence()) core.handle({ kind: 'fork', evidence })
    await this.process(core.endReplay(), epoch)
    this.host.after(this.host.syncIntervalMs, () => this.syncTick(epoch))
  }

  /** Loses everything not durable: the core, timers, queued publishes, buffers. The disk stays. */
  crash(): void {
    this.up = false
    this.epoch++
    this.store = undefined
    this.core = undefined
    this.gapBuffer.clear()
    this.otherBranchSeen.clear()
  }

  async restart(): Promise<void> {
    this.restarts++
    await this.boot()
  }

  private live(epoch: number): boolean {
    return this.up && epoch === this.epoch && this.core !== undefined
  }

  // ---------------------------------------------------------------- outputs

  async process(outputs: readonly ConsensusOutput[], epoch = this.epoch): Promise<void> {
    const publishes: Publish[] = []
    for (const o of outputs) {
      if (o.kind === 'event') {
        if (this.host.keepEvents !== false) this.events.push(o.event)
        this.host.onEvent(this, o.event)
      } else if (o.kind === 'set-timer') {
        this.host.after(o.delayMs, () => this.timeout(o.key, epoch))
      } else publishes.push(o)
    }
    // Durable writes take time: a crash before they land loses them, and nothing was sent.
    if (publishes.length > 0) this.host.after(this.host.diskDelayMs, () => this.commit(publishes, epoch))
  }

  private async commit(requested: Publish[], epoch: number): Promise<void> {
    if (!this.live(epoch)) return
    const publishes = this.behaviour?.transform ? await this.behaviour.transform(this, requested) : requested
    const store = this.store!
    const outcomes = await Promise.all(
      publishes.map((p) => store.publish(this.roleKey(p.role), p.content, this.host.now())),
    )
    for (const outcome of outcomes) {
      if (!this.live(epoch)) return
      if (!outcome.ok) {
        this.host.onRejected(this, outcome.error.code, '')
        continue
      }
      const message = outcome.value
      this.host.onPublished(this, message)
      if (!(this.behaviour?.send && (await this.behaviour.send(this, message))))
        this.broadcast([message.text])
      await this.feed(message, epoch)
    }
  }

  broadcast(texts: readonly string[], to: readonly number[] = this.host.peers(this.index)): void {
    for (const peer of to) this.host.send(this.index, peer, { type: 'messages', texts })
  }

  private async timeout(key: string, epoch: number): Promise<void> {
    if (!this.live(epoch)) return
    await this.process(this.core!.handle({ kind: 'timeout', key }), epoch)
  }

  // ---------------------------------------------------------------- inputs

  private async txValidity(message: VerifiedMessage): Promise<boolean[] | undefined> {
    const items = txItemsOf(message.value.content)
    if (!items) return undefined
    // Own transactions were checked when submitted: no second signature check for them.
    if (
      items.every(
        (i) =>
          typeof i === 'object' &&
          i !== null &&
          this.prevalidated.has(itemId(i as SignedItem, this.host.sha256)),
      )
    )
      return items.map(() => true)
    return verifyTransactions(this.host.app, items, this.txContext, this.host.ed25519)
  }

  /** Hands a stored message to the core. */
  private async feed(message: VerifiedMessage, epoch: number): Promise<void> {
    const txValidity = await this.txValidity(message)
    if (!this.live(epoch)) return
    await this.process(this.core!.handle({ kind: 'message', message, txValidity }), epoch)
  }

  async deliver(from: number, payload: Payload): Promise<void> {
    if (!this.up) return
    if (payload.type === 'messages') await this.ingest(payload.texts)
    else await this.answerClock(from, payload.clock)
  }

  /** Stores what arrived (the store verifies everything), then feeds what was new to the core. */
  async ingest(texts: readonly string[]): Promise<void> {
    const epoch = this.epoch
    const store = this.store
    if (!store || !this.live(epoch)) return
    const accepted: VerifiedMessage[] = []
    const forks: ForkEvidence[] = []
    const otherBranch: string[] = []
    // What the vector clock says we hold, byte for byte, needs no decoding (replication does this too).
    const fresh: string[] = []
    for (const text of texts) {
      const at = SEQUENCE_OF.exec(text)
      if (at) {
        const author = at[1] as FeedId
        const sequence = Number(at[2])
        const head = store.head(author)
        if (head && sequence <= head.sequence && (await store.get(author, sequence)) === text) continue
      }
      fresh.push(text)
    }
    let batch: readonly string[] = fresh
    for (let round = 0; batch.length > 0 && round < 100; round++) {
      const outcomes = await store.append(batch)
      const authors = new Set<FeedId>()
      outcomes.forEach((o, i) => {
        if (o.ok) {
          accepted.push(o.value)
          authors.add(o.value.value.author)
        } else if (o.error.code === 'FEED_GAP') {
          // Out of order: keep it until the messages before it arrive. A forked feed's other
          // branch never fits our chain: check its signature here and show it to the core.
          if (store.isForked(o.error.author)) otherBranch.push(batch[i] as string)
          else if (this.gapBuffer.size < MAX_GAP_BUFFER)
            this.gapBuffer.set(`${o.error.author} ${o.error.sequence}`, batch[i] as string)
        } else if (o.error.code === 'FEED_FORK') {
          forks.push(o.error.evidence)
          otherBranch.push(o.error.evidence.messages[1])
        } else if (o.error.code !== 'FEED_DUPLICATE')
          this.host.onRejected(this, o.error.code, batch[i] as string)
      })
      const next: string[] = []
      for (const author of authors) {
        const head = store.head(author)
        const key = `${author} ${(head?.sequence ?? 0) + 1}`
        const text = this.gapBuffer.get(key)
        if (text !== undefined) {
          this.gapBuffer.delete(key)
          next.push(text)
        }
      }
      batch = next
    }
    for (const m of accepted) await this.feed(m, epoch)
    for (const evidence of forks) {
      if (!this.live(epoch)) return
      await this.process(this.core!.handle({ kind: 'fork', evidence }), epoch)
    }
    await this.feedOtherBranch(otherBranch, epoch)
  }

  /**
   * Messages of a forked feed that the store refuses (the branch it does not keep): validly signed
   * ones still go to the core, which must see what the other honest nodes see to count with them.
   * They are not stored, so after a restart they come again with replication.
   */
  private async feedOtherBranch(texts: readonly string[], epoch: number): Promise<void> {
    const decoded = texts.flatMap((t) => {
      const d = decodeMessage(t, this.host.networkKey)
      return d.ok && !this.otherBranchSeen.has(d.value.id) ? [d.value] : []
    })
    if (decoded.length === 0) return
    const valid = await this.host.ed25519.verifyBatch(decoded.map((d) => d.verify))
    for (const [i, m] of decoded.entries()) {
      if (!valid[i] || !this.live(epoch)) continue
      this.otherBranchSeen.add(m.id)
      await this.feed(m, epoch)
    }
  }

  // ---------------------------------------------------------------- replication

  private syncTick(epoch: number): void {
    if (!this.live(epoch)) return
    const clock = this.store!.vectorClock()
    for (const peer of this.host.peers(this.index)) this.host.send(this.index, peer, { type: 'clock', clock })
    this.host.after(this.host.syncIntervalMs, () => this.syncTick(epoch))
  }

  /** Sends a peer what its clock says it lacks (and the head message where our heads differ). */
  private async answerClock(
    from: number,
    theirs: ReadonlyMap<FeedId, { sequence: number; id: string }>,
  ): Promise<void> {
    const store = this.store
    if (!store || (this.behaviour && !this.behaviour.relays)) return
    const texts: string[] = []
    for (const [feed, head] of store.vectorClock()) {
      if (texts.length >= MAX_SYNC_BATCH) break
      const t = theirs.get(feed)
      if (!t || t.sequence < head.sequence) {
        const from1 = (t?.sequence ?? 0) + 1
        // If their head is a fork of ours, the next message's previous shows it to them.
        texts.push(...(await store.range(feed, from1, from1 + MAX_SYNC_BATCH - texts.length - 1)))
      } else if (t.sequence === head.sequence && t.id !== head.id && !store.isForked(feed)) {
        const ours = await store.get(feed, head.sequence)
        if (ours !== undefined) texts.push(ours)
      }
    }
    if (texts.length > 0) this.host.send(this.index, from, { type: 'messages', texts })
  }

  // ---------------------------------------------------------------- clients

  /**
   * A client submits items to this validator; resolves once the core has taken them, or once they
   * are held for pacing (a later event of the host hands them to the core). Group commit,
   * as in the live runtime: submissions that arrive while an earlier group is being checked go to
   * the core together (one transaction message instead of one per submission), paced as there
   * when the host sets `txIntervalMs`.
   */
  submit(items: readonly SignedItem[]): Promise<void> {
    if (!this.up || !this.core || this.kind !== 'validator') return Promise.resolve()
    return new Promise((resolve) => {
      this.submissions.push({ items, resolve })
      void this.commitSubmissions()
    })
  }

  /**
   * Answers the waiting submissions without handing them over: a simulator event awaits its
   * submission, and the pacing timer that hands the group to the core is a later event.
   */
  private holdForPacing(): void {
    for (const s of this.submissions) s.resolve()
  }

  private async commitSubmissions(): Promise<void> {
    if (this.committingSubmissions) return
    if (this.pacing) return this.holdForPacing()
    this.committingSubmissions = true
    try {
      while (this.submissions.length > 0) {
        const wait = txGroupDelay(
          {
            intervalMs: this.host.txIntervalMs ?? 0,
            maxTxsPerMessage: this.host.genesis.params.maxTxsPerMessage,
          },
          {
            lastGroupAt: this.lastGroupAt,
            waitingItems: this.submissions.reduce((n, s) => n + s.items.length, 0),
          },
          this.host.now(),
        )
        if (wait > 0) {
          this.holdForPacing()
          this.pacing = true
          this.host.after(wait, () => {
            this.pacing = false
            return this.commitSubmissions()
          })
          return
        }
        this.lastGroupAt = this.host.now()
        const group = this.submissions.splice(0)
        try {
          const epoch = this.epoch
          if (!this.live(epoch)) continue
          const items = group.flatMap((s) => s.items)
          const valid = await verifyTransactions(this.host.app, items, this.txContext, this.host.ed25519)
          // The node may have crashed (or the run ended) while the signatures were being checked.
          if (!this.live(epoch)) continue
          items.forEach((item, i) => {
            if (valid[i]) this.prevalidated.add(itemId(item, this.host.sha256))
          })
          await this.process(this.core!.handle({ kind: 'submit', items, valid }), epoch)
        } finally {
          for (const s of group) s.resolve()
        }
      }
    } finally {
      this.committingSubmissions = false
    }
  }
}
