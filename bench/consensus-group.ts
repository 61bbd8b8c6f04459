/**
 * One thread of the in-process consensus bench: a group of nodes, each the simulator's node
 * runtime (src/sim/node.ts) with real time and real crypto, verifying on this thread with
 * libsodium. The nodes of a configuration are spread over one such thread per core, so node work
 * runs on every core, as it would with each node on its own machine. Nodes on this thread reach
 * each other directly (next turn of the event loop); nodes on another thread through one
 * MessagePort per thread, with everything sent to that thread during a turn in one message (a
 * vote published to 63 peers there is copied once). The main thread submits transfers and hears
 * when the ones submitted to a validator are sealed at that validator. Started by
 * bench/consensus.ts (through thread-boot.mjs).
 */
import { type MessagePort, parentPort, workerData } from 'node:worker_threads'
import type { ConsensusEvent } from '../src/core/consensus'
import type { Ed25519Backend } from '../src/core/crypto/ed25519'
import type { FeedId } from '../src/core/identity/ids'
import type { SignedItem } from '../src/core/ledger/signed-item'
import type { Digest } from '../src/core/merkle'
import {
  createNodeHasher,
  createNodeSha256,
  createSodiumBackend,
  nativeSignedBytes,
} from '../src/crypto/node'
import { DEFAULT_TX_INTERVAL_MS } from '../src/runtime/tx-pacing'
import type { Payload } from '../src/sim/network'
import { type NodeHost, SimNode } from '../src/sim/node'
import {
  benchApp,
  benchGenesis,
  keyOf,
  messagenodeLabel,
  NETWORK_KEY,
  type NodeSetup,
  roleKeysOf,
  validatorLabel,
} from './consensus-setup'

export interface GroupMember {
  readonly index: number
  readonly kind: 'validator' | 'messagenode'
  readonly label: string
}

export interface GroupThreadData {
  /** This module (bench/thread-boot.mjs loads it). */
  readonly module: string
  readonly setup: NodeSetup
  readonly thread: number
  readonly members: readonly GroupMember[]
  /** The thread of every node, by node index. */
  readonly threadOf: readonly number[]
  /** Threads this one has a port to, and the ports (in the same order). */
  readonly peerThreads: readonly number[]
  readonly ports: readonly MessagePort[]
  /** The node whose executed blocks are reported (their transfer counts). */
  readonly reportBlocksOf: number
}

/** Main thread to a group thread. */
export type ToGroup =
  | {
      readonly t: 'submit'
      readonly validator: number
      readonly items: readonly SignedItem[]
      readonly ids: readonly Digest[]
    }
  | { readonly t: 'ask'; readonly rid: number; readonly what: 'bound' | 'verifications' }
  | { readonly t: 'stop' }

/** A group thread to the main thread. */
export type FromGroup =
  | { readonly t: 'booted' }
  | { readonly t: 'sealed'; readonly ids: readonly Digest[]; readonly at: number }
  | { readonly t: 'block'; readonly txs: number }
  | { readonly t: 'answer'; readonly rid: number; readonly value: number }

/** What one turn sent to nodes of another thread: [from, to, payload]. */
type Outbox = [number, number, Payload][]

/** A clock every thread shares (performance.now() starts anew in each worker). */
export const sharedNow = () => performance.timeOrigin + performance.now()

function countingBackend(inner: Ed25519Backend): Ed25519Backend & { count: number } {
  const backend = {
    name: inner.name,
    count: 0,
    verifyBatch(requests: Parameters<Ed25519Backend['verifyBatch']>[0]) {
      backend.count += requests.length
      return inner.verifyBatch(requests)
    },
    sign: inner.sign.bind(inner),
  }
  return backend
}

/** Every role key of the configuration (a node is ready once it holds all their bindings). */
function allRoleKeys(setup: NodeSetup): FeedId[] {
  const out: FeedId[] = []
  for (let i = 0; i < setup.validators; i++)
    for (const k of Object.values(roleKeysOf(validatorLabel(i), 'validator'))) out.push(k.id)
  for (let i = 0; i < setup.messagenodes; i++)
    for (const k of Object.values(roleKeysOf(messagenodeLabel(i), 'messagenode'))) out.push(k.id)
  return out
}

/** Sealed-at-the-submitting-validator tracking for one validator. */
class SealWatch {
  /** Transfers submitted to this validator and not sealed yet. */
  readonly mine = new Set<Digest>()
  private readonly executedMine = new Map<number, Digest[]>()
  /** A node can count a height's seal quorum before it has executed that height itself. */
  private readonly sealedFirst = new Set<number>()

  constructor(private readonly report: (ids: readonly Digest[]) => void) {}

