/**
 * The block index fed by real seeded simulator runs: a wrapper around one node's core hands the
 * index every message the core is given and every event it emits, at the virtual time, exactly
 * as a runtime would. Nothing in the simulator changes.
 */
import { describe, expect, it } from 'vitest'
import {
  blockIdOf,
  type ConsensusEvent,
  type ConsensusInput,
  type ConsensusOutput,
  parseAssembled,
  parseVote,
} from '../../src/core/consensus'
import { decodeMessage } from '../../src/core/feed/decode'
import type { VerifiedMessage } from '../../src/core/feed/message'
import type { MessageId } from '../../src/core/identity/ids'
import type { TxResult } from '../../src/core/ledger/module'
import type { Digest } from '../../src/core/merkle'
import { BlockIndex, type BlockRecord } from '../../src/runtime/block-index'
import type { SimNode } from '../../src/sim/node'
import { World } from '../../src/sim/run'

interface Observed {
  readonly events: { event: ConsensusEvent; at: number }[]
  readonly messages: { message: VerifiedMessage; at: number }[]
}

/** Feeds `index` with what `node`'s core gets and emits (replays after restarts included). */
function attach(world: World, node: SimNode, index: BlockIndex | undefined): Observed {
  const observed: Observed = { events: [], messages: [] }
  const emit = (outputs: ConsensusOutput[]) => {
    for (const o of outputs)
      if (o.kind === 'event') {
        observed.events.push({ event: o.event, at: world.scheduler.now })
        index?.onEvent(o.event, world.scheduler.now)
      }
    return outputs
  }
  const wrap = (core: NonNullable<SimNode['core']>) => {
    const handle = core.handle.bind(core)
    const endReplay = core.endReplay.bind(core)
    core.handle = (input: ConsensusInput) => {
      if (input.kind === 'message') {
        observed.messages.push({ message: input.message, at: world.scheduler.now })
        index?.onMessage(input.message, world.scheduler.now)
      }
      return emit(handle(input))
    }
    core.endReplay = () => {
      const outputs = emit(endReplay())
      index?.recheck()
      return outputs
    }
    return core
  }
  let current = node.core
  Object.defineProperty(node, 'core', {
    configurable: true,
    enumerable: true,
    get: () => current,
    set: (core: SimNode['core']) => {
      current = core && wrap(core)
    },
  })
  return observed
}

const setAtOf = (node: SimNode) => (h: number) => node.core?.view.setAt(h)

/** Every message held by any node, by id. */
async function allMessages(world: World): Promise<Map<MessageId, VerifiedMessage>> {
  const out = new Map<MessageId, VerifiedMessage>()
  for (const node of world.nodes) {
    const store = node.store
    if (!store) continue
    for (const feed of store.vectorClock().keys())
      for (const text of await store.range(feed, 1)) {
        const d = decodeMessage(text, world.networkKey)
        if (d.ok) out.set(d.value.id, d.value)
      }
  }
  return out
}

function ownView(observed: Observed) {
  const decided = new Map<number, { block: Digest; round: number }>()
  const executed = new Map<number, { results: readonly TxResult[]; stateRoot: Digest; resultsRoot: Digest }>()
  const sealed = new Map<number, Digest>()
  for (const { event: e } of observed.events) {
    if (e.type === 'decided') decided.set(e.height, { block: e.block, round: e.round })
    if (e.type === 'executed') executed.set(e.height, e)
    if (e.type === 'sealed') sealed.set(e.height, e.block)
  }
  return { decided, executed, sealed }
}

/** The three QCs are there, check, and link real stored votes of their stage, height, round and block. */
function expectQcs(record: BlockRecord, stored: Map<MessageId, VerifiedMessage>) {
  for (const stage of ['precommit', 'commit', 'seal'] as const) {
    const qc = record.qcs[stage]
    expect(qc, `${stage} QC of ${record.height}`).not.toBeNull()
    expect(qc!.check.ok).toBe(true)
    expect(qc!.block).toBe(record.block)
    expect(stored.has(qc!.message)).toBe(true)
    expect(qc!.messagenode).not.toBeNull()
    for (const id of qc!.votes) {
      const vote = stored.get(id)
      expect(vote, `vote ${id}`).toBeDefined()
      const v = parseVote(vote!.value.content)!
      expect(v).toMatchObject({ stage, height: record.height, block: record.block })
      if (stage !== 'seal') expect(v.round).toBe(record.round)
    }
  }
}

function expectMatchesExecution(record: BlockRecord, exec: { results: readonly TxResult[] }) {
  expect(record.complete).toBe(true)
  expect(record.txRootOk).toBe(true)
  expect(record.executed).toBe(true)
  expect(record.transactions.map((t) => t.id)).toEqual(exec.results.map((r) => r.id))
  record.transactions.forEach((t, i) => {
    const r = exec.results[i]!
    expect(t.result).toEqual(r.ok ? { ok: true } : { ok: false, error: r.error })
  })
}

