/**
 * The live runtime around the pure consensus core (src/core/consensus/types.ts, "Runtime
 * contract"): one validator or Messagenode over a FeedStore that replication fills. The same
 * class runs in the tab (IndexedDB), the headless Node validator and the relay (LevelDB).
 *
 * - Start: replay the store into a fresh core (own role feeds first), then follow the store: every
 *   message it accepts goes to the core, in store order, through one serial queue; a received one
 *   as soon as it passed every check (its durable write need not hold up a vote), this node's own
 *   publishes once durable.
 * - Outputs: `publish` is signed and appended (durable before replication sees it: replication
 *   sends what the store holds); `set-timer` goes to the clock; `event`s go to listeners.
 * - Submissions: items are checked (shape and signature, in one batch) before the core sees them;
 *   the answer says which were accepted, and accepted ones are in the transaction feed (durable)
 *   when `submit` resolves.
 *
 * Known limit: a fork's other branch is refused by the store and never reaches the core here (the
 * simulator shows both branches to the core); the fork evidence itself does.
 */
import createDebug from 'debug'
import {
  type ConsensusEvent,
  type ConsensusGenesis,
  type ConsensusOutput,
  MessagenodeNode,
  txItemsOf,
  ValidatorNode,
  verifyTransactions,
} from '../core/consensus'
import type { Ed25519Backend } from '../core/crypto/ed25519'
import type { Sha256 } from '../core/crypto/hash'
import type { ForkEvidence } from '../core/feed/evidence'
import type { VerifiedMessage } from '../core/feed/message'
import type { FeedId } from '../core/identity/ids'
import type { KeyPair } from '../core/identity/keys'
import { deriveRoleKeys, type Role, type RoleKeyPair } from '../core/identity/roles'
import type { AppModule } from '../core/ledger/module'
import { itemId, type SignedBytesOf, type SignedItem } from '../core/ledger/signed-item'
import type { Digest } from '../core/merkle'
import type { Clock } from '../net/replication/rate-limit'
import type { FeedStore } from '../store/feed-store'
import { DEFAULT_TX_INTERVAL_MS, txGroupDelay } from './tx-pacing'

const log = createDebug('blockfin:runtime')

export type RuntimeKind = 'validator' | 'messagenode'

export interface RuntimeKeys {
  readonly owner: KeyPair
  readonly roles: Partial<Record<Role, RoleKeyPair>>
}

/** The role keys an owner signs stage messages with (derived from its seed, docs/protocol.md section 1). */
export function roleKeysOf(owner: KeyPair, roles: readonly Role[]): Partial<Record<Role, RoleKeyPair>> {
  const out: Partial<Record<Role, RoleKeyPair>> = {}
  for (const role of roles) out[role] = deriveRoleKeys(owner, role)
  return out
}

export interface ConsensusRuntimeOptions {
  readonly kind: RuntimeKind
  readonly genesis: ConsensusGenesis
  readonly networkKey: Uint8Array
  readonly keys: RuntimeKeys
  /**
   * TEST SEAM, never set in production code paths: rewrites each `publish` output just before it
   * is signed (e.g. a lying Messagenode's QCs in test/node/consensus-lying-messagenode.test.ts).
   * The core still sees only what the store holds, so it meets the rewritten message like anyone's.
   */
  readonly transformPublish?: (publish: RuntimePublish) => RuntimePublish
  /**
   * Least time between two transaction messages of this validator while submissions keep coming,
   * unless the waiting items fill a message (default 100 ms; 0: every group at once). Every message
   * costs each peer a store write, a signature check and a replication frame: a client sending a
   * transfer every few milliseconds would otherwise cost a message per transfer.
   */
  readonly txIntervalMs?: number
}

export { DEFAULT_TX_INTERVAL_MS } from './tx-pacing'

interface InboxEntry {
  readonly message: VerifiedMessage
  /** 'checking' while a transaction message's item signatures are being checked. */
  state: 'checking' | 'checked' | 'failed'
  validity?: boolean[] | undefined
}

