/**
 * Membership as consensus items: the genesis registry, admin invites and removals that take
 * effect K blocks after the block that holds them, and evidence items that remove a culprit.
 */
import { describe, expect, it } from 'vitest'
import {
  CONTENT,
  createMemberItem,
  decodeItem,
  evidenceCulprit,
  Membership,
  txItemsOf,
  verifyTransactions,
} from '../../src/core/consensus'
import type { ForkEvidence } from '../../src/core/feed/evidence'
import { createTransfer } from '../../src/core/ledger/payments'
import type { Digest } from '../../src/core/merkle'
import {
  account,
  ed25519,
  genesisOf,
  keys,
  Lab,
  ledger,
  MiniNet,
  NETWORK_ID,
  NETWORK_KEY,
  party,
} from './consensus-harness'

const admin = keys(500)
const validators = [1, 2, 3, 4].map((i) => party(i, 'validator'))
const mns = [party(11, 'messagenode')]
const newcomer = party(5, 'validator')
const ids = (n: number) => `&${String(n).padStart(43, 'A')}=.sha256` as Digest

describe('Membership', () => {
  const registry = {
    validators: validators.map((p) => p.owner.id),
    messagenodes: mns.map((p) => p.owner.id),
    admins: [admin.id],
  }
  const member = async (action: 'add' | 'remove', owner: string, nonce: number, by = admin) => ({
    kind: 'member' as const,
    id: ids(nonce),
    tx: await createMemberItem(
      { admin: by, action, kind: 'validator', owner: owner as never, nonce },
      NETWORK_KEY,
      ed25519,
    ),
  })

  it('an add in block S takes effect at S + K; sets beyond what is executed are unknown', async () => {
    const m = new Membership(registry, 2)
    expect(m.setAt(1)?.n).toBe(4)
    expect(m.setAt(3)).toBeUndefined() // executed 0: heights up to 2 are known
    const results = m.execute(1, [await member('add', newcomer.owner.id, 1)])
    expect(results).toEqual([{ id: ids(1), ok: true }])
    expect(m.setAt(2)?.n).toBe(4)
    expect(m.setAt(3)?.n).toBe(5)
    expect(m.setAt(3)?.q).toBe(4)
    expect(m.setAt(4)).toBeUndefined()
  })

  it('refuses non-admins, replayed nonces, duplicates and removing the last member, with reasons', async () => {
    const m = new Membership({ ...registry, validators: [validators[0]!.owner.id] }, 2)
    const results = m.execute(1, [
      await member('add', newcomer.owner.id, 1, keys(501)),
      await member('add', validators[0]!.owner.id, 1),
      await member('remove', validators[0]!.owner.id, 1),
      await member('add', newcomer.owner.id, 1),
      await member('add', newcomer.owner.id, 1),
      await member('remove', validators[1]!.owner.id, 2),
    ])
    expect(results.map((r) => (r.ok ? 'ok' : r.error.code))).toEqual([
      'NOT_AN_ADMIN',
      'ALREADY_MEMBER',
      'LAST_MEMBER',
      'ok',
      'BAD_NONCE',
      'NOT_A_MEMBER',
    ])
    expect(() => m.execute(3, [])).toThrow() // heights execute in order: a bug, not an input error
  })

  it('evidence removes its culprit from whichever set it is in', () => {
    const m = new Membership(registry, 2)
    const r = m.execute(1, [
      { kind: 'evidence', id: ids(1), culprit: validators[3]!.owner.id },
      { kind: 'evidence', id: ids(2), culprit: validators[3]!.owner.id },
      { kind: 'evidence', id: ids(3), culprit: undefined },
    ])
    expect(r.map((x) => (x.ok ? 'ok' : x.error.code))).toEqual(['ok', 'NOT_A_MEMBER', 'NOT_A_MEMBER'])
    expect(m.setAt(3)?.validators).not.toContain(validators[3]!.owner.id)
  })
})

