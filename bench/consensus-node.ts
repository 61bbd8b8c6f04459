/**
 * One node of the in-process consensus bench, on its own worker thread: the simulator's node
 * runtime (src/sim/node.ts) with real time and real crypto, verifying on this thread with
 * libsodium, as a node on its own machine would (the threads share the machine's cores).
 * Its peers are reached over MessagePorts; the main thread submits transfers and hears when the
 * ones submitted here are sealed here. Started by bench/consensus.ts.
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

export interface NodeThreadData {
  readonly index: number
  readonly kind: 'validator' | 'messagenode'
  readonly label: string
  readonly setup: NodeSetup
  /** Index of the peer at the other end of each port. */
  readonly peers: readonly number[]
  readonly ports: readonly MessagePort[]
  /** Whether this node reports the transfers of every block it executes (one validator does). */
  readonly reportBlocks: boolean
}

/** Main thread to node thread. */
export type ToNode =
  | { readonly t: 'submit'; readonly items: readonly SignedItem[]; readonly ids: readonly Digest[] }
  | { readonly t: 'ask'; readonly rid: number; readonly what: 'bound' | 'verifications' }
  | { readonly t: 'stop' }

/** Node thread to main thread. */
export type FromNode =
  | { readonly t: 'booted' }
  | { readonly t: 'sealed'; readonly ids: readonly Digest[]; readonly at: number }
  | { readonly t: 'block'; readonly txs: number }
  | { readonly t: 'answer'; readonly rid: number; readonly value: number }

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

function run(data: NodeThreadData): void {
  const port = parentPort!
  const tell = (m: FromNode) => port.postMessage(m)
  const fail = (e: unknown) => process.stderr.write(`bench node ${data.index}: ${(e as Error).stack ?? e}\n`)
  const ed25519 = countingBackend(createSodiumBackend())
  const genesis = benchGenesis(data.setup)
  const roleKeys = allRoleKeys(data.setup)
  const portOf = new Map(data.peers.map((p, i) => [p, data.ports[i]!]))
  // Transfers submitted here, and those of each executed height, until that height seals.
  const mine = new Set<Digest>()
  const executedMine = new Map<number, Digest[]>()
  // A node can count a height's seal quorum before it has executed that height itself.
  const sealedHeights = new Set<number>()
  const report = (ids: readonly Digest[]) => {
    for (const id of ids) mine.delete(id)
    tell({ t: 'sealed', ids, at: sharedNow() })
  }
  const onEvent = (e: ConsensusEvent) => {
    if (e.type === 'executed') {
      if (data.reportBlocks) tell({ t: 'block', txs: e.results.length })
      const ids = e.results.map((r) => r.id).filter((id) => mine.has(id))
      const sealedAlready = sealedHeights.delete(e.height)
      if (ids.length === 0) return
      if (sealedAlready) report(ids)
      else executedMine.set(e.height, ids)
    } else if (e.type === 'sealed') {
      const ids = executedMine.get(e.height)
      if (!ids) {
        sealedHeights.add(e.height)
        return
      }
      executedMine.delete(e.height)
      report(ids)
    }
  }
  const sha256 = createNodeSha256()
  const host: NodeHost = {
    genesis,
    networkKey: NETWORK_KEY,
    ed25519,
    app: benchApp(),
    now: sharedNow,
    after: (delay, task) => {
      const go = () => Promise.resolve(task()).catch(fail)
      if (delay <= 0) setImmediate(go)
      else setTimeout(go, delay)
    },
    send: (_from, to, payload) => portOf.get(to)!.postMessage(payload),
    peers: () => data.peers,
    signedBytesOf: nativeSignedBytes(NETWORK_KEY),
    sha256,
    hasher: createNodeHasher(),
    diskDelayMs: 0,
    // Delivery is reliable and ordered here: anti-entropy only as a backstop.
    syncIntervalMs: 10_000,
    keepEvents: false,
    onEvent: (_node, e) => onEvent(e),
    onPublished: () => {},
    onRejected: () => {},
  }
  const node = new SimNode(
    data.index,
    data.kind,
    { owner: keyOf(data.label), roles: roleKeysOf(data.label, data.kind) },
    host,
  )
  for (const [peer, p] of portOf)
    p.on('message', (payload: Payload) => void node.deliver(peer, payload).catch(fail))
  port.on('message', (m: ToNode) => {
    if (m.t === 'submit') {
      for (const id of m.ids) mine.add(id)
      void node.submit(m.items).catch(fail)
    } else if (m.t === 'ask') {
      const value =
        m.what === 'verifications'
          ? ed25519.count
          : roleKeys.filter((k) => node.core!.view.directory.binding(k)).length
      tell({ t: 'answer', rid: m.rid, value })
    } else {
      node.crash()
      for (const p of data.ports) p.close()
      port.close()
    }
  })
  node.boot().then(() => tell({ t: 'booted' }), fail)
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

if (parentPort && workerData) run(workerData as NodeThreadData)
