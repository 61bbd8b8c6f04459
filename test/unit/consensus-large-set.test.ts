/**
 * 64 validators: every block's assembled message must fit the 8192-unit message limit. Before
 * the limit was budgeted, a cut per validator made it too large once about 45 validators had
 * pending transactions, the Messagenode could not publish it, and the chain stalled.
 */
import { describe, expect, it } from 'vitest'
import { CONTENT } from '../../src/core/consensus'
import { MAX_MESSAGE_LENGTH } from '../../src/core/feed/message'
import { createTransfer } from '../../src/core/ledger/payments'
import { account, ed25519, genesisOf, MiniNet, NETWORK_KEY, party, TEST_PARAMS } from './consensus-harness'

describe('a large validator set (n = 64)', () => {
  it('assembles within the message limit and includes every validator’s transactions within a few blocks', async () => {
    const validators = Array.from({ length: 64 }, (_, i) => party(i + 1, 'validator'))
    const mns = [party(200, 'messagenode')]
    const net = new MiniNet(
      genesisOf(validators, mns, [], { ...TEST_PARAMS, maxBlockTxs: 500 }),
      validators,
      mns,
    )
    await net.start()
    // One transfer at every validator (accounts 1-4 take turns; later nonces may fail: inclusion is the point).
    const nonces = [0, 0, 0, 0]
    for (let v = 0; v < 64; v++) {
      const a = v % 4
      const t = await createTransfer(
        { keys: account(a + 1), to: account(((a + 1) % 4) + 1).id, amount: 1, nonce: ++nonces[a]! },
        NETWORK_KEY,
        ed25519,
      )
      await net.submit(v, [t])
    }
    const executed = () => net.events('executed', net.nodes[0]).flatMap((e) => e.results).length
    for (let round = 0; round < 6 && executed() < 64; round++)
      await net.fire((t) => t.key.startsWith('assemble:'))
    expect(executed()).toBe(64)
    const assembled = net.log.filter((m) => m.value.content.type === CONTENT.assembled)
    for (const m of assembled) expect(m.text.length).toBeLessThanOrEqual(MAX_MESSAGE_LENGTH)
    const cuts = assembled.map((m) => (m.value.content.header as { cuts: unknown[] }).cuts.length)
    // The first block could not hold a cut for all 64; the rest followed in the next one.
    expect(cuts[0]).toBeLessThan(64)
    expect(cuts[0]).toBeGreaterThan(40)
    expect(cuts.reduce((x, y) => x + y, 0)).toBe(64)
    expect(net.events('sealed', net.nodes[0]).length).toBe(assembled.length)
  }, 120_000)
})