/** A `publish` output of the core: what to sign, and as which role. */
export type RuntimePublish = Extract<ConsensusOutput, { kind: 'publish' }>

export interface ConsensusRuntimeDeps {
  readonly store: FeedStore
  readonly ed25519: Ed25519Backend
  readonly app: AppModule<unknown, unknown>
  readonly clock: Clock
  /** A native network HMAC for item signatures (the same bytes as the JavaScript default). */
  readonly signedBytesOf?: SignedBytesOf
  /** A native sha256 for item ids and Merkle roots (the same bytes as the JavaScript default). */
  readonly sha256?: Sha256
}

export type SubmitRejection =
  | { readonly code: 'TX_INVALID'; readonly index: number; readonly reason: string }
  | { readonly code: 'NOT_A_VALIDATOR' }
  | { readonly code: 'RUNTIME_STOPPED' }
  /** The store refused the transaction feed's append (quota, closed store): nothing acknowledged. */
  | { readonly code: 'RUNTIME_FAILED' }

export interface SubmitOutcome {
  /** Ids of the items now in this validator's transaction feed (durable). */
  readonly accepted: readonly Digest[]
  readonly rejected: readonly SubmitRejection[]
}

export type RuntimeEvent = ConsensusEvent & { readonly at: number; readonly replayed?: boolean }
export type RuntimeListener = (event: RuntimeEvent) => void
export type MessageListener = (message: VerifiedMessage, at: number) => void

export interface RuntimeStatus {
  readonly kind: RuntimeKind
  readonly owner: FeedId
  readonly committedHeight: number
  readonly sealedHeight: number
  readonly executedHeight: number
  /** Validators only: the height and round being voted on. */
  readonly height?: number
  readonly round?: number
}

type Core = ValidatorNode | MessagenodeNode

export class ConsensusRuntime {
  private readonly core: Core
  private queue: Promise<void> = Promise.resolve()
  /** Followed messages not yet handed to the core (see `follow`), and their item checks under way. */
  private readonly inbox: InboxEntry[] = []
  private readonly checks = new Set<Promise<void>>()
  private inboxQueued = false
  private stopped = false
  private readonly listeners = new Set<RuntimeListener>()
  private readonly messageListeners = new Set<MessageListener>()
  /** Items this validator prevalidated: its own transaction messages need no second check. */
  private readonly prevalidated = new Set<Digest>()
  private seenEvidence = 0
  /** Checked submissions waiting for the group under way to become durable. */
  private readonly submissions: {
    readonly items: readonly SignedItem[]
    readonly valid: readonly boolean[]
    readonly resolve: (outcome: SubmitOutcome) => void
  }[] = []
  private committingSubmissions = false
  /** When the last group went to the core, and the timer of the next one while paced. */
  private lastGroupAt = Number.NEGATIVE_INFINITY
  private pacing: unknown
  private unsubscribe: () => void = () => undefined
  private readonly timers = new Set<unknown>()
  /** Publishes under way (a reload now would cut a vote short). */
  private readonly publishes = new Set<Promise<boolean>>()

  private constructor(
    private readonly options: ConsensusRuntimeOptions,
    private readonly deps: ConsensusRuntimeDeps,
  ) {
    const roleKeys: Partial<Record<Role, FeedId>> = {}
    for (const [role, k] of Object.entries(options.keys.roles)) roleKeys[role as Role] = k.id
    const coreOptions = {
      genesis: options.genesis,
      identity: { owner: options.keys.owner.id, roleKeys },
      app: deps.app,
    }
    const coreDeps = deps.sha256 ? { sha256: deps.sha256 } : {}
    this.core =
      options.kind === 'validator'
        ? new ValidatorNode(coreOptions, coreDeps)
        : new MessagenodeNode(coreOptions, coreDeps)
  }

  /**
   * Replays the store into a fresh core, then follows it. Resolves once live. `attach` runs
   * before the replay, so listeners it adds see every replayed message and event too (an index
   * rebuilt after a restart).
   */
  static async start(
    options: ConsensusRuntimeOptions,
    deps: ConsensusRuntimeDeps,
    attach?: (runtime: ConsensusRuntime) => void,
  ): Promise<ConsensusRuntime> {
    const runtime = new ConsensusRuntime(options, deps)
    attach?.(runtime)
    await runtime.boot()
    return runtime
  }

