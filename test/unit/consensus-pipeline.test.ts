/**
 * Pipelining (block h + 1 assembled and precommitted while h commits; seal h + 1 after seal h)
 * and crash recovery by replay (a rebuilt validator never signs a second vote for a slot).
 */
import { describe, expect, it } from 'vitest'
import { blockIdOf, CONTENT, ValidatorNode } from '../../src/core/consensus'
import type { VerifiedMessage } from '../../src/core/feed/message'
import { createTransfer } from '../../src/core/ledger/payments'
import {
  account,
  ed25519,
  genesisOf,
  Lab,
  MiniNet,
  NETWORK_KEY,
  type NetNode,
  party,
} from './consensus-harness'

const validators = [1, 2, 3, 4].map((i) => party(i, 'validator'))
const mns = [party(11, 'messagenode')]

const isCommitAt = (m: VerifiedMessage, height: number) =>
  m.value.content.type === CONTENT.commit && m.value.content.height === height

async function transfer(nonce: number) {
  return createTransfer({ keys: account(1), to: account(2).id, amount: 1, nonce }, NETWORK_KEY, ed25519)
}

describe('pipelining', () => {
  it('assembles and precommits h + 1 while h is not committed, then commits and seals both in order', async () => {
    const net = new MiniNet(genesisOf(validators, mns), validators, mns)
    await net.start()
    const held: [VerifiedMessage, NetNode][] = []
    net.hold = (m, to) => {
      if (!isCommitAt(m, 1)) return false
      held.push([m, to])
      return true
    }
    await net.submit(0, [await transfer(1)])
    await net.fire((x) => x.key.startsWith('assemble:1/'))
    await net.submit(1, [await transfer(2)])
    await net.fire((x) => x.key.startsWith('assemble:2/'))
    const v0 = net.validator(0)
    expect(v0.status.committedHeight).toBe(0)
    // Height 2 was assembled on the block holding the precommit quorum at height 1, and precommitted.
    const assembled2 = net.log.find(
      (m) => m.value.content.type === CONTENT.assembled && m.value.content.height === 2,
    )
    expect(assembled2).toBeDefined()
    const block1 = v0.view.precommitQuorums.get(1)?.get(0)
    expect((assembled2!.value.content.header as { parent: string }).parent).toBe(block1)
    expect(v0.ownVote('precommit', 2, 0)).toBe(assembled2!.value.content.block)
    expect(v0.ownVote('commit', 2, 0)).toBeUndefined() // never commit before the parent is committed
    net.hold = () => false
    for (const [m, to] of held) await net.deliver(m, [to])
    expect(v0.status.committedHeight).toBe(2)
    const sealed = net.events('sealed', net.node(0)).map((e) => e.height)
    expect(sealed).toEqual([1, 2])
    const sealQcs = net.log
      .filter((m) => m.value.content.type === CONTENT.qc && m.value.content.stage === 'seal')
      .map((m) => m.value.content.height)
    expect(sealQcs).toEqual([1, 2])
  })

  it('a pipelined block whose parent loses at its height is never committed', async () => {
    const lab = new Lab(validators, mns)
    await lab.init()
    const m1 = await lab.tx(1, [await transfer(1)])
    const m2 = await lab.tx(1, [await transfer(2)])
    await lab.feed(m1)
    await lab.feed(m2)
    const genesis = lab.node.view.genesisId
    const A = lab.header(1, genesis, [m1])
    const B = lab.header(1, genesis, [m1, m2])
    await lab.feed(await lab.assembled(0, 1, 0, A))
    await lab.votes([1, 2], 'precommit', 1, 0, blockIdOf(A))
    // Height 2 on A, pipelined: precommitted while height 1 is undecided.
    const C = lab.header(2, blockIdOf(A), [m2])
    await lab.feed(await lab.assembled(0, 2, 0, C))
    expect(lab.node.ownVote('precommit', 2, 0)).toBe(blockIdOf(C))
    // Height 1 decides B in round 1 instead (the others never committed A).
    await lab.votes([1, 2, 3], 'commit', 1, 0, null)
    await lab.timeout('commit:1:0')
    await lab.votes([1, 2, 3], 'precommit', 1, 1, blockIdOf(B))
    await lab.feed(await lab.assembled(0, 1, 1, B))
    await lab.votes([1, 2, 3], 'commit', 1, 1, blockIdOf(B))
    expect(lab.node.view.committedId(1)).toBe(blockIdOf(B))
    // Even a commit quorum for C (Byzantine or confused peers) cannot make it decided here.
    await lab.votes([1, 2, 3], 'precommit', 2, 0, blockIdOf(C))
    await lab.votes([1, 2, 3], 'commit', 2, 0, blockIdOf(C))
    expect(lab.node.view.committedHeight).toBe(1)
    expect(lab.node.ownVote('commit', 2, 0)).toBeUndefined()
    expect(lab.events).toContainEqual({
      type: 'block-invalid',
      height: 2,
      round: 0,
      block: blockIdOf(C),
      reason: 'PARENT_NOT_COMMITTED',
    })
  })
})

describe('replay after a crash', () => {
  it('a validator rebuilt from its feeds knows its votes and its lock, and never votes twice', async () => {
    const net = new MiniNet(genesisOf(validators, mns), validators, mns)
    await net.start()
    // Others' commits never arrive: height 1 stays undecided with V0 locked.
    net.hold = (m, to) =>
      to === net.node(0) && isCommitAt(m, 1) && m.value.author !== validators[0]!.roles.committer!.id
    await net.submit(0, [await transfer(1)])
    await net.fire((x) => x.key.startsWith('assemble:'))
    const before = net.validator(0)
    const block = before.ownVote('commit', 1, 0)
    expect(block).toBeDefined()
    expect(before.status.committedHeight).toBe(0)
    // Crash: a new core, rebuilt from the messages the node had stored (own feeds first).
    const own = new Set(Object.values(validators[0]!.identity.roleKeys))
    const stored = net.log.filter(
      (m) => !(isCommitAt(m, 1) && m.value.author !== validators[0]!.roles.committer!.id),
    )
    const ordered = [
      ...stored.filter((m) => own.has(m.value.author)),
      ...stored.filter((m) => !own.has(m.value.author)),
    ]
    const rebuilt = new ValidatorNode({
      genesis: net.genesis,
      identity: validators[0]!.identity,
      app: net.app,
    })
    rebuilt.beginReplay()
    for (const m of ordered)
      rebuilt.handle({ kind: 'message', message: m, txValidity: await net.txValidity(m) })
    const outputs = rebuilt.endReplay()
    expect(outputs.filter((o) => o.kind === 'publish')).toEqual([])
    expect(rebuilt.ownVote('precommit', 1, 0)).toBe(before.ownVote('precommit', 1, 0))
    expect(rebuilt.status.lock).toEqual({ round: 0, block })
    // Timeouts of the slot it already voted in change nothing.
    const after = [
      ...rebuilt.handle({ kind: 'timeout', key: 'propose:1:0' }),
      ...rebuilt.handle({ kind: 'timeout', key: 'precommit:1:0' }),
    ]
    expect(after.filter((o) => o.kind === 'publish')).toEqual([])
  })
})