  onEvent(e: ConsensusEvent): void {
    if (e.type === 'executed') {
      const ids = e.results.map((r) => r.id).filter((id) => this.mine.has(id))
      const sealedAlready = this.sealedFirst.delete(e.height)
      if (ids.length === 0) return
      if (sealedAlready) this.done(ids)
      else this.executedMine.set(e.height, ids)
    } else if (e.type === 'sealed') {
      const ids = this.executedMine.get(e.height)
      if (!ids) {
        this.sealedFirst.add(e.height)
        return
      }
      this.executedMine.delete(e.height)
      this.done(ids)
    }
  }

  private done(ids: readonly Digest[]): void {
    for (const id of ids) this.mine.delete(id)
    this.report(ids)
  }
}

function run(data: GroupThreadData): void {
  const port = parentPort!
  const tell = (m: FromGroup) => port.postMessage(m)
  const fail = (e: unknown) =>
    process.stderr.write(`bench thread ${data.thread}: ${(e as Error).stack ?? e}\n`)
  const ed25519 = countingBackend(createSodiumBackend())
  const roleKeys = allRoleKeys(data.setup)
  const allNodes = data.threadOf.map((_, i) => i)
  const portTo = new Map(data.peerThreads.map((t, i) => [t, data.ports[i]!]))
  const watches = new Map<number, SealWatch>()
  const local = new Map<number, SimNode>()

  const outboxes = new Map<number, Outbox>()
  let flushQueued = false
  const flush = () => {
    flushQueued = false
    for (const [thread, outbox] of outboxes) portTo.get(thread)!.postMessage(outbox)
    outboxes.clear()
  }
  const send = (from: number, to: number, payload: Payload) => {
    const thread = data.threadOf[to]!
    if (thread === data.thread) {
      setImmediate(() => void local.get(to)!.deliver(from, payload).catch(fail))
      return
    }
    let outbox = outboxes.get(thread)
    if (!outbox) {
      outbox = []
      outboxes.set(thread, outbox)
    }
    outbox.push([from, to, payload])
    if (!flushQueued) {
      flushQueued = true
      setImmediate(flush)
    }
  }
  for (const p of data.ports)
    p.on('message', (outbox: Outbox) => {
      for (const [from, to, payload] of outbox) void local.get(to)!.deliver(from, payload).catch(fail)
    })

  const host: NodeHost = {
    genesis: benchGenesis(data.setup),
    networkKey: NETWORK_KEY,
    ed25519,
    app: benchApp(),
    now: sharedNow,
    after: (delay, task) => {
      const go = () => Promise.resolve(task()).catch(fail)
      if (delay <= 0) setImmediate(go)
      else setTimeout(go, delay)
    },
    send,
    peers: (of) => allNodes.filter((i) => i !== of),
    signedBytesOf: nativeSignedBytes(NETWORK_KEY),
    sha256: createNodeSha256(),
    hasher: createNodeHasher(),
    diskDelayMs: 0,
    // Delivery is reliable and ordered here: anti-entropy only as a backstop.
    syncIntervalMs: 10_000,
    keepEvents: false,
    // Paced as a tab or the headless validator paces: at half load, unpaced clients made about
    // two transfers per transaction message, a third more signature checks per transfer, and
    // saturated the machine (p50 0.4 to 0.6 s against 0.1 s paced; docs/bench-history.md).
    txIntervalMs: DEFAULT_TX_INTERVAL_MS,
    onEvent: (node, e) => {
      if (node.index === data.reportBlocksOf && e.type === 'executed')
        tell({ t: 'block', txs: e.results.length })
      watches.get(node.index)?.onEvent(e)
    },
    onPublished: () => {},
    onRejected: () => {},
  }
  for (const m of data.members) {
    local.set(
      m.index,
      new SimNode(m.index, m.kind, { owner: keyOf(m.label), roles: roleKeysOf(m.label, m.kind) }, host),
    )
    if (m.kind === 'validator')
      watches.set(m.index, new SealWatch((ids) => tell({ t: 'sealed', ids, at: sharedNow() })))
  }

  port.on('message', (m: ToGroup) => {
    if (m.t === 'submit') {
      const watch = watches.get(m.validator)!
      for (const id of m.ids) watch.mine.add(id)
      void local.get(m.validator)!.submit(m.items).catch(fail)
    } else if (m.t === 'ask') {
      const bound = (n: SimNode) => roleKeys.filter((k) => n.core!.view.directory.binding(k)).length
      const value = m.what === 'verifications' ? ed25519.count : Math.min(...[...local.values()].map(bound))
      tell({ t: 'answer', rid: m.rid, value })
    } else {
      for (const n of local.values()) n.crash()
      for (const p of data.ports) p.close()
      port.close()
    }
  })
  Promise.all([...local.values()].map((n) => n.boot())).then(() => tell({ t: 'booted' }), fail)
}

if (parentPort && workerData) run(workerData as GroupThreadData)
