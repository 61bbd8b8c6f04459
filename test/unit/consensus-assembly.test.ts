/**
 * Deterministic assembly (the same cut gives the same block and root on every Messagenode) and
 * the validity rules a validator applies before precommitting.
 */
import { describe, expect, it } from 'vitest'
import {
  blockIdOf,
  buildHeader,
  ConsensusView,
  txItemsOf,
  verifyTransactions,
} from '../../src/core/consensus'
import type { VerifiedMessage } from '../../src/core/feed/message'
import { createTransfer } from '../../src/core/ledger/payments'
import type { Digest } from '../../src/core/merkle'
import {
  account,
  ed25519,
  genesisOf,
  ledger,
  NETWORK_ID,
  NETWORK_KEY,
  party,
  Signer,
  TEST_PARAMS,
} from './consensus-harness'

const validators = [1, 2, 3, 4].map((i) => party(i, 'validator'))
const mns = [party(11, 'messagenode'), party(12, 'messagenode')]
const app = ledger()
const genesis = genesisOf(validators, mns, [], { ...TEST_PARAMS, maxBlockTxs: 5 })

async function world() {
  const signer = new Signer()
  const bindings: VerifiedMessage[] = []
  for (const p of [...validators, ...mns]) bindings.push(...(await signer.bindings(p)))
  let nonce = 0
  const tx = async (i: number, count = 1) =>
    signer.sign(validators[i]!.roles['transaction-validator']!, {
      type: 'blockfin/tx',
      txs: (await Promise.all(
        Array.from({ length: count }, () =>
          createTransfer(
            { keys: account(1), to: account(2).id, amount: 1, nonce: ++nonce },
            NETWORK_KEY,
            ed25519,
          ),
        ),
      )) as never,
    })
  return { signer, bindings, tx }
}

async function viewOf(index: number, messages: readonly VerifiedMessage[]) {
  const view = new ConsensusView({ genesis, identity: mns[index]!.identity, app, executeApp: false })
  for (const m of messages) {
    const items = txItemsOf(m.value.content)
    const validity =
      items &&
      (await verifyTransactions(app, items, { networkKey: NETWORK_KEY, networkId: NETWORK_ID }, ed25519))
    view.ingest(m, validity)
  }
  return view
}

const header = (view: ConsensusView<unknown, unknown>) =>
  buildHeader(view, 1, view.genesisId, view.frontierOf(view.genesisId)!, view.setAt(1)!)

describe('assembly', () => {
  it('two Messagenodes that saw the same messages in different orders build the same block', async () => {
    const w = await world()
    const txs = [await w.tx(0), await w.tx(1), await w.tx(0), await w.tx(2)]
    const one = await viewOf(0, [...w.bindings, ...txs])
    const two = await viewOf(1, [...[...w.bindings].reverse(), ...[...txs].reverse()])
    const h1 = header(one as ConsensusView<unknown, unknown>)!
    const h2 = header(two as ConsensusView<unknown, unknown>)!
    expect(h2).toEqual(h1)
    expect(blockIdOf(h2)).toBe(blockIdOf(h1))
    // Cuts sorted by feed id; messages ordered by (feed, sequence) under the root.
    expect(h1.cuts.map((c) => c.feed)).toEqual([...h1.cuts.map((c) => c.feed)].sort())
    expect(h1.txCount).toBe(4)
    expect(one.validate(blockIdOf(h1), 1, 'committed')).toEqual({ ok: false, missing: true }) // header not yet seen
    one.headers.set(blockIdOf(h1), h1)
    expect(one.validate(blockIdOf(h1), 1, 'committed')).toEqual({ ok: true })
  })

  it('fills a block round-robin up to the count and stops a feed before an invalid transaction', async () => {
    const w = await world()
    const a = [await w.tx(0, 2), await w.tx(0, 2), await w.tx(0, 2)]
    const b = [await w.tx(1, 1)]
    const bad = await w.signer.sign(validators[2]!.roles['transaction-validator']!, {
      type: 'blockfin/tx',
      txs: [{ ...(a[0]!.value.content.txs as Record<string, unknown>[])[0]!, amount: 99 }] as never,
    })
    const after = await w.tx(2, 1)
    const view = await viewOf(0, [...w.bindings, ...a, ...b, bad, after])
    const h = header(view as ConsensusView<unknown, unknown>)!
    expect(h.txCount).toBeLessThanOrEqual(5)
    const feedOf = (i: number) => validators[i]!.roles['transaction-validator']!.id
    expect(h.cuts.find((c) => c.feed === feedOf(1))).toEqual({ feed: feedOf(1), from: 2, to: 2 })
    expect(h.cuts.find((c) => c.feed === feedOf(2))).toBeUndefined()
    expect(h.txCount).toBe(5) // 2 + 2 from feed 0 and 1 from feed 1, round-robin
  })
})

