/**
 * Quorum certificates: every QC of a run verifies from the validators' own feeds alone; lying
 * QCs do not; a validator that sees a provable lie flags the Messagenode with evidence anyone
 * can check.
 */
import { describe, expect, it } from 'vitest'
import {
  CONTENT,
  type MemberSet,
  memberSet,
  parseQc,
  type QcContent,
  qcContent,
  RoleDirectory,
  verifyQcEvidence,
  verifyQuorumCertificate,
} from '../../src/core/consensus'
import type { MessageId } from '../../src/core/identity/ids'
import { createTransfer } from '../../src/core/ledger/payments'
import { account, ed25519, genesisOf, MiniNet, NETWORK_ID, NETWORK_KEY, party } from './consensus-harness'

const validators = [1, 2, 3, 4].map((i) => party(i, 'validator'))
const mns = [party(11, 'messagenode'), party(12, 'messagenode')]

async function run() {
  const net = new MiniNet(genesisOf(validators, mns), validators, mns)
  await net.start()
  const t = await createTransfer(
    { keys: account(1), to: account(2).id, amount: 5, nonce: 1 },
    NETWORK_KEY,
    ed25519,
  )
  await net.submit(0, [t])
  await net.fire((x) => x.key.startsWith('assemble:'))
  // An observer: replicas of every feed, a directory built from them, the registry of genesis.
  const directory = new RoleDirectory(NETWORK_ID)
  const texts = new Map<MessageId, string>()
  for (const m of net.log) {
    directory.ingest(m)
    texts.set(m.id, m.text)
  }
  const set: MemberSet = memberSet(
    validators.map((p) => p.owner.id),
    mns.map((p) => p.owner.id),
  )
  const ctx = {
    networkKey: NETWORK_KEY,
    getMessage: (id: MessageId) => texts.get(id),
    ownerOf: directory.ownerOf.bind(directory),
    setAt: (h: number) => (h >= 1 ? set : undefined),
  }
  const qcs = net.log.filter((m) => m.value.content.type === CONTENT.qc)
  return { net, ctx, qcs: qcs.map((m) => ({ message: m, qc: parseQc(m.value.content)! })) }
}