  get owner(): FeedId {
    return this.options.keys.owner.id
  }

  get kind(): RuntimeKind {
    return this.options.kind
  }

  /** The feed store this runtime follows (read-only use: feeds, heads). */
  get store(): FeedStore {
    return this.deps.store
  }

  /** The core's view, read-only: membership, app state, directory (for status pages and tests). */
  get view(): Core['view'] {
    return this.core.view
  }

  status(): RuntimeStatus {
    const base = { kind: this.options.kind, owner: this.owner }
    if (this.core instanceof ValidatorNode) {
      const s = this.core.status
      return {
        ...base,
        committedHeight: s.committedHeight,
        sealedHeight: s.sealedHeight,
        executedHeight: s.executedHeight,
        height: s.height,
        round: s.round,
      }
    }
    const s = this.core.status
    return {
      ...base,
      committedHeight: s.committedHeight,
      sealedHeight: s.sealQcHeight,
      executedHeight: this.core.view.membership.executedHeight,
    }
  }

  /** Every event, including those re-derived while replaying the store (marked `replayed`). */
  onEvent(listener: RuntimeListener): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }

  /** Every message handed to the core (replayed ones too), after the core has seen it. */
  onMessage(listener: MessageListener): () => void {
    this.messageListeners.add(listener)
    return () => this.messageListeners.delete(listener)
  }

  /**
   * A client submits items to this validator. Checked here (shape and signature, one batch);
   * accepted items are appended to the transaction feed before this resolves.
   *
   * Group commit: submissions that arrive while an earlier group is being made durable wait and
   * then go to the core together, so a stream of single transfers becomes a few full feed
   * messages instead of one message (and one signature check at every peer) per transfer.
   */
  async submit(items: readonly SignedItem[]): Promise<SubmitOutcome> {
    if (this.stopped) return { accepted: [], rejected: [{ code: 'RUNTIME_STOPPED' }] }
    if (this.options.kind !== 'validator') return { accepted: [], rejected: [{ code: 'NOT_A_VALIDATOR' }] }
    const valid = await verifyTransactions(this.deps.app, items, this.txContext, this.itemBackend)
    for (const [i, item] of items.entries())
      if (valid[i]) this.prevalidated.add(itemId(item, this.deps.sha256))
    return new Promise<SubmitOutcome>((resolve) => {
      this.submissions.push({ items, valid, resolve })
      this.commitSubmissions()
    })
  }

  /** Hands every waiting submission to the core as one input, unless a group is still under way. */
  private commitSubmissions(): void {
    if (this.committingSubmissions || this.submissions.length === 0) return
    const { clock } = this.deps
    const wait = txGroupDelay(
      {
        intervalMs: this.options.txIntervalMs ?? DEFAULT_TX_INTERVAL_MS,
        maxTxsPerMessage: this.options.genesis.params.maxTxsPerMessage,
      },
      {
        lastGroupAt: this.lastGroupAt,
        waitingItems: this.submissions.reduce((n, s) => n + s.items.length, 0),
      },
      clock.now(),
    )
    if (!this.stopped && wait > 0) {
      if (this.pacing === undefined) {
        const handle = clock.setTimeout(() => {
          this.timers.delete(handle)
          this.pacing = undefined
          this.commitSubmissions()
        }, wait)
        this.pacing = handle
        this.timers.add(handle)
      }
      return
    }
    if (this.pacing !== undefined) {
      clock.clearTimeout(this.pacing)
      this.timers.delete(this.pacing)
      this.pacing = undefined
    }
    this.lastGroupAt = clock.now()
    this.committingSubmissions = true
    const group = this.submissions.splice(0)
    const items = group.flatMap((s) => s.items)
    const valid = group.flatMap((s) => s.valid)
    // Index in the group's input -> [submission, index within it].
    const origin = group.flatMap((s, k) => s.items.map((_, i) => [k, i] as const))
    const outcomes = group.map((s) => {
      const rejected: SubmitRejection[] = []
      s.valid.forEach((v, index) => {
        if (!v) rejected.push({ code: 'TX_INVALID', index, reason: 'malformed or not signed by its sender' })
      })
      return { accepted: [] as Digest[], rejected }
    })
    let handled = false
    let durable: Promise<boolean> = Promise.resolve(true)
    void this.enqueue(async () => {
      handled = true
      const outputs = this.core.handle({ kind: 'submit', items, valid })
      const rejectedByCore = new Set<number>()
      // Items the signature check refused are already answered for (the core refuses them too).
      for (const o of outputs)
        if (o.kind === 'event' && o.event.type === 'tx-rejected' && valid[o.event.index]) {
          rejectedByCore.add(o.event.index)
          const [k, index] = origin[o.event.index]!
          outcomes[k]!.rejected.push({ code: 'TX_INVALID', index, reason: o.event.reason })
        }
      for (const [j, item] of items.entries())
        if (valid[j] && !rejectedByCore.has(j))
          outcomes[origin[j]![0]]!.accepted.push(itemId(item, this.deps.sha256))
      durable = this.carryOut(outputs, false)
    })
      // Accepted means in the transaction feed, durably.
      .then(async () => {
        if (!(await durable)) handled = false
      })
      .catch(() => {
        handled = false // a bug in the core (logged by the queue): nothing of the group is acknowledged
      })
      .finally(() => {
        const refused: SubmitOutcome = {
          accepted: [],
          rejected: [{ code: this.stopped ? 'RUNTIME_STOPPED' : 'RUNTIME_FAILED' }],
        }
        for (const [k, s] of group.entries()) s.resolve(handled ? outcomes[k]! : refused)
        this.committingSubmissions = false
        this.commitSubmissions()
      })
  }

  /**
   * Resolves when the runtime has nothing queued and nothing being published: a point where
   * reloading the page interrupts no vote (the app applies updates only there).
   */
  async idle(): Promise<void> {
    for (;;) {
      const q = this.queue
      await Promise.all([...this.checks])
      await q
      await Promise.all([...this.publishes])
      if (q === this.queue && this.publishes.size === 0 && this.checks.size === 0) return
    }
  }

  async stop(): Promise<void> {
    this.stopped = true
    this.unsubscribe()
    for (const t of this.timers) this.deps.clock.clearTimeout(t)
    this.timers.clear()
    // Submissions held back by pacing are answered (RUNTIME_STOPPED), not left pending.
    this.pacing = undefined
    this.commitSubmissions()
    await this.queue.catch(() => undefined)
    await Promise.all([...this.publishes])
  }

  // ---------------------------------------------------------------- internals

  private get txContext() {
    return {
      networkKey: this.options.networkKey,
      networkId: this.options.genesis.networkId,
      ...(this.deps.signedBytesOf ? { signedBytesOf: this.deps.signedBytesOf } : {}),
      ...(this.deps.sha256 ? { sha256: this.deps.sha256 } : {}),
    }
  }

  private get itemBackend(): Ed25519Backend {
    return this.deps.ed25519
  }

  private enqueue(task: () => Promise<void>): Promise<void> {
    const run = this.queue.then(async () => {
      if (this.stopped) return
      await task()
    })
    this.queue = run.catch((e) => log('runtime task failed: %O', e))
    return run
  }

  private async boot(): Promise<void> {
    const { store } = this.deps
    // Follow first, so nothing appended while replaying is missed; replay reads up to a snapshot
    // taken after subscribing, and followed messages at or below it are skipped.
    // Received messages come once checked (before their durable write: the core only reads them)
    // and again once durable; own publishes only once durable. Each goes to the core once, in
    // feed order: the highest sequence handed over per feed says what is new.
    const handed = new Map<FeedId, number>()
    const take = (messages: readonly VerifiedMessage[]) => {
      const fresh = messages.filter((m) => {
        const { author, sequence } = m.value
        if (sequence <= (handed.get(author) ?? 0)) return false
        handed.set(author, sequence)
        return true
      })
      if (fresh.length > 0) this.follow(fresh)
    }
    const pending: VerifiedMessage[][] = []
    let live = false
    const onMessages = (messages: readonly VerifiedMessage[]) => {
      if (!live) pending.push([...messages])
      else take(messages)
    }
    const unsubscribeDurable = store.subscribe(onMessages)
    const unsubscribeAccepted = store.subscribeAccepted(onMessages)
    this.unsubscribe = () => {
      unsubscribeDurable()
      unsubscribeAccepted()
    }
    const snapshot = store.vectorClock()
    const own = new Set<string>([this.owner, ...Object.values(this.options.keys.roles).map((k) => k.id)])
    const feeds = [...snapshot.keys()].sort((a, b) => Number(own.has(b)) - Number(own.has(a)))
    this.core.beginReplay()
    let replayed = 0
    for (const feed of feeds) {
      const head = snapshot.get(feed)!.sequence
      for (let from = 1; from <= head; from += 500) {
        // The store verified every message when it was appended: replay only parses and ids them.
        for (const message of await store.rangeVerified(feed, from, Math.min(head, from + 499))) {
          const txValidity = await this.txValidity(message)
          this.emitAll(this.core.handle({ kind: 'message', message, txValidity }), true)
          this.notifyMessage(message)
          replayed++
        }
      }
    }
    for (const evidence of store.evidence()) this.core.handle({ kind: 'fork', evidence })
    this.seenEvidence = store.evidence().length
    const outputs = this.core.endReplay()
    log('%s %s replayed %d messages', this.options.kind, this.owner, replayed)
    await this.enqueue(async () => {
      await this.carryOut(outputs, false)
    })
    live = true
    for (const [feed, head] of snapshot) handed.set(feed, head.sequence)
    for (const batch of pending) take(batch)
  }

  /**
   * Messages the store accepted, in store order. A transaction message's item signatures are
   * checked at once, in parallel with whatever the queue is doing; until its check is back, that
   * message and later ones of its feed wait in the inbox, while messages of other feeds (votes,
   * assembled blocks, QCs) go to the core without queueing behind it. Per-feed order is all the
   * core needs (a replay hands it feeds one after the other); under load a vote no longer waits
   * for the signature checks of every transfer that arrived before it.
   */
  private follow(messages: readonly VerifiedMessage[]): void {
    for (const message of messages) {
      const entry: InboxEntry = { message, state: 'checked' }
      this.inbox.push(entry)
      const items = txItemsOf(message.value.content)
      if (!items) continue
      entry.state = 'checking'
      const check = this.checkItems(items).then(
        (validity) => {
          entry.validity = validity
          entry.state = 'checked'
        },
        (e: unknown) => {
          // The checking backend failed (not the items): the message cannot be judged, and the
          // store holds it durably, so a restart's replay hands it to the core again.
          log('item check of %s %d failed: %O', message.value.author, message.value.sequence, e)
          entry.state = 'failed'
        },
      )
      this.checks.add(check)
      void check.then(() => {
        this.checks.delete(check)
        this.queueInbox()
      })
    }
    this.queueInbox()
  }

  private queueInbox(): void {
    if (this.inboxQueued) return
    this.inboxQueued = true
    void this.enqueue(async () => {
      this.inboxQueued = false
      this.drainInbox()
    })
  }

  /** Hands the core every inbox message that is checked and not behind an unchecked one of its feed. */
  private drainInbox(): void {
    const blocked = new Set<FeedId>()
    let kept = 0
    for (const entry of this.inbox) {
      const author = entry.message.value.author
      if (entry.state === 'checking' || blocked.has(author)) {
        blocked.add(author)
        this.inbox[kept++] = entry
        continue
      }
      if (entry.state === 'failed') continue
      const outputs = this.core.handle({
        kind: 'message',
        message: entry.message,
        txValidity: entry.validity,
      })
      this.notifyMessage(entry.message)
      void this.carryOut(outputs, false)
    }
    this.inbox.length = kept
    const evidence = this.deps.store.evidence()
    if (evidence.length > this.seenEvidence) {
      const fresh: ForkEvidence[] = evidence.slice(this.seenEvidence)
      this.seenEvidence = evidence.length
      for (const e of fresh) void this.carryOut(this.core.handle({ kind: 'fork', evidence: e }), false)
    }
  }

  private notifyMessage(message: VerifiedMessage): void {
    const at = this.deps.clock.now()
    for (const l of this.messageListeners) {
      try {
        l(message, at)
      } catch (e) {
        log('message listener threw: %O', e)
      }
    }
  }

  private async txValidity(message: VerifiedMessage): Promise<boolean[] | undefined> {
    const items = txItemsOf(message.value.content)
    return items && this.checkItems(items)
  }

  /** The item checks of a transaction message (one batch). */
  private async checkItems(items: readonly unknown[]): Promise<boolean[]> {
    // Own transactions were checked when submitted: no second signature check for them.
    if (
      items.every(
        (i) =>
          typeof i === 'object' &&
          i !== null &&
          this.prevalidated.has(itemId(i as SignedItem, this.deps.sha256)),
      )
    )
      return items.map(() => true)
    return verifyTransactions(this.deps.app, items, this.txContext, this.itemBackend)
  }

  private emitAll(outputs: readonly ConsensusOutput[], replayed: boolean): void {
    for (const o of outputs) if (o.kind === 'event') this.emit(o.event, replayed)
  }

  private emit(event: ConsensusEvent, replayed: boolean): void {
    const e: RuntimeEvent = { ...event, at: this.deps.clock.now(), ...(replayed ? { replayed } : {}) }
    for (const l of this.listeners) {
      try {
        l(e)
      } catch (err) {
        log('event listener threw: %O', err)
      }
    }
  }

  /**
   * Carries out outputs in order: events, timers, then the publishes. The publishes go to the
   * store in output order (it keeps each feed's order) and are not awaited by the queue: the core
   * already counts what it published, and waiting for each durable write before taking the next
   * input only added a disk commit to every step of every block. Nothing is replicated before it
   * is durable (replication serves what the store holds), and the core sees its own messages when
   * the store hands them back. The returned promise resolves once they are durable.
   */
  private carryOut(outputs: readonly ConsensusOutput[], replayed: boolean): Promise<boolean> {
    const publishes: RuntimePublish[] = []
    const transform = this.options.transformPublish
    for (const o of outputs) {
      if (o.kind === 'event') this.emit(o.event, replayed)
      else if (o.kind === 'set-timer') this.setTimer(o.key, o.delayMs)
      else publishes.push(transform ? transform(o) : o)
    }
    if (publishes.length === 0) return Promise.resolve(true)
    const { store, clock } = this.deps
    // One batch: the store commits them together; the order within a feed is kept.
    const done = Promise.all(publishes.map((p) => store.publish(this.keyFor(p.role), p.content, clock.now())))
      .then((outcomes) => {
        outcomes.forEach((o, i) => {
          if (!o.ok) log('publishing %s failed: %o', publishes[i]!.content.type, o.error)
        })
        return outcomes.every((o) => o.ok)
      })
      .catch((e) => {
        log('publishing threw: %O', e)
        return false
      })
    this.publishes.add(done)
    void done.finally(() => this.publishes.delete(done))
    return done
  }

  private setTimer(key: string, delayMs: number): void {
    const handle = this.deps.clock.setTimeout(() => {
      this.timers.delete(handle)
      void this.enqueue(async () => {
        void this.carryOut(this.core.handle({ kind: 'timeout', key }), false)
      })
    }, delayMs)
    this.timers.add(handle)
  }

  private keyFor(role: Role | 'owner'): KeyPair {
    if (role === 'owner') return this.options.keys.owner
    const k = this.options.keys.roles[role]
    if (!k) throw new Error(`${this.options.kind} ${this.owner} has no ${role} key`)
    return k
  }
}