describe('validity', () => {
  async function setup() {
    const w = await world()
    const txs = [await w.tx(0), await w.tx(0), await w.tx(1)]
    const view = await viewOf(0, [...w.bindings, ...txs])
    const good = header(view as ConsensusView<unknown, unknown>)!
    const check = (h: typeof good) => {
      const id = blockIdOf(h)
      view.headers.set(id, h)
      return view.validate(id, 1, 'committed')
    }
    return { w, view, good, check }
  }

  it('accepts the assembled block and refuses each kind of bad block', async () => {
    const { good, check } = await setup()
    expect(check(good)).toEqual({ ok: true })
    const [c0, c1] = good.cuts as [(typeof good.cuts)[0], (typeof good.cuts)[0]]
    const reason = (h: typeof good) => {
      const v = check(h)
      return v.ok ? 'ok' : v.missing ? 'missing' : v.reason
    }
    expect(reason({ ...good, cuts: [{ ...c0, from: c0.from + 1 }, c1] })).toBe('CUT_NOT_CONTIGUOUS') // a gap
    expect(reason({ ...good, cuts: [c1, c0] })).toBe('CUTS_NOT_SORTED')
    expect(reason({ ...good, txRoot: good.txRoot.replace(/^&./, '&A') as Digest })).toBe('WRONG_TX_ROOT')
    expect(reason({ ...good, txCount: good.txCount + 1 })).toBe('WRONG_TX_COUNT')
    expect(reason({ ...good, cuts: [{ ...c0, to: c0.to + 5 }, c1] })).toBe('missing')
    expect(reason({ ...good, parent: '&WFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFg=.sha256' })).toBe(
      'PARENT_NOT_COMMITTED',
    )
    expect(reason({ ...good, network: 'another' })).toBe('WRONG_NETWORK')
    expect(reason({ ...good, slot: good.parent })).toBe('WRONG_SLOT')
  })

  it('refuses a block with a transaction whose signature is bad, or a cut of a non-member feed', async () => {
    const { w, view, good, check } = await setup()
    const forged = await w.signer.sign(validators[3]!.roles['transaction-validator']!, {
      type: 'blockfin/tx',
      txs: [
        {
          type: 'transfer',
          from: account(1).id,
          to: account(2).id,
          amount: 1,
          nonce: 9,
          signature: `${'A'.repeat(86)}==.sig.ed25519`,
        },
      ],
    })
    view.ingest(forged, [false])
    const feed = validators[3]!.roles['transaction-validator']!.id
    const withForged = {
      ...good,
      cuts: [...good.cuts, { feed, from: 2, to: 2 }].sort((x, y) => (x.feed < y.feed ? -1 : 1)),
    }
    const r = check({ ...withForged, txCount: good.txCount + 1 })
    expect(r).toEqual({ ok: false, reason: 'INVALID_TRANSACTION' })
    const outsider = party(60, 'validator')
    for (const m of await w.signer.bindings(outsider)) view.ingest(m)
    const t = await w.signer.sign(outsider.roles['transaction-validator']!, { type: 'blockfin/tx', txs: [] })
    view.ingest(t, [])
    const o = outsider.roles['transaction-validator']!.id
    const cuts = [...good.cuts, { feed: o, from: 2, to: 2 }].sort((x, y) => (x.feed < y.feed ? -1 : 1))
    expect(check({ ...good, cuts })).toEqual({ ok: false, reason: 'CUT_OF_NON_MEMBER' })
  })
})