describe('membership through consensus', () => {
  it('an invited validator votes and counts from S + K on, and not before', async () => {
    const net = new MiniNet(genesisOf(validators, mns, [admin]), [...validators, newcomer], mns)
    await net.start()
    const add = await createMemberItem(
      { admin, action: 'add', kind: 'validator', owner: newcomer.owner.id, nonce: 1 },
      NETWORK_KEY,
      ed25519,
    )
    await net.submit(0, [add])
    await net.fire((x) => x.key.startsWith('assemble:'))
    const v0 = net.validator(0)
    expect(v0.view.committedHeight).toBe(1)
    const results = net.events('executed', net.node(0))[0]!.results
    expect(results).toEqual([{ id: expect.any(String), ok: true }])
    for (let nonce = 1; nonce <= 2; nonce++) {
      const t = await createTransfer(
        { keys: account(1), to: account(2).id, amount: 1, nonce },
        NETWORK_KEY,
        ed25519,
      )
      await net.submit(1, [t])
      await net.fire((x) => x.key.startsWith('assemble:'))
    }
    expect(v0.view.committedHeight).toBe(3)
    const newcomerNode = net.validator(4)
    // It followed the chain from the start but signed nothing before height 3 (not a member)...
    for (const h of [1, 2]) expect(newcomerNode.ownVote('seal', h, 0)).toBeUndefined()
    expect(net.events('vote', net.node(4)).every((v) => v.height >= 3)).toBe(true)
    // ...and from height 3 on its votes count: q is now 4 of 5.
    expect(newcomerNode.ownVote('seal', 3, 0)).toBeDefined()
    expect([...v0.view.tally('seal', 3, 0)!.byOwner.keys()]).toContain(newcomer.owner.id)
    expect(v0.view.setAt(3)?.q).toBe(4)
    expect(v0.view.setAt(2)?.n).toBe(4)
  })

  it('a validator holding evidence puts it in its feed; the item verifies and names the culprit', async () => {
    const lab = new Lab(validators, mns)
    await lab.init()
    // A fork of validator 3's precommitter feed, as the store reports it.
    const k = validators[3]!.roles.precommitter!
    const head = lab.signer.heads.get(k.id)!
    const one = await lab.signer.sign(k, { type: CONTENT.precommit, height: 1, round: 0, block: null }, head)
    const two = await lab.signer.sign(
      k,
      { type: CONTENT.precommit, height: 1, round: 0, block: ids(9) },
      head,
    )
    const fork: ForkEvidence = {
      type: 'blockfin/fork-evidence',
      version: 1,
      kind: 'same-sequence',
      author: k.id,
      sequence: one.value.sequence,
      messages: [one.text, two.text],
    }
    await lab.run(lab.node.handle({ kind: 'fork', evidence: fork }))
    expect(lab.events).toContainEqual({ type: 'evidence', culprit: validators[3]!.owner.id, evidence: fork })
    const published = lab.published.find((m) => m.value.content.type === CONTENT.tx)!
    const items = txItemsOf(published.value.content)!
    const ctx = { networkKey: NETWORK_KEY, networkId: NETWORK_ID }
    expect(await verifyTransactions(ledger(), items, ctx, ed25519)).toEqual([true])
    const item = decodeItem(ledger(), items[0])
    if (!item.ok || item.value.kind !== 'evidence') throw new Error('an evidence item expected')
    expect(evidenceCulprit(item.value.tx, NETWORK_ID)).toBe(validators[3]!.owner.id)
    // Tampered bindings or evidence: the item is invalid.
    const tampered = { ...item.value.tx, bindings: item.value.tx.bindings.slice(1) }
    expect(await verifyTransactions(ledger(), [tampered], ctx, ed25519)).toEqual([false])
    const fake = { ...item.value.tx, record: { ...fork, messages: [one.text, one.text] } }
    expect(await verifyTransactions(ledger(), [fake], ctx, ed25519)).toEqual([false])
  })
})
