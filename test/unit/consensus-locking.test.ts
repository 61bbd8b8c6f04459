/**
 * Locking and rounds (Algorithm 1, lines 22-65 with prevote = precommit, precommit = commit).
 * One real validator among crafted peers: n = 4, f = 1, q = 3.
 */
import { describe, expect, it } from 'vitest'
import { blockIdOf } from '../../src/core/consensus'
import { createTransfer } from '../../src/core/ledger/payments'
import { account, ed25519, Lab, NETWORK_KEY, party } from './consensus-harness'

async function setup() {
  const lab = new Lab(
    [1, 2, 3, 4].map((i) => party(i, 'validator')),
    [party(11, 'messagenode')],
  )
  await lab.init()
  const t1 = await createTransfer(
    { keys: account(1), to: account(2).id, amount: 1, nonce: 1 },
    NETWORK_KEY,
    ed25519,
  )
  const t2 = await createTransfer(
    { keys: account(1), to: account(2).id, amount: 2, nonce: 2 },
    NETWORK_KEY,
    ed25519,
  )
  const m1 = await lab.tx(1, [t1])
  const m2 = await lab.tx(1, [t2])
  await lab.feed(m1)
  await lab.feed(m2)
  const genesis = lab.node.view.genesisId
  const A = lab.header(1, genesis, [m1])
  const B = lab.header(1, genesis, [m1, m2])
  return { lab, A, B, a: blockIdOf(A).slice(0, 8), b: blockIdOf(B).slice(0, 8) }
}

describe('locking', () => {
  it('a validator locked on A precommits nil for B and never commits B without a newer precommit quorum', async () => {
    const { lab, A, B, a } = await setup()
    await lab.feed(await lab.assembled(0, 1, 0, A))
    expect(lab.ownVotes()).toEqual([`precommit 1/0 ${a}`])
    await lab.votes([1, 2], 'precommit', 1, 0, blockIdOf(A))
    // q precommits for A: lock on A and commit it.
    expect(lab.ownVotes()).toEqual([`precommit 1/0 ${a}`, `commit 1/0 ${a}`])
    expect(lab.node.status.lock).toEqual({ round: 0, block: blockIdOf(A) })
    // The others commit nil: no decision; q commits of any kind start the commit timeout.
    await lab.votes([1, 2], 'commit', 1, 0, null)
    expect(lab.timers.map((t) => t.key)).toContain('commit:1:0')
    await lab.timeout('commit:1:0')
    expect(lab.node.status.round).toBe(1)
    // Round 1 proposes B with no valid round: the locked validator refuses it.
    await lab.feed(await lab.assembled(0, 1, 1, B))
    expect(lab.ownVotes().at(-1)).toBe('precommit 1/1 nil')
    // Two others precommit B: no quorum for B, so no commit for B; the timeout commits nil.
    await lab.votes([1, 2], 'precommit', 1, 1, blockIdOf(B))
    expect(lab.timers.map((t) => t.key)).toContain('precommit:1:1')
    await lab.timeout('precommit:1:1')
    expect(lab.ownVotes().at(-1)).toBe('commit 1/1 nil')
    expect(
      lab.ownVotes().filter((v) => v.startsWith('commit') && !v.endsWith('nil') && !v.endsWith(a)),
    ).toEqual([])
    expect(lab.node.status.lock).toEqual({ round: 0, block: blockIdOf(A) })
  })

  it('a newer precommit quorum unlocks: B re-proposed with validRound 1 is precommitted and committed', async () => {
    const { lab, A, B, a, b } = await setup()
    await lab.feed(await lab.assembled(0, 1, 0, A))
    await lab.votes([1, 2], 'precommit', 1, 0, blockIdOf(A))
    await lab.votes([1, 2], 'commit', 1, 0, null)
    await lab.timeout('commit:1:0')
    await lab.feed(await lab.assembled(0, 1, 1, B))
    // Three others precommit B at round 1: a quorum for B newer than the lock (round 0).
    await lab.votes([1, 2, 3], 'precommit', 1, 1, blockIdOf(B))
    await lab.votes([1, 2, 3], 'commit', 1, 1, null)
    await lab.timeout('commit:1:1')
    expect(lab.node.status.round).toBe(2)
    // B with validRound 1 before the round-1 quorum is known would wait; it is known here.
    await lab.feed(await lab.assembled(0, 1, 2, B, 1))
    expect(lab.ownVotes()).toContain(`precommit 1/2 ${b}`)
    await lab.votes([1, 2], 'precommit', 1, 2, blockIdOf(B))
    expect(lab.ownVotes().at(-1)).toBe(`commit 1/2 ${b}`)
    expect(lab.node.status.lock).toEqual({ round: 2, block: blockIdOf(B) })
    await lab.votes([1, 2], 'commit', 1, 2, blockIdOf(B))
    expect(lab.events.filter((e) => e.type === 'decided')).toEqual([
      { type: 'decided', height: 1, round: 2, block: blockIdOf(B) },
    ])
    expect(a).not.toBe(b)
  })

  it('a re-proposal whose valid-round quorum was not seen waits, and the timeout precommits nil', async () => {
    const { lab, A, B } = await setup()
    await lab.feed(await lab.assembled(0, 1, 0, A))
    await lab.votes([1, 2], 'precommit', 1, 0, blockIdOf(A))
    await lab.votes([1, 2], 'commit', 1, 0, null)
    await lab.timeout('commit:1:0')
    await lab.votes([1, 2], 'precommit', 1, 1, null)
    await lab.feed(await lab.assembled(0, 1, 1, B, 0)) // claims a round-0 quorum for B that does not exist
    expect(lab.ownVotes().filter((v) => v.includes(' 1/1 '))).toEqual([])
    await lab.timeout('propose:1:1')
    // Nil, and with two other nil precommits that is a nil quorum: commit nil (line 44).
    expect(lab.ownVotes().filter((v) => v.includes(' 1/1 '))).toEqual(['precommit 1/1 nil', 'commit 1/1 nil'])
  })

  it('f + 1 votes of a later round pull the validator into it; a lone Byzantine vote does not', async () => {
    const { lab } = await setup()
    await lab.votes([1], 'precommit', 1, 5, null)
    expect(lab.node.status.round).toBe(0)
    await lab.votes([2], 'precommit', 1, 5, null)
    expect(lab.node.status.round).toBe(5)
  })
})

