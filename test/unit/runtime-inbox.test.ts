/**
 * The runtime's inbox (ConsensusRuntime `follow`): a transaction message waits for the check of
 * its item signatures, and so do later messages of its feed, but messages of other feeds (votes,
 * assembled blocks, QCs) reach the core without queueing behind that check. Item checks are held
 * here by a gate on the runtime's backend; the store verifies with an ungated one.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { CONTENT, type ConsensusGenesis } from '../../src/core/consensus'
import type { Ed25519Backend } from '../../src/core/crypto/ed25519'
import { deriveRoleKeys } from '../../src/core/identity/roles'
import { createPaymentsLedger, createTransfer } from '../../src/core/ledger/payments'
import { ConsensusRuntime } from '../../src/runtime/consensus-runtime'
import type { FeedStorageAdapter } from '../../src/store/adapter'
import { FeedStore } from '../../src/store/feed-store'
import { createMemoryAdapter } from '../../src/store/memory-adapter'
import { FakeClock } from '../net/fake-clock'
import { ed25519, keys, NETWORK_ID, NETWORK_KEY, runtimeOptions, TEST_PARAMS } from './consensus-harness'

const owner = keys(41)
const other = keys(42)
const sender = keys(43)
const genesis: ConsensusGenesis = {
  networkId: NETWORK_ID,
  validators: [owner.id, other.id],
  messagenodes: [keys(44).id],
  admins: [],
  params: TEST_PARAMS,
}

const settle = async () => {
  for (let i = 0; i < 20; i++) await new Promise((resolve) => setImmediate(resolve))
}

/** An Ed25519 backend whose verifications wait while the gate is closed. */
function gated(inner: Ed25519Backend) {
  let open = true
  const held: (() => void)[] = []
  const backend: Ed25519Backend = {
    name: `gated ${inner.name}`,
    sign: (seed, message) => inner.sign(seed, message),
    async verifyBatch(requests) {
      if (!open) await new Promise<void>((resolve) => held.push(resolve))
      return inner.verifyBatch(requests)
    },
  }
  return {
    backend,
    close: () => {
      open = false
    },
    open: () => {
      open = true
      for (const release of held.splice(0)) release()
    },
  }
}

const running: ConsensusRuntime[] = []
afterEach(async () => {
  for (const r of running.splice(0)) await r.stop()
})

describe('runtime inbox', () => {
  it('hands other feeds’ messages to the core while a transaction message’s items are checked, keeping each feed in order', async () => {
    const gate = gated(ed25519)
    const store = await FeedStore.open(
      { networkKey: NETWORK_KEY },
      { adapter: createMemoryAdapter(), ed25519 },
    )
    const runtime = await ConsensusRuntime.start(runtimeOptions('validator', owner, genesis), {
      store,
      ed25519: gate.backend,
      app: createPaymentsLedger({ allocations: { [sender.id]: 1000 } }),
      clock: new FakeClock(),
    })
    running.push(runtime)
    const handed: string[] = []
    const txKeys = deriveRoleKeys(other, 'transaction-validator')
    const voteKeys = deriveRoleKeys(other, 'precommitter')
    runtime.onMessage((m) => {
      if (m.value.author === txKeys.id || m.value.author === voteKeys.id)
        handed.push(`${m.value.author === txKeys.id ? 'tx-feed' : 'vote-feed'} ${m.value.sequence}`)
    })
    const transfer = await createTransfer(
      { keys: sender, to: owner.id, amount: 5, nonce: 1 },
      NETWORK_KEY,
      ed25519,
    )

    gate.close()
    // A transaction message (its item check is held), then a later message of the same feed, then
    // a vote-feed message that arrived after both.
    expect((await store.publish(txKeys, { type: CONTENT.tx, txs: [transfer] as never }, 1)).ok).toBe(true)
    expect((await store.publish(txKeys, { type: 'post', text: 'after the transfer' }, 2)).ok).toBe(true)
    expect(
      (await store.publish(voteKeys, { type: CONTENT.precommit, height: 1, round: 0, block: null }, 3)).ok,
    ).toBe(true)
    await settle()
    expect(handed).toEqual(['vote-feed 1'])

    gate.open()
    await runtime.idle()
    expect(handed).toEqual(['vote-feed 1', 'tx-feed 1', 'tx-feed 2'])
  })

  it('hands a received vote to the core before its durable write, and once only', async () => {
    const inner = createMemoryAdapter()
    const held: (() => void)[] = []
    let holding = false
    const adapter: FeedStorageAdapter = {
      ...inner,
      async commit(batch) {
        if (holding) await new Promise<void>((resolve) => held.push(resolve))
        return inner.commit(batch)
      },
    }
    const store = await FeedStore.open({ networkKey: NETWORK_KEY }, { adapter, ed25519 })
    const runtime = await ConsensusRuntime.start(runtimeOptions('validator', owner, genesis), {
      store,
      ed25519,
      app: createPaymentsLedger({ allocations: { [sender.id]: 1000 } }),
      clock: new FakeClock(),
    })
    running.push(runtime)
    const voteKeys = deriveRoleKeys(other, 'precommitter')
    const handed: number[] = []
    runtime.onMessage((m) => {
      if (m.value.author === voteKeys.id) handed.push(m.value.sequence)
    })
    // The other validator's vote, signed elsewhere and received here.
    const elsewhere = await FeedStore.open(
      { networkKey: NETWORK_KEY },
      { adapter: createMemoryAdapter(), ed25519 },
    )
    const vote = await elsewhere.publish(
      voteKeys,
      { type: CONTENT.precommit, height: 1, round: 0, block: null },
      3,
    )
    if (!vote.ok) throw new Error(vote.error.code)

    holding = true
    const appended = store.append([vote.value.text])
    await settle()
    expect(held).toHaveLength(1)
    expect(handed).toEqual([1])
    holding = false
    for (const release of held.splice(0)) release()
    expect((await appended).every((o) => o.ok)).toBe(true)
    await runtime.idle()
    expect(handed).toEqual([1])
  })
})