describe('quorum certificates', () => {
  it('every QC a Messagenode published verifies from the validators’ feeds', async () => {
    const { ctx, qcs } = await run()
    expect(qcs.length).toBe(6) // 2 Messagenodes × precommit, commit, seal
    for (const { qc } of qcs) {
      const r = await verifyQuorumCertificate(qc, ctx, ed25519)
      expect(r.ok).toBe(true)
      if (r.ok) expect(r.value.signers.length).toBeGreaterThanOrEqual(3)
    }
  })

  it('lying QCs do not verify, each for its reason', async () => {
    const { ctx, qcs } = await run()
    const { qc } = qcs.find((x) => x.qc.stage === 'commit')!
    const precommitQc = qcs.find((x) => x.qc.stage === 'precommit')!.qc
    const lie = async (q: QcContent) => {
      const r = await verifyQuorumCertificate(q, ctx, ed25519)
      return r.ok ? 'ok' : r.error.code
    }
    const other = '&WFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFg=.sha256'
    expect(await lie({ ...qc, block: other })).toBe('QC_VOTE_MISMATCH')
    expect(await lie({ ...qc, votes: qc.votes.slice(0, 2) })).toBe('QC_TOO_FEW_VOTES')
    expect(await lie({ ...qc, votes: [qc.votes[0]!, qc.votes[0]!, qc.votes[1]!] })).toBe('QC_TOO_FEW_VOTES')
    expect(await lie({ ...qc, sigRoot: other })).toBe('QC_SIG_ROOT_MISMATCH')
    expect(await lie({ ...qc, votes: [...qc.votes.slice(0, 2), precommitQc.votes[0]!] })).toBe(
      'QC_VOTE_MISMATCH',
    )
    expect(await lie({ ...qc, round: 1 })).toBe('QC_VOTE_MISMATCH')
    const unknown = '%WFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFg=.sha256' as MessageId
    expect(await lie({ ...qc, votes: [...qc.votes.slice(0, 2), unknown] })).toBe('QC_VOTE_MISSING')
    // A forged signature on a linked vote: the observer re-verifies, so it is as good as missing.
    const forged = new Map<MessageId, string>()
    const id = qc.votes[0]!
    forged.set(id, ctx.getMessage(id)!.replace(/"signature": "./, '"signature": "A'))
    const r = await verifyQuorumCertificate(
      qc,
      { ...ctx, getMessage: (x) => forged.get(x) ?? ctx.getMessage(x) },
      ed25519,
    )
    expect(r.ok).toBe(false)
  })

  it('a validator flags a Messagenode whose QC lies, with evidence anyone verifies', async () => {
    const { net, qcs } = await run()
    const { qc } = qcs.find(
      (x) => x.qc.stage === 'commit' && x.message.value.author === mns[0]!.roles['commit-counter']!.id,
    )!
    const other = '&WFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFg=.sha256'
    const lie = await net.signer.sign(
      mns[0]!.roles['commit-counter']!,
      qcContent({ ...qc, height: qc.height, block: other }),
    )
    await net.deliver(lie)
    const flags = net.events('messagenode-flagged', net.node(0))
    expect(flags).toHaveLength(1)
    expect(flags[0]!.owner).toBe(mns[0]!.owner.id)
    const evidence = flags[0]!.evidence
    if (evidence.type !== 'blockfin/qc-evidence') throw new Error('QC evidence expected')
    expect(evidence.lie).toBe('vote-mismatch')
    const ctx = { networkKey: NETWORK_KEY, networkId: NETWORK_ID }
    expect((await verifyQcEvidence(evidence, ctx, ed25519)).ok).toBe(true)
    // The true QC cited instead: nothing to convict.
    const honest = qcs.find(
      (x) => x.qc.stage === 'commit' && x.message.value.author === mns[0]!.roles['commit-counter']!.id,
    )!
    expect((await verifyQcEvidence({ ...evidence, qc: honest.message.text }, ctx, ed25519)).ok).toBe(false)
    expect((await verifyQcEvidence({ ...evidence, counter: mns[1]!.owner.id }, ctx, ed25519)).ok).toBe(false)
    // The other Messagenode is not flagged.
    expect(net.events('messagenode-flagged').every((f) => f.owner === mns[0]!.owner.id)).toBe(true)
    void qcContent
  })

  it('a QC linking too few votes is flagged as too-few-votes (checkable with the registry)', async () => {
    const { net, qcs } = await run()
    const { qc } = qcs.find(
      (x) => x.qc.stage === 'precommit' && x.message.value.author === mns[1]!.roles['precommit-counter']!.id,
    )!
    const lie = await net.signer.sign(
      mns[1]!.roles['precommit-counter']!,
      qcContent({ ...qc, votes: qc.votes.slice(1) }),
    )
    await net.deliver(lie)
    const flags = net.events('messagenode-flagged', net.node(1))
    expect(flags.map((f) => f.owner)).toEqual([mns[1]!.owner.id])
    const evidence = flags[0]!.evidence
    if (evidence.type !== 'blockfin/qc-evidence') throw new Error('QC evidence expected')
    expect(evidence.lie).toBe('too-few-votes')
    const ctx = { networkKey: NETWORK_KEY, networkId: NETWORK_ID }
    expect((await verifyQcEvidence(evidence, { ...ctx, quorumAt: () => 3 }, ed25519)).ok).toBe(true)
    expect((await verifyQcEvidence(evidence, { ...ctx, quorumAt: () => 2 }, ed25519)).ok).toBe(false)
    expect((await verifyQcEvidence(evidence, ctx, ed25519)).ok).toBe(false)
  })
})