describe('rounds and timeouts', () => {
  it('an idle network runs no rounds: no timer until there is work', async () => {
    const lab = new Lab(
      [1, 2, 3, 4].map((i) => party(i, 'validator')),
      [party(11, 'messagenode')],
    )
    await lab.init()
    expect(lab.timers).toEqual([])
    const t = await createTransfer(
      { keys: account(1), to: account(2).id, amount: 1, nonce: 1 },
      NETWORK_KEY,
      ed25519,
    )
    await lab.feed(await lab.tx(1, [t]))
    expect(lab.timers.map((x) => x.key)).toEqual(['propose:1:0'])
  })

  it('timeouts grow exponentially with the round, up to the cap; a propose timeout precommits nil', async () => {
    const { lab } = await setup()
    const base = lab.genesis.params.timeoutProposeMs
    await lab.timeout('propose:1:0')
    expect(lab.ownVotes()).toEqual(['precommit 1/0 nil'])
    const delays: number[] = []
    for (let r = 0; r < 9; r++) {
      await lab.votes([1, 2, 3], 'precommit', 1, r, null)
      await lab.votes([1, 2, 3], 'commit', 1, r, null)
      await lab.timeout(`commit:1:${r}`)
      await lab.timeout(`propose:1:${r + 1}`)
      delays.push(lab.timers.find((t) => t.key === `propose:1:${r + 1}`)!.delayMs / base)
    }
    const cap = 2 ** lab.genesis.params.maxTimeoutExponent
    expect(delays).toEqual([2, 4, 8, 16, 32, 64, 64, 64, 64].map((d) => Math.min(d, cap)))
  })

  it('stale timeouts (another height or round) are ignored', async () => {
    const { lab } = await setup()
    await lab.timeout('propose:1:3')
    await lab.timeout('precommit:2:0')
    expect(lab.ownVotes()).toEqual([])
  })
})
