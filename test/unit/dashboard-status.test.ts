/**
 * The dashboard's sentences: membership steps, the f = 0 warning, the connection line (online,
 * offline, catching up with progress), and evidence alerts, here fed by real vote evidence that
 * the consensus core produced from two conflicting precommits of one validator.
 */
import { describe, expect, it } from 'vitest'
import {
  connectionLine,
  evidenceAlert,
  membershipLine,
  validatorSetSentence,
} from '../../src/app/dashboard/status-text'
import { CONTENT, verifyVoteEvidence } from '../../src/core/consensus'
import { keyPairFromSeed } from '../../src/core/identity/keys'
import { ed25519, Lab, NETWORK_ID, NETWORK_KEY, party } from './consensus-harness'

const X = '&WFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFg=.sha256'
const Y = '&WVlZWVlZWVlZWVlZWVlZWVlZWVlZWVlZWVlZWVlZWVk=.sha256'

describe('membership line', () => {
  it('has one step and one sentence per state', () => {
    expect(membershipLine({ state: 'not-a-member' })).toMatchObject({ step: 0, title: 'Not a member' })
    expect(membershipLine({ state: 'joining', relay: 'http://r' }).sentence).toContain('http://r')
    expect(membershipLine({ state: 'registered', relay: 'http://r', item: 'x' }).step).toBe(2)
    const scheduled = membershipLine({ state: 'scheduled', height: 7, activeFrom: 9 })
    expect(scheduled.title).toBe('Scheduled: active from block 9')
    expect(scheduled.sentence).toContain('block 7')
    expect(membershipLine({ state: 'active', activeFrom: 9 }).sentence).toContain('since block 9')
    expect(membershipLine({ state: 'active', activeFrom: undefined }).step).toBe(4)
    expect(membershipLine({ state: 'join-failed', code: 'EXPIRED', reason: 'too late' }).sentence).toContain(
      'too late',
    )
  })

  it('says that every validator must sign when f = 0', () => {
    expect(validatorSetSentence({ n: 2, f: 0, q: 2 })).toContain(
      'Fewer than 4 validators: f = 0, every active validator must sign',
    )
    expect(validatorSetSentence({ n: 5, f: 1, q: 4 })).not.toContain('f = 0')
    expect(validatorSetSentence({ n: 5, f: 1, q: 4 })).toContain('q = 4')
  })
})

describe('connection line', () => {
  it('offline wins over everything: appending locally', () => {
    const c = connectionLine({ browserOnline: false, connected: true, sealed: 3, target: 10 })
    expect(c.kind).toBe('offline')
    expect(c.sentence).toContain('locally')
    expect(c.progress).toBeNull()
  })

  it('catching up shows progress against the highest sealed height known', () => {
    const c = connectionLine({ browserOnline: true, connected: true, sealed: 25, target: 100 })
    expect(c).toMatchObject({ kind: 'syncing', progress: 0.25, own: 25, target: 100 })
    expect(c.sentence).toBe('Catching up: sealed up to block 25 of 100.')
  })

  it('up to date (one block behind is not catching up), and target unknown', () => {
    expect(connectionLine({ browserOnline: true, connected: true, sealed: 99, target: 100 }).kind).toBe(
      'online',
    )
    const unknown = connectionLine({ browserOnline: true, connected: true, sealed: 4, target: null })
    expect(unknown).toMatchObject({ kind: 'online', target: null, progress: null })
    expect(connectionLine({ browserOnline: true, connected: false, sealed: 0, target: 5 }).kind).toBe(
      'connecting',
    )
    // A relay behind this tab is not a target below it.
    expect(connectionLine({ browserOnline: true, connected: true, sealed: 9, target: 3 }).target).toBe(9)
  })
})

describe('evidence alert', () => {
  it('turns real vote evidence into an equivocation alert whose download is the record itself', async () => {
    const lab = new Lab(
      [1, 2, 3, 4].map((i) => party(i, 'validator')),
      [party(11, 'messagenode')],
    )
    await lab.init()
    // A second precommitter key of validator 1, bound to it, votes Y where its first key voted X.
    const owner = lab.validators[1]!.owner
    const extra = keyPairFromSeed(new Uint8Array(32).fill(101))
    await lab.feed(
      await lab.signer.sign(owner, {
        type: 'blockfin/role',
        ownerid: owner.id,
        role: 'precommitter',
        roleid: extra.id,
        network: NETWORK_ID,
      }),
    )
    await lab.feed(
      await lab.signer.sign(extra, {
        type: CONTENT.roleOwner,
        ownerid: owner.id,
        role: 'precommitter',
        network: NETWORK_ID,
      }),
    )
    await lab.votes([1], 'precommit', 1, 0, X)
    await lab.feed(await lab.signer.sign(extra, { type: CONTENT.precommit, height: 1, round: 0, block: Y }))
    const event = lab.events.find((e) => e.type === 'evidence')
    if (event?.type !== 'evidence') throw new Error('the core gave no evidence')

    const alert = evidenceAlert(event, Date.UTC(2025, 0, 2, 3, 4, 5))
    expect(alert.kind).toBe('equivocation')
    expect(alert.culprit).toBe(owner.id)
    expect(alert.sentence).toContain('two different precommit statements for block 1, round 0')
    expect(alert.fileName).toBe('blockfin-vote-evidence-2025-01-02T03-04-05-000Z.json')
    // The downloaded file is the evidence record, and it still checks.
    const parsed = JSON.parse(alert.json)
    expect(parsed).toEqual(event.evidence)
    expect(
      (await verifyVoteEvidence(parsed, { networkKey: NETWORK_KEY, networkId: NETWORK_ID }, ed25519)).ok,
    ).toBe(true)
  })

  it('names a lying Messagenode and a forked feed', () => {
    const qc = evidenceAlert(
      {
        type: 'messagenode-flagged',
        owner: '@bW4=.ed25519' as never,
        evidence: {
          type: 'blockfin/qc-evidence',
          version: 1,
          counter: '@bW4=.ed25519' as never,
          lie: 'too-few-votes',
          qc: '{}',
          votes: [],
          bindings: [],
        },
      },
      0,
    )
    expect(qc).toMatchObject({ kind: 'lying-messagenode', culprit: '@bW4=.ed25519' })
    expect(qc.sentence).toContain('too-few-votes')
    const fork = evidenceAlert(
      {
        type: 'evidence',
        culprit: '@Zm9yaw==.ed25519' as never,
        evidence: {
          type: 'blockfin/fork-evidence',
          version: 1,
          kind: 'same-sequence',
          author: '@Zm9yaw==.ed25519' as never,
          sequence: 4,
          messages: ['a', 'b'],
        },
      },
      0,
    )
    expect(fork.kind).toBe('fork')
    expect(fork.sentence).toContain('sequence 4')
  })
})
