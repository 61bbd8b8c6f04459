/**
 * The payments ledger behind the AppModule interface: signed transfers bound to the network,
 * stateless checks, deterministic execution (failures have reasons and never break the block),
 * and a Merkle state root that depends only on the state.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { verifyTransactions } from '../../src/core/consensus'
import {
  checkTransfer,
  createPaymentsLedger,
  createTransfer,
  type Transfer,
} from '../../src/core/ledger/payments'
import { itemId } from '../../src/core/ledger/signed-item'
import { account, ed25519, NETWORK_ID, NETWORK_KEY } from './consensus-harness'

const [a, b, c] = [account(1), account(2), account(3)]
const ledger = createPaymentsLedger({ allocations: { [a.id]: 100, [b.id]: 50 } })
const ctx = { networkKey: NETWORK_KEY, networkId: NETWORK_ID }

const transfer = (from = a, to = b.id, amount = 10, nonce = 1) =>
  createTransfer({ keys: from, to, amount, nonce }, NETWORK_KEY, ed25519)

const exec = (state: ReturnType<typeof ledger.genesis>, txs: Transfer[]) =>
  ledger.executeBlock(
    state,
    txs.map((tx) => ({ id: itemId(tx), tx })),
  )

describe('transfers', () => {
  it('are signed by the sender over the network-keyed canonical text', async () => {
    const t = await transfer()
    expect(Object.keys(t)).toEqual(['type', 'from', 'to', 'amount', 'nonce', 'signature'])
    expect(await verifyTransactions(ledger, [t], ctx, ed25519)).toEqual([true])
    // Another network, a changed field, another signer's signature: invalid.
    expect(
      await verifyTransactions(ledger, [t], { ...ctx, networkKey: new Uint8Array(32) }, ed25519),
    ).toEqual([false])
    expect(await verifyTransactions(ledger, [{ ...t, amount: 11 }], ctx, ed25519)).toEqual([false])
    const other = await transfer(c)
    expect(await verifyTransactions(ledger, [{ ...t, signature: other.signature }], ctx, ed25519)).toEqual([
      false,
    ])
  })

  it('stateless checks refuse malformed transfers', async () => {
    const t = await transfer()
    expect(checkTransfer(t).ok).toBe(true)
    const bad: unknown[] = [
      { ...t, amount: 0 },
      { ...t, amount: 1.5 },
      { ...t, amount: -1 },
      { ...t, nonce: 0 },
      { ...t, to: 'bob' },
      { ...t, extra: 1 },
      { to: t.to, type: t.type, from: t.from, amount: t.amount, nonce: t.nonce, signature: t.signature },
      null,
      'transfer',
    ]
    for (const v of bad) expect(checkTransfer(v).ok).toBe(false)
    expect(await verifyTransactions(ledger, bad, ctx, ed25519)).toEqual(bad.map(() => false))
  })
})

describe('execution', () => {
  it('moves balances and nonces; failures are marked with a reason and the block goes on', async () => {
    const s0 = ledger.genesis()
    const txs = [
      await transfer(a, b.id, 30, 1),
      await transfer(a, b.id, 30, 1), // nonce reused
      await transfer(b, c.id, 500, 1), // overspend
      await transfer(a, c.id, 70, 2), // exactly the rest
      await transfer(c, a.id, 5, 1), // c received 70 earlier in this block
    ]
    const { state, results } = exec(s0, txs)
    expect(results.map((r) => (r.ok ? 'ok' : r.error.code))).toEqual([
      'ok',
      'BAD_NONCE',
      'INSUFFICIENT_BALANCE',
      'ok',
      'ok',
    ])
    expect(results[1]).toMatchObject({ ok: false, error: { code: 'BAD_NONCE', expected: 2, got: 1 } })
    expect(state.accounts.get(a.id)).toEqual({ balance: 5, nonce: 2 })
    expect(state.accounts.get(b.id)).toEqual({ balance: 80, nonce: 0 })
    expect(state.accounts.get(c.id)).toEqual({ balance: 65, nonce: 1 })
    // The input state is not changed.
    expect(s0.accounts.get(a.id)).toEqual({ balance: 100, nonce: 0 })
    const total = [...state.accounts.values()].reduce((sum, x) => sum + x.balance, 0)
    expect(total).toBe(150)
  })

  it('is deterministic: same state and items, same results and root; the root follows the state only', async () => {
    const txs = [await transfer(a, b.id, 1, 1), await transfer(b, a.id, 2, 1)]
    const x = exec(ledger.genesis(), txs)
    const y = exec(ledger.genesis(), txs)
    expect(y.results).toEqual(x.results)
    expect(ledger.stateRoot(y.state)).toBe(ledger.stateRoot(x.state))
    expect(ledger.stateRoot(x.state)).not.toBe(ledger.stateRoot(ledger.genesis()))
    // Same accounts inserted in another order: the same root.
    const reordered = { accounts: new Map([...x.state.accounts].reverse()) }
    expect(ledger.stateRoot(reordered)).toBe(ledger.stateRoot(x.state))
    // Genesis roots agree across instances; a different allocation differs.
    expect(
      ledger.stateRoot(createPaymentsLedger({ allocations: { [b.id]: 50, [a.id]: 100 } }).genesis()),
    ).toBe(ledger.stateRoot(ledger.genesis()))
    expect(
      ledger.stateRoot(createPaymentsLedger({ allocations: { [a.id]: 101, [b.id]: 50 } }).genesis()),
    ).not.toBe(ledger.stateRoot(ledger.genesis()))
  })

  it('the kept state tree gives every state the root computed from scratch (two nodes share one ledger)', () => {
    const people = [a, b, c, account(4), account(5)].map((k) => k.id)
    const shared = createPaymentsLedger({ allocations: { [a.id]: 1000, [b.id]: 1000 } })
    const block = fc.array(
      fc.record({ from: fc.nat(4), to: fc.nat(4), amount: fc.integer({ min: 1, max: 300 }) }),
      { maxLength: 8 },
    )
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat(1), block), { maxLength: 12 }), (steps) => {
        // Two lineages (two validators) on the same instance, blocks applied to either in turn.
        const states = [shared.genesis(), shared.genesis()]
        const nonces = [new Map<string, number>(), new Map<string, number>()]
        for (const [which, txs] of steps) {
          const items = txs.map((t, i) => {
            const from = people[t.from]!
            const nonce = (nonces[which]!.get(from) ?? 0) + 1
            nonces[which]!.set(from, nonce)
            const tx = { type: 'transfer', from, to: people[t.to]!, amount: t.amount, nonce, signature: 'x' }
            return { id: `&${String(i).padStart(43, 'A')}=.sha256` as const, tx: tx as Transfer }
          })
          states[which] = shared.executeBlock(states[which]!, items).state
          for (const state of states) {
            // A fresh instance, a copy with new account objects: computed from nothing.
            const copy = { accounts: new Map([...state.accounts].map(([id, acc]) => [id, { ...acc }])) }
            expect(shared.stateRoot(state)).toBe(
              createPaymentsLedger({ allocations: { [a.id]: 1000, [b.id]: 1000 } }).stateRoot(copy),
            )
          }
        }
      }),
      { numRuns: 60 },
    )
  })

  it('refuses a genesis that could overflow or names a malformed account', () => {
    expect(() =>
      createPaymentsLedger({ allocations: { [a.id]: Number.MAX_SAFE_INTEGER, [b.id]: 1 } }),
    ).toThrow()
    expect(() => createPaymentsLedger({ allocations: { alice: 1 } })).toThrow()
    expect(() => createPaymentsLedger({ allocations: { [a.id]: -1 } })).toThrow()
  })
})
