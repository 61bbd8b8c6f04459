import { describe, expect, it } from 'vitest'
import { CONTENT } from '../../src/core/consensus'
import { createTransfer } from '../../src/core/ledger/payments'
import { account, ed25519, genesisOf, MiniNet, NETWORK_KEY, party } from './consensus-harness'

describe('consensus flow (4 validators, 1 Messagenode, no faults)', () => {
  it('decides, executes and seals a block; all validators agree on the roots', async () => {
    const validators = [1, 2, 3, 4].map((i) => party(i, 'validator'))
    const mns = [party(11, 'messagenode')]
    const net = new MiniNet(genesisOf(validators, mns), validators, mns)
    await net.start()
    const t = await createTransfer(
      { keys: account(1), to: account(2).id, amount: 5, nonce: 1 },
      NETWORK_KEY,
      ed25519,
    )
    await net.submit(0, [t])
    // The assembler waits for the assembly delay (not full), then proposes.
    await net.fire((x) => x.key.startsWith('assemble:'))
    const decided = net.events('decided')
    expect(decided.filter((e) => e.height === 1)).toHaveLength(5)
    const sealed = net.events('sealed').filter((e) => e.height === 1)
    expect(sealed).toHaveLength(4)
    expect(new Set(sealed.map((e) => e.stateRoot)).size).toBe(1)
    const executed = net.events('executed').filter((e) => e.height === 1)
    expect(executed[0]!.results).toEqual([{ id: expect.any(String), ok: true }])
    const qcs = net.log.filter((m) => m.value.content.type === CONTENT.qc)
    expect(qcs.map((m) => m.value.content.stage).sort()).toEqual(['commit', 'precommit', 'seal'])
  })
})