/** Seeds used: 0 calm, 1 lossy, 2 partition, 3 crash, 9 lying Messagenode, 12 membership. */
async function run(seed: number, options: { retainHeights?: number; messagenode?: boolean } = {}) {
  const world = new World(seed, {})
  const crashing = new Set(world.scenario.crashes.map((c) => c.node))
  const pick = (kind: 'validator' | 'messagenode') =>
    world.nodes.find((n) => n.kind === kind && !n.behaviour && n !== world.extra && !crashing.has(n.index))!
  const node = pick('validator')
  const index = new BlockIndex({
    networkId: world.genesis.networkId,
    setAt: setAtOf(node),
    retainHeights: options.retainHeights,
  })
  const observed = attach(world, node, index)
  let mnIndex: BlockIndex | undefined
  let mn: SimNode | undefined
  if (options.messagenode) {
    mn = pick('messagenode')
    mnIndex = new BlockIndex({ networkId: world.genesis.networkId, setAt: setAtOf(mn) })
    attach(world, mn, mnIndex)
  }
  const result = await world.run()
  expect(result.violations).toEqual([])
  return { world, node, index, observed, result, mn, mnIndex, stored: await allMessages(world) }
}

describe('block index over simulator runs', () => {
  it('calm seed: every sealed height has its block, transactions, results, roots and three checked QCs', async () => {
    const { world, index, observed, result, stored, mnIndex } = await run(0, { messagenode: true })
    const own = ownView(observed)
    expect(own.sealed.size).toBeGreaterThan(2)
    const top = Math.max(...own.sealed.keys())
    expect(index.heights().sealed).toBe(top)
    expect(index.heights().committed).toBe(Math.max(...own.decided.keys()))
    expect(top).toBe(result.stats.sealedHeight)
    let transactions = 0
    for (const [height, block] of own.sealed) {
      const record = index.get(height)!
      expect(record).toBeDefined()
      expect(record.block).toBe(block)
      expect(record.block).toBe(world.decided.get(height))
      expect(record.round).toBe(own.decided.get(height)!.round)
      expect(record.decidedBy).toBe('event')
      expect(record.stage).toBe('sealed')
      expect(blockIdOf(record.header!)).toBe(block)
      expect(record.assembled?.messagenode).not.toBeNull()
      const exec = own.executed.get(height)!
      expectMatchesExecution(record, exec)
      expect(record.stateRoot).toBe(exec.stateRoot)
      expect(record.resultsRoot).toBe(exec.resultsRoot)
      expectQcs(record, stored)
      const at = record.at
      expect(at.assembled! <= at.precommitted! && at.precommitted! <= at.committed!).toBe(true)
      expect(at.committed! <= at.sealed!).toBe(true)
      // Each transaction sits in the message its record names.
      for (const t of record.transactions) {
        const m = stored.get(t.message)!
        expect(m.value.author).toBe(t.feed)
        expect(m.value.sequence).toBe(t.sequence)
        expect((m.value.content.txs as unknown[])[t.index]).toEqual(t.item)
      }
      transactions += record.transactions.length
    }
    expect(transactions).toBeGreaterThan(10)
    expect(index.range(1, top).map((r) => r.height)).toEqual([...Array(top).keys()].map((i) => i + 1))
    expect(index.latest(2).map((r) => r.height)).toEqual([top, top - 1])

    // A Messagenode's core emits neither `executed` nor `sealed`: it seals from checked seal QCs.
    expect(mnIndex!.heights().sealed).toBe(top)
    for (const [height, block] of own.sealed) {
      const record = mnIndex!.get(height)!
      expect(record.block).toBe(block)
      expect(record.stage).toBe('sealed')
      expect(record.executed).toBe(false)
      expect(record.transactions.every((t) => t.result === null)).toBe(true)
      expect(record.transactions.map((t) => t.id)).toEqual(own.executed.get(height)!.results.map((r) => r.id))
      expect(record.stateRoot).toBe(own.executed.get(height)!.stateRoot)
      expectQcs(record, stored)
    }
  })

  it('lying Messagenode: shown QCs are the ones that check; lossy and partition runs: no undecided round leaks', async () => {
    let otherProposals = 0
    for (const seed of [9, 1, 2]) {
      const { world, index, observed, stored } = await run(seed)
      const own = ownView(observed)
      // Proposals seen per height, to show the case of a round that did not decide was exercised.
      const proposed = new Map<number, Set<Digest>>()
      for (const { message } of observed.messages) {
        const a = parseAssembled(message.value.content)
        if (a) proposed.set(a.height, (proposed.get(a.height) ?? new Set()).add(a.block))
      }
      for (const [height, { block, round }] of own.decided) {
        const record = index.get(height)!
        expect(record.block).toBe(block)
        expect(record.block).toBe(world.decided.get(height))
        expect(record.round).toBe(round)
        expect(blockIdOf(record.header!)).toBe(block)
        for (const stage of ['precommit', 'commit', 'seal'] as const) {
          const qc = record.qcs[stage]
          if (qc) expect(qc.block).toBe(block)
        }
        otherProposals += [...(proposed.get(height) ?? [])].filter((b) => b !== block).length
      }
      for (const [height] of own.sealed) {
        const record = index.get(height)!
        expect(record.stage).toBe('sealed')
        expectQcs(record, stored)
        expectMatchesExecution(record, own.executed.get(height)!)
      }
      if (seed === 9) {
        // The liar's QCs are held, fail their check, and are never the ones shown.
        const states = (index as unknown as { states: Map<number, { qcs: { check: { ok: boolean } }[] }> })
          .states
        const failed = [...states.values()].flatMap((s) => s.qcs).filter((q) => !q.check.ok)
        expect(failed.length).toBeGreaterThan(0)
      }
      // Heights with proposals but no decision have no block.
      for (const height of proposed.keys())
        if (!own.decided.has(height) && !index.get(height)?.decidedBy)
          expect(index.get(height)?.block ?? null).toBeNull()
    }
    expect(otherProposals).toBeGreaterThan(0)
  }, 60_000)

  it('prunes: only the last N decided heights are held, older ones are reported pruned', async () => {
    const { index, observed } = await run(12, { retainHeights: 3 })
    const own = ownView(observed)
    const top = Math.max(...own.decided.keys())
    expect(top).toBeGreaterThan(4)
    expect(index.oldestHeight).toBe(top - 2)
    expect(index.get(top - 3)).toBeUndefined()
    expect(index.lookup(1)).toEqual({ status: 'pruned', height: 1, oldest: top - 2 })
    expect(index.lookup(top + 50)).toEqual({ status: 'unknown', height: top + 50 })
    for (let h = top - 2; h <= top; h++) {
      const record = index.get(h)!
      expect(record.block).toBe(own.decided.get(h)!.block)
      if (own.sealed.has(h)) expectMatchesExecution(record, own.executed.get(h)!)
    }
    expect(index.range(1, top).map((r) => r.height)).toEqual([top - 2, top - 1, top])
    // What the index holds internally stays bounded by the window.
    const internals = index as unknown as {
      states: Map<number, unknown>
      votes: Map<string, { height: number }>
    }
    expect([...internals.states.keys()].every((h) => h >= top - 2)).toBe(true)
    expect([...internals.votes.values()].every((v) => v.height >= top - 2 - 8)).toBe(true)
  })

  it('fills in transactions that arrive after the block, and rebuilds records from QCs without events (replay)', async () => {
    const { world, node, index, observed, stored } = await run(3)
    const own = ownView(observed)
    // Replay: a fresh index given the node's messages only (a restarted core emits no events),
    // transaction messages last, so every decided block waits for its transactions.
    const replayed = new BlockIndex({
      networkId: world.genesis.networkId,
      setAt: (h) => node.core!.view.setAt(h),
    })
    const seen: number[] = []
    replayed.subscribe((r) => seen.push(r.height))
    const msgs = observed.messages.map((m) => m.message)
    const isTx = (m: VerifiedMessage) => m.value.content.type === 'blockfin/tx'
    for (const m of msgs.filter((m) => !isTx(m))) replayed.onMessage(m, 1)
    for (const [height] of own.sealed) {
      const record = replayed.get(height)!
      expect(record.decidedBy).toBe('qc')
      expect(record.stage).toBe('sealed')
      expect(record.complete).toBe(record.header!.cuts.length === 0)
    }
    for (const m of msgs.filter(isTx)) replayed.onMessage(m, 2)
    for (const [height, block] of own.sealed) {
      const record = replayed.get(height)!
      expect(record.block).toBe(block)
      expect(record.complete).toBe(true)
      expect(record.txRootOk).toBe(true)
      expect(record.transactions.map((t) => t.id)).toEqual(index.get(height)!.transactions.map((t) => t.id))
      expectQcs(record, stored)
    }
    expect(replayed.heights().sealed).toBe(index.heights().sealed)
    expect(seen.length).toBeGreaterThan(0)
    // Duplicates (a second replay) change nothing.
    const before = JSON.stringify(replayed.range(1, 100))
    for (const m of msgs) replayed.onMessage(m, 3)
    expect(JSON.stringify(replayed.range(1, 100))).toBe(before)
  })
})
