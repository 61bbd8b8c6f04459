/**
 * Counting: one vote per owner identity per (stage, height, round) and value; a role key counts
 * only through its owner's certificate and its own acceptance; non-members and unknown keys are
 * ignored and reported; two different votes by one owner give verifiable evidence.
 */
import { describe, expect, it } from 'vitest'
import { CONTENT, type VoteEvidence, verifyVoteEvidence } from '../../src/core/consensus'
import { keyPairFromSeed } from '../../src/core/identity/keys'
import { ed25519, keys, Lab, NETWORK_ID, NETWORK_KEY, party } from './consensus-harness'

const X = '&WFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFg=.sha256'
const Y = '&WVlZWVlZWVlZWVlZWVlZWVlZWVlZWVlZWVlZWVlZWVk=.sha256'

async function setup() {
  const lab = new Lab(
    [1, 2, 3, 4].map((i) => party(i, 'validator')),
    [party(11, 'messagenode')],
  )
  await lab.init()
  return lab
}

/** A second precommitter key of validator `i`, fully bound (certificate and acceptance). */
async function secondKey(lab: Lab, i: number, certify = true, accept = true) {
  const owner = lab.validators[i]!.owner
  const key = keyPairFromSeed(new Uint8Array(32).fill(100 + i))
  if (certify)
    await lab.feed(
      await lab.signer.sign(owner, {
        type: 'blockfin/role',
        ownerid: owner.id,
        role: 'precommitter',
        roleid: key.id,
        network: NETWORK_ID,
      }),
    )
  if (accept)
    await lab.feed(
      await lab.signer.sign(key, {
        type: CONTENT.roleOwner,
        ownerid: owner.id,
        role: 'precommitter',
        network: NETWORK_ID,
      }),
    )
  return key
}

const precommit = (block: string | null) => ({ type: CONTENT.precommit, height: 1, round: 0, block })

describe('one vote per owner', () => {
  it('two keys of one owner voting the same block count once', async () => {
    const lab = await setup()
    const extra = await secondKey(lab, 1)
    await lab.votes([1], 'precommit', 1, 0, X)
    await lab.feed(await lab.signer.sign(extra, precommit(X)))
    await lab.votes([2], 'precommit', 1, 0, X)
    const tally = lab.node.view.tally('precommit', 1, 0)!
    expect(tally.count(X)).toBe(2)
    expect(lab.node.view.precommitQuorums.get(1)).toBeUndefined()
    expect(lab.events.filter((e) => e.type === 'evidence')).toEqual([])
  })

  it('two different votes by one owner give evidence anyone can verify; the owner counts under each value only once', async () => {
    const lab = await setup()
    const extra = await secondKey(lab, 1)
    await lab.votes([1], 'precommit', 1, 0, X)
    await lab.feed(await lab.signer.sign(extra, precommit(Y)))
    await lab.votes([1], 'precommit', 1, 0, Y) // the same owner's Y again, from its first key
    const evidence = lab.events.filter((e) => e.type === 'evidence')
    expect(evidence).toHaveLength(1)
    const e = evidence[0]!
    if (e.type !== 'evidence' || e.evidence.type !== 'blockfin/vote-evidence')
      throw new Error('vote evidence expected')
    expect(e.culprit).toBe(lab.validators[1]!.owner.id)
    const ctx = { networkKey: NETWORK_KEY, networkId: NETWORK_ID }
    expect((await verifyVoteEvidence(e.evidence, ctx, ed25519)).ok).toBe(true)
    const tally = lab.node.view.tally('precommit', 1, 0)!
    expect([tally.count(X), tally.count(Y)]).toEqual([1, 1])
    // The validator puts the evidence into its transaction feed: a consensus item.
    expect(lab.published.some((m) => m.value.content.type === CONTENT.tx)).toBe(true)

    const bad = async (ev: VoteEvidence) => (await verifyVoteEvidence(ev, ctx, ed25519)).ok
    expect(await bad({ ...e.evidence, messages: [e.evidence.messages[0], e.evidence.messages[0]] })).toBe(
      false,
    )
    expect(await bad({ ...e.evidence, owner: lab.validators[2]!.owner.id })).toBe(false)
    expect(await bad({ ...e.evidence, bindings: e.evidence.bindings.slice(0, 1) })).toBe(false)
    expect(await bad({ ...e.evidence, height: 2 })).toBe(false)
    expect(await bad({ ...e.evidence, stage: 'commit' })).toBe(false)
    expect(
      (await verifyVoteEvidence(e.evidence, { ...ctx, networkKey: new Uint8Array(32) }, ed25519)).ok,
    ).toBe(false)
  })
})

describe('role keys count only through their owner', () => {
  it('an uncertified key is ignored and reported, never counted', async () => {
    const lab = await setup()
    const rogue = keyPairFromSeed(new Uint8Array(32).fill(77))
    await lab.feed(await lab.signer.sign(rogue, precommit(X)))
    expect(lab.node.view.tally('precommit', 1, 0)).toBeUndefined()
    expect(lab.events).toContainEqual({ type: 'ignored', code: 'UNBOUND_ROLE_KEY', author: rogue.id })
  })

  it('a certificate without the key accepting it, or an acceptance without a certificate, binds nothing', async () => {
    const lab = await setup()
    const certifiedOnly = await secondKey(lab, 1, true, false)
    const acceptedOnly = await secondKey(lab, 2, false, true)
    await lab.feed(
      await lab.signer.sign(certifiedOnly, { type: CONTENT.precommit, height: 1, round: 0, block: X }),
    )
    await lab.feed(await lab.signer.sign(acceptedOnly, precommit(X)))
    expect(lab.node.view.tally('precommit', 1, 0)).toBeUndefined()
  })

  it("an owner certifying someone else's key cannot claim its votes (the key names its own owner)", async () => {
    const lab = await setup()
    const thief = keys(66)
    const victimKey = lab.validators[2]!.roles.precommitter!
    await lab.feed(
      await lab.signer.sign(thief, {
        type: 'blockfin/role',
        ownerid: thief.id,
        role: 'precommitter',
        roleid: victimKey.id,
        network: NETWORK_ID,
      }),
    )
    await lab.votes([2], 'precommit', 1, 0, X)
    const tally = lab.node.view.tally('precommit', 1, 0)!
    expect([...tally.byOwner.keys()]).toEqual([lab.validators[2]!.owner.id])
  })

  it('a bound key of an owner outside the registry is ignored and reported', async () => {
    const lab = await setup()
    const outsider = party(50, 'validator')
    for (const m of await lab.signer.bindings(outsider)) await lab.feed(m)
    await lab.feed(await lab.signer.sign(outsider.roles.precommitter!, precommit(X)))
    expect(lab.node.view.tally('precommit', 1, 0)).toBeUndefined()
    expect(lab.events).toContainEqual(
      expect.objectContaining({ type: 'ignored', code: 'NOT_A_MEMBER', owner: outsider.owner.id, height: 1 }),
    )
  })

  it('a vote that arrives before its binding is counted once the binding arrives', async () => {
    const lab = new Lab(
      [1, 2, 3, 4].map((i) => party(i, 'validator')),
      [party(11, 'messagenode')],
    )
    lab.node.beginReplay()
    await lab.run(lab.node.endReplay())
    const bindings = await lab.signer.bindings(lab.validators[3]!) // signed first: acceptance is sequence 1
    await lab.feed(await lab.vote(3, 'precommit', 1, 0, X))
    expect(lab.node.view.tally('precommit', 1, 0)).toBeUndefined()
    for (const m of bindings) await lab.feed(m)
    expect(lab.node.view.tally('precommit', 1, 0)?.count(X)).toBe(1)
  })
})
